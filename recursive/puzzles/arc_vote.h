// ARC evaluation by voting (TRM's `evaluators/arc.py`): the model answers every augmented variant
// of a test input; each answer is cropped, mapped back through its variant's inverse transform and
// counted as one vote for that grid. Candidates rank by votes, ties broken by the mean halting
// confidence (sigmoid of the halt logit) of their votes. pass@K is 1 for a test input when its
// true output is among the top K candidates; a task scores the mean over its test inputs, and the
// headline is the mean over tasks. The top 2 go into an ARC Prize `submission.json`.
// Plain C++, no torch.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "recursive/puzzles/arc.h"

namespace beyond {

struct ArcCandidate {
  ArcGrid grid;
  int64_t votes = 0;
  double mean_confidence = 0;  // mean over the votes
};

class ArcVote {
 public:
  // One vote: the model's answer for test input `test_index` of task `task_id`, already mapped back
  // to the original task's frame (an empty grid is a valid, if useless, vote, as in the reference).
  void add(const std::string& task_id, int test_index, const ArcGrid& prediction, double confidence);
  // The candidates for one test input, best first: more votes, then higher mean confidence (then
  // the grid first voted for, so the order is deterministic). Empty when it got no votes.
  std::vector<ArcCandidate> ranked(const std::string& task_id, int test_index) const;
  int64_t total_votes() const { return total_; }

 private:
  struct Tally {
    ArcGrid grid;
    int64_t votes = 0;
    double confidence_sum = 0;
    int64_t first = 0;  // order of the first vote, for ties
  };
  std::map<std::pair<std::string, int>, std::vector<Tally>> tallies_;
  int64_t total_ = 0;
};

struct ArcTaskScore {
  std::string id;
  std::vector<double> pass_at;  // per K, the mean over the task's scored test inputs
  int test_inputs = 0;          // scored: those with a known output
};

struct ArcScore {
  std::vector<int> ks;          // e.g. {1, 2, 5, 10, 100, 1000}
  std::vector<double> pass_at;  // per K, the mean of the tasks' scores
  std::vector<ArcTaskScore> tasks;  // tasks with at least one scored test input, in input order
  double at(int k) const;       // pass_at for K = k (InputError when k is not in ks)
};

// Scores `tasks`' test inputs. A test input without votes counts as wrong; a test pair without an
// output is not scored, and a task with none is left out of the mean.
ArcScore score_arc(const ArcVote& vote, const std::vector<ArcTask>& tasks, const std::vector<int>& ks);

// The ARC Prize submission: {"<task id>": [{"attempt_1": grid, "attempt_2": grid}, ...], ...} with
// one entry per test input in file order. attempt_2 repeats attempt_1 when there is one candidate;
// a test input without votes gets [[0]] for both, so every entry is present.
std::string arc_submission_json(const ArcVote& vote, const std::vector<ArcTask>& tasks);

// Reads a submission file: task id -> per test input -> attempts (attempt_1, attempt_2, ... in
// order). InputError naming the file and the field when it is malformed.
std::map<std::string, std::vector<std::vector<ArcGrid>>> read_arc_submission(const std::string& path);

}  // namespace beyond
