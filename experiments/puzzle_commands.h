// `beyond sudoku generate|solve|rate|show` and `beyond maze generate|show`: the puzzle data on the
// command line (recursive/puzzles/). main() creates one PuzzleCli before parsing and calls run()
// when selected() after.
#pragma once
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace beyond {

struct PuzzleArgs {
  int size = 9;                // sudoku: 4 | 6 | 9
  int maze_size = 15;          // maze: 11..30
  int givens = 0;
  int64_t count = 1;
  uint64_t seed = 0;
  std::string out;             // "" = stdout
  int max_attempts = 20;
  int64_t limit = 0;           // rate/solve: at most this many puzzles of a file (0: all)
  int64_t index = 0;           // show: which puzzle of a file, from 0
  bool solve = false;          // sudoku show: print the solution too
  bool no_path = false;        // maze show: the question only
  double loops = 0.2;          // maze loop fraction
  int min_path = -1;           // maze minimum S-G path length (-1: the side length)
  std::string input;           // FILE_OR_PUZZLE / FILE / PUZZLE / FILE_OR_INDEX
  std::string model;           // sudoku show: a trained run folder whose model answers the puzzle
  int64_t steps = 0;           // sudoku show --model: supervision steps (0: the run's own)
};

class PuzzleCli {
 public:
  explicit PuzzleCli(CLI::App& app);  // adds the `sudoku` and `maze` subcommands
  PuzzleCli(const PuzzleCli&) = delete;  // the options point into args_
  PuzzleCli& operator=(const PuzzleCli&) = delete;
  bool selected() const;
  int run() const;  // InputError for bad input (exit 2)

 private:
  PuzzleArgs args_;
  CLI::App *sudoku_generate_, *sudoku_solve_, *sudoku_rate_, *sudoku_show_, *maze_generate_, *maze_show_;
};

}  // namespace beyond
