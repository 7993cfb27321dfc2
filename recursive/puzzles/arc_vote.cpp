#include "recursive/puzzles/arc_vote.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace beyond {

namespace {

using Json = nlohmann::ordered_json;  // keeps the tasks in input order, as the reference writes them

Json grid_to_json(const ArcGrid& grid) {
  Json rows = Json::array();  // an empty grid (a vote the model left blank) is written as []
  for (int r = 0; r < grid.rows; ++r) {
    Json row = Json::array();
    for (int c = 0; c < grid.cols; ++c) row.push_back(static_cast<int>(grid.at(r, c)));
    rows.push_back(std::move(row));
  }
  return rows;
}

// One entry {"attempt_1": grid, "attempt_2": grid, ...}: the attempts in order, numbered from 1
// without gaps.
std::vector<ArcGrid> attempts_from_json(const nlohmann::json& entry, const std::string& where) {
  if (!entry.is_object() || entry.empty()) throw InputError(where + ": expected an object {\"attempt_1\": grid, \"attempt_2\": grid}");
  for (const auto& [key, value] : entry.items()) {
    const bool numbered = key.rfind("attempt_", 0) == 0 && key.size() > 8 &&
                          std::all_of(key.begin() + 8, key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!numbered) throw InputError(where + ": unexpected field \"" + key + "\" (expected attempt_1, attempt_2, ...)");
  }
  std::vector<ArcGrid> attempts;
  for (size_t n = 1; n <= entry.size(); ++n) {
    const std::string key = "attempt_" + std::to_string(n);
    if (!entry.contains(key)) throw InputError(where + ": no \"" + key + "\" (attempts are numbered from 1 without gaps)");
    attempts.push_back(arc_grid_from_json(entry[key], where + "." + key, /*allow_empty=*/true));
  }
  return attempts;
}

}  // namespace

void ArcVote::add(const std::string& task_id, int test_index, const ArcGrid& prediction, double confidence) {
  auto& tallies = tallies_[{task_id, test_index}];
  auto same = std::find_if(tallies.begin(), tallies.end(), [&](const Tally& t) { return t.grid == prediction; });
  if (same == tallies.end()) {
    tallies.push_back({prediction, 0, 0.0, total_});
    same = std::prev(tallies.end());
  }
  same->votes += 1;
  same->confidence_sum += confidence;
  total_ += 1;
}

std::vector<ArcCandidate> ArcVote::ranked(const std::string& task_id, int test_index) const {
  const auto found = tallies_.find({task_id, test_index});
  if (found == tallies_.end()) return {};
  std::vector<const Tally*> order;
  for (const auto& t : found->second) order.push_back(&t);
  auto mean = [](const Tally* t) { return t->confidence_sum / static_cast<double>(t->votes); };
  std::sort(order.begin(), order.end(), [&](const Tally* a, const Tally* b) {
    if (a->votes != b->votes) return a->votes > b->votes;
    if (mean(a) != mean(b)) return mean(a) > mean(b);
    return a->first < b->first;
  });
  std::vector<ArcCandidate> out;
  for (const Tally* t : order) out.push_back({t->grid, t->votes, mean(t)});
  return out;
}

double ArcScore::at(int k) const {
  const auto it = std::find(ks.begin(), ks.end(), k);
  if (it == ks.end()) {
    std::string have;
    for (int x : ks) have += (have.empty() ? "" : ", ") + std::to_string(x);
    throw InputError("pass@" + std::to_string(k) + " was not scored (scored K: " + have + ")");
  }
  return pass_at[static_cast<size_t>(it - ks.begin())];
}

ArcScore score_arc(const ArcVote& vote, const std::vector<ArcTask>& tasks, const std::vector<int>& ks) {
  for (int k : ks) {
    if (k < 1) throw InputError("pass@" + std::to_string(k) + ": K must be at least 1");
  }
  ArcScore score;
  score.ks = ks;
  score.pass_at.assign(ks.size(), 0.0);
  for (const auto& task : tasks) {
    ArcTaskScore t{task.id, std::vector<double>(ks.size(), 0.0), 0};
    for (size_t i = 0; i < task.test.size(); ++i) {
      const ArcPair& pair = task.test[i];
      if (!pair.has_output) continue;
      t.test_inputs += 1;
      const auto candidates = vote.ranked(task.id, static_cast<int>(i));
      const auto right = std::find_if(candidates.begin(), candidates.end(),
                                      [&](const ArcCandidate& c) { return c.grid == pair.output; });
      const auto rank = right - candidates.begin();  // == size when the true grid got no vote
      for (size_t j = 0; j < ks.size(); ++j) t.pass_at[j] += right != candidates.end() && rank < ks[j] ? 1.0 : 0.0;
    }
    if (t.test_inputs == 0) continue;
    for (auto& p : t.pass_at) p /= t.test_inputs;
    for (size_t j = 0; j < ks.size(); ++j) score.pass_at[j] += t.pass_at[j];
    score.tasks.push_back(std::move(t));
  }
  if (!score.tasks.empty()) {
    for (auto& p : score.pass_at) p /= static_cast<double>(score.tasks.size());
  }
  return score;
}

std::string arc_submission_json(const ArcVote& vote, const std::vector<ArcTask>& tasks) {
  constexpr size_t kAttempts = 2;  // the ARC Prize scores two attempts per test input
  Json submission = Json::object();
  for (const auto& task : tasks) {
    Json entries = Json::array();
    for (size_t i = 0; i < task.test.size(); ++i) {
      std::vector<ArcGrid> attempts;
      for (const auto& c : vote.ranked(task.id, static_cast<int>(i))) {
        if (attempts.size() == kAttempts) break;
        attempts.push_back(c.grid);
      }
      if (attempts.empty()) attempts.push_back(ArcGrid{1, 1, {0}});
      while (attempts.size() < kAttempts) attempts.push_back(attempts.front());
      Json entry = Json::object();
      for (size_t a = 0; a < kAttempts; ++a) entry["attempt_" + std::to_string(a + 1)] = grid_to_json(attempts[a]);
      entries.push_back(std::move(entry));
    }
    submission[task.id] = std::move(entries);
  }
  return submission.dump();
}

std::map<std::string, std::vector<std::vector<ArcGrid>>> read_arc_submission(const std::string& path) {
  const nlohmann::json top = read_arc_json(path);
  if (!top.is_object()) throw InputError(path + ": expected an object {\"<task id>\": [{\"attempt_1\": grid, ...}, ...]}");
  std::map<std::string, std::vector<std::vector<ArcGrid>>> out;
  for (const auto& [id, entries] : top.items()) {
    const std::string where = path + ": " + id;
    if (!entries.is_array()) throw InputError(where + ": expected a list with one entry per test input");
    auto& tests = out[id];
    for (size_t i = 0; i < entries.size(); ++i) tests.push_back(attempts_from_json(entries[i], where + "[" + std::to_string(i) + "]"));
  }
  return out;
}

}  // namespace beyond
