#include "recursive/puzzles/sudoku.h"

#include <algorithm>
#include <array>
#include <bit>
#include <numeric>

#include "core/errors.h"
#include "recursive/puzzles/random.h"

namespace beyond {

namespace {

constexpr int kMaxSize = 16;

char digit_char(int d) { return d <= 9 ? static_cast<char>('0' + d) : static_cast<char>('A' + d - 10); }

int char_digit(char ch) {
  if (ch >= '1' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'G') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'g') return ch - 'a' + 10;
  return -1;
}

std::string digit_range(int n) { return n <= 9 ? "1-" + std::string(1, digit_char(n)) : "1-9, A-" + std::string(1, digit_char(n)); }

void check_shape(SudokuShape s) {
  if (s.box_rows < 1 || s.box_cols < 1 || s.size() > kMaxSize || s.size() < 2)
    throw InputError("sudoku boxes " + std::to_string(s.box_rows) + "x" + std::to_string(s.box_cols) +
                     ": the grid size (box rows x box cols) must be 2 to 16");
}

// The rows, columns and boxes as lists of cell indices (3N units of N cells), and each cell's three units.
struct Units {
  int n = 0;
  std::vector<std::vector<int>> cells;  // [3N][N]
  std::vector<std::array<int, 3>> of;   // cell -> (row unit, column unit, box unit)

  explicit Units(SudokuShape s) : n(s.size()), cells(3 * s.size()), of(s.cells()) {
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) {
        const int cell = r * n + c, b = s.box_of(r, c);
        cells[r].push_back(cell);
        cells[n + c].push_back(cell);
        cells[2 * n + b].push_back(cell);
        of[cell] = {r, n + c, 2 * n + b};
      }
    }
  }
};

// Depth-first search over a state of bitmasks: used[u] has bit d-1 set when digit d is placed in unit u.
class Solver {
 public:
  Solver(SudokuShape shape, int64_t limit, std::mt19937_64* rng)
      : shape_(shape), units_(shape), n_(shape.size()), full_((1u << n_) - 1), limit_(limit), rng_(rng) {}

  SudokuSolveResult run(const SudokuGrid& puzzle) {
    SudokuSolveResult result;
    result.solution = result.second = SudokuGrid(shape_);
    result_ = &result;
    State root{};
    bool ok = true;
    for (int cell = 0; cell < shape_.cells(); ++cell) {
      const int d = puzzle.cells[cell];
      if (d == 0) continue;
      if (d > n_ || !place(root, cell, d)) ok = false;  // conflicting givens: no solution
    }
    if (ok) {
      search(root);
    } else {
      result.nodes = 1;
    }
    return result;
  }

 private:
  struct State {
    std::array<uint8_t, kMaxSize * kMaxSize> cells;
    std::array<uint32_t, 3 * kMaxSize> used;
  };

  uint32_t candidates(const State& s, int cell) const {
    const auto& u = units_.of[cell];
    return full_ & ~(s.used[u[0]] | s.used[u[1]] | s.used[u[2]]);
  }

  bool place(State& s, int cell, int d) const {
    const uint32_t bit = 1u << (d - 1);
    const auto& u = units_.of[cell];
    if ((s.used[u[0]] | s.used[u[1]] | s.used[u[2]]) & bit) return false;
    s.cells[cell] = static_cast<uint8_t>(d);
    for (int k : u) s.used[k] |= bit;
    return true;
  }

  // Fills forced cells until nothing changes: a cell with one candidate (naked single) and a digit
  // with one possible cell in a unit (hidden single). False on a contradiction: a cell without
  // candidates, a digit with nowhere to go in a unit, or two digits forced into one cell.
  bool propagate(State& s) const {
    for (bool changed = true; changed;) {
      changed = false;
      for (int cell = 0; cell < shape_.cells(); ++cell) {
        if (s.cells[cell]) continue;
        const uint32_t cand = candidates(s, cell);
        if (cand == 0) return false;
        if (std::has_single_bit(cand)) {
          place(s, cell, std::countr_zero(cand) + 1);
          changed = true;
        }
      }
      for (const auto& unit : units_.cells) {
        uint32_t once = 0, twice = 0, placed = 0;
        for (int cell : unit) {
          if (s.cells[cell]) {
            placed |= 1u << (s.cells[cell] - 1);
          } else {
            const uint32_t cand = candidates(s, cell);
            twice |= once & cand;
            once |= cand;
          }
        }
        if ((once | placed) != full_) return false;
        const uint32_t hidden = once & ~twice & ~placed;
        if (!hidden) continue;
        for (int cell : unit) {
          if (s.cells[cell]) continue;
          const uint32_t mine = candidates(s, cell) & hidden;
          if (!mine) continue;
          if (!std::has_single_bit(mine)) return false;
          if (!place(s, cell, std::countr_zero(mine) + 1)) return false;
          changed = true;
        }
      }
    }
    return true;
  }

  void search(State s) {
    ++result_->nodes;
    if (!propagate(s)) return;
    int best = -1;
    int best_count = n_ + 1;
    for (int cell = 0; cell < shape_.cells() && best_count > 2; ++cell) {
      if (s.cells[cell]) continue;
      const int count = std::popcount(candidates(s, cell));
      if (count < best_count) best = cell, best_count = count;
    }
    if (best < 0) {  // every cell filled
      const int64_t k = result_->solutions++;
      if (k < 2) std::copy_n(s.cells.begin(), shape_.cells(), (k == 0 ? result_->solution : result_->second).cells.begin());
      return;
    }
    std::array<int, kMaxSize> order{};
    int k = 0;
    for (uint32_t cand = candidates(s, best); cand; cand &= cand - 1) order[k++] = std::countr_zero(cand) + 1;
    if (rng_) shuffle_in_place(order.begin(), order.begin() + k, *rng_);
    for (int i = 0; i < k; ++i) {
      State child = s;
      place(child, best, order[i]);
      search(child);
      if (limit_ > 0 && result_->solutions >= limit_) return;
    }
  }

  SudokuShape shape_;
  Units units_;
  int n_;
  uint32_t full_;
  int64_t limit_;
  std::mt19937_64* rng_;
  SudokuSolveResult* result_ = nullptr;
};

}  // namespace

std::string SudokuShape::name() const {
  const auto n = std::to_string(size());
  return n + "x" + n + " (" + std::to_string(box_rows) + "x" + std::to_string(box_cols) + " boxes)";
}

SudokuShape SudokuShape::for_size(int n) {
  switch (n) {
    case 4: return {2, 2};
    case 6: return {2, 3};
    case 9: return {3, 3};
    default: throw InputError("sudoku size " + std::to_string(n) + " is not supported (4, 6 or 9)");
  }
}

SudokuShape SudokuShape::for_cells(int cells) {
  for (int n : {4, 6, 9}) {
    if (n * n == cells) return for_size(n);
  }
  return {0, 0};
}

int SudokuGrid::givens() const {
  return static_cast<int>(std::count_if(cells.begin(), cells.end(), [](uint8_t v) { return v != 0; }));
}

std::string SudokuGrid::to_string(char blank) const {
  std::string out;
  out.reserve(cells.size());
  for (uint8_t v : cells) out += v ? digit_char(v) : blank;
  return out;
}

SudokuGrid SudokuGrid::parse(const std::string& text, SudokuShape shape, const std::string& where) {
  check_shape(shape);
  const std::string prefix = where.empty() ? "" : where + ": ";
  const int n = shape.size();
  if (static_cast<int>(text.size()) != shape.cells())
    throw InputError(prefix + std::to_string(text.size()) + " characters, expected " + std::to_string(shape.cells()) +
                     " for a " + shape.name() + " sudoku");
  SudokuGrid grid(shape);
  for (int i = 0; i < shape.cells(); ++i) {
    const char ch = text[i];
    if (ch == '.' || ch == '0') continue;
    const int d = char_digit(ch);
    if (d < 1 || d > n) {
      const std::string printable = (ch >= 32 && ch < 127) ? std::string(1, ch) : "\\x" + std::to_string(static_cast<unsigned char>(ch));
      throw InputError(prefix + "bad character '" + printable + "' at position " + std::to_string(i + 1) + " (row " +
                       std::to_string(i / n + 1) + ", column " + std::to_string(i % n + 1) + "); expected '.', '0' or " +
                       digit_range(n));
    }
    grid.cells[i] = static_cast<uint8_t>(d);
  }
  return grid;
}

std::string sudoku_conflict(const SudokuGrid& grid) {
  const SudokuShape s = grid.shape;
  const int n = s.size();
  static const char* kinds[] = {"row", "column", "box"};
  const Units units(s);
  for (int u = 0; u < 3 * n; ++u) {
    uint32_t seen = 0;
    for (int cell : units.cells[u]) {
      const int d = grid.cells[cell];
      if (d == 0) continue;
      if (d > n)
        return "cell (" + std::to_string(cell / n + 1) + ", " + std::to_string(cell % n + 1) + ") holds " + std::to_string(d) +
               " > " + std::to_string(n);
      if (seen & (1u << (d - 1)))
        return std::string(kinds[u / n]) + " " + std::to_string(u % n + 1) + " has two " + std::string(1, digit_char(d)) + "s";
      seen |= 1u << (d - 1);
    }
  }
  return "";
}

bool is_valid_solution(const SudokuGrid& grid) {
  if (static_cast<int>(grid.cells.size()) != grid.shape.cells()) return false;
  for (uint8_t v : grid.cells) {
    if (v == 0) return false;
  }
  return sudoku_conflict(grid).empty();  // N distinct digits in 1..N per unit = a permutation
}

bool solves(const SudokuGrid& puzzle, const SudokuGrid& solution) {
  if (!(puzzle.shape == solution.shape) || puzzle.cells.size() != solution.cells.size() || !is_valid_solution(solution)) return false;
  for (size_t i = 0; i < puzzle.cells.size(); ++i) {
    if (puzzle.cells[i] && puzzle.cells[i] != solution.cells[i]) return false;
  }
  return true;
}

SudokuSolveResult solve_sudoku(const SudokuGrid& puzzle, int64_t limit, std::mt19937_64* rng) {
  check_shape(puzzle.shape);
  if (static_cast<int>(puzzle.cells.size()) != puzzle.shape.cells())
    throw InputError("sudoku grid has " + std::to_string(puzzle.cells.size()) + " cells, its shape " + puzzle.shape.name() + " needs " +
                     std::to_string(puzzle.shape.cells()));
  return Solver(puzzle.shape, limit, rng).run(puzzle);
}

SudokuGrid random_full_grid(SudokuShape shape, std::mt19937_64& rng) {
  return solve_sudoku(SudokuGrid(shape), 1, &rng).solution;
}

GeneratedSudoku generate_sudoku(SudokuShape shape, const SudokuGenerateOptions& options, std::mt19937_64& rng) {
  check_shape(shape);
  if (options.givens < 0 || options.givens > shape.cells())
    throw InputError("sudoku givens " + std::to_string(options.givens) + " out of range [0, " + std::to_string(shape.cells()) +
                     "] for a " + shape.name());
  GeneratedSudoku best;
  for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
    GeneratedSudoku g;
    g.solution = random_full_grid(shape, rng);
    g.puzzle = g.solution;
    std::vector<int> order(shape.cells());
    std::iota(order.begin(), order.end(), 0);
    shuffle_in_place(order.begin(), order.end(), rng);
    int givens = shape.cells();
    for (int cell : order) {
      if (givens == options.givens) break;
      const uint8_t digit = g.puzzle.cells[cell];
      g.puzzle.cells[cell] = 0;
      if (solve_sudoku(g.puzzle, 2).solutions == 1) {
        --givens;
      } else {
        g.puzzle.cells[cell] = digit;  // this given is needed for uniqueness
      }
    }
    g.reached = givens == options.givens;
    if (attempt == 0 || givens < best.puzzle.givens()) best = std::move(g);
    if (best.reached) break;
  }
  best.nodes = solve_sudoku(best.puzzle, 2).nodes;
  return best;
}

int min_unique_givens(SudokuShape shape) {
  if (shape == SudokuShape{2, 2}) return 4;
  if (shape == SudokuShape{2, 3} || shape == SudokuShape{3, 2}) return 8;
  if (shape == SudokuShape{3, 3}) return 17;
  // A safe bound for other shapes: with two digits absent, swapping them gives a second solution.
  return shape.size() - 1;
}

SudokuTransform SudokuTransform::identity(SudokuShape shape) {
  const int n = shape.size();
  SudokuTransform t;
  t.digit_map.resize(n + 1);
  t.row_order.resize(n);
  t.col_order.resize(n);
  std::iota(t.digit_map.begin(), t.digit_map.end(), 0);
  std::iota(t.row_order.begin(), t.row_order.end(), 0);
  std::iota(t.col_order.begin(), t.col_order.end(), 0);
  return t;
}

namespace {

// An order of `groups` groups of `width` lines: the groups shuffled, then the lines inside each.
std::vector<int> grouped_order(int groups, int width, std::mt19937_64& rng) {
  std::vector<int> group_order(groups), order;
  std::iota(group_order.begin(), group_order.end(), 0);
  shuffle_in_place(group_order.begin(), group_order.end(), rng);
  for (int g : group_order) {
    std::vector<int> inner(width);
    std::iota(inner.begin(), inner.end(), g * width);
    shuffle_in_place(inner.begin(), inner.end(), rng);
    order.insert(order.end(), inner.begin(), inner.end());
  }
  return order;
}

}  // namespace

SudokuTransform SudokuTransform::random(SudokuShape shape, std::mt19937_64& rng) {
  check_shape(shape);
  SudokuTransform t = identity(shape);
  shuffle_in_place(t.digit_map.begin() + 1, t.digit_map.end(), rng);
  // Bands are box_rows rows tall (there are box_cols of them); stacks are box_cols columns wide.
  t.row_order = grouped_order(shape.box_cols, shape.box_rows, rng);
  t.col_order = grouped_order(shape.box_rows, shape.box_cols, rng);
  t.transpose = shape.box_rows == shape.box_cols && (rng() & 1);
  return t;
}

SudokuGrid SudokuTransform::apply(const SudokuGrid& grid) const {
  const int n = grid.size();
  if (static_cast<int>(row_order.size()) != n || static_cast<int>(col_order.size()) != n ||
      static_cast<int>(digit_map.size()) != n + 1)
    throw InputError("sudoku transform made for another grid size");
  if (transpose && grid.shape.box_rows != grid.shape.box_cols)
    throw InputError("sudoku transpose needs square boxes; " + grid.shape.name() + " has none");
  SudokuGrid out(grid.shape);
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      const int sr = row_order[r], sc = col_order[c];
      out.at(r, c) = static_cast<uint8_t>(digit_map[transpose ? grid.at(sc, sr) : grid.at(sr, sc)]);
    }
  }
  return out;
}

std::vector<int64_t> sudoku_tokens(const SudokuGrid& grid) {
  std::vector<int64_t> out(grid.cells.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = grid.cells[i] + 1;
  return out;
}

std::string pretty_sudoku(const SudokuGrid& grid, const std::vector<uint8_t>& marks, bool color) {
  const SudokuShape s = grid.shape;
  const int n = s.size();
  std::string border = "+";
  for (int b = 0; b < s.box_rows; ++b) border += std::string(2 * s.box_cols + 1, '-') + "+";
  border += "\n";
  std::string out;
  for (int r = 0; r < n; ++r) {
    if (r % s.box_rows == 0) out += border;
    for (int c = 0; c < n; ++c) {
      if (c % s.box_cols == 0) out += "| ";
      const int v = grid.at(r, c);
      const uint8_t mark = marks.empty() ? kMarkNone : marks[static_cast<size_t>(r * n + c)];
      const char glyph = v ? digit_char(v) : '.';
      if (mark == kMarkNone) {
        out += glyph;
        out += ' ';
      } else if (color) {  // red for wrong (bold when it also changed), yellow for changed
        out += std::string(mark & kMarkWrong ? (mark & kMarkChanged ? "\033[1;31m" : "\033[31m") : "\033[1;33m") + glyph + "\033[0m ";
      } else {
        out += glyph;
        out += mark & kMarkWrong ? '!' : '*';
      }
    }
    out += "|\n";
  }
  return out + border;
}

}  // namespace beyond
