// Mazes as a puzzle task: generated k x k mazes in HRM's glyph layout, the answer the unique
// shortest S-G path. A training pool and a disjoint held-out pool; training draws get one of the 8
// dihedral transforms (a maze's unique shortest path maps to the transformed maze's). Held-out
// mazes are grouped by path length.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "core/seed.h"
#include "experiments/recursive/puzzle_task.h"
#include "recursive/puzzles/maze.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

std::string length_bucket(int moves, int k) {
  if (moves < 2 * k) return "path < 2k moves";
  if (moves < 3 * k) return "path 2k..3k-1 moves";
  return "path >= 3k moves";
}
const std::vector<std::string> kBucketOrder = {"path < 2k moves", "path 2k..3k-1 moves", "path >= 3k moves"};

class MazeTask : public PuzzleTask {
 public:
  void configure(Config& c) override {
    source_ = c.get_choice("task.source", "generated", {"generated", "files"});
    if (source_ == "files") {  // HRM CSVs, e.g. Maze-Hard's train.csv / test.csv
      train_file_ = c.get_string("task.train_file", "");
      test_file_ = c.get_string("task.test_file", "");
      for (const auto& [key, f] : {std::pair{"task.train_file", train_file_}, std::pair{"task.test_file", test_file_}})
        if (f.empty() || !fs::is_regular_file(f)) throw c.error(key, std::string(key) + ": maze CSV '" + f + "' not found");
    }
    options_.size = static_cast<int>(c.get_int("task.size", 11, kMinMazeSize, kMaxMazeSize));
    options_.loop_fraction = c.get_float("task.loop_fraction", options_.loop_fraction, 0.0, 1.0);
    options_.min_path = static_cast<int>(c.get_int("task.min_path", -1, -1, kMaxMazeSize * kMaxMazeSize));
    train_mazes_ = c.get_int("task.train_puzzles", 5000, 1, 10000000);
    test_mazes_ = c.get_int("task.test_puzzles", 500, 1, 10000000);
    augment_ = c.get_bool("task.augment", true);
  }

  int64_t seq_len() const override { return static_cast<int64_t>(options_.size) * options_.size; }
  int64_t vocab_size() const override { return 6; }  // PAD and the 5 glyphs

  void prepare(uint64_t seed) override {
    std::set<std::string> seen;
    std::vector<Maze> test;
    if (source_ == "files") {
      train_ = load_maze_csv(train_file_, train_mazes_);
      test = load_maze_csv(test_file_, test_mazes_);
      for (const auto* set : {&train_, &test})
        for (const auto& m : *set)
          if (m.size != options_.size)
            throw InputError("a " + std::to_string(m.size) + "x" + std::to_string(m.size) + " maze in the task files, but task.size is " +
                             std::to_string(options_.size));
    } else {
      train_ = generate(train_mazes_, mix_seed(seed ^ 0x3a2e), seen);
      test = generate(test_mazes_, mix_seed(seed ^ 0x7e57), seen);
    }
    std::vector<PuzzleExample> examples;
    std::vector<std::string> groups;
    for (const auto& m : test) {
      examples.push_back({maze_tokens(m.question), maze_tokens(m.answer)});
      groups.push_back(length_bucket(m.path_length, m.size));
    }
    held_ = make_held_out(examples, std::move(groups), kBucketOrder);
  }

  PuzzleExample sample(std::mt19937_64& rng) const override {
    std::uniform_int_distribution<size_t> pick(0, train_.size() - 1);
    const auto& m = train_[pick(rng)];
    const int id = augment_ ? std::uniform_int_distribution<int>(0, 7)(rng) : 0;
    return {maze_tokens(maze_dihedral(m.question, m.size, id)), maze_tokens(maze_dihedral(m.answer, m.size, id))};
  }

  const HeldOutSet& held_out() const override { return held_; }

  std::string render(const at::Tensor& tokens) const override {
    const auto t = tokens.to(at::kCPU).contiguous();
    std::string grid;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const int64_t v = t[i].item<int64_t>();
      grid += v >= 1 && v <= 5 ? kMazeGlyphs[v - 1] : '?';
    }
    return pretty_maze(grid, options_.size);
  }

  std::string describe() const override {
    return std::string(source_ == "files" ? "maze files " : "generated maze ") + std::to_string(options_.size) + "x" + std::to_string(options_.size) + ": " +
           std::to_string(train_.size()) + " train and " + std::to_string(test_mazes_) + " held-out mazes" +
           (augment_ ? ", dihedral augmentation" : "");
  }

 private:
  std::vector<Maze> generate(int64_t count, uint64_t seed, std::set<std::string>& seen) const {
    std::mt19937_64 rng(seed);
    std::vector<Maze> out;
    int64_t tries = 0;
    while (static_cast<int64_t>(out.size()) < count && tries < count * 20) {
      ++tries;
      Maze m = generate_maze(options_, rng);
      bool fresh = true;  // a held-out maze must not be a transform of a training maze
      for (int id = 0; id < 8 && fresh; ++id) fresh = !seen.count(maze_dihedral(m.question, m.size, id));
      if (!fresh) continue;
      seen.insert(m.question);
      out.push_back(std::move(m));
    }
    if (static_cast<int64_t>(out.size()) < count)
      throw InputError("could only generate " + std::to_string(out.size()) + " distinct mazes (asked for " +
                       std::to_string(count) + ")");
    return out;
  }

  std::string source_ = "generated", train_file_, test_file_;
  MazeGenerateOptions options_;
  int64_t train_mazes_ = 5000, test_mazes_ = 500;
  bool augment_ = true;
  std::vector<Maze> train_;
  HeldOutSet held_;
};

}  // namespace

std::unique_ptr<PuzzleTask> make_maze_task() { return std::make_unique<MazeTask>(); }

}  // namespace beyond
