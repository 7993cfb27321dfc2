// The parallel-decoding tasks and experiment (experiments/diffusion/parallel_tasks.h,
// parallel_decoding.cpp):
//  1. the generators make examples their checkers accept, and the checkers reject hand-made wrong
//     answers (and tell invalid mixtures from other errors);
//  2. ORACLE denoisers, written here from the tasks' definitions (the exact conditional marginals
//     of each task's answer distribution given the committed slots), driven through
//     diffusion_generate, reproduce ParallelBench's closed forms, computed here by hand;
//  3. `beyond run` of the experiment with a tiny model writes the summary keys and the report.
#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"
#include "experiments/diffusion/parallel_tasks.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;
using namespace beyond;
using namespace beyond::parallel;

namespace {

// ---------------------------------------------------------------------------------------------
// Oracles. They read the task, the input list and the committed answer slots from the tokens
// only (the layout of parallel_tasks.h), and give log-probabilities [B, T, V] in float64 (exact
// ties stay exact ties). Zero probability is a large finite negative number.

constexpr double kLogZero = -1e30;

struct Parsed {
  Task task;
  std::vector<int64_t> input;  // the input list's items
  std::vector<int64_t> slots;  // positions of the answer's item slots
};

Parsed parse(const int64_t* tok, int64_t region_start) {
  Parsed p;
  p.task = static_cast<Task>(tok[0] - kTaskBase);
  for (int64_t i = 2; tok[i - 1] == kOpen || tok[i - 1] == kComma; i += 2) p.input.push_back(tok[i]);
  if (p.task == Task::names) {
    p.slots = {region_start + 1, region_start + 2};
  } else {
    for (int64_t i = region_start + 1; tok[i - 1] == kOpen || tok[i - 1] == kComma; i += 2) p.slots.push_back(i);
  }
  return p;
}

double factorial(int64_t m) { return m <= 1 ? 1.0 : static_cast<double>(m) * factorial(m - 1); }

// Marginals (one probability per vocabulary id) at every masked slot, keyed by slot index.
std::vector<std::vector<double>> marginals(const Parsed& p, const std::vector<int64_t>& committed) {
  const size_t n = p.slots.size();
  std::vector<std::vector<double>> out(n, std::vector<double>(kVocabSize, 0.0));
  std::vector<size_t> open;
  for (size_t s = 0; s < n; ++s)
    if (committed[s] == kMask) open.push_back(s);
  const double m = static_cast<double>(open.size());
  switch (p.task) {
    case Task::copy:
      for (size_t s : open) out[s][p.input[s]] = 1.0;
      break;
    case Task::reverse:
      for (size_t s : open) out[s][p.input[n - 1 - s]] = 1.0;
      break;
    case Task::sort: {
      auto sorted = p.input;
      std::sort(sorted.begin(), sorted.end());
      for (size_t s : open) out[s][sorted[s]] = 1.0;
      break;
    }
    case Task::shuffle: {
      // Uniform over the permutations of the (distinct) input other than the input order.
      std::vector<int64_t> left = p.input;
      bool identity = true, consistent = true;
      for (size_t s = 0; s < n; ++s) {
        if (committed[s] == kMask) continue;
        identity = identity && committed[s] == p.input[s];
        const auto it = std::find(left.begin(), left.end(), committed[s]);
        if (it == left.end()) consistent = false;
        else left.erase(it);
      }
      if (!consistent || left.empty()) {  // already wrong: anything from the input
        for (size_t s : open)
          for (int64_t v : p.input) out[s][v] = 1.0 / static_cast<double>(n);
        break;
      }
      const double total = identity ? factorial(open.size()) - 1 : factorial(open.size());
      for (size_t s : open) {
        for (int64_t v : left) {
          const double count = factorial(open.size() - 1) - (identity && v == p.input[s] ? 1.0 : 0.0);
          out[s][v] = total > 0 ? count / total : (v == p.input[s] ? 1.0 : 0.0);
        }
      }
      break;
    }
    case Task::replace_random: {
      // One uniformly random slot holds F, the others their input item.
      bool has_f = false;
      for (size_t s = 0; s < n; ++s) has_f = has_f || committed[s] == kMarker;
      for (size_t s : open) {
        out[s][kMarker] = has_f ? 0.0 : 1.0 / m;
        out[s][p.input[s]] = has_f ? 1.0 : (m - 1.0) / m;
      }
      break;
    }
    case Task::names: {
      // Uniform over the names that agree with the committed words.
      std::vector<std::vector<int64_t>> ok;
      for (const auto& name : city_names()) {
        bool agrees = true;
        for (size_t s = 0; s < n; ++s) agrees = agrees && (committed[s] == kMask || committed[s] == name[s]);
        if (agrees) ok.push_back(name);
      }
      if (ok.empty()) ok = city_names();
      for (size_t s : open)
        for (const auto& name : ok) out[s][name[s]] += 1.0 / static_cast<double>(ok.size());
      break;
    }
  }
  return out;
}

class Oracle : public Denoiser {
 public:
  explicit Oracle(int64_t region_start) : region_start_(region_start) {}
  at::Tensor logits(const at::Tensor& tokens) override {
    ++forward_passes;
    const auto t = tokens.cpu().contiguous();
    const int64_t B = t.size(0), T = t.size(1);
    auto out = at::full({B, T, kVocabSize}, kLogZero, at::kDouble);
    double* o = out.data_ptr<double>();
    const int64_t* x = t.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t* row = x + b * T;
      for (int64_t i = 0; i < T; ++i)
        if (row[i] != kMask) o[(b * T + i) * kVocabSize + row[i]] = 0.0;  // committed: itself
      const Parsed p = parse(row, region_start_);
      std::vector<int64_t> committed;
      for (int64_t pos : p.slots) committed.push_back(row[pos]);
      const auto marg = marginals(p, committed);
      for (size_t s = 0; s < p.slots.size(); ++s) {
        if (committed[s] != kMask) continue;
        double* l = o + (b * T + p.slots[s]) * kVocabSize;
        for (int64_t v = 0; v < kVocabSize; ++v) l[v] = marg[s][v] > 0 ? std::log(marg[s][v]) : kLogZero;
      }
    }
    return out;
  }

 private:
  int64_t region_start_;
};

struct Rates {
  double accuracy = 0, mixture = 0, tokens_per_step = 0;
  int64_t trials = 0;
};

// Decodes `examples` with the oracle and judges them with the task's checker.
Rates decode(const ParallelTasks& tasks, const std::vector<Example>& examples, DiffusionSamplerOptions o) {
  std::vector<int64_t> flat;
  for (const auto& ex : examples) {
    const auto m = tasks.masked_tokens(ex);
    flat.insert(flat.end(), m.begin(), m.end());
  }
  const int64_t B = static_cast<int64_t>(examples.size()), T = tasks.seq_len();
  Oracle oracle(tasks.region_start());
  int64_t row_steps = 0;
  const auto r = diffusion_generate(oracle, at::tensor(flat, at::kLong).view({B, T}), tasks.region_start(), kMask, o,
                                    [&](const DiffusionStep& st) { row_steps += (st.committed.sum(1) > 0).sum().item<int64_t>(); });
  const auto out = r.tokens.contiguous();
  const int64_t* p = out.data_ptr<int64_t>();
  Rates rates;
  int64_t slots = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto& ex = examples[static_cast<size_t>(b)];
    const std::vector<int64_t> seq(p + b * T, p + (b + 1) * T);
    for (int64_t i = 0; i < T; ++i)  // nothing outside the item slots changes
      if (std::find(ex.slots.begin(), ex.slots.end(), i) == ex.slots.end()) {
        EXPECT_EQ(seq[i], ex.tokens[i]);
      }
    const auto v = check(ex, answer_items(ex, seq));
    rates.accuracy += v.correct;
    rates.mixture += v.mixture;
    slots += static_cast<int64_t>(ex.slots.size());
  }
  rates.trials = B;
  rates.accuracy /= static_cast<double>(B);
  rates.mixture /= static_cast<double>(B);
  rates.tokens_per_step = static_cast<double>(slots) / static_cast<double>(row_steps);
  return rates;
}

std::vector<Example> examples(const ParallelTasks& tasks, Task task, int64_t n, int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Example> v;
  for (int64_t i = 0; i < count; ++i) v.push_back(tasks.make(task, n, rng));
  return v;
}

DiffusionSamplerOptions llada(int64_t steps, const std::string& remasking, double temperature, uint64_t seed) {
  DiffusionSamplerOptions o;
  o.method = "llada";
  o.steps = steps;
  o.remasking = remasking;
  o.temperature = temperature;
  o.seed = seed;
  return o;
}

DiffusionSamplerOptions threshold(double gamma, double temperature, uint64_t seed) {
  DiffusionSamplerOptions o;
  o.method = "threshold";
  o.threshold = gamma;
  o.temperature = temperature;
  o.seed = seed;
  return o;
}

// |measured - expected| within 4 standard errors of a proportion over `trials`.
void expect_within_4se(double measured, double expected, int64_t trials, const std::string& what) {
  const double se = std::sqrt(std::max(expected * (1 - expected), 1e-12) / static_cast<double>(trials));
  EXPECT_NEAR(measured, expected, 4 * se) << what << " (" << trials << " trials, se " << se << ")";
}

Example hand(Task task, const std::string& input_letters) {
  Example ex;
  ex.task = task;
  for (char c : input_letters) ex.input.push_back(letter(c));
  ex.slots.assign(task == Task::names ? 2 : ex.input.size(), 0);
  if (task == Task::copy) ex.answer = ex.input;
  if (task == Task::reverse) ex.answer.assign(ex.input.rbegin(), ex.input.rend());
  if (task == Task::sort) {
    ex.answer = ex.input;
    std::sort(ex.answer.begin(), ex.answer.end());
  }
  if (task == Task::names) ex.input = {kCityCategory};
  return ex;
}

std::vector<int64_t> letters(const std::string& s) {
  std::vector<int64_t> v;
  for (char c : s) v.push_back(c == 'F' ? kMarker : letter(c));
  return v;
}

std::vector<int64_t> words(const std::string& a, const std::string& b) {
  const auto find = [](const std::string& w) {
    for (int64_t id = kWordBase; id < kVocabSize; ++id)
      if (token_string(id) == w) return id;
    return int64_t{-1};
  };
  return {find(a), find(b)};
}

}  // namespace

// ---- 1. generators and checkers -------------------------------------------------------------

TEST(ParallelTasks, GeneratorsMakeValidExamplesInTheLayout) {
  const ParallelTasks tasks;  // 4..8 items
  EXPECT_EQ(tasks.seq_len(), 36);
  EXPECT_EQ(tasks.region_start(), 19);
  std::mt19937_64 rng(7);
  std::map<Task, int64_t> seen;
  for (int i = 0; i < 3000; ++i) {
    const Example ex = tasks.sample(rng);
    ++seen[ex.task];
    ASSERT_EQ(static_cast<int64_t>(ex.tokens.size()), tasks.seq_len());
    EXPECT_EQ(ex.tokens[0], task_token(ex.task));
    EXPECT_EQ(ex.tokens[1], kOpen);
    EXPECT_EQ(ex.tokens[tasks.region_start() - 1], kSep);
    EXPECT_EQ(ex.tokens[tasks.region_start()], kOpen);
    const size_t n = ex.task == Task::names ? 2 : ex.input.size();
    ASSERT_EQ(ex.slots.size(), n);
    if (ex.task != Task::names) {
      EXPECT_GE(n, 4u);
      EXPECT_LE(n, 8u);
      auto sorted = ex.input;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "items are distinct";
      EXPECT_EQ(std::find(ex.input.begin(), ex.input.end(), kMarker), ex.input.end()) << "F is never an item";
    }
    EXPECT_TRUE(check(ex, ex.answer).correct) << task_name(ex.task) << ": " << render(ex.tokens);
    EXPECT_EQ(answer_items(ex, ex.tokens), ex.answer);
    // Only the item slots are masked; the answer's format and EOS padding are pre-filled.
    const auto masked = tasks.masked_tokens(ex);
    for (int64_t i = 0; i < tasks.seq_len(); ++i) {
      const bool slot = std::find(ex.slots.begin(), ex.slots.end(), i) != ex.slots.end();
      EXPECT_EQ(masked[i] == kMask, slot);
      if (slot) {
        EXPECT_GE(i, tasks.region_start());
      }
    }
  }
  EXPECT_EQ(seen.size(), 6u);
  std::mt19937_64 r2(1);
  EXPECT_EQ(render(tasks.make(Task::names, 4, r2).tokens).substr(0, 24), "<names> [ CITY? ] EOS SE");
}

TEST(ParallelTasks, CheckersRejectHandMadeWrongAnswers) {
  const auto copy = hand(Task::copy, "BKHS");
  EXPECT_TRUE(check(copy, letters("BKHS")).correct);
  auto v = check(copy, letters("BKSH"));
  EXPECT_FALSE(v.correct);
  EXPECT_FALSE(v.mixture) << "copy has one plausible token per slot";

  const auto rev = hand(Task::reverse, "BKHS");
  EXPECT_TRUE(check(rev, letters("SHKB")).correct);
  EXPECT_FALSE(check(rev, letters("BKHS")).correct);

  const auto sort = hand(Task::sort, "BKHS");
  EXPECT_TRUE(check(sort, letters("BHKS")).correct);
  EXPECT_FALSE(check(sort, letters("BKHS")).correct);
  EXPECT_FALSE(check(sort, letters("BHK")).correct);

  const auto shuf = hand(Task::shuffle, "BKHS");
  EXPECT_TRUE(check(shuf, letters("KBSH")).correct);
  EXPECT_FALSE(check(shuf, letters("BKHS")).correct) << "the input order is not a shuffle";
  v = check(shuf, letters("KBBH"));
  EXPECT_FALSE(v.correct);
  EXPECT_TRUE(v.mixture) << "a repeated item: every token is one of the input's";
  v = check(shuf, letters("KBZH"));
  EXPECT_FALSE(v.correct);
  EXPECT_FALSE(v.mixture) << "Z is not in the input";

  const auto rep = hand(Task::replace_random, "BKHS");
  EXPECT_TRUE(check(rep, letters("BFHS")).correct);
  EXPECT_TRUE(check(rep, letters("FKHS")).correct);
  v = check(rep, letters("BKHS"));
  EXPECT_FALSE(v.correct);
  EXPECT_TRUE(v.mixture) << "no F: every slot kept its plausible item";
  v = check(rep, letters("FFHS"));
  EXPECT_FALSE(v.correct);
  EXPECT_TRUE(v.mixture) << "two Fs";
  v = check(rep, letters("BFSH"));
  EXPECT_FALSE(v.correct);
  EXPECT_FALSE(v.mixture) << "items moved";

  const auto names = hand(Task::names, "");
  for (const auto& n : city_names()) EXPECT_TRUE(check(names, n).correct) << render(n);
  v = check(names, words("New", "City"));
  EXPECT_FALSE(v.correct);
  EXPECT_TRUE(v.mixture) << "New City: each word plausible, the pair no name";
  v = check(names, words("Mexico", "York"));
  EXPECT_TRUE(v.mixture);
  v = check(names, words("York", "New"));
  EXPECT_FALSE(v.correct);
  EXPECT_FALSE(v.mixture) << "York never starts a name";
}

TEST(ParallelTasks, ClosedFormsMatchHandValues) {
  EXPECT_EQ(schedule_for(8, 2), (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(schedule_for(6, 4), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(schedule_for(5, 8), (std::vector<int64_t>{5}));
  EXPECT_NEAR(shuffle_independent_accuracy({2, 2, 2, 2}), 7.0 / 8 * 5.0 / 6 * 3.0 / 4 * 1.0 / 2, 1e-12);
  EXPECT_NEAR(shuffle_independent_accuracy({8}), 40320.0 / 16777216.0, 1e-15);  // n!/n^n
  EXPECT_NEAR(shuffle_independent_accuracy({1, 1, 1, 1}), 1.0, 1e-15);
  EXPECT_EQ(replace_random_greedy_accuracy({1, 1, 1, 1}), 1.0);
  EXPECT_EQ(replace_random_greedy_accuracy({2, 2, 2, 2}), 0.5);
  EXPECT_EQ(replace_random_greedy_accuracy({4, 4}), 0.0);
  EXPECT_EQ(replace_random_greedy_accuracy({8}), 0.0);
  EXPECT_EQ(replace_random_greedy_accuracy({2, 2, 1}), 1.0);  // odd n: the last step has one slot
  EXPECT_NEAR(replace_random_sampled_accuracy({8}), std::pow(7.0 / 8, 7), 1e-12);
  EXPECT_NEAR(replace_random_sampled_accuracy({1, 1, 1}), 1.0, 1e-12);
  EXPECT_EQ(names_sampled_accuracy({2}), 0.5);
  EXPECT_EQ(names_sampled_accuracy({1, 1}), 1.0);
  EXPECT_EQ(names_greedy_accuracy({2}), 0.0);
  EXPECT_EQ(closed_form_threshold_accuracy(Task::replace_random, 8, 0.9), 1.0);
  EXPECT_EQ(closed_form_threshold_accuracy(Task::replace_random, 8, 0.85), 0.0);
  EXPECT_EQ(closed_form_threshold_accuracy(Task::shuffle, 8, 0.7), 1.0);
}

// ---- 2. oracles through the samplers ---------------------------------------------------------

TEST(ParallelOracle, CopyIsExactAtEveryTokensPerStep) {
  const ParallelTasks tasks;
  const auto ex = examples(tasks, Task::copy, 8, 200, 1);
  for (int64_t k : {1, 2, 4, 8}) {
    EXPECT_EQ(decode(tasks, ex, llada(8 / k, "random", 1.0, 3)).accuracy, 1.0) << k;
    EXPECT_EQ(decode(tasks, ex, llada(8 / k, "low-confidence", 0.0, 3)).accuracy, 1.0) << k;
  }
}

// Random order, temperature 1: the k tokens of a step are independent draws from "uniform over
// the items not yet placed", right only if distinct: prod_j P(m_j, k_j) / m_j^k_j.
TEST(ParallelOracle, ShuffleRandomOrderMatchesTheClosedForm) {
  const ParallelTasks tasks;
  const int64_t trials = 2000;
  const auto ex8 = examples(tasks, Task::shuffle, 8, trials, 2);
  EXPECT_EQ(decode(tasks, ex8, llada(8, "random", 1.0, 5)).accuracy, 1.0) << "one per step samples the joint";
  const std::map<int64_t, double> expected8 = {
      {2, (8.0 * 7 / 64) * (6.0 * 5 / 36) * (4.0 * 3 / 16) * (2.0 * 1 / 4)},
      {4, (8.0 * 7 * 6 * 5 / 4096) * (4.0 * 3 * 2 * 1 / 256)},
      {8, 40320.0 / 16777216.0}};
  for (const auto& [k, want] : expected8) {
    const auto r = decode(tasks, ex8, llada(8 / k, "random", 1.0, 10 + k));
    expect_within_4se(r.accuracy, want, trials, "shuffle n=8 k=" + std::to_string(k));
    EXPECT_NEAR(want, shuffle_independent_accuracy(schedule_for(8, k)), 1e-12);
    EXPECT_NEAR(r.accuracy + r.mixture, 1.0, 1e-12) << "every wrong shuffle of the oracle is a mixture";
  }
  // k not dividing n: 6 slots in 2 steps of 3 (LLaDA's schedule).
  const auto ex6 = examples(tasks, Task::shuffle, 6, trials, 3);
  const double want6 = (6.0 * 5 * 4 / 216) * (3.0 * 2 * 1 / 27);
  expect_within_4se(decode(tasks, ex6, llada(2, "random", 1.0, 21)).accuracy, want6, trials, "shuffle n=6 k=4");
  EXPECT_NEAR(want6, shuffle_independent_accuracy(schedule_for(6, 4)), 1e-12);
}

// Greedy replace_random: every slot's marginal is keep (m-1)/m against F 1/m, so while m > 2 the
// argmax is "keep"; at m = 2 the two are tied. The paper's 0.5 at k = 2 assumes each tied slot
// breaks its tie by a fair coin, independently: the temperature -> 0+ limit of Gumbel-max. The
// sampler's temperature 0 is a plain argmax (the lower token id wins a tie), so it has no coin:
// there we check the deterministic outcome instead.
TEST(ParallelOracle, ReplaceRandomGreedyIsHalfAtTwoPerStepWithRandomTies) {
  const ParallelTasks tasks;
  const int64_t trials = 2000;
  const auto ex = examples(tasks, Task::replace_random, 8, trials, 4);
  const double tiny = 1e-6;  // ties broken by the Gumbel draw, everything else by the logits
  EXPECT_EQ(decode(tasks, ex, llada(8, "low-confidence", tiny, 1)).accuracy, 1.0);
  const auto k2 = decode(tasks, ex, llada(4, "low-confidence", tiny, 2));
  expect_within_4se(k2.accuracy, 0.5, trials, "replace_random n=8 k=2, greedy with random ties");
  EXPECT_NEAR(k2.mixture, 1.0 - k2.accuracy, 1e-12) << "zero or two Fs: mixtures";
  EXPECT_EQ(decode(tasks, ex, llada(2, "low-confidence", tiny, 3)).accuracy, 0.0);
  EXPECT_EQ(decode(tasks, ex, llada(1, "low-confidence", tiny, 4)).accuracy, 0.0);
  EXPECT_EQ(replace_random_greedy_accuracy(schedule_for(8, 2)), 0.5);

  // Temperature exactly 0: a tie goes to the lower id. With items all after F, both last slots
  // take F: never right at k = 2, always right at k = 1 (F then the forced keep).
  std::vector<Example> late;
  for (const auto& e : ex)
    if (std::all_of(e.input.begin(), e.input.end(), [](int64_t t) { return t > kMarker; })) late.push_back(e);
  ASSERT_GT(late.size(), 50u);
  EXPECT_EQ(decode(tasks, late, llada(4, "low-confidence", 0.0, 5)).accuracy, 0.0);
  EXPECT_EQ(decode(tasks, late, llada(8, "low-confidence", 0.0, 5)).accuracy, 1.0);
}

// One step of temperature-1 sampling over all n slots: exactly one F with prob ((n-1)/n)^(n-1).
TEST(ParallelOracle, ReplaceRandomOneSampledStep) {
  const ParallelTasks tasks;
  const int64_t trials = 2000;
  const auto ex = examples(tasks, Task::replace_random, 6, trials, 8);
  expect_within_4se(decode(tasks, ex, llada(1, "random", 1.0, 9)).accuracy, std::pow(5.0 / 6, 5), trials,
                    "replace_random n=6 one step");
}

// Names: both words in one step at temperature 1 are independent draws from the marginals
// (New 1/2, Mexico 1/4, Panama 1/4) x (York 1/4, Orleans 1/4, City 1/2): valid with probability
// 1/2 * 1/2 + 1/4 * 1/2 + 1/4 * 1/2 = 1/2, the rest mixtures like "New City".
TEST(ParallelOracle, NamesAtTwoPerStepGiveTheClosedFormMixtureRate) {
  const ParallelTasks tasks;
  const int64_t trials = 2000;
  const auto ex = examples(tasks, Task::names, 2, trials, 11);
  const auto two = decode(tasks, ex, llada(1, "random", 1.0, 12));
  expect_within_4se(two.mixture, 0.5, trials, "names mixture rate at 2 per step");
  EXPECT_NEAR(two.accuracy + two.mixture, 1.0, 1e-12);
  EXPECT_EQ(names_sampled_accuracy(schedule_for(2, 2)), 0.5);
  EXPECT_EQ(decode(tasks, ex, llada(2, "random", 1.0, 13)).accuracy, 1.0);
  const auto greedy = decode(tasks, ex, llada(1, "low-confidence", 0.0, 14));
  EXPECT_EQ(greedy.mixture, 1.0) << "argmax New + argmax City";
}

// Fast-dLLM's threshold: a perfect model's shuffle marginals are 1/m <= 1/2 and the names' words
// 1/2, so gamma > 1/2 commits one slot per step and decodes exactly; replace_random's "keep" is
// (n-1)/n = 0.875 at n = 8, so 0.9 decodes one at a time and 0.7 commits all keeps at once.
TEST(ParallelOracle, ThresholdAboveHalfRescuesShuffleAndNames) {
  const ParallelTasks tasks;
  const auto shuf = examples(tasks, Task::shuffle, 8, 400, 15);
  for (double gamma : {0.7, 0.9}) {
    for (double temperature : {0.0, 1.0}) {
      const auto r = decode(tasks, shuf, threshold(gamma, temperature, 16));
      EXPECT_EQ(r.accuracy, 1.0) << gamma << " " << temperature;
      EXPECT_LT(r.tokens_per_step, 1.2);
    }
  }
  const auto names = examples(tasks, Task::names, 2, 400, 17);
  EXPECT_EQ(decode(tasks, names, threshold(0.9, 0.0, 18)).accuracy, 1.0);
  EXPECT_EQ(decode(tasks, names, threshold(0.45, 0.0, 18)).accuracy, 0.0) << "below 1/2: New City at once";
  const auto rep = examples(tasks, Task::replace_random, 8, 400, 19);
  EXPECT_EQ(decode(tasks, rep, threshold(0.9, 0.0, 20)).accuracy, 1.0);
  EXPECT_EQ(decode(tasks, rep, threshold(0.7, 0.0, 20)).accuracy, 0.0);
  const auto copy = examples(tasks, Task::copy, 8, 100, 21);
  const auto c = decode(tasks, copy, threshold(0.9, 0.0, 22));
  EXPECT_EQ(c.accuracy, 1.0);
  EXPECT_EQ(c.tokens_per_step, 8.0) << "certain slots all commit in the first step";
}

// ---- 3. the experiment through the CLI ------------------------------------------------------

TEST(ParallelDecodingExperiment, TinyRunWritesSummaryAndReport) {
  const auto dir = fresh_temp_dir("parallel_decoding");
  const auto r = run_beyond("run " + std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/parallel_decoding.toml run.dir=" +
                            dir +
                            " model.d_model=16 model.n_layers=1 model.n_heads=2 task.max_items=5 train.steps=4"
                            " train.batch_size=8 train.eval_every=4 train.checkpoint_every=4 train.log_every=2"
                            " train.warmup_steps=0 eval.per_task=6 eval.quick=2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(dir + "/summary.json");
  const auto summary = nlohmann::json::parse(in);
  for (const auto& task : {"copy", "reverse", "sort", "shuffle", "replace_random", "names"}) {
    for (const auto& dec : {"k1_random", "k2_random", "k4_random", "k8_random", "k1_confidence", "k2_confidence",
                            "k4_confidence", "k8_confidence", "threshold0.5", "threshold0.7", "threshold0.9",
                            "threshold0.95"}) {
      for (const auto& what : {"accuracy", "mixture_rate", "closed_form", "tokens_per_step"}) {
        const std::string key = std::string(task) + "_" + dec + "_" + what;
        ASSERT_TRUE(summary.contains(key)) << key;
        EXPECT_GE(summary[key].get<double>(), 0.0) << key;
      }
      EXPECT_LE(summary[std::string(task) + "_" + dec + "_accuracy"].get<double>(), 1.0);
    }
  }
  // Held-out n cycles 4, 5, 4, 5, ...: greedy replace_random at k = 2 is 0.5 at n = 4, 1 at n = 5.
  EXPECT_NEAR(summary["replace_random_k2_confidence_closed_form"].get<double>(), 0.75, 1e-12);
  EXPECT_NEAR(summary["names_k2_random_closed_form"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(summary["copy_k8_random_tokens_per_step"].get<double>(), 4.5, 1e-12);
  EXPECT_TRUE(summary.contains("mean_k2_random_accuracy"));
  EXPECT_TRUE(summary.contains("quick_names_accuracy"));
  std::ifstream rep(dir + "/report.md");
  std::stringstream s;
  s << rep.rdbuf();
  const std::string report = s.str();
  EXPECT_NE(report.find("What this run shows"), std::string::npos) << report;
  EXPECT_NE(report.find("| shuffle |"), std::string::npos) << report;
  EXPECT_NE(report.find("γ=0.9"), std::string::npos) << report;
  fs::remove_all(dir);
}
