// The Sudoku solver, generator and augmentation against independent references written here:
// a naive digit-by-digit enumerator without propagation, and direct row/column/box checks.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <map>
#include <set>

#include "core/errors.h"
#include "recursive/puzzles/random.h"
#include "recursive/puzzles/sudoku.h"

using namespace beyond;

namespace {

// --- Independent references -----------------------------------------------------------------

// Rows, columns and boxes each hold 1..N exactly once.
bool naive_valid(const SudokuGrid& g) {
  const int n = g.size(), br = g.shape.box_rows, bc = g.shape.box_cols;
  for (int i = 0; i < n; ++i) {
    std::set<int> row, col, box;
    for (int j = 0; j < n; ++j) {
      row.insert(g.at(i, j));
      col.insert(g.at(j, i));
      box.insert(g.at((i / br) * br + j / bc, (i % br) * bc + j % bc));
    }
    for (const auto* s : {&row, &col, &box}) {
      if (s->size() != static_cast<size_t>(n) || *s->begin() != 1 || *s->rbegin() != n) return false;
    }
  }
  return true;
}

bool keeps_givens(const SudokuGrid& puzzle, const SudokuGrid& solution) {
  for (size_t i = 0; i < puzzle.cells.size(); ++i) {
    if (puzzle.cells[i] && puzzle.cells[i] != solution.cells[i]) return false;
  }
  return true;
}

// May digit d go at (r, c)? Scans the row, column and box (ignoring the cell itself).
bool naive_allowed(const SudokuGrid& g, int r, int c, int d) {
  const int n = g.size(), br = g.shape.box_rows, bc = g.shape.box_cols;
  for (int k = 0; k < n; ++k) {
    if (k != c && g.at(r, k) == d) return false;
    if (k != r && g.at(k, c) == d) return false;
  }
  const int r0 = r / br * br, c0 = c / bc * bc;
  for (int i = r0; i < r0 + br; ++i) {
    for (int j = c0; j < c0 + bc; ++j) {
      if ((i != r || j != c) && g.at(i, j) == d) return false;
    }
  }
  return true;
}

// Completions of `g` by plain recursion over the first blank cell and every digit, no
// propagation; stops at `stop` (0: count all). Conflicting givens have no completion.
int64_t brute_count(SudokuGrid g, int64_t stop = 0) {
  const int n = g.size();
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      if (g.at(r, c) && !naive_allowed(g, r, c, g.at(r, c))) return 0;
    }
  }
  int64_t count = 0;
  std::function<void()> rec = [&] {
    int cell = -1;
    for (int i = 0; i < n * n && cell < 0; ++i) {
      if (g.cells[i] == 0) cell = i;
    }
    if (cell < 0) {
      ++count;
      return;
    }
    for (int d = 1; d <= n && (stop == 0 || count < stop); ++d) {
      if (!naive_allowed(g, cell / n, cell % n, d)) continue;
      g.cells[cell] = static_cast<uint8_t>(d);
      rec();
      g.cells[cell] = 0;
    }
  };
  rec();
  return count;
}

// Every complete 4x4 grid, enumerated naively.
std::vector<SudokuGrid> all_4x4_grids() {
  std::vector<SudokuGrid> out;
  SudokuGrid g(SudokuShape{2, 2});
  std::function<void(int)> rec = [&](int cell) {
    if (cell == 16) {
      out.push_back(g);
      return;
    }
    for (int d = 1; d <= 4; ++d) {
      if (!naive_allowed(g, cell / 4, cell % 4, d)) continue;
      g.cells[cell] = static_cast<uint8_t>(d);
      rec(cell + 1);
      g.cells[cell] = 0;
    }
  };
  rec(0);
  return out;
}

// A valid grid of any shape from the shifting pattern, with its digits relabelled at random.
SudokuGrid pattern_grid(SudokuShape s, std::mt19937_64& rng) {
  const int n = s.size();
  std::vector<int> relabel(n);
  for (int i = 0; i < n; ++i) relabel[i] = i + 1;
  std::shuffle(relabel.begin(), relabel.end(), rng);
  SudokuGrid g(s);
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) g.at(r, c) = static_cast<uint8_t>(relabel[(s.box_cols * (r % s.box_rows) + r / s.box_rows + c) % n]);
  }
  return g;
}

SudokuGrid blank_random_cells(SudokuGrid g, int keep, std::mt19937_64& rng) {
  std::vector<int> order(g.cells.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = keep; i < order.size(); ++i) g.cells[order[i]] = 0;
  return g;
}

const SudokuShape k4{2, 2}, k6{2, 3}, k9{3, 3};

// A well-known published puzzle and its solution (Wikipedia's Sudoku example).
const char* kWikiPuzzle = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
const char* kWikiSolution = "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

}  // namespace

TEST(Sudoku, ReferenceEnumeratorKnowsThe288Grids) {
  const auto grids = all_4x4_grids();
  EXPECT_EQ(grids.size(), 288u);
  for (const auto& g : grids) ASSERT_TRUE(naive_valid(g));
  EXPECT_EQ(brute_count(SudokuGrid(k4)), 288);
}

TEST(Sudoku, SolverCountsMatchBruteForceOn4x4) {
  const auto grids = all_4x4_grids();
  std::mt19937_64 rng(11);
  int zero = 0, one = 0, many = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    SudokuGrid g(k4);
    if (trial % 2 == 0) {
      // Random digits in random cells: often conflicting or unsolvable, sometimes many solutions.
      const int k = static_cast<int>(rng() % 9);
      for (int i = 0; i < k; ++i) g.cells[rng() % 16] = static_cast<uint8_t>(1 + rng() % 4);
    } else {
      // A subset of a real grid: at least one solution.
      g = blank_random_cells(grids[rng() % grids.size()], static_cast<int>(rng() % 17), rng);
    }
    const int64_t expected = brute_count(g);
    const auto all = solve_sudoku(g, 0);
    ASSERT_EQ(all.solutions, expected) << g.to_string();
    const auto capped = solve_sudoku(g, 2);
    ASSERT_EQ(capped.solutions, std::min<int64_t>(expected, 2)) << g.to_string();
    ASSERT_GE(capped.nodes, 1);
    if (expected >= 1) {
      ASSERT_TRUE(naive_valid(capped.solution) && keeps_givens(g, capped.solution)) << g.to_string();
    }
    if (expected >= 2) {
      ASSERT_TRUE(naive_valid(capped.second) && keeps_givens(g, capped.second));
      ASSERT_NE(capped.solution, capped.second);
    }
    (expected == 0 ? zero : expected == 1 ? one : many) += 1;
  }
  // The random draw covers all three cases well.
  EXPECT_GT(zero, 100);
  EXPECT_GT(one, 100);
  EXPECT_GT(many, 100);
}

TEST(Sudoku, SolverCountsMatchBruteForceOn6x6) {
  std::mt19937_64 rng(12);
  int one = 0, many = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const auto full = pattern_grid(k6, rng);
    ASSERT_TRUE(naive_valid(full));
    const auto g = blank_random_cells(full, 8 + static_cast<int>(rng() % 18), rng);
    const int64_t expected = brute_count(g, 50);
    ASSERT_EQ(solve_sudoku(g, 50).solutions, expected) << g.to_string();
    (expected == 1 ? one : many) += 1;
  }
  EXPECT_GT(one, 10);
  EXPECT_GT(many, 10);
}

TEST(Sudoku, Solves9x9AndRatesByNodes) {
  const auto puzzle = SudokuGrid::parse(kWikiPuzzle, k9);
  const auto r = solve_sudoku(puzzle, 2);
  EXPECT_EQ(r.solutions, 1);
  EXPECT_EQ(r.solution.to_string(), kWikiSolution);
  EXPECT_EQ(r.nodes, 1);  // singles alone solve it: no guessing
  // A hard one (magictour top1465 #1): needs search, and the answer checks out independently.
  const auto hard = SudokuGrid::parse("4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........", k9);
  const auto h = solve_sudoku(hard, 2);
  EXPECT_EQ(h.solutions, 1);
  EXPECT_GT(h.nodes, 1);
  EXPECT_TRUE(naive_valid(h.solution) && keeps_givens(hard, h.solution));
  EXPECT_EQ(brute_count(SudokuGrid::parse(h.solution.to_string(), k9)), 1);
  // The empty grid: the limit stops the count.
  EXPECT_EQ(solve_sudoku(SudokuGrid(k9), 2).solutions, 2);
  EXPECT_EQ(solve_sudoku(SudokuGrid(k9), 7).solutions, 7);
}

TEST(Sudoku, ConflictsAndValidity) {
  auto g = SudokuGrid::parse(kWikiSolution, k9);
  EXPECT_TRUE(is_valid_solution(g));
  EXPECT_EQ(sudoku_conflict(g), "");
  std::swap(g.cells[0], g.cells[1]);  // breaks two columns and nothing else in row 1
  EXPECT_FALSE(is_valid_solution(g));
  EXPECT_NE(sudoku_conflict(g).find("column"), std::string::npos) << sudoku_conflict(g);
  const auto wiki = SudokuGrid::parse(kWikiPuzzle, k9), wiki_solution = SudokuGrid::parse(kWikiSolution, k9);
  EXPECT_TRUE(solves(wiki, wiki_solution));
  EXPECT_FALSE(solves(wiki, g));             // not valid
  EXPECT_FALSE(solves(SudokuGrid(k4), wiki_solution));  // another shape
  auto relabelled = wiki_solution;          // valid, but changes the givens
  for (auto& v : relabelled.cells) v = static_cast<uint8_t>(v % 9 + 1);
  EXPECT_TRUE(is_valid_solution(relabelled));
  EXPECT_FALSE(solves(wiki, relabelled));
  auto p = SudokuGrid::parse("11..............", k4);
  EXPECT_EQ(sudoku_conflict(p), "row 1 has two 1s");
  EXPECT_EQ(solve_sudoku(p, 2).solutions, 0);
  p = SudokuGrid::parse("1...1...........", k4);
  EXPECT_EQ(sudoku_conflict(p), "column 1 has two 1s");
  p = SudokuGrid::parse("1....1..........", k4);
  EXPECT_EQ(sudoku_conflict(p), "box 1 has two 1s");
}

TEST(Sudoku, ParseAndFormat) {
  const auto g = SudokuGrid::parse("1.3.0.2.........", k4);
  EXPECT_EQ(g.givens(), 3);
  EXPECT_EQ(g.at(0, 2), 3);
  EXPECT_EQ(g.at(1, 2), 2);
  EXPECT_EQ(g.to_string(), "1.3...2.........");
  EXPECT_EQ(g.to_string('0'), "1030002000000000");
  try {
    SudokuGrid::parse("1.3.0.2........5", k4, "f.txt:3");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("f.txt:3: bad character '5' at position 16 (row 4, column 4)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SudokuGrid::parse("1.3", k4), InputError);
  EXPECT_THROW(SudokuShape::for_size(5), InputError);
  EXPECT_EQ(SudokuShape::for_cells(36), k6);
  EXPECT_EQ(SudokuShape::for_cells(80).size(), 0);
  const std::string pretty = pretty_sudoku(SudokuGrid::parse("1.3...2.........", k4));
  EXPECT_EQ(pretty,
            "+-----+-----+\n| 1 . | 3 . |\n| . . | 2 . |\n+-----+-----+\n| . . | . . |\n| . . | . . |\n+-----+-----+\n");
  EXPECT_EQ(pretty_sudoku(SudokuGrid(k6)).substr(0, 18), "+-------+-------+\n");
  EXPECT_EQ(sudoku_tokens(SudokuGrid::parse("1.3...2.........", k4))[0], 2);
  EXPECT_EQ(sudoku_tokens(SudokuGrid::parse("1.3...2.........", k4))[1], 1);
}

TEST(Sudoku, GeneratedPuzzlesAreUniqueWithTheRequestedGivens) {
  struct Case {
    SudokuShape shape;
    int givens;
    int seeds;
  };
  for (const auto& c : {Case{k4, 4, 20}, Case{k4, 6, 20}, Case{k6, 12, 12}, Case{k6, 18, 12}, Case{k9, 30, 6}, Case{k9, 26, 4}}) {
    for (int seed = 0; seed < c.seeds; ++seed) {
      std::mt19937_64 rng(item_seed(100 + c.givens, seed));
      SudokuGenerateOptions options;
      options.givens = c.givens;
      options.max_attempts = 50;
      const auto g = generate_sudoku(c.shape, options, rng);
      const std::string label = c.shape.name() + " givens " + std::to_string(c.givens) + " seed " + std::to_string(seed);
      ASSERT_TRUE(g.reached) << label;
      EXPECT_EQ(g.puzzle.givens(), c.givens) << label;
      EXPECT_TRUE(naive_valid(g.solution)) << label;
      EXPECT_TRUE(keeps_givens(g.puzzle, g.solution)) << label;
      EXPECT_EQ(brute_count(g.puzzle, 2), 1) << label << ": " << g.puzzle.to_string();
      EXPECT_EQ(g.nodes, solve_sudoku(g.puzzle, 2).nodes);
    }
  }
}

TEST(Sudoku, UnreachableTargetReturnsTheClosestUniquePuzzle) {
  std::mt19937_64 rng(5);
  SudokuGenerateOptions options;
  options.givens = 17;  // random digging essentially never gets this low
  options.max_attempts = 2;
  const auto g = generate_sudoku(k9, options, rng);
  EXPECT_FALSE(g.reached);
  EXPECT_GT(g.puzzle.givens(), 17);
  EXPECT_EQ(brute_count(g.puzzle, 2), 1);
  options.givens = 82;
  EXPECT_THROW(generate_sudoku(k9, options, rng), InputError);
}

TEST(Sudoku, GenerationIsReproducible) {
  for (const auto shape : {k4, k6, k9}) {
    SudokuGenerateOptions options;
    options.givens = shape.cells() / 2;
    std::mt19937_64 a(42), b(42), c(43);
    const auto ga = generate_sudoku(shape, options, a), gb = generate_sudoku(shape, options, b),
               gc = generate_sudoku(shape, options, c);
    EXPECT_EQ(ga.puzzle, gb.puzzle);
    EXPECT_EQ(ga.solution, gb.solution);
    EXPECT_NE(ga.puzzle, gc.puzzle);
  }
  // Fixed values: a change of algorithm or RNG use shows up here.
  std::mt19937_64 rng(item_seed(1, 0));
  SudokuGenerateOptions options;
  options.givens = 6;
  EXPECT_EQ(generate_sudoku(k4, options, rng).puzzle.to_string(), "...221.43.2.....");
}

TEST(Sudoku, RandomFullGridsAreValidAndCoverAll4x4Grids) {
  std::mt19937_64 rng(3);
  std::map<std::string, int> seen;
  const int draws = 288 * 20;
  for (int i = 0; i < draws; ++i) {
    const auto g = random_full_grid(k4, rng);
    ASSERT_TRUE(naive_valid(g));
    seen[g.to_string()] += 1;
  }
  // All 288 grids come up, none far more often than the 20 a uniform draw gives.
  EXPECT_EQ(seen.size(), 288u);
  for (const auto& [grid, count] : seen) EXPECT_LT(count, 60) << grid;
  for (const auto shape : {k6, k9}) ASSERT_TRUE(naive_valid(random_full_grid(shape, rng)));
}

TEST(Sudoku, AugmentationKeepsValidityAndUniqueness) {
  int transposed = 0;
  for (const auto shape : {k4, k6, k9}) {
    for (int seed = 0; seed < 12; ++seed) {
      std::mt19937_64 rng(1000 + seed);
      SudokuGenerateOptions options;
      options.givens = shape == k9 ? 28 : shape.cells() / 2;
      const auto g = generate_sudoku(shape, options, rng);
      const auto t = SudokuTransform::random(shape, rng);
      transposed += t.transpose;
      if (shape.box_rows != shape.box_cols) {
        ASSERT_FALSE(t.transpose);
      }
      // Rows stay in their band as a group, and the digit map is a permutation fixing blank.
      const int br = shape.box_rows, bc = shape.box_cols;
      for (int r = 0; r < shape.size(); ++r) ASSERT_EQ(t.row_order[r] / br, t.row_order[r / br * br] / br);
      for (int c = 0; c < shape.size(); ++c) ASSERT_EQ(t.col_order[c] / bc, t.col_order[c / bc * bc] / bc);
      ASSERT_EQ(t.digit_map[0], 0);
      ASSERT_EQ(std::set<int>(t.digit_map.begin(), t.digit_map.end()).size(), static_cast<size_t>(shape.size() + 1));

      const auto puzzle = t.apply(g.puzzle), solution = t.apply(g.solution);
      EXPECT_TRUE(naive_valid(solution));
      EXPECT_TRUE(keeps_givens(puzzle, solution));
      EXPECT_EQ(puzzle.givens(), g.puzzle.givens());
      const auto r = solve_sudoku(puzzle, 2);
      EXPECT_EQ(r.solutions, 1);
      EXPECT_EQ(r.solution, solution);
      if (shape != k9) {
        EXPECT_EQ(brute_count(puzzle, 2), 1);
      }
    }
  }
  EXPECT_GT(transposed, 0);
}

TEST(Sudoku, TransformByHand) {
  // Swap the two bands of a 4x4, relabel 1<->2, then check cell by cell.
  const auto g = SudokuGrid::parse("1234341221434321", k4);
  auto t = SudokuTransform::identity(k4);
  EXPECT_EQ(t.apply(g), g);
  t.row_order = {2, 3, 0, 1};
  t.digit_map = {0, 2, 1, 3, 4};
  EXPECT_EQ(t.apply(g).to_string(), "1243431221343421");
  t = SudokuTransform::identity(k4);
  t.transpose = true;
  EXPECT_EQ(t.apply(g).to_string(), "1324241331424231");
  auto bad = SudokuTransform::identity(k6);
  bad.transpose = true;
  EXPECT_THROW(bad.apply(SudokuGrid(k6)), InputError);
}
