// Sudoku as a puzzle task. Two sources:
//   generated: unique puzzles with a chosen number of givens (any box shape), a training pool and a
//              disjoint held-out pool;
//   files:     the tdoku one-per-line lists (or HRM CSVs) under ../shared/data/sudoku/, labelled by our
//              solver; a fixed held-out subset drawn with the seed, the rest (optionally topped up with
//              generated puzzles) for training.
// Training examples get a fresh validity-preserving transform (digits, bands, rows, stacks,
// columns, transpose) each time they are drawn. Held-out puzzles are grouped by difficulty: the
// solver's search-node count, in buckets.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "experiments/recursive/puzzle_task.h"
#include "recursive/puzzles/sudoku.h"
#include "recursive/puzzles/sudoku_io.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

struct Labelled {
  SudokuGrid puzzle, solution;
  int64_t nodes = 0;  // the solver's search nodes: the difficulty rating
  std::string source;
};

// Search-node buckets: 1 node means constraint propagation alone solves it.
std::string difficulty_bucket(int64_t nodes) {
  if (nodes <= 1) return "1 node (propagation only)";
  if (nodes <= 10) return "2-10 nodes";
  if (nodes <= 100) return "11-100 nodes";
  return ">100 nodes";
}
const std::vector<std::string> kBucketOrder = {"1 node (propagation only)", "2-10 nodes", "11-100 nodes", ">100 nodes"};

std::vector<Labelled> generate(SudokuShape shape, int64_t count, int givens, uint64_t seed, std::set<std::string>& seen) {
  std::mt19937_64 rng(seed);
  SudokuGenerateOptions opt;
  opt.givens = givens;
  std::vector<Labelled> out;
  int64_t tries = 0;
  while (static_cast<int64_t>(out.size()) < count && tries < count * 50) {
    ++tries;
    auto g = generate_sudoku(shape, opt, rng);
    if (!seen.insert(g.puzzle.to_string()).second) continue;  // no duplicates, none shared across pools
    out.push_back({std::move(g.puzzle), std::move(g.solution), g.nodes, "generated"});
  }
  if (static_cast<int64_t>(out.size()) < count)
    throw InputError("could only generate " + std::to_string(out.size()) + " distinct " + shape.name() +
                     " puzzles with " + std::to_string(givens) + " givens (asked for " + std::to_string(count) + ")");
  return out;
}

class SudokuTask : public PuzzleTask {
 public:
  void configure(Config& c) override {
    source_ = c.get_choice("task.source", "generated", {"generated", "files"});
    const int64_t size = c.get_int("task.size", source_ == "files" ? 9 : 4, 4, 9);
    if (size != 4 && size != 6 && size != 9) throw c.error("task.size", "task.size must be 4, 6 or 9, got " + std::to_string(size));
    shape_ = SudokuShape::for_size(static_cast<int>(size));
    const int default_givens = size == 4 ? 6 : size == 6 ? 14 : 28;
    givens_ = static_cast<int>(c.get_int("task.givens", default_givens, min_unique_givens(shape_), shape_.cells()));
    test_puzzles_ = c.get_int("task.test_puzzles", 1000, 1, 10000000);
    augment_ = c.get_bool("task.augment", true);
    if (source_ == "generated") {
      train_puzzles_ = c.get_int("task.train_puzzles", 2000, 1, 10000000);
    } else {
      if (size != 9) throw c.error("task.size", "task.source = \"files\" reads 9x9 puzzles; task.size must be 9");
      files_ = c.get_string_list("task.files", {});
      if (files_.empty()) throw c.error("task.files", "task.files must list at least one puzzle file");
      for (const auto& f : files_)
        if (!fs::is_regular_file(f)) throw c.error("task.files", "puzzle file '" + f + "' not found");
      test_files_ = c.get_string_list("task.test_files", {});
      for (const auto& f : test_files_)
        if (!fs::is_regular_file(f)) throw c.error("task.test_files", "puzzle file '" + f + "' not found");
      train_puzzles_ = c.get_int("task.train_puzzles", 5000, 0, 10000000);
      generated_train_ = c.get_int("task.generated_train_puzzles", 0, 0, 10000000);
      per_file_limit_ = c.get_int("task.per_file_limit", 20000, 1, 100000000);
    }
  }

  int64_t seq_len() const override { return shape_.cells(); }
  int64_t vocab_size() const override { return shape_.size() + 2; }

  void prepare(uint64_t seed) override {
    std::set<std::string> seen;
    if (source_ == "generated") {
      train_ = generate(shape_, train_puzzles_, givens_, mix_seed(seed ^ 0x7a11), seen);
      set_held_out(generate(shape_, test_puzzles_, givens_, mix_seed(seed ^ 0x7e57), seen));
      return;
    }
    // Files: read the puzzles (format only), shuffle with the seed, and solve only those used. The
    // held-out set comes first (from task.test_files when given), so it does not depend on
    // task.train_puzzles.
    std::vector<Labelled> test, train;
    if (test_files_.empty()) {
      auto records = read_shuffled(files_, mix_seed(seed ^ 0xf11e5));
      take_labelled(records, test_puzzles_, seen, test);
      take_labelled(records, train_puzzles_, seen, train);
    } else {
      auto test_records = read_shuffled(test_files_, mix_seed(seed ^ 0x7e57f));
      take_labelled(test_records, test_puzzles_, seen, test);
      auto records = read_shuffled(files_, mix_seed(seed ^ 0xf11e5));
      take_labelled(records, train_puzzles_, seen, train);
    }
    if (static_cast<int64_t>(test.size()) < test_puzzles_)
      throw InputError("the puzzle files hold only " + std::to_string(test.size()) + " usable held-out puzzles; task.test_puzzles asks for " +
                       std::to_string(test_puzzles_));
    if (generated_train_ > 0) {
      auto g = generate(shape_, generated_train_, givens_, mix_seed(seed ^ 0x6e4), seen);
      train.insert(train.end(), g.begin(), g.end());
    }
    if (train.empty()) throw InputError("no training puzzles: raise task.train_puzzles or task.generated_train_puzzles");
    train_ = std::move(train);
    set_held_out(std::move(test));
  }

  PuzzleExample sample(std::mt19937_64& rng) const override {
    std::uniform_int_distribution<size_t> pick(0, train_.size() - 1);
    const auto& p = train_[pick(rng)];
    const auto t = augment_ ? SudokuTransform::random(shape_, rng) : SudokuTransform::identity(shape_);
    return {sudoku_tokens(t.apply(p.puzzle)), sudoku_tokens(t.apply(p.solution))};
  }

  const HeldOutSet& held_out() const override { return held_; }

  std::string render(const at::Tensor& tokens) const override {
    SudokuGrid g(shape_);
    const auto t = tokens.to(at::kCPU).contiguous();
    for (int i = 0; i < shape_.cells(); ++i) g.cells[i] = static_cast<uint8_t>(std::max<int64_t>(0, t[i].item<int64_t>() - 1));
    return pretty_sudoku(g);
  }

  std::string describe() const override {
    return "sudoku " + shape_.name() + " from " + (source_ == "files" ? "files" : "the generator") + ": " +
           std::to_string(train_.size()) + " train and " + std::to_string(test_puzzles_) + " held-out puzzles" +
           (source_ == "generated" ? " with " + std::to_string(givens_) + " givens" : "") +
           (augment_ ? ", augmented" : "");
  }

 private:
  std::vector<SudokuRecord> read_shuffled(const std::vector<std::string>& files, uint64_t seed) const {
    std::vector<SudokuRecord> records;
    for (const auto& f : files) {
      SudokuReadOptions ro;
      ro.shape = shape_;
      ro.limit = per_file_limit_;
      auto r = read_sudoku_file(f, ro);
      records.insert(records.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
    }
    std::mt19937_64 rng(seed);
    std::shuffle(records.begin(), records.end(), rng);
    return records;
  }

  // Moves up to `count` puzzles with exactly one solution (labelled by our solver) from the back of
  // `records` into `out`, skipping any seen before.
  static void take_labelled(std::vector<SudokuRecord>& records, int64_t count, std::set<std::string>& seen,
                            std::vector<Labelled>& out) {
    int64_t taken = 0;
    while (taken < count && !records.empty()) {
      SudokuRecord r = std::move(records.back());
      records.pop_back();
      if (!seen.insert(r.puzzle.to_string()).second) continue;
      const auto solved = solve_sudoku(r.puzzle, 2);
      if (solved.solutions != 1) continue;  // tdoku's serg list has multi-solution puzzles: no single label
      out.push_back({r.puzzle, solved.solution, solved.nodes, r.source});
      ++taken;
    }
  }

  void set_held_out(const std::vector<Labelled>& test) {
    std::vector<PuzzleExample> examples;
    std::vector<std::string> groups;
    for (const auto& p : test) {
      examples.push_back({sudoku_tokens(p.puzzle), sudoku_tokens(p.solution)});
      groups.push_back(difficulty_bucket(p.nodes));
    }
    held_ = make_held_out(examples, std::move(groups), kBucketOrder);
  }

  std::string source_ = "generated";
  SudokuShape shape_{2, 2};
  int givens_ = 6;
  int64_t train_puzzles_ = 2000, test_puzzles_ = 1000, generated_train_ = 0, per_file_limit_ = 20000;
  bool augment_ = true;
  std::vector<std::string> files_, test_files_;
  std::vector<Labelled> train_;
  HeldOutSet held_;
};

}  // namespace

std::unique_ptr<PuzzleTask> make_sudoku_task() { return std::make_unique<SudokuTask>(); }

}  // namespace beyond
