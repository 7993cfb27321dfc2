// The ARC training and evaluation sets of TRM/HRM (`build_arc_dataset.py`), built in memory.
//
// Two kinds of task: "training" tasks, all of whose pairs (train and test) are trained on, and
// "evaluation" tasks, whose demonstration (train) pairs are trained on while their test pairs are
// held out: the reference's test-time training merged into training. Every task gets the identity
// plus `augmentations` distinct variants (dihedral transform x colour permutation); each variant is
// one puzzle with its own puzzle id (1, 2, ...; 0 is the blank id) and so its own learned
// embedding. A variant's training pairs are translated inside the canvas by a random offset, all
// but one random pair per variant, which stays at the top-left as every test input does.
//
// A training batch is drawn as the reference does: a random task, a random variant of it, all of
// that variant's pairs in random order, and again until the batch is full (the last variant may be
// cut short). Held-out items are every test input of an evaluation task under each of its first
// `eval_variants` variants, at the top-left; voting maps their answers back (arc_vote.h).
// Plain C++, no torch.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "recursive/puzzles/arc.h"
#include "recursive/puzzles/arc_augment.h"
#include "recursive/puzzles/arc_encoding.h"

namespace beyond {

struct ArcDatasetOptions {
  int canvas = 30;            // the board side; every grid of every task must fit
  int augmentations = 1000;   // variants per task besides the identity
  bool translate = true;      // random offsets for training pairs
  int eval_variants = 0;      // variants per held-out test input (0: all of them)
};

struct ArcVariant {
  int task = 0;               // index into tasks()
  ArcAugmentation augmentation;
  int64_t puzzle_id = 0;
};

struct ArcTrainExample {
  int32_t variant = 0;        // index into variants()
  int32_t pair = 0;           // index into the task's trained pairs (train pairs, then test pairs of a training task)
  ArcOffset offset;
};

struct ArcHeldOutItem {
  int task = 0;               // index into tasks()
  int test_index = 0;         // which test pair of the task
  int32_t variant = 0;        // index into variants()
};

// One example as model tokens: canvas * canvas each; labels are -100 where the board is PAD
// (not supervised, as the reference) and all -100 for a test pair without a known output.
struct ArcTokens {
  std::vector<int64_t> inputs, labels;
  int64_t puzzle_id = 0;
};

class ArcDataset {
 public:
  // InputError when a grid does not fit the canvas. The same seed gives the same variants and offsets.
  ArcDataset(std::vector<ArcTask> training_tasks, std::vector<ArcTask> evaluation_tasks, const ArcDatasetOptions& options,
             uint64_t seed);

  const std::vector<ArcTask>& tasks() const { return tasks_; }                  // training tasks, then evaluation tasks
  const std::vector<ArcTask>& evaluation_tasks() const { return evaluation_; }  // the held-out ones, in order
  const std::vector<ArcVariant>& variants() const { return variants_; }
  const std::vector<ArcTrainExample>& train_examples() const { return examples_; }
  const std::vector<ArcHeldOutItem>& held_out() const { return held_out_; }
  int canvas() const { return options_.canvas; }
  int64_t seq_len() const { return int64_t{options_.canvas} * options_.canvas; }
  // Rows of the puzzle embedding table: the blank id 0 plus one per possible variant (ids of
  // variants lost to deduplication stay unused), so it is known before the variants are drawn.
  static int64_t num_puzzle_ids(size_t num_tasks, int augmentations) {
    return 1 + static_cast<int64_t>(num_tasks) * (augmentations + 1);
  }

  // Indices into train_examples() for one batch of `batch_size`.
  std::vector<int64_t> sample_batch(std::mt19937_64& rng, int64_t batch_size) const;
  ArcTokens train_tokens(int64_t example) const;
  ArcTokens held_out_tokens(int64_t item) const;
  // A held-out answer (canvas tokens) cropped and mapped back to the task's own frame.
  ArcGrid answer_in_task_frame(int64_t item, const std::vector<int64_t>& predicted_tokens) const;

  std::string describe() const;  // one line for the log

 private:
  const ArcPair& trained_pair(const ArcVariant& v, int32_t pair) const;
  std::vector<ArcTask> tasks_, evaluation_;
  size_t num_training_ = 0;
  ArcDatasetOptions options_;
  std::vector<ArcVariant> variants_;
  std::vector<std::vector<int32_t>> variants_of_task_;
  std::vector<std::vector<int64_t>> examples_of_variant_;
  std::vector<ArcTrainExample> examples_;
  std::vector<ArcHeldOutItem> held_out_;
};

}  // namespace beyond
