// ARC voting on hand-made votes: rankings, pass@K worked out by hand in the comments, the
// submission.json fields read back with nlohmann, and one test per malformed submission.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "recursive/puzzles/arc_vote.h"

using namespace beyond;
namespace fs = std::filesystem;

namespace {

ArcGrid grid(const std::vector<std::vector<int>>& rows) { return ArcGrid::from_rows(rows); }

// A task whose test pairs have these outputs (nullptr: the pair has none). The inputs do not matter
// to voting, which keys by test index.
ArcTask task(const std::string& id, const std::vector<const ArcGrid*>& outputs) {
  ArcTask t;
  t.id = id;
  for (const ArcGrid* out : outputs) {
    ArcPair p;
    p.input = grid({{0}});
    p.has_output = out != nullptr;
    if (out) p.output = *out;
    t.test.push_back(p);
  }
  return t;
}

void add_votes(ArcVote& vote, const std::string& id, int test, const ArcGrid& g, const std::vector<double>& confidences) {
  for (double c : confidences) vote.add(id, test, g, c);
}

std::string temp_file(const std::string& name, const std::string& text) {
  const auto dir = fs::temp_directory_path() / ("beyond_arc_vote_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The InputError message of read_arc_submission on a file holding `text`, or "" when it reads.
std::string read_error(const std::string& text) {
  const auto path = temp_file("bad.json", text);
  try {
    read_arc_submission(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const ArcGrid kTrue0 = grid({{1, 2}, {3, 4}});
const ArcGrid kTrue1 = grid({{5, 5, 5}});
const ArcGrid kWrongX = grid({{1, 2}, {3, 0}});
const ArcGrid kWrongY = grid({{5, 5}});
const ArcGrid kWrongZ = grid({{5}, {5}, {5}});

}  // namespace

TEST(ArcVote, TalliesByGridEquality) {
  ArcVote vote;
  vote.add("a", 0, kTrue0, 0.2);
  vote.add("a", 0, kWrongX, 0.7);
  vote.add("a", 0, grid({{1, 2}, {3, 4}}), 0.4);  // equal to kTrue0, a separate object
  vote.add("a", 0, grid({{1, 2, 3, 4}}), 0.9);     // the same cells in another shape: another grid
  vote.add("a", 1, kTrue0, 1.0);                   // another test input
  vote.add("b", 0, kTrue0, 1.0);                   // another task
  EXPECT_EQ(vote.total_votes(), 6);
  const auto c = vote.ranked("a", 0);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].grid, kTrue0);
  EXPECT_EQ(c[0].votes, 2);
  EXPECT_DOUBLE_EQ(c[0].mean_confidence, 0.3);  // (0.2 + 0.4) / 2
  // One vote each: the 1x4 grid's 0.9 beats kWrongX's 0.7.
  EXPECT_EQ(c[1].grid, grid({{1, 2, 3, 4}}));
  EXPECT_EQ(c[2].grid, kWrongX);
  EXPECT_EQ(vote.ranked("a", 1).size(), 1u);
  EXPECT_TRUE(vote.ranked("a", 2).empty());
  EXPECT_TRUE(vote.ranked("c", 0).empty());
}

TEST(ArcVote, PassAtKPerTestInputThenPerTask) {
  ArcVote vote;
  // Task a, input 0: the true grid wins 3 votes to 2 -> pass@1 1, pass@2 1.
  add_votes(vote, "a", 0, kWrongX, {0.9, 0.9});
  add_votes(vote, "a", 0, kTrue0, {0.1, 0.2, 0.3});
  // Task a, input 1: Y 3 votes, the true grid 2, Z 1 -> the truth is second: pass@1 0, pass@2 1.
  add_votes(vote, "a", 1, kTrue1, {0.9, 0.9});
  add_votes(vote, "a", 1, kWrongY, {0.1, 0.1, 0.1});
  add_votes(vote, "a", 1, kWrongZ, {1.0});
  // Votes for the right grid under another task id or test index count for nothing.
  add_votes(vote, "b", 1, kTrue0, {1.0});
  add_votes(vote, "zz", 0, kTrue0, {1.0});
  // Task b: one test input, no votes -> 0 at every K.
  const std::vector<ArcTask> tasks = {task("a", {&kTrue0, &kTrue1}), task("b", {&kTrue0})};

  const auto s = score_arc(vote, tasks, {1, 2, 5});
  ASSERT_EQ(s.tasks.size(), 2u);
  EXPECT_EQ(s.tasks[0].id, "a");
  EXPECT_EQ(s.tasks[0].test_inputs, 2);
  // Task a: pass@1 (1 + 0) / 2 = 0.5, pass@2 (1 + 1) / 2 = 1, pass@5 1.
  EXPECT_DOUBLE_EQ(s.tasks[0].pass_at[0], 0.5);
  EXPECT_DOUBLE_EQ(s.tasks[0].pass_at[1], 1.0);
  EXPECT_DOUBLE_EQ(s.tasks[0].pass_at[2], 1.0);
  EXPECT_EQ(s.tasks[1].id, "b");
  EXPECT_EQ(s.tasks[1].test_inputs, 1);
  EXPECT_EQ(s.tasks[1].pass_at, (std::vector<double>{0, 0, 0}));
  // Over tasks: pass@1 (0.5 + 0) / 2 = 0.25, pass@2 (1 + 0) / 2 = 0.5, pass@5 0.5.
  EXPECT_DOUBLE_EQ(s.at(1), 0.25);
  EXPECT_DOUBLE_EQ(s.at(2), 0.5);
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_THROW(s.at(3), InputError);

  // A task scored alone: its own numbers are the headline.
  const auto only_a = score_arc(vote, {tasks[0]}, {1, 2});
  EXPECT_DOUBLE_EQ(only_a.at(1), 0.5);
  EXPECT_DOUBLE_EQ(only_a.at(2), 1.0);
}

TEST(ArcVote, TruthOutsideTheTopKAndNeverVotedFor) {
  ArcVote vote;
  // Three candidates of 3, 2, 1 votes; the truth is third: pass@1 0, pass@2 0, pass@3 1.
  add_votes(vote, "t", 0, kWrongX, {0.5, 0.5, 0.5});
  add_votes(vote, "t", 0, kWrongY, {0.5, 0.5});
  add_votes(vote, "t", 0, kTrue0, {0.5});
  // Input 1: votes, but none for the truth: 0 at any K, however large.
  add_votes(vote, "t", 1, kWrongZ, {0.5});
  const auto s = score_arc(vote, {task("t", {&kTrue0, &kTrue1})}, {1, 2, 3, 1000});
  // Per K: ((0 or 1) + 0) / 2.
  EXPECT_DOUBLE_EQ(s.at(1), 0.0);
  EXPECT_DOUBLE_EQ(s.at(2), 0.0);
  EXPECT_DOUBLE_EQ(s.at(3), 0.5);
  EXPECT_DOUBLE_EQ(s.at(1000), 0.5);
  EXPECT_THROW(score_arc(vote, {}, {0}), InputError);
}

TEST(ArcVote, TieOnVotesBrokenByMeanConfidence) {
  // Two votes each. The truth was voted for first, but A's mean confidence is higher:
  // A (0.9 + 0.7) / 2 = 0.8 > truth (0.6 + 0.6) / 2 = 0.6 -> A first: pass@1 0, pass@2 1.
  {
    ArcVote vote;
    add_votes(vote, "t", 0, kTrue0, {0.6});
    add_votes(vote, "t", 0, kWrongX, {0.9, 0.7});
    add_votes(vote, "t", 0, kTrue0, {0.6});
    const auto ranked = vote.ranked("t", 0);
    ASSERT_EQ(ranked.size(), 2u);
    EXPECT_EQ(ranked[0].grid, kWrongX);
    EXPECT_DOUBLE_EQ(ranked[0].mean_confidence, 0.8);
    const auto s = score_arc(vote, {task("t", {&kTrue0})}, {1, 2});
    EXPECT_DOUBLE_EQ(s.at(1), 0.0);
    EXPECT_DOUBLE_EQ(s.at(2), 1.0);
  }
  // The confidences swapped, A voted for first: now the truth's 0.8 beats A's 0.6: pass@1 1.
  {
    ArcVote vote;
    add_votes(vote, "t", 0, kWrongX, {0.6, 0.6});
    add_votes(vote, "t", 0, kTrue0, {0.9, 0.7});
    const auto s = score_arc(vote, {task("t", {&kTrue0})}, {1, 2});
    EXPECT_DOUBLE_EQ(s.at(1), 1.0);
    EXPECT_DOUBLE_EQ(s.at(2), 1.0);
  }
  // More votes beat a higher confidence: 2 votes at 0.1 over 1 vote at 1.0.
  {
    ArcVote vote;
    add_votes(vote, "t", 0, kWrongX, {1.0});
    add_votes(vote, "t", 0, kTrue0, {0.1, 0.1});
    EXPECT_EQ(vote.ranked("t", 0)[0].grid, kTrue0);
  }
  // Equal votes and equal means: the grid voted for first ranks first.
  {
    ArcVote vote;
    add_votes(vote, "t", 0, kWrongY, {0.5});
    add_votes(vote, "t", 0, kWrongX, {0.25, 0.75});
    add_votes(vote, "t", 0, kWrongY, {0.5});
    const auto ranked = vote.ranked("t", 0);
    EXPECT_EQ(ranked[0].grid, kWrongY);
    EXPECT_EQ(ranked[1].grid, kWrongX);
  }
}

TEST(ArcVote, TestPairsWithoutOutputAreNotScored) {
  ArcVote vote;
  add_votes(vote, "a", 0, kTrue0, {0.5});
  add_votes(vote, "a", 1, kWrongY, {0.5});  // a vote for the hidden pair: not scored
  add_votes(vote, "c", 0, kTrue0, {0.5});
  // Task a: input 0 right, input 1 hidden -> 1 / 1 = 1 (not 1 / 2). Task c: every pair hidden ->
  // left out of the mean, so the headline is task a's 1 (not (1 + 0) / 2).
  const std::vector<ArcTask> tasks = {task("a", {&kTrue0, nullptr}), task("c", {nullptr})};
  const auto s = score_arc(vote, tasks, {1, 2});
  ASSERT_EQ(s.tasks.size(), 1u);
  EXPECT_EQ(s.tasks[0].id, "a");
  EXPECT_EQ(s.tasks[0].test_inputs, 1);
  EXPECT_DOUBLE_EQ(s.at(1), 1.0);
  // Nothing scorable at all: no tasks, zeros.
  const auto none = score_arc(vote, {tasks[1]}, {1});
  EXPECT_TRUE(none.tasks.empty());
  EXPECT_DOUBLE_EQ(none.at(1), 0.0);
}

TEST(ArcVote, SubmissionJsonFields) {
  ArcVote vote;
  add_votes(vote, "a", 0, kWrongX, {0.5});
  add_votes(vote, "a", 0, kTrue0, {0.5, 0.5});
  add_votes(vote, "a", 0, kWrongZ, {0.1});  // third: not in the submission
  add_votes(vote, "a", 1, kTrue1, {0.5});   // one candidate: attempt_2 repeats it
  // Task b has hidden outputs, still gets its entries; its only input has no votes -> [[0]].
  const std::vector<ArcTask> tasks = {task("a", {&kTrue0, &kTrue1}), task("b", {nullptr})};
  const auto j = nlohmann::json::parse(arc_submission_json(vote, tasks));
  using J = nlohmann::json;
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 2u);
  ASSERT_EQ(j.at("a").size(), 2u);
  EXPECT_EQ(j["a"][0].size(), 2u);
  EXPECT_EQ(j["a"][0]["attempt_1"], J::parse("[[1,2],[3,4]]"));
  EXPECT_EQ(j["a"][0]["attempt_2"], J::parse("[[1,2],[3,0]]"));
  EXPECT_EQ(j["a"][1]["attempt_1"], J::parse("[[5,5,5]]"));
  EXPECT_EQ(j["a"][1]["attempt_2"], J::parse("[[5,5,5]]"));
  ASSERT_EQ(j.at("b").size(), 1u);
  EXPECT_EQ(j["b"][0], J::parse(R"({"attempt_1": [[0]], "attempt_2": [[0]]})"));
}

TEST(ArcVote, ReadSubmissionRoundTrip) {
  ArcVote vote;
  add_votes(vote, "a", 0, kTrue0, {0.9});
  add_votes(vote, "a", 0, ArcGrid{}, {0.1});  // an empty vote: written as [], read back empty
  add_votes(vote, "a", 1, kWrongZ, {0.5});
  const auto path = temp_file("submission.json", arc_submission_json(vote, {task("a", {&kTrue0, &kTrue1}), task("b", {nullptr})}));
  const auto s = read_arc_submission(path);
  ASSERT_EQ(s.size(), 2u);
  const auto& a = s.at("a");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a[0].size(), 2u);
  EXPECT_EQ(a[0][0], kTrue0);
  EXPECT_TRUE(a[0][1].empty());
  EXPECT_EQ(a[1], (std::vector<ArcGrid>{kWrongZ, kWrongZ}));
  EXPECT_EQ(s.at("b"), (std::vector<std::vector<ArcGrid>>{{grid({{0}}), grid({{0}})}}));

  // Attempts come back in their numbers' order, whatever the order in the file, and as many as given.
  const auto three = read_arc_submission(
      temp_file("three.json", R"({"t": [{"attempt_3": [[3]], "attempt_1": [[1]], "attempt_2": [[2, 2]]}]})"));
  EXPECT_EQ(three.at("t")[0], (std::vector<ArcGrid>{grid({{1}}), grid({{2, 2}}), grid({{3}})}));
}

TEST(ArcVote, MalformedSubmissionsNameTheFileAndField) {
  const auto missing = (fs::temp_directory_path() / "beyond_no_such_submission.json").string();
  try {
    read_arc_submission(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": no such file");
  }
  const auto p = temp_file("bad.json", "");
  auto has = [&](const std::string& text, const std::string& want) {
    const auto error = read_error(text);
    EXPECT_NE(error.find(p + ": "), std::string::npos) << error;
    EXPECT_NE(error.find(want), std::string::npos) << "for " << text << ": " << error;
  };
  has("{\"a\": [", "not JSON");
  has("[[1]]", "expected an object");
  has(R"({"a": {"attempt_1": [[1]]}})", "a: expected a list with one entry per test input");
  has(R"({"a": [[[1]]]})", "a[0]: expected an object");
  has(R"({"a": [{}]})", "a[0]: expected an object");
  has(R"({"a": [{"attempt_2": [[1]]}]})", "a[0]: no \"attempt_1\"");
  has(R"({"a": [{"attempt_1": [[1]], "guess": [[1]]}]})", "a[0]: unexpected field \"guess\"");
  has(R"({"a": [{"attempt_1": 7}]})", "a[0].attempt_1: expected a list of rows");
  has(R"({"a": [{"attempt_1": [[1]]}, {"attempt_1": [[1, 2], [3]]}]})", "a[1].attempt_1 row 1: 1 columns, row 0 has 2");
  has(R"({"a": [{"attempt_1": [[1], [12]]}]})", "a[0].attempt_1 row 1: colour 12 is outside 0-9");
  has(R"({"a": [{"attempt_1": [[-1]]}]})", "colour -1 is outside 0-9");
  has(R"({"a": [{"attempt_1": [[18446744073709551616]]}]})", "not an integer colour");  // a double to nlohmann
  has(R"({"a": [{"attempt_1": [[18446744073709551615]]}]})", "colour 18446744073709551615 is outside 0-9");
  has(R"({"a": [{"attempt_1": [[1, "x"]]}]})", "a[0].attempt_1 row 0: cell 1 is \"x\", not an integer colour");
  has(R"({"a": [{"attempt_1": [[1.5]]}]})", "1.5, not an integer colour");
  has(R"({"a": [{"attempt_1": [1, 2]}]})", "a[0].attempt_1 row 0: expected a list of colours");
  has(R"({"a": [{"attempt_1": [[]]}]})", "a[0].attempt_1 row 0: empty row");
  std::string tall = "[";
  for (int r = 0; r < 31; ++r) tall += std::string(r ? "," : "") + "[0]";
  has(R"({"a": [{"attempt_1": )" + tall + "]}]}", "a[0].attempt_1: 31 rows, more than 30");
  EXPECT_EQ(read_error(R"({"a": [{"attempt_1": [[9]]}], "b": []})"), "");
}
