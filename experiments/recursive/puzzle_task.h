// A grid puzzle as a fixed-length token task for the recursive reasoners (TRM, HRM, the one-pass
// baseline): a training sampler (with augmentation), a fixed held-out set with an optional
// difficulty bucket per puzzle, and a way to draw a grid.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace beyond {

class Config;

struct PuzzleExample {
  std::vector<int64_t> inputs, labels;  // L tokens each
};

struct HeldOutSet {
  at::Tensor inputs, labels;             // [P, L] int64
  std::vector<std::string> group;        // difficulty bucket of each puzzle (empty: no breakdown)
  std::vector<std::string> group_order;  // the buckets in the order a report lists them
};

// The held-out set from its examples and their difficulty buckets; group_order keeps the buckets
// of `bucket_order` that occur.
HeldOutSet make_held_out(const std::vector<PuzzleExample>& examples, std::vector<std::string> groups,
                         const std::vector<std::string>& bucket_order);

class PuzzleTask {
 public:
  virtual ~PuzzleTask() = default;
  virtual void configure(Config& config) = 0;  // reads [task]
  virtual int64_t seq_len() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Builds the training pool and the held-out set; the same seed gives the same sets.
  virtual void prepare(uint64_t seed) = 0;
  virtual PuzzleExample sample(std::mt19937_64& rng) const = 0;  // one (augmented) training example
  virtual const HeldOutSet& held_out() const = 0;
  // Tokens [L] as a text grid.
  virtual std::string render(const at::Tensor& tokens) const = 0;
  virtual std::string describe() const = 0;  // one line for the log
};

std::unique_ptr<PuzzleTask> make_sudoku_task();
std::unique_ptr<PuzzleTask> make_maze_task();

}  // namespace beyond
