#include "experiments/diffusion/parallel_tasks.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace beyond::parallel {
namespace {

const std::vector<std::string> kTaskNames = {"copy", "reverse", "sort", "shuffle", "replace_random", "names"};
const std::vector<std::string> kWords = {"New", "York", "Orleans", "Mexico", "Panama", "City"};

int64_t word(const std::string& w) {
  return kWordBase + (std::find(kWords.begin(), kWords.end(), w) - kWords.begin());
}

// The 25 item letters (A..Z without the marker F).
std::vector<int64_t> item_letters() {
  std::vector<int64_t> v;
  for (char c = 'A'; c <= 'Z'; ++c)
    if (c != 'F') v.push_back(letter(c));
  return v;
}

// "[ a , b , c ]" into out starting at pos; records the item positions in slots.
void write_list(std::vector<int64_t>& out, int64_t pos, const std::vector<int64_t>& items, bool commas,
                std::vector<int64_t>* slots) {
  out[pos++] = kOpen;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0 && commas) out[pos++] = kComma;
    if (slots) slots->push_back(pos);
    out[pos++] = items[i];
  }
  out[pos] = kClose;
}

double falling_over_power(int64_t m, int64_t k) {  // P(m, k) / m^k
  double p = 1.0;
  for (int64_t i = 0; i < k; ++i) p *= static_cast<double>(m - i) / static_cast<double>(m);
  return p;
}

}  // namespace

const std::vector<Task>& all_tasks() {
  static const std::vector<Task> t = {Task::copy, Task::reverse, Task::sort, Task::shuffle, Task::replace_random,
                                      Task::names};
  return t;
}

const std::string& task_name(Task task) { return kTaskNames[static_cast<size_t>(task)]; }

Task task_from_name(const std::string& name) {
  for (size_t i = 0; i < kTaskNames.size(); ++i)
    if (kTaskNames[i] == name) return static_cast<Task>(i);
  throw InputError("unknown parallel-decoding task '" + name +
                   "' (known: copy, reverse, sort, shuffle, replace_random, names)");
}

std::string token_string(int64_t id) {
  switch (id) {
    case kMask: return "_";
    case kEos: return "EOS";
    case kSep: return "SEP";
    case kOpen: return "[";
    case kClose: return "]";
    case kComma: return ",";
    case kCityCategory: return "CITY?";
    default: break;
  }
  if (id >= kTaskBase && id < kLetterBase) return "<" + kTaskNames[static_cast<size_t>(id - kTaskBase)] + ">";
  if (id >= kLetterBase && id < kLetterBase + 26) return std::string(1, static_cast<char>('A' + (id - kLetterBase)));
  if (id >= kWordBase && id < kVocabSize) return kWords[static_cast<size_t>(id - kWordBase)];
  return "?" + std::to_string(id);
}

std::string render(const std::vector<int64_t>& tokens) {
  size_t end = tokens.size();
  while (end > 0 && tokens[end - 1] == kEos) --end;
  std::string s;
  for (size_t i = 0; i < end; ++i) {
    if (tokens[i] == kEos && i > 0 && tokens[i - 1] == kEos) continue;  // one EOS for a run of padding
    if (!s.empty()) s += ' ';
    s += token_string(tokens[i]);
  }
  return s;
}

const std::vector<std::vector<int64_t>>& city_names() {
  static const std::vector<std::vector<int64_t>> n = {{word("New"), word("York")},
                                                      {word("New"), word("Orleans")},
                                                      {word("Mexico"), word("City")},
                                                      {word("Panama"), word("City")}};
  return n;
}

ParallelTasks::ParallelTasks(TaskOptions options) : options_(std::move(options)) {
  if (options_.min_items < 2 || options_.max_items < options_.min_items || options_.max_items > 25)
    throw InputError("parallel tasks: need 2 <= min_items <= max_items <= 25, got " +
                     std::to_string(options_.min_items) + ".." + std::to_string(options_.max_items));
  if (options_.tasks.empty()) throw InputError("parallel tasks: the task list is empty");
}

Example ParallelTasks::make(Task task, int64_t n, std::mt19937_64& rng) const {
  Example ex;
  ex.task = task;
  if (task == Task::names) {
    ex.input = {kCityCategory};
    ex.answer = city_names()[std::uniform_int_distribution<size_t>(0, city_names().size() - 1)(rng)];
  } else {
    std::vector<int64_t> pool = item_letters();
    std::shuffle(pool.begin(), pool.end(), rng);
    ex.input.assign(pool.begin(), pool.begin() + n);
    ex.answer = ex.input;
    switch (task) {
      case Task::copy: break;
      case Task::reverse: std::reverse(ex.answer.begin(), ex.answer.end()); break;
      case Task::sort: std::sort(ex.answer.begin(), ex.answer.end()); break;
      case Task::shuffle:
        do std::shuffle(ex.answer.begin(), ex.answer.end(), rng);
        while (ex.answer == ex.input);
        break;
      case Task::replace_random:
        ex.answer[std::uniform_int_distribution<size_t>(0, ex.answer.size() - 1)(rng)] = kMarker;
        break;
      case Task::names: break;
    }
  }
  const bool commas = task != Task::names;
  ex.tokens.assign(static_cast<size_t>(seq_len()), kEos);
  ex.tokens[0] = task_token(task);
  write_list(ex.tokens, 1, ex.input, commas, nullptr);
  ex.tokens[static_cast<size_t>(region_start() - 1)] = kSep;
  write_list(ex.tokens, region_start(), ex.answer, commas, &ex.slots);
  return ex;
}

Example ParallelTasks::sample(std::mt19937_64& rng) const {
  const Task task = options_.tasks[std::uniform_int_distribution<size_t>(0, options_.tasks.size() - 1)(rng)];
  const int64_t n = std::uniform_int_distribution<int64_t>(options_.min_items, options_.max_items)(rng);
  return make(task, n, rng);
}

std::vector<int64_t> ParallelTasks::masked_tokens(const Example& ex) const {
  std::vector<int64_t> t = ex.tokens;
  for (int64_t p : ex.slots) t[static_cast<size_t>(p)] = kMask;
  return t;
}

std::vector<int64_t> answer_items(const Example& ex, const std::vector<int64_t>& tokens) {
  std::vector<int64_t> items;
  for (int64_t p : ex.slots) items.push_back(tokens.at(static_cast<size_t>(p)));
  return items;
}

bool plausible(const Example& ex, size_t slot, int64_t token) {
  switch (ex.task) {
    case Task::copy:
    case Task::reverse:
    case Task::sort: return slot < ex.answer.size() && ex.answer[slot] == token;
    case Task::shuffle: return std::find(ex.input.begin(), ex.input.end(), token) != ex.input.end();
    case Task::replace_random: return slot < ex.input.size() && (token == ex.input[slot] || token == kMarker);
    case Task::names:
      for (const auto& name : city_names())
        if (slot < name.size() && name[slot] == token) return true;
      return false;
  }
  return false;
}

Verdict check(const Example& ex, const std::vector<int64_t>& items) {
  Verdict v;
  switch (ex.task) {
    case Task::copy:
    case Task::reverse:
    case Task::sort: v.correct = items == ex.answer; break;
    case Task::shuffle: {
      auto a = items, b = ex.input;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      v.correct = a == b && items != ex.input;
      break;
    }
    case Task::replace_random: {
      if (items.size() != ex.input.size()) break;
      int64_t replaced = 0, kept = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        replaced += items[i] == kMarker;
        kept += items[i] == ex.input[i];
      }
      v.correct = replaced == 1 && kept == static_cast<int64_t>(items.size()) - 1;
      break;
    }
    case Task::names:
      v.correct = std::find(city_names().begin(), city_names().end(), items) != city_names().end();
      break;
  }
  if (!v.correct && items.size() == ex.slots.size()) {
    v.mixture = true;
    for (size_t i = 0; i < items.size(); ++i) v.mixture = v.mixture && plausible(ex, i, items[i]);
  }
  return v;
}

std::vector<int64_t> even_schedule(int64_t n, int64_t steps) {
  if (steps < 1 || n < 0) throw InputError("even_schedule: n " + std::to_string(n) + ", steps " + std::to_string(steps));
  std::vector<int64_t> k(static_cast<size_t>(steps), n / steps);
  for (int64_t j = 0; j < n % steps; ++j) ++k[static_cast<size_t>(j)];
  return k;
}

std::vector<int64_t> schedule_for(int64_t n, int64_t k) {
  if (k < 1) throw InputError("schedule_for: k = " + std::to_string(k));
  return even_schedule(n, std::max<int64_t>(1, (n + k - 1) / k));
}

double shuffle_independent_accuracy(const std::vector<int64_t>& schedule) {
  int64_t m = 0;
  for (int64_t k : schedule) m += k;
  double p = 1.0;
  for (int64_t k : schedule) {
    p *= falling_over_power(m, k);
    m -= k;
  }
  return p;
}

double replace_random_greedy_accuracy(const std::vector<int64_t>& schedule) {
  int64_t m = 0;
  for (int64_t k : schedule) m += k;
  for (int64_t k : schedule) {
    if (k == 0) continue;
    if (m == 1) return 1.0;               // the last slot: F is certain
    if (m == 2) return k == 1 ? 1.0 : 0.5;  // a tie; one at a time is always right
    if (k >= m) return 0.0;               // every slot prefers "keep": no F
    m -= k;                               // keeps committed; still no F
  }
  return 0.0;
}

double replace_random_sampled_accuracy(const std::vector<int64_t>& schedule) {
  int64_t m = 0;
  for (int64_t k : schedule) m += k;
  double none_yet = 1.0, acc = 0.0;
  for (int64_t k : schedule) {
    if (k == 0) continue;
    const double keep = static_cast<double>(m - 1) / static_cast<double>(m);
    acc += none_yet * static_cast<double>(k) / static_cast<double>(m) * std::pow(keep, static_cast<double>(k - 1));
    none_yet *= std::pow(keep, static_cast<double>(k));
    m -= k;
  }
  return acc;
}

namespace {
// Marginal of the names' word at slot s under the uniform distribution over the names.
double name_marginal(size_t s, int64_t token) {
  double c = 0;
  for (const auto& n : city_names()) c += n[s] == token;
  return c / static_cast<double>(city_names().size());
}
bool one_step(const std::vector<int64_t>& schedule) {
  return std::find_if(schedule.begin(), schedule.end(), [](int64_t k) { return k >= 2; }) != schedule.end();
}
}  // namespace

double names_sampled_accuracy(const std::vector<int64_t>& schedule) {
  if (!one_step(schedule)) return 1.0;
  double p = 0;
  for (const auto& n : city_names()) p += name_marginal(0, n[0]) * name_marginal(1, n[1]);
  return p;
}

double names_greedy_accuracy(const std::vector<int64_t>& schedule) {
  if (!one_step(schedule)) return 1.0;
  std::vector<int64_t> best(2, -1);
  for (size_t s = 0; s < 2; ++s) {
    double bp = -1;
    for (const auto& n : city_names())
      if (name_marginal(s, n[s]) > bp) bp = name_marginal(s, n[s]), best[s] = n[s];
  }
  return std::find(city_names().begin(), city_names().end(), best) != city_names().end() ? 1.0 : 0.0;
}

double closed_form_accuracy(Task task, int64_t n, const std::vector<int64_t>& schedule, bool sampled) {
  (void)n;
  switch (task) {
    case Task::copy:
    case Task::reverse:
    case Task::sort: return 1.0;
    case Task::shuffle: return shuffle_independent_accuracy(schedule);
    case Task::replace_random:
      return sampled ? replace_random_sampled_accuracy(schedule) : replace_random_greedy_accuracy(schedule);
    case Task::names: return sampled ? names_sampled_accuracy(schedule) : names_greedy_accuracy(schedule);
  }
  return 1.0;
}

double closed_form_threshold_accuracy(Task task, int64_t n, double gamma) {
  switch (task) {
    case Task::copy:
    case Task::reverse:
    case Task::sort: return 1.0;
    case Task::shuffle: return gamma > 0.5 ? 1.0 : 0.5;  // at gamma <= 1/2 the last two slots go at once
    case Task::replace_random: return gamma > static_cast<double>(n - 1) / static_cast<double>(n) ? 1.0 : 0.0;
    case Task::names: return gamma > 0.5 ? 1.0 : 0.0;  // "New" + "City" at once
  }
  return 1.0;
}

}  // namespace beyond::parallel
