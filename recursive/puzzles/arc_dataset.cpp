#include "recursive/puzzles/arc_dataset.h"

#include <algorithm>

#include "core/errors.h"
#include "recursive/puzzles/random.h"

namespace beyond {
namespace {

void check_fits(const ArcTask& task, int canvas) {
  if (task.max_side() > canvas)
    throw InputError(task.path + ": a grid of side " + std::to_string(task.max_side()) + " does not fit the " +
                     std::to_string(canvas) + "x" + std::to_string(canvas) + " canvas (raise task.canvas or lower task.max_grid)");
}

// Supervise every cell of the board except PAD: the grid and its EOS border.
std::vector<int64_t> labels_from(const std::vector<int64_t>& board) {
  std::vector<int64_t> labels(board);
  for (auto& t : labels)
    if (t == kArcPad) t = -100;
  return labels;
}

}  // namespace

ArcDataset::ArcDataset(std::vector<ArcTask> training_tasks, std::vector<ArcTask> evaluation_tasks,
                       const ArcDatasetOptions& options, uint64_t seed)
    : evaluation_(std::move(evaluation_tasks)), num_training_(training_tasks.size()), options_(options) {
  tasks_ = std::move(training_tasks);
  tasks_.insert(tasks_.end(), evaluation_.begin(), evaluation_.end());
  for (const auto& t : tasks_) check_fits(t, options_.canvas);
  variants_of_task_.resize(tasks_.size());
  for (size_t t = 0; t < tasks_.size(); ++t) {
    std::mt19937_64 rng(item_seed(seed, t));
    const auto augmentations = make_arc_variants(tasks_[t], options_.augmentations, rng);
    for (size_t k = 0; k < augmentations.size(); ++k) {
      const auto v = static_cast<int32_t>(variants_.size());
      const int64_t id = 1 + static_cast<int64_t>(t) * (options_.augmentations + 1) + static_cast<int64_t>(k);
      variants_.push_back({static_cast<int>(t), augmentations[k], id});
      variants_of_task_[t].push_back(v);
      // The variant's trained pairs: all translated but one, which stays at the top-left.
      const bool full = t < num_training_;
      const auto& task = tasks_[t];
      int32_t pairs = static_cast<int32_t>(task.train.size());
      if (full)
        for (const auto& p : task.test) pairs += p.has_output ? 1 : 0;
      const auto untranslated = static_cast<int32_t>(uniform_below(rng, static_cast<uint64_t>(pairs)));
      examples_of_variant_.emplace_back();
      for (int32_t j = 0; j < pairs; ++j) {
        ArcTrainExample ex{v, j, {}};
        if (options_.translate && j != untranslated) {
          const ArcPair p = augmentations[k].apply(trained_pair(variants_.back(), j));
          ex.offset = random_arc_offset(p.input, p.output, options_.canvas, rng);
        }
        examples_of_variant_.back().push_back(static_cast<int64_t>(examples_.size()));
        examples_.push_back(ex);
      }
    }
  }
  for (size_t e = 0; e < evaluation_.size(); ++e) {
    const size_t t = num_training_ + e;
    const auto& vs = variants_of_task_[t];
    const size_t n = options_.eval_variants > 0 ? std::min<size_t>(vs.size(), static_cast<size_t>(options_.eval_variants))
                                                : vs.size();
    for (size_t k = 0; k < evaluation_[e].test.size(); ++k)
      for (size_t i = 0; i < n; ++i) held_out_.push_back({static_cast<int>(t), static_cast<int>(k), vs[i]});
  }
}

const ArcPair& ArcDataset::trained_pair(const ArcVariant& v, int32_t pair) const {
  const auto& task = tasks_[static_cast<size_t>(v.task)];
  if (pair < static_cast<int32_t>(task.train.size())) return task.train[static_cast<size_t>(pair)];
  // A training task's test pairs with outputs follow its train pairs.
  int32_t j = pair - static_cast<int32_t>(task.train.size());
  for (const auto& p : task.test) {
    if (!p.has_output) continue;
    if (j-- == 0) return p;
  }
  throw InputError("ArcDataset: pair " + std::to_string(pair) + " out of range for task " + task.id);
}

std::vector<int64_t> ArcDataset::sample_batch(std::mt19937_64& rng, int64_t batch_size) const {
  std::vector<int64_t> batch;
  batch.reserve(static_cast<size_t>(batch_size));
  while (static_cast<int64_t>(batch.size()) < batch_size) {
    const auto& vs = variants_of_task_[uniform_below(rng, tasks_.size())];
    auto examples = examples_of_variant_[static_cast<size_t>(vs[uniform_below(rng, vs.size())])];
    shuffle_in_place(examples.begin(), examples.end(), rng);
    for (const int64_t e : examples) {
      if (static_cast<int64_t>(batch.size()) == batch_size) break;
      batch.push_back(e);
    }
  }
  return batch;
}

ArcTokens ArcDataset::train_tokens(int64_t example) const {
  const auto& ex = examples_[static_cast<size_t>(example)];
  const auto& v = variants_[static_cast<size_t>(ex.variant)];
  const ArcPair p = v.augmentation.apply(trained_pair(v, ex.pair));
  const int c = options_.canvas;
  return {encode_arc_grid(p.input, c, ex.offset.row, ex.offset.col),
          labels_from(encode_arc_grid(p.output, c, ex.offset.row, ex.offset.col)), v.puzzle_id};
}

ArcTokens ArcDataset::held_out_tokens(int64_t item) const {
  const auto& h = held_out_[static_cast<size_t>(item)];
  const auto& v = variants_[static_cast<size_t>(h.variant)];
  const auto& pair = tasks_[static_cast<size_t>(h.task)].test[static_cast<size_t>(h.test_index)];
  const int c = options_.canvas;
  ArcTokens out{encode_arc_grid(v.augmentation.apply(pair.input), c), {}, v.puzzle_id};
  out.labels = pair.has_output ? labels_from(encode_arc_grid(v.augmentation.apply(pair.output), c))
                               : std::vector<int64_t>(static_cast<size_t>(seq_len()), -100);
  return out;
}

ArcGrid ArcDataset::answer_in_task_frame(int64_t item, const std::vector<int64_t>& predicted_tokens) const {
  const auto& v = variants_[static_cast<size_t>(held_out_[static_cast<size_t>(item)].variant)];
  return v.augmentation.invert(crop_arc_grid(predicted_tokens, options_.canvas));
}

std::string ArcDataset::describe() const {
  return "ARC: " + std::to_string(num_training_) + " training tasks, " + std::to_string(evaluation_.size()) +
         " evaluation tasks, " + std::to_string(variants_.size()) + " variants, " + std::to_string(examples_.size()) +
         " training pairs, " + std::to_string(held_out_.size()) + " held-out inputs, canvas " +
         std::to_string(options_.canvas) + "x" + std::to_string(options_.canvas);
}

}  // namespace beyond
