#include "experiments/puzzle_commands.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "core/errors.h"
#include "experiments/recursive/puzzle_experiment.h"
#include "recursive/puzzles/maze.h"
#include "recursive/puzzles/random.h"
#include "recursive/puzzles/sudoku.h"
#include "recursive/puzzles/sudoku_io.h"

namespace beyond {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fixed(double v, int digits = 1) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

SudokuShape sudoku_shape_arg(int size) {
  if (size != 4 && size != 6 && size != 9) throw InputError("--size " + std::to_string(size) + ": a sudoku is 4, 6 or 9 cells wide");
  return SudokuShape::for_size(size);
}

void check_maze_size(int size) {
  if (size < kMinMazeSize || size > kMaxMazeSize)
    throw InputError("--size " + std::to_string(size) + ": a maze is " + std::to_string(kMinMazeSize) + " to " +
                     std::to_string(kMaxMazeSize) + " cells wide");
}

// Writes through `write` to --out, or to stdout when there is none.
template <class Write>
void write_output(const std::string& out, Write write) {
  if (out.empty()) {
    write(std::cout);
    std::cout.flush();
    return;
  }
  std::ofstream file(out);
  if (!file) throw InputError(out + ": cannot open for writing");
  write(file);
  file.close();
  if (!file) throw InputError(out + ": write failed");
}

// Puzzles from a file, or the one puzzle written on the command line.
std::vector<SudokuRecord> sudoku_inputs(const std::string& input, int64_t limit) {
  if (std::filesystem::is_regular_file(input)) {
    SudokuReadOptions options;
    options.limit = limit;
    return read_sudoku_file(input, options);
  }
  const SudokuShape shape = SudokuShape::for_cells(static_cast<int>(input.size()));
  if (shape.size() == 0)
    throw InputError("'" + input.substr(0, 100) + "' is neither a file nor a sudoku string (16, 36 or 81 characters, '.' or '0' for blanks)");
  SudokuRecord r;
  r.where = "puzzle";
  r.source = "command line";
  r.puzzle = SudokuGrid::parse(input, shape, "puzzle");
  return {r};
}

std::string solution_status(int64_t solutions) {
  if (solutions == 0) return "no solution";
  if (solutions == 1) return "unique";
  return "several solutions";
}

struct Stats {
  double mean = 0;
  int64_t median = 0, p90 = 0, max = 0;
};

Stats stats_of(std::vector<int64_t> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (auto x : v) sum += static_cast<double>(x);
  s.mean = sum / static_cast<double>(v.size());
  s.median = v[v.size() / 2];
  s.p90 = v[std::min(v.size() - 1, v.size() * 9 / 10)];
  s.max = v.back();
  return s;
}

int sudoku_generate(const PuzzleArgs& a) {
  const SudokuShape shape = sudoku_shape_arg(a.size);
  const int lo = min_unique_givens(shape);
  if (a.givens < lo || a.givens > shape.cells())
    throw InputError("--givens " + std::to_string(a.givens) + " out of range for a " + shape.name() +
                     " sudoku: a puzzle with one solution has " + std::to_string(lo) + " to " + std::to_string(shape.cells()) + " givens");
  SudokuGenerateOptions options;
  options.givens = a.givens;
  options.max_attempts = a.max_attempts;
  const std::string source = "generated_" + std::to_string(a.size) + "x" + std::to_string(a.size) + "_seed" + std::to_string(a.seed);
  const auto t0 = Clock::now();
  std::vector<SudokuExample> examples;
  std::vector<int64_t> nodes;
  int64_t missed = 0;
  int closest = shape.cells();
  for (int64_t i = 0; i < a.count; ++i) {
    std::mt19937_64 rng(item_seed(a.seed, static_cast<uint64_t>(i)));
    auto g = generate_sudoku(shape, options, rng);
    if (!g.reached) {
      ++missed;
      closest = std::min(closest, g.puzzle.givens());
    }
    nodes.push_back(g.nodes);
    examples.push_back({source, std::move(g.puzzle), std::move(g.solution), g.nodes});
  }
  const double secs = seconds_since(t0);
  write_output(a.out, [&](std::ostream& out) { write_sudoku_csv(out, examples); });
  const Stats s = stats_of(nodes);
  std::cerr << "generated " << a.count << " " << shape.name() << " sudokus with " << a.givens << " givens in " << fixed(secs, 2)
            << " s (" << fixed(static_cast<double>(a.count) / std::max(secs, 1e-9), 0) << "/s); search nodes mean "
            << fixed(s.mean) << ", max " << s.max << (a.out.empty() ? "" : "; wrote " + a.out) << "\n";
  if (missed)
    std::cerr << "warning: " << missed << " of " << a.count << " puzzles stayed above " << a.givens << " givens after "
              << a.max_attempts << " attempts each (closest " << closest << "); they are written with their own count\n";
  return 0;
}

int sudoku_solve(const PuzzleArgs& a) {
  const auto records = sudoku_inputs(a.input, a.limit);
  if (records.size() == 1 && records[0].where == "puzzle") {
    const auto r = solve_sudoku(records[0].puzzle, 2);
    std::cout << "solutions: " << std::min<int64_t>(r.solutions, 2) << (r.solutions >= 2 ? "+" : "") << " ("
              << solution_status(r.solutions) << "; counting stops at 2)\n"
              << "search nodes: " << r.nodes << "\n";
    for (const auto* g : {&r.solution, &r.second}) {
      if (g->givens() == 0) continue;
      std::cout << g->to_string() << "\n" << pretty_sudoku(*g);
    }
    return 0;
  }
  // A file: one line per puzzle, "where status nodes=N solution [second solution]".
  int64_t unique = 0;
  const auto t0 = Clock::now();
  for (const auto& rec : records) {
    const auto r = solve_sudoku(rec.puzzle, 2);
    unique += r.solutions == 1;
    std::cout << rec.where << " " << solution_status(r.solutions) << " nodes=" << r.nodes;
    if (r.solutions >= 1) std::cout << " " << r.solution.to_string();
    if (r.solutions >= 2) std::cout << " " << r.second.to_string();
    std::cout << "\n";
  }
  std::cerr << records.size() << " puzzles, " << unique << " with a unique solution, in " << fixed(seconds_since(t0), 2) << " s\n";
  return 0;
}

// Buckets by powers of two: 1, 2-3, 4-7, ...
std::string bucket_name(int b) {
  const int64_t lo = int64_t{1} << b, hi = (int64_t{1} << (b + 1)) - 1;
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

int sudoku_rate(const PuzzleArgs& a) {
  const auto records = sudoku_inputs(a.input, a.limit);
  const auto t0 = Clock::now();
  std::vector<int64_t> nodes, givens;
  std::map<std::string, std::vector<int64_t>> by_source;
  std::map<int, int64_t> histogram;
  int64_t none = 0, several = 0;
  std::string first_bad;
  for (const auto& rec : records) {
    const auto r = solve_sudoku(rec.puzzle, 2);
    if (r.solutions != 1) {
      (r.solutions == 0 ? none : several) += 1;
      if (first_bad.empty()) first_bad = rec.where;
    }
    nodes.push_back(r.nodes);
    givens.push_back(rec.puzzle.givens());
    by_source[rec.source].push_back(r.nodes);
    histogram[std::bit_width(static_cast<uint64_t>(r.nodes)) - 1] += 1;
  }
  const double secs = seconds_since(t0);
  const Stats s = stats_of(nodes), g = stats_of(givens);
  const auto n = static_cast<double>(records.size());
  std::cout << a.input << ": " << records.size() << " " << records[0].puzzle.shape.name() << " puzzles, givens mean " << fixed(g.mean)
            << ", rated in " << fixed(secs, 2) << " s (" << fixed(1e6 * secs / n, 0) << " us per puzzle)\n"
            << "unique: " << static_cast<int64_t>(n) - none - several << ", no solution: " << none << ", several: " << several
            << (first_bad.empty() ? "" : " (first at " + first_bad + ")") << "\n"
            << "search nodes (to solve and prove uniqueness): mean " << fixed(s.mean) << ", median " << s.median << ", p90 " << s.p90
            << ", max " << s.max << "\n"
            << "solved without guessing (1 node): " << fixed(100.0 * static_cast<double>(histogram[0]) / n) << "%\n"
            << "nodes        puzzles\n";
  for (const auto& [b, count] : histogram) {
    std::string name = bucket_name(b);
    name.resize(std::max<size_t>(name.size(), 12), ' ');
    std::cout << name << " " << count << " (" << fixed(100.0 * static_cast<double>(count) / n) << "%)\n";
  }
  if (by_source.size() > 1) {
    std::cout << "by source:\n";
    for (const auto& [source, v] : by_source) {
      const Stats ss = stats_of(v);
      std::cout << "  " << source << ": " << v.size() << " puzzles, nodes mean " << fixed(ss.mean) << ", median " << ss.median
                << ", max " << ss.max << "\n";
    }
  }
  return 0;
}

int sudoku_show(const PuzzleArgs& a) {
  const auto records = sudoku_inputs(a.input, a.index + 1);
  if (a.index >= static_cast<int64_t>(records.size()))
    throw InputError(a.input + ": --index " + std::to_string(a.index) + " but the file has " + std::to_string(records.size()) + " puzzles");
  const auto& rec = records[a.index];
  if (!a.model.empty()) return sudoku_show_model(a.model, rec.puzzle, a.steps);
  std::cout << rec.where << ": " << rec.puzzle.shape.name() << ", " << rec.puzzle.givens() << " givens\n" << pretty_sudoku(rec.puzzle);
  if (const auto conflict = sudoku_conflict(rec.puzzle); !conflict.empty()) std::cout << "the givens conflict: " << conflict << "\n";
  if (a.solve) {
    const auto r = solve_sudoku(rec.puzzle, 2);
    std::cout << "solution (" << solution_status(r.solutions) << "; search nodes " << r.nodes << "):\n";
    if (r.solutions > 0) std::cout << pretty_sudoku(r.solution);
  }
  return 0;
}

MazeGenerateOptions maze_options(const PuzzleArgs& a) {
  check_maze_size(a.maze_size);
  if (!(a.loops >= 0.0 && a.loops <= 1.0)) throw InputError("--loops " + fixed(a.loops, 3) + " out of range [0, 1]");
  MazeGenerateOptions options;
  options.size = a.maze_size;
  options.loop_fraction = a.loops;
  options.min_path = a.min_path;
  return options;
}

Maze maze_at(const PuzzleArgs& a, int64_t index) {
  std::mt19937_64 rng(item_seed(a.seed, static_cast<uint64_t>(index)));
  return generate_maze(maze_options(a), rng);
}

int maze_generate(const PuzzleArgs& a) {
  maze_options(a);  // checks the arguments before any work
  const auto t0 = Clock::now();
  std::vector<Maze> mazes;
  std::vector<int64_t> lengths;
  for (int64_t i = 0; i < a.count; ++i) {
    mazes.push_back(maze_at(a, i));
    lengths.push_back(mazes.back().path_length);
  }
  const double secs = seconds_since(t0);
  const std::string k = std::to_string(a.maze_size);
  write_output(a.out, [&](std::ostream& out) { write_maze_csv(out, mazes, "generated_" + k + "x" + k + "_seed" + std::to_string(a.seed)); });
  const Stats s = stats_of(lengths);
  std::cerr << "generated " << a.count << " " << k << "x" << k << " mazes in " << fixed(secs, 2) << " s; shortest path mean "
            << fixed(s.mean) << " moves, min " << *std::min_element(lengths.begin(), lengths.end()) << ", max " << s.max
            << (a.out.empty() ? "" : "; wrote " + a.out) << "\n";
  return 0;
}

int maze_show(const PuzzleArgs& a) {
  Maze m;
  std::string title;
  int64_t index = 0;
  const char* end = a.input.data() + a.input.size();
  if (std::filesystem::is_regular_file(a.input)) {
    const auto mazes = load_maze_csv(a.input, a.index + 1);
    if (a.index >= static_cast<int64_t>(mazes.size()))
      throw InputError(a.input + ": --index " + std::to_string(a.index) + " but the file has " + std::to_string(mazes.size()) + " mazes");
    m = mazes[a.index];
    title = a.input + " maze " + std::to_string(a.index);
  } else if (auto [p, ec] = std::from_chars(a.input.data(), end, index); ec == std::errc() && p == end && index >= 0) {
    m = maze_at(a, index);
    title = "maze " + std::to_string(index) + " of seed " + std::to_string(a.seed);
  } else {
    throw InputError("'" + a.input.substr(0, 100) + "' is neither a maze CSV file nor a maze index");
  }
  std::cout << title << ": " << m.size << "x" << m.size << ", shortest path " << m.path_length << " moves\n"
            << pretty_maze(a.no_path ? m.question : m.answer, m.size);
  return 0;
}

}  // namespace

PuzzleCli::PuzzleCli(CLI::App& app) {
  auto& a = args_;
  auto* sudoku = app.add_subcommand("sudoku", "Sudoku puzzles of 4x4, 6x6 and 9x9: generate, solve, rate, show");
  sudoku->require_subcommand(1);
  sudoku->footer("Example: beyond sudoku generate --size 4 --givens 6 --count 1000 --seed 1 --out sudoku4.csv");

  sudoku_generate_ = sudoku->add_subcommand(
      "generate", "Puzzles with exactly one solution, written as CSV `source,question,answer,rating` (HRM's layout; "
                  "question with '.' for blanks, rating = search nodes)");
  sudoku_generate_->add_option("--size", a.size, "4 (2x2 boxes), 6 (2x3) or 9 (3x3)")->capture_default_str();
  sudoku_generate_->add_option("--givens", a.givens, "filled cells per puzzle")->required();
  sudoku_generate_->add_option("--count", a.count, "puzzles")->capture_default_str()->check(CLI::PositiveNumber);
  sudoku_generate_->add_option("--seed", a.seed, "puzzle i comes from (seed, i) alone")->capture_default_str();
  sudoku_generate_->add_option("--out", a.out, "output file (default: stdout)");
  sudoku_generate_->add_option("--attempts", a.max_attempts, "full grids to try per puzzle before settling for the closest givens")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sudoku_generate_->footer("Example: beyond sudoku generate --size 9 --givens 30 --count 100 --seed 1 --out sudoku9.csv");

  sudoku_solve_ = sudoku->add_subcommand("solve", "Solve a puzzle or every puzzle of a file; counts solutions up to 2 and prints the search nodes");
  sudoku_solve_->add_option("puzzle", a.input, "a puzzle string ('.' or '0' for blanks) or a file (one per line, or CSV)")->required();
  sudoku_solve_->add_option("--limit", a.limit, "at most this many puzzles of a file (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sudoku_solve_->footer("Example: beyond sudoku solve ...221.43.2.....");

  sudoku_rate_ = sudoku->add_subcommand("rate", "Difficulty of a file's puzzles: our solver's search nodes (mean, median, histogram, by source)");
  sudoku_rate_->add_option("file", a.input, "one puzzle per line, or CSV")->required();
  sudoku_rate_->add_option("--limit", a.limit, "at most this many puzzles (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sudoku_rate_->footer("Example: beyond sudoku rate ../shared/data/sudoku/puzzles3_magictour_top1465.txt");

  sudoku_show_ = sudoku->add_subcommand("show", "Print a puzzle as a grid with box borders");
  sudoku_show_->add_option("puzzle", a.input, "a puzzle string, or a file")->required();
  sudoku_show_->add_option("--index", a.index, "which puzzle of the file, from 0")->capture_default_str()->check(CLI::NonNegativeNumber);
  sudoku_show_->add_flag("--solve", a.solve, "print the solution as well");
  sudoku_show_->add_option("--model", a.model, "a trained sudoku run folder: print its answer after every supervision step, "
                                               "marking changed and wrong cells");
  sudoku_show_->add_option("--steps", a.steps, "with --model: supervision steps (0: the run's own)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sudoku_show_->footer("Example: beyond sudoku show 4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........ --solve\n"
                       "Example: beyond sudoku show .12....31...2.4. --model runs/quickstart --steps 4");

  auto* maze = app.add_subcommand("maze", "Mazes with a start, a goal and their shortest path, in HRM's glyphs ('#' wall, ' ' open, S, G, 'o' path)");
  maze->require_subcommand(1);
  maze->footer("Example: beyond maze generate --size 15 --count 1000 --seed 1 --out maze15.csv");

  maze_generate_ = maze->add_subcommand(
      "generate", "k x k mazes whose S-G shortest path is unique, written as CSV `source,question,answer,rating` "
                  "(rating = path length in moves)");
  maze_generate_->add_option("--size", a.maze_size, "k, 11 to 30")->capture_default_str();
  maze_generate_->add_option("--count", a.count, "mazes")->capture_default_str()->check(CLI::PositiveNumber);
  maze_generate_->add_option("--seed", a.seed, "maze i comes from (seed, i) alone")->capture_default_str();
  maze_generate_->add_option("--out", a.out, "output file (default: stdout)");
  maze_generate_->add_option("--loops", a.loops, "share of the inner walls to try to open (0: a perfect maze)")->capture_default_str();
  maze_generate_->add_option("--min-path", a.min_path, "the shortest path has at least this many moves (-1: the side length)")
      ->capture_default_str()->check(CLI::Range(-1, 1 << 20));
  maze_generate_->footer("Example: beyond maze generate --size 15 --count 1000 --seed 1 --out maze15.csv");

  maze_show_ = maze->add_subcommand(
      "show", "Print a maze of a CSV file, or maze INDEX of `maze generate` with the same --size/--seed/--loops/--min-path");
  maze_show_->add_option("maze", a.input, "a maze CSV file, or an index from 0")->required();
  maze_show_->add_option("--index", a.index, "which maze of the file, from 0")->capture_default_str()->check(CLI::NonNegativeNumber);
  maze_show_->add_option("--size", a.maze_size, "k, for an index")->capture_default_str();
  maze_show_->add_option("--seed", a.seed, "for an index")->capture_default_str();
  maze_show_->add_option("--loops", a.loops, "for an index")->capture_default_str();
  maze_show_->add_option("--min-path", a.min_path, "for an index")->capture_default_str()->check(CLI::Range(-1, 1 << 20));
  maze_show_->add_flag("--no-path", a.no_path, "the question only, without the path");
  maze_show_->footer("Example: beyond maze show 3 --size 21 --seed 1");
}

bool PuzzleCli::selected() const {
  for (const auto* sub : {sudoku_generate_, sudoku_solve_, sudoku_rate_, sudoku_show_, maze_generate_, maze_show_}) {
    if (sub->parsed()) return true;
  }
  return false;
}

int PuzzleCli::run() const {
  if (sudoku_generate_->parsed()) return sudoku_generate(args_);
  if (sudoku_solve_->parsed()) return sudoku_solve(args_);
  if (sudoku_rate_->parsed()) return sudoku_rate(args_);
  if (sudoku_show_->parsed()) return sudoku_show(args_);
  if (maze_generate_->parsed()) return maze_generate(args_);
  if (maze_show_->parsed()) return maze_show(args_);
  return 0;
}

}  // namespace beyond
