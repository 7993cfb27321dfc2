// Sudoku of any box shape: grids, an exact solution counter, a generator of unique puzzles and
// the validity-preserving shuffles TRM/HRM train on. Plain C++, no torch.
//
// A grid of size N = box_rows * box_cols has N rows, N columns and N boxes of box_rows x box_cols
// cells; cells hold 0 (blank) or a digit 1..N. The usual shapes: 4x4 (2x2 boxes), 6x6 (2x3: boxes
// two rows tall and three columns wide), 9x9 (3x3). N is at most 16.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace beyond {

struct SudokuShape {
  int box_rows = 3, box_cols = 3;

  int size() const { return box_rows * box_cols; }  // N: digits, rows, columns, boxes
  int cells() const { return size() * size(); }
  int box_of(int row, int col) const { return (row / box_rows) * box_rows + col / box_cols; }
  bool operator==(const SudokuShape&) const = default;
  std::string name() const;  // "9x9 (3x3 boxes)"

  // 4 -> 2x2, 6 -> 2x3, 9 -> 3x3; InputError for other sizes.
  static SudokuShape for_size(int n);
  // The shape whose grid has `cells` cells (16, 36 or 81), or a zero shape when none does.
  static SudokuShape for_cells(int cells);
};

struct SudokuGrid {
  SudokuShape shape;
  std::vector<uint8_t> cells;  // row-major, 0 = blank

  SudokuGrid() = default;
  explicit SudokuGrid(SudokuShape s) : shape(s), cells(s.cells(), 0) {}

  int size() const { return shape.size(); }
  uint8_t at(int row, int col) const { return cells[row * size() + col]; }
  uint8_t& at(int row, int col) { return cells[row * size() + col]; }
  int givens() const;  // non-blank cells
  bool operator==(const SudokuGrid&) const = default;

  // Row-major string, '.' for blanks, digits 1-9 then A-G for 10..16 (the tdoku/HRM layout).
  std::string to_string(char blank = '.') const;
  // Parses such a string ('.' or '0' for blanks). InputError saying what is wrong (length,
  // character and its position); `where` prefixes the message ("file.txt:12").
  static SudokuGrid parse(const std::string& text, SudokuShape shape, const std::string& where = "");
};

// A one-line description of the first conflict among the givens (two equal digits in a row, column
// or box), or "" when there is none.
std::string sudoku_conflict(const SudokuGrid& grid);
// Every cell filled and every row, column and box a permutation of 1..N.
bool is_valid_solution(const SudokuGrid& grid);
// `solution` is a valid solution that keeps every given of `puzzle`.
bool solves(const SudokuGrid& puzzle, const SudokuGrid& solution);

struct SudokuSolveResult {
  int64_t solutions = 0;  // counted up to the limit
  SudokuGrid solution;    // the first one found (all blank when none)
  SudokuGrid second;      // the second one found (all blank when fewer than 2)
  int64_t nodes = 0;      // search-tree nodes visited: the difficulty rating (1 = no guessing)
};

// Counts the solutions up to `limit` (2 decides uniqueness; <= 0 counts them all) by constraint
// propagation on bitmasks (naked and hidden singles) and depth-first search that branches on the
// blank cell with the fewest candidates. With `rng`, candidates are tried in random order (the
// generator uses this for random full grids); without it the order is 1..N and the result
// deterministic.
SudokuSolveResult solve_sudoku(const SudokuGrid& puzzle, int64_t limit = 2, std::mt19937_64* rng = nullptr);

// A random complete grid: the solver on the empty grid with candidates in random order. Every grid
// can come out, though not with exactly equal odds (the branching cell is the most constrained one).
SudokuGrid random_full_grid(SudokuShape shape, std::mt19937_64& rng);

struct SudokuGenerateOptions {
  int givens = 30;        // target number of givens
  int max_attempts = 20;  // fresh full grids to try before settling for the closest puzzle
};

struct GeneratedSudoku {
  SudokuGrid puzzle, solution;
  int64_t nodes = 0;     // solve_sudoku(puzzle, 2).nodes: the rating
  bool reached = false;  // puzzle.givens() == the target
};

// A puzzle with exactly one solution. Digging: from a random full grid, blank the cells in random
// order, putting a digit back whenever its removal admits a second solution, and stop at the target.
// When a pass ends above the target (every remaining given is needed), start again from a new grid,
// up to max_attempts grids; then return the attempt with the fewest givens and reached = false.
// Measured with 20 attempts: 4x4 reaches its minimum of 4 every time; 6x6 reaches 10 always, 9 in
// 199/200 and the minimum 8 in 10/200; 9x9 reaches 24 always, 22 about half the time (closest 23)
// and the 17-clue minimum practically never.
GeneratedSudoku generate_sudoku(SudokuShape shape, const SudokuGenerateOptions& options, std::mt19937_64& rng);

// The fewest givens a unique puzzle of this size can have (4, 8, 17 for the standard shapes).
int min_unique_givens(SudokuShape shape);

// A relabelling of digits plus row/column permutations that keep bands and stacks together, and
// an optional transpose (only when box_rows == box_cols, so the shape stays the same). It maps
// valid grids to valid grids and unique puzzles to unique puzzles.
struct SudokuTransform {
  std::vector<int> digit_map;  // size N+1, digit_map[0] = 0; new digit = digit_map[old digit]
  std::vector<int> row_order;  // output row r is input row row_order[r]
  std::vector<int> col_order;  // output column c is input column col_order[c]
  bool transpose = false;      // applied first: input(r, c) is read as input(c, r)

  static SudokuTransform identity(SudokuShape shape);
  // Digits, bands, rows within each band, stacks, columns within each stack all shuffled
  // uniformly; transpose with probability 1/2 when the boxes are square.
  static SudokuTransform random(SudokuShape shape, std::mt19937_64& rng);
  SudokuGrid apply(const SudokuGrid& grid) const;
};

// Model tokens in the HRM layout: PAD 0, blank 1, digit d -> d + 1 (vocabulary N + 2).
std::vector<int64_t> sudoku_tokens(const SudokuGrid& grid);

// The grid with box borders, for terminals:
//   +-------+-------+
//   | 5 3 . | . 7 . |
//
// `marks` (one per cell, or empty) flags cells: kMarkChanged or kMarkWrong. With `color` they are
// drawn yellow / red on a terminal; without, the character after the cell becomes '*' / '!'.
enum SudokuMark : uint8_t { kMarkNone = 0, kMarkChanged = 1, kMarkWrong = 2, kMarkChangedWrong = 3 };
std::string pretty_sudoku(const SudokuGrid& grid, const std::vector<uint8_t>& marks = {}, bool color = false);

}  // namespace beyond
