// The ARC dataset (recursive/puzzles/arc_dataset.h): variants, puzzle ids, translation, labels and
// batches; and the whole evaluation path without a model: an oracle answering in each variant's
// frame must vote the original task's output back, read from the task as written here.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/errors.h"
#include "recursive/puzzles/arc_dataset.h"
#include "recursive/puzzles/arc_vote.h"

using namespace beyond;

namespace {

ArcGrid grid(const std::vector<std::vector<int>>& rows) { return ArcGrid::from_rows(rows); }

// A task whose rule is "flip left-right", with asymmetric grids so that variants differ.
ArcTask flip_task(const std::string& id, int n_train) {
  ArcTask t;
  t.id = id;
  t.path = id + ".json";
  for (int i = 0; i < n_train; ++i)
    t.train.push_back({grid({{1, 2, 0}, {0, 3, static_cast<int>(4 + i % 5)}}),
                       grid({{0, 2, 1}, {static_cast<int>(4 + i % 5), 3, 0}})});
  t.test.push_back({grid({{5, 0}, {6, 7}, {0, 8}}), grid({{0, 5}, {7, 6}, {8, 0}})});
  t.test.push_back({grid({{9, 1, 1, 0}}), grid({{0, 1, 1, 9}})});
  return t;
}

ArcDatasetOptions small_options() {
  ArcDatasetOptions o;
  o.canvas = 6;
  o.augmentations = 7;
  return o;
}

// The board a perfect model would answer for held-out item i: the true output in the variant's frame.
std::vector<int64_t> oracle_answer(const ArcDataset& d, int64_t i, const ArcGrid& answer_in_task_frame) {
  const auto& item = d.held_out()[static_cast<size_t>(i)];
  const auto& v = d.variants()[static_cast<size_t>(item.variant)];
  return encode_arc_grid(v.augmentation.apply(answer_in_task_frame), d.canvas());
}

}  // namespace

TEST(ArcDataset, VariantsIdsAndTrainingPairs) {
  ArcDataset d({flip_task("full", 3)}, {flip_task("held", 2)}, small_options(), 5);
  ASSERT_EQ(d.tasks().size(), 2u);
  ASSERT_EQ(d.variants().size(), 16u);  // identity + 7 per task (these grids have no symmetry)
  std::set<int64_t> ids;
  for (const auto& v : d.variants()) {
    EXPECT_GT(v.puzzle_id, 0);
    EXPECT_LT(v.puzzle_id, ArcDataset::num_puzzle_ids(2, 7));
    ids.insert(v.puzzle_id);
  }
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_TRUE(d.variants()[0].augmentation.is_identity());
  EXPECT_TRUE(d.variants()[8].augmentation.is_identity());
  // A training task trains on its 3 train pairs and 2 test pairs; an evaluation task on its 2 demos only.
  EXPECT_EQ(d.train_examples().size(), 8u * 5 + 8u * 2);
  // Held out: 2 test inputs x 8 variants of the evaluation task.
  EXPECT_EQ(d.held_out().size(), 16u);
  for (const auto& h : d.held_out()) EXPECT_EQ(h.task, 1);
}

TEST(ArcDataset, OneUntranslatedPairPerVariantAndLabelsIgnorePad) {
  ArcDatasetOptions o = small_options();
  o.canvas = 12;
  ArcDataset d({flip_task("full", 4)}, {flip_task("held", 1)}, o, 11);
  std::map<int32_t, int> at_origin;
  bool moved = false;
  for (int64_t e = 0; e < static_cast<int64_t>(d.train_examples().size()); ++e) {
    const auto& ex = d.train_examples()[static_cast<size_t>(e)];
    if (ex.offset.row == 0 && ex.offset.col == 0) ++at_origin[ex.variant];
    else moved = true;
    const ArcTokens t = d.train_tokens(e);
    ASSERT_EQ(t.inputs.size(), 144u);
    ASSERT_EQ(t.labels.size(), 144u);
    EXPECT_EQ(t.puzzle_id, d.variants()[static_cast<size_t>(ex.variant)].puzzle_id);
    for (size_t i = 0; i < 144; ++i) {
      const int r = static_cast<int>(i) / 12, c = static_cast<int>(i) % 12;
      // Outside the translated output and its EOS border the label is ignored.
      const bool far = r < ex.offset.row || c < ex.offset.col || r > ex.offset.row + 4 || c > ex.offset.col + 4;
      if (far) {
        EXPECT_EQ(t.labels[i], -100) << "cell " << i;
      }
      EXPECT_NE(t.labels[i], kArcPad);
    }
  }
  EXPECT_TRUE(moved);
  for (const auto& v : d.variants()) {
    const int32_t index = static_cast<int32_t>(&v - d.variants().data());
    EXPECT_GE(at_origin[index], 1) << "variant " << index << " has no pair at the top-left";
  }
  // Without translation every pair sits at the top-left.
  o.translate = false;
  ArcDataset still({flip_task("full", 4)}, {}, o, 11);
  for (const auto& ex : still.train_examples()) EXPECT_TRUE(ex.offset.row == 0 && ex.offset.col == 0);
}

TEST(ArcDataset, BatchesTakeWholeVariantsAndAreSeeded) {
  ArcDataset d({flip_task("a", 3), flip_task("b", 4)}, {}, small_options(), 3);
  std::mt19937_64 rng(9), again(9);
  const auto batch = d.sample_batch(rng, 30);
  EXPECT_EQ(batch, d.sample_batch(again, 30));
  ASSERT_EQ(batch.size(), 30u);
  // Consecutive runs of one variant hold all of its pairs (3 or 4), except the cut-off last run.
  size_t i = 0;
  while (i < batch.size()) {
    const int32_t v = d.train_examples()[static_cast<size_t>(batch[i])].variant;
    size_t j = i;
    std::set<int64_t> seen;
    while (j < batch.size() && d.train_examples()[static_cast<size_t>(batch[j])].variant == v) seen.insert(batch[j++]);
    const size_t pairs = d.tasks()[static_cast<size_t>(d.variants()[static_cast<size_t>(v)].task)].train.size() + 2;
    if (j < batch.size()) {
      EXPECT_EQ(seen.size() % pairs, 0u) << "variant " << v;
    }
    i = j;
  }
  // The same seed builds the same dataset.
  ArcDataset twin({flip_task("a", 3), flip_task("b", 4)}, {}, small_options(), 3);
  for (size_t e = 0; e < d.train_examples().size(); ++e)
    EXPECT_EQ(d.train_tokens(static_cast<int64_t>(e)).inputs, twin.train_tokens(static_cast<int64_t>(e)).inputs);
}

TEST(ArcDataset, OracleAnswersVoteTheTrueOutputBack) {
  const ArcTask held = flip_task("held", 2);
  ArcDataset d({}, {held}, small_options(), 7);
  ArcVote vote;
  for (int64_t i = 0; i < static_cast<int64_t>(d.held_out().size()); ++i) {
    const auto& item = d.held_out()[static_cast<size_t>(i)];
    const ArcGrid truth = held.test[static_cast<size_t>(item.test_index)].output;
    // The held-out labels are the oracle's board, apart from the ignored PAD cells.
    const auto board = oracle_answer(d, i, truth);
    const auto labels = d.held_out_tokens(i).labels;
    for (size_t c = 0; c < board.size(); ++c) EXPECT_EQ(labels[c], board[c] == kArcPad ? -100 : board[c]);
    const ArcGrid back = d.answer_in_task_frame(i, board);
    EXPECT_EQ(back, truth) << "item " << i;
    vote.add("held", item.test_index, back, 0.5);
  }
  const ArcScore s = score_arc(vote, d.evaluation_tasks(), {1, 2});
  EXPECT_DOUBLE_EQ(s.at(1), 1.0);
  EXPECT_DOUBLE_EQ(s.at(2), 1.0);
}

TEST(ArcDataset, AWrongMajorityLosesPassAt1ButNotPassAt2) {
  const ArcTask held = flip_task("held", 2);
  ArcDataset d({}, {held}, small_options(), 7);
  const ArcGrid wrong = grid({{1}});
  ArcVote vote;
  for (int64_t i = 0; i < static_cast<int64_t>(d.held_out().size()); ++i) {
    const auto& item = d.held_out()[static_cast<size_t>(i)];
    const ArcGrid truth = held.test[static_cast<size_t>(item.test_index)].output;
    // 5 of the 8 variants of every test input answer the same wrong grid (in their own frame).
    const bool lie = d.variants()[static_cast<size_t>(item.variant)].puzzle_id % 8 < 5;
    vote.add("held", item.test_index, d.answer_in_task_frame(i, oracle_answer(d, i, lie ? wrong : truth)), 0.5);
  }
  const ArcScore s = score_arc(vote, d.evaluation_tasks(), {1, 2});
  EXPECT_DOUBLE_EQ(s.at(1), 0.0);
  EXPECT_DOUBLE_EQ(s.at(2), 1.0);
}

TEST(ArcDataset, EvalVariantsLimitsTheVotersAndGridsMustFit) {
  ArcDatasetOptions o = small_options();
  o.eval_variants = 3;
  ArcDataset d({}, {flip_task("held", 2)}, o, 1);
  EXPECT_EQ(d.held_out().size(), 2u * 3);
  EXPECT_TRUE(d.variants()[static_cast<size_t>(d.held_out()[0].variant)].augmentation.is_identity());
  o.canvas = 3;  // the 4-wide test input does not fit
  EXPECT_THROW(ArcDataset({}, {flip_task("held", 2)}, o, 1), InputError);
}
