// Synthetic parallel-decoding tasks in the spirit of ParallelBench (arXiv 2510.04767, research
// notes diffusion.md §4): list tasks whose answers have no conditional total correlation (copy,
// reverse, sort: one right answer) beside tasks where they have some (shuffle, replace_random,
// names), so that decoding several tokens per step from independent per-token marginals fails in
// a predictable way even for a perfect model.
//
// Vocabulary (kVocabSize tokens, fixed):
//   MASK, EOS, SEP, "[", "]", ",", one token per task (<copy> ...), the letters A..Z, the category
//   token CITY? and the words New, York, Orleans, Mexico, Panama, City.
// Items are the 25 letters other than F; F is replace_random's marker. Lists hold n distinct
// items, n in [min_items, max_items].
//
// Layout (every example has the same length, seq_len() = 4 max_items + 4):
//   position 0                          the task token
//   1 .. 2 max_items + 1                the input list "[ A , B , C ]", EOS-padded
//   region_start() - 1 = 2 max_items + 2   SEP
//   region_start() ..                   the answer list "[ C , A , B ]", EOS-padded
// The prompt (everything before region_start) is never masked; in the answer the format tokens
// ("[", ",", "]") and the EOS padding are pre-filled (they give the length away, as in the
// paper's `["[MASK]", ...]` format), so only the answer's item slots are maskable.
//
// Tasks (answer given the input list x of n distinct items):
//   copy            x
//   reverse         x reversed
//   sort            x in alphabetical order
//   shuffle         a uniformly random permutation of x other than x itself; correct = the same
//                   items in a different order
//   replace_random  x with exactly one item, at a uniformly random slot, replaced by F; correct =
//                   every slot equal to x's item but exactly one, which holds F
//   names           input "[ CITY? ]", answer one of New York, New Orleans, Mexico City, Panama
//                   City (uniform), two item slots; correct = one of the four names
// An answer is an "invalid mixture" when it is wrong although every token is individually
// plausible, i.e. has nonzero probability at its slot under the task's answer distribution
// ("New City", a shuffle with a repeated item, replace_random with zero or two Fs). Copy,
// reverse and sort have a single plausible token per slot, so they never produce one.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace beyond::parallel {

enum class Task { copy, reverse, sort, shuffle, replace_random, names };

const std::vector<Task>& all_tasks();
const std::string& task_name(Task task);
Task task_from_name(const std::string& name);  // InputError for an unknown name

// Token ids.
inline constexpr int64_t kMask = 0, kEos = 1, kSep = 2, kOpen = 3, kClose = 4, kComma = 5;
inline constexpr int64_t kTaskBase = 6;      // + static_cast<int>(Task)
inline constexpr int64_t kLetterBase = 12;   // 'A' .. 'Z'
inline constexpr int64_t kMarker = kLetterBase + ('F' - 'A');
inline constexpr int64_t kCityCategory = 38;
inline constexpr int64_t kWordBase = 39;     // New, York, Orleans, Mexico, Panama, City
inline constexpr int64_t kVocabSize = 45;

inline int64_t task_token(Task t) { return kTaskBase + static_cast<int64_t>(t); }
inline int64_t letter(char c) { return kLetterBase + (c - 'A'); }
std::string token_string(int64_t id);               // "A", "[", "SEP", "<copy>", "New", "_" for MASK
std::string render(const std::vector<int64_t>& tokens);  // tokens joined by spaces, trailing EOS dropped

// The four two-token city names, as token ids.
const std::vector<std::vector<int64_t>>& city_names();

struct Example {
  Task task = Task::copy;
  std::vector<int64_t> input;   // the input list's items (names: {kCityCategory})
  std::vector<int64_t> answer;  // the reference answer's item tokens, one per slot
  std::vector<int64_t> tokens;  // the full sequence, seq_len() long
  std::vector<int64_t> slots;   // positions of the answer's item slots (the maskable positions)
};

struct TaskOptions {
  int64_t min_items = 4;
  int64_t max_items = 8;
  std::vector<Task> tasks = all_tasks();  // the training mixture (uniform over these)
};

class ParallelTasks {
 public:
  explicit ParallelTasks(TaskOptions options = {});  // InputError for bad sizes
  const TaskOptions& options() const { return options_; }
  int64_t seq_len() const { return 4 * options_.max_items + 4; }
  int64_t region_start() const { return 2 * options_.max_items + 3; }
  static int64_t vocab_size() { return kVocabSize; }

  // One example of `task` with n items (names: n is ignored; two slots).
  Example make(Task task, int64_t n, std::mt19937_64& rng) const;
  // A task drawn uniformly from options().tasks, n uniformly from [min_items, max_items].
  Example sample(std::mt19937_64& rng) const;
  // The example's sequence with MASK at every item slot: what a sampler starts from.
  std::vector<int64_t> masked_tokens(const Example& ex) const;

 private:
  TaskOptions options_;
};

// Reads the item slots of a generated sequence (seq_len() tokens).
std::vector<int64_t> answer_items(const Example& ex, const std::vector<int64_t>& tokens);

struct Verdict {
  bool correct = false;
  bool mixture = false;  // wrong, but every token plausible at its slot
};
// Judges an answer's item tokens (one per slot) for the example's input.
Verdict check(const Example& ex, const std::vector<int64_t>& items);
// Whether `token` has nonzero probability at item slot `slot` under the task's answer distribution.
bool plausible(const Example& ex, size_t slot, int64_t token);

// ---- Closed forms for a perfect model (ParallelBench §4.1), for n item slots committed in the
// steps of `schedule` (schedule[j] tokens at step j, summing to n; LLaDA's transfer schedule with
// steps = ceil(n / k) is k per step when k divides n, the paper's case).

// `steps` steps over n slots, as evenly as possible, remainder to the first steps (LLaDA).
std::vector<int64_t> even_schedule(int64_t n, int64_t steps);
// The schedule of k tokens per step: even_schedule(n, ceil(n / k)).
std::vector<int64_t> schedule_for(int64_t n, int64_t k);

// Shuffle, positions committed in any order, each committed token drawn independently from its
// marginal (uniform over the items not yet placed): prod_j P(m_j, k_j) / m_j^k_j, m_j the slots
// left before step j, P(m, k) = m! / (m - k)!. The same number holds for greedy decoding when
// ties between equal probabilities are broken uniformly at random, independently per slot.
// (Ignores the 1/n! chance of drawing the input order, which the task counts as wrong.)
double shuffle_independent_accuracy(const std::vector<int64_t>& schedule);
// Replace_random, greedy (temperature 0) with ties broken uniformly at random per slot, any
// commit order: while m > 2 slots are left every marginal prefers "keep" ((m-1)/m > 1/m); the
// answer is right if the last step commits one slot (1), a coin toss if it commits two of two
// (0.5), wrong if it commits more than two (0). At k per step with k | n: 1, 0.5, 0, 0 for
// k = 1, 2, >2.
double replace_random_greedy_accuracy(const std::vector<int64_t>& schedule);
// Replace_random, temperature 1: with m slots left and no F yet, a step of k commits exactly one F
// with probability k (1/m) ((m-1)/m)^(k-1) (then the rest is forced), none with ((m-1)/m)^k.
// At k = n: ((n-1)/n)^(n-1) -> 1/e.
double replace_random_sampled_accuracy(const std::vector<int64_t>& schedule);
// Names, two slots: sum over names of p1(first word) p2(second word) when both are committed in
// one step at temperature 1 (1/2 for the four cities), 1 when one per step.
double names_sampled_accuracy(const std::vector<int64_t>& schedule);
// Names, greedy: both slots in one step give the argmaxes "New" + "City", never a name (0).
double names_greedy_accuracy(const std::vector<int64_t>& schedule);

// Accuracy of a perfect model for a task with n items under `schedule`; `sampled` = temperature 1,
// else greedy with random tie-breaking. Copy, reverse, sort: 1.
double closed_form_accuracy(Task task, int64_t n, const std::vector<int64_t>& schedule, bool sampled);
// The same under Fast-dLLM's threshold rule (commit every slot with top probability >= gamma,
// at least the most confident one), greedy: a perfect model's marginals are flat (1/m for
// shuffle, 1/2 for the names' words) so gamma > 1/2 decodes one slot at a time and is exact;
// replace_random's "keep" has probability (n-1)/n, so it is right iff gamma > (n-1)/n (the
// paper writes >=; at equality the rule commits every slot at once and finds no F).
double closed_form_threshold_accuracy(Task task, int64_t n, double gamma);

}  // namespace beyond::parallel
