// Sudoku files: the tdoku one-puzzle-per-line lists (as in ../shared/data/sudoku/) and HRM's CSV
// layout `source,question,answer,rating`, which is also what `beyond sudoku generate` writes.
//
// Line files: one puzzle per line, N*N characters row by row, '.' or '0' for blanks; lines starting
// with '#' and blank lines are skipped; a trailing '\r' is dropped.
// CSV: the header `source,question,answer,rating`, then one puzzle per row; question as above,
// answer fully filled, rating an integer (tdoku's backtrack count in HRM's files; our search-node
// count in generated files).
// The grid shape follows from the length of the first puzzle (16: 4x4, 36: 6x6 with 2x3 boxes,
// 81: 9x9) unless one is given; every puzzle of a file must have that length.
// Every problem is an InputError naming file:line and what is wrong.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "recursive/puzzles/sudoku.h"

namespace beyond {

struct SudokuRecord {
  std::string where;     // "file:line"
  std::string source;    // the CSV's source column, else the file name without folders
  SudokuGrid puzzle;
  SudokuGrid solution;   // empty (no cells) when the file has none
  int64_t rating = -1;   // the CSV's rating column, -1 when the file has none
};

struct SudokuReadOptions {
  SudokuShape shape{0, 0};  // {0, 0}: from the first puzzle's length
  int64_t limit = 0;        // read at most this many puzzles (0: all)
};

// Parses a line file or a CSV (a first line starting with "source," means CSV). Checks the format
// only: lengths, characters, CSV fields, and that a CSV answer is a valid grid that keeps the
// question's givens. Puzzles are not solved.
std::vector<SudokuRecord> read_sudoku_file(const std::string& path, const SudokuReadOptions& options = {});

struct SudokuExample {
  std::string source;
  SudokuGrid puzzle, solution;
  int64_t rating = 0;  // the file's rating when it has one, else our solver's node count
};

struct SudokuLoadOptions {
  SudokuReadOptions read;
  // Solve every CSV puzzle too and require its answer to be the only solution (line files are
  // always solved: that is where their labels come from).
  bool check_unique = false;
  // Leave out puzzles without exactly one solution instead of stopping with an InputError (tdoku's
  // serg_benchmark list, for one, has several solutions for every puzzle). Conflicting givens and
  // format errors still stop the load.
  bool skip_non_unique = false;
};

// Puzzles with labels. A puzzle whose givens conflict, with no solution, or (when the label comes
// from our solver, or check_unique) with more than one solution is an InputError at its line.
std::vector<SudokuExample> load_sudoku(const std::string& path, const SudokuLoadOptions& options = {});

// HRM's CSV: the header, then `source,question,answer,rating` per example.
void write_sudoku_csv(std::ostream& out, const std::vector<SudokuExample>& examples);

}  // namespace beyond
