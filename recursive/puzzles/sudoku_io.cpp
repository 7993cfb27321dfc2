#include "recursive/puzzles/sudoku_io.h"

#include <filesystem>
#include <ostream>

#include "core/errors.h"
#include "recursive/puzzles/csv.h"

namespace beyond {

namespace {

// The shape every puzzle of the file must have: the requested one, else the first puzzle's.
SudokuShape file_shape(SudokuShape requested, const std::string& first_puzzle, const std::string& where) {
  if (requested.size() > 0) return requested;
  const SudokuShape s = SudokuShape::for_cells(static_cast<int>(first_puzzle.size()));
  if (s.size() == 0)
    throw InputError(where + ": " + std::to_string(first_puzzle.size()) +
                     " characters is no sudoku size (16 for 4x4, 36 for 6x6, 81 for 9x9)");
  return s;
}

std::vector<SudokuRecord> read_lines_format(const std::string& path, const std::vector<NumberedLine>& lines,
                                            const SudokuReadOptions& options) {
  std::vector<SudokuRecord> out;
  SudokuShape shape = options.shape;
  const std::string source = std::filesystem::path(path).filename().string();
  for (const auto& line : lines) {
    std::string text = line.text;
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    if (text.empty() || text[0] == '#') continue;
    if (options.limit > 0 && static_cast<int64_t>(out.size()) >= options.limit) break;
    const std::string where = file_line(path, line.number);
    shape = file_shape(shape, text, where);
    SudokuRecord r;
    r.where = where;
    r.source = source;
    r.puzzle = SudokuGrid::parse(text, shape, where);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SudokuRecord> read_csv_format(const std::string& path, const std::vector<NumberedLine>& lines,
                                          const SudokuReadOptions& options) {
  check_puzzle_csv_header(lines, path);
  std::vector<SudokuRecord> out;
  SudokuShape shape = options.shape;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].text.empty()) continue;
    if (options.limit > 0 && static_cast<int64_t>(out.size()) >= options.limit) break;
    const std::string where = file_line(path, lines[i].number);
    const auto fields = split_csv_row(lines[i].text, 4, where);
    shape = file_shape(shape, fields[1], where);
    SudokuRecord r;
    r.where = where;
    r.source = fields[0];
    r.puzzle = SudokuGrid::parse(fields[1], shape, where + ": question");
    r.solution = SudokuGrid::parse(fields[2], shape, where + ": answer");
    r.rating = parse_int_field(fields[3], "rating", where);
    if (r.solution.givens() != shape.cells()) throw InputError(where + ": answer has blanks");
    if (const auto conflict = sudoku_conflict(r.solution); !conflict.empty())
      throw InputError(where + ": answer is not a valid sudoku: " + conflict);
    for (int cell = 0; cell < shape.cells(); ++cell) {
      if (r.puzzle.cells[cell] && r.puzzle.cells[cell] != r.solution.cells[cell])
        throw InputError(where + ": answer changes the given at row " + std::to_string(cell / shape.size() + 1) + ", column " +
                         std::to_string(cell % shape.size() + 1));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<SudokuRecord> read_sudoku_file(const std::string& path, const SudokuReadOptions& options) {
  const auto lines = read_numbered_lines(path);
  const bool csv = !lines.empty() && lines[0].text.rfind("source,", 0) == 0;
  auto out = csv ? read_csv_format(path, lines, options) : read_lines_format(path, lines, options);
  if (out.empty()) throw InputError(path + ": no puzzles in the file");
  return out;
}

std::vector<SudokuExample> load_sudoku(const std::string& path, const SudokuLoadOptions& options) {
  std::vector<SudokuExample> out;
  for (auto& r : read_sudoku_file(path, options.read)) {
    if (const auto conflict = sudoku_conflict(r.puzzle); !conflict.empty())
      throw InputError(r.where + ": the givens conflict: " + conflict);
    SudokuExample e;
    e.source = std::move(r.source);
    e.puzzle = std::move(r.puzzle);
    const bool have_label = !r.solution.cells.empty();
    if (!have_label || options.check_unique) {
      const auto solved = solve_sudoku(e.puzzle, 2);
      if (solved.solutions != 1 && options.skip_non_unique) continue;
      if (solved.solutions == 0) throw InputError(r.where + ": the puzzle has no solution");
      if (solved.solutions > 1) throw InputError(r.where + ": the puzzle has more than one solution");
      if (have_label && solved.solution != r.solution) throw InputError(r.where + ": the answer is not the puzzle's solution");
      e.solution = solved.solution;
      e.rating = have_label ? r.rating : solved.nodes;
    } else {
      e.solution = std::move(r.solution);
      e.rating = r.rating;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void write_sudoku_csv(std::ostream& out, const std::vector<SudokuExample>& examples) {
  out << kPuzzleCsvHeader << "\n";
  for (const auto& e : examples)
    out << e.source << "," << e.puzzle.to_string('.') << "," << e.solution.to_string() << "," << e.rating << "\n";
}

}  // namespace beyond
