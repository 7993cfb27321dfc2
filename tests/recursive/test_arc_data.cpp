// ARC data layer: dihedral transforms against numpy's index rules written out here, exact inverses,
// the canvas encoding against hand-made boards and a brute-force crop, variant dedup, and the
// task loader on small hand-written JSON files (one test per malformed case).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/errors.h"
#include "recursive/puzzles/arc.h"
#include "recursive/puzzles/arc_augment.h"
#include "recursive/puzzles/arc_encoding.h"
#include "recursive/puzzles/random.h"

using namespace beyond;
namespace fs = std::filesystem;

namespace {

ArcGrid grid_of(const std::vector<std::vector<int>>& rows) { return ArcGrid::from_rows(rows); }

ArcGrid random_grid(int rows, int cols, std::mt19937_64& rng) {
  ArcGrid g;
  g.rows = rows;
  g.cols = cols;
  for (int i = 0; i < rows * cols; ++i) g.cells.push_back(static_cast<uint8_t>(uniform_below(rng, 10)));
  return g;
}

ArcGrid random_shape_grid(int max_side, std::mt19937_64& rng) {
  const int rows = 1 + static_cast<int>(uniform_below(rng, max_side));
  const int cols = 1 + static_cast<int>(uniform_below(rng, max_side));
  return random_grid(rows, cols, rng);
}

// Where numpy sends cell (r, c) of an h x w grid under transform `id` (the forward direction, unlike
// the library, which asks where each output cell comes from), and the output shape.
struct Destination {
  int r, c;
};
Destination numpy_destination(int id, int r, int c, int h, int w) {
  switch (id) {
    case 0: return {r, c};
    case 1: return {w - 1 - c, r};          // rot90: the top row becomes the left column, read upwards
    case 2: return {h - 1 - r, w - 1 - c};  // rot180
    case 3: return {c, h - 1 - r};          // rot270 (clockwise)
    case 4: return {r, w - 1 - c};          // fliplr
    case 5: return {h - 1 - r, c};          // flipud
    case 6: return {c, r};                  // transpose
    default: return {w - 1 - c, h - 1 - r};  // 7: fliplr(rot90) = anti-transpose
  }
}

ArcGrid reference_dihedral(const ArcGrid& a, int id) {
  const bool swaps = id == 1 || id == 3 || id == 6 || id == 7;
  ArcGrid b;
  b.rows = swaps ? a.cols : a.rows;
  b.cols = swaps ? a.rows : a.cols;
  b.cells.assign(a.cells.size(), 255);
  for (int r = 0; r < a.rows; ++r)
    for (int c = 0; c < a.cols; ++c) {
      const auto d = numpy_destination(id, r, c, a.rows, a.cols);
      b.cells[static_cast<size_t>(d.r * b.cols + d.c)] = a.at(r, c);
    }
  return b;
}

ArcAugmentation random_augmentation_with(int dihedral, std::mt19937_64& rng) {
  auto aug = ArcAugmentation::random(rng);
  aug.dihedral = dihedral;
  return aug;
}

ArcTask random_task(std::mt19937_64& rng) {
  ArcTask t;
  t.id = "rand";
  for (int i = 0; i < 3; ++i) t.train.push_back({random_shape_grid(8, rng), random_shape_grid(8, rng), true});
  t.test.push_back({random_shape_grid(8, rng), random_shape_grid(8, rng), true});
  t.test.push_back({random_shape_grid(8, rng), ArcGrid{}, false});
  return t;
}

// The largest top-left all-colour rectangle by brute force over every (rows, cols); ties go to the
// fewer rows (found first when scanning downwards).
ArcGrid brute_force_crop(const std::vector<int64_t>& tokens, int canvas) {
  auto colour = [&](int r, int c) { return tokens[r * canvas + c] >= 2 && tokens[r * canvas + c] <= 11; };
  int best_r = 0, best_c = 0;
  for (int h = 1; h <= canvas; ++h)
    for (int w = 1; w <= canvas; ++w) {
      bool all = true;
      for (int r = 0; r < h && all; ++r)
        for (int c = 0; c < w && all; ++c) all = colour(r, c);
      if (all && h * w > best_r * best_c) best_r = h, best_c = w;
    }
  std::vector<std::vector<int>> rows(best_r, std::vector<int>(best_c));
  for (int r = 0; r < best_r; ++r)
    for (int c = 0; c < best_c; ++c) rows[r][c] = static_cast<int>(tokens[r * canvas + c] - 2);
  return grid_of(rows);
}

// --- temporary task files ---

fs::path temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("beyond_arc_data_" + std::to_string(::getpid())) / name;
  fs::create_directories(dir);
  return dir;
}

std::string write_task(const fs::path& dir, const std::string& id, const std::string& json) {
  const auto path = (dir / (id + ".json")).string();
  std::ofstream(path, std::ios::binary) << json;
  return path;
}

// The InputError message of load_arc_task on a file holding `json`, or "" when it loads.
std::string load_error_of(const std::string& json, const std::string& id = "bad") {
  const auto path = write_task(temp_dir("malformed"), id, json);
  try {
    load_arc_task(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const char* kGoodPair = R"({"input": [[1, 2]], "output": [[3]]})";

// A task whose train[0].input is `grid` (every other part valid).
std::string task_with_train_input(const std::string& grid) {
  return std::string(R"({"train": [{"input": )") + grid + R"(, "output": [[1]]}], "test": [)" + kGoodPair + "]}";
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

}  // namespace

// --- dihedral transforms ---

TEST(ArcDihedral, HandExampleTwoByThree) {
  const auto a = grid_of({{1, 2, 3}, {4, 5, 6}});
  // numpy by hand: np.rot90(a) = [[3,6],[2,5],[1,4]], a.T = [[1,4],[2,5],[3,6]], ...
  const std::map<int, ArcGrid> expected = {
      {0, grid_of({{1, 2, 3}, {4, 5, 6}})}, {1, grid_of({{3, 6}, {2, 5}, {1, 4}})},
      {2, grid_of({{6, 5, 4}, {3, 2, 1}})}, {3, grid_of({{4, 1}, {5, 2}, {6, 3}})},
      {4, grid_of({{3, 2, 1}, {6, 5, 4}})}, {5, grid_of({{4, 5, 6}, {1, 2, 3}})},
      {6, grid_of({{1, 4}, {2, 5}, {3, 6}})}, {7, grid_of({{6, 3}, {5, 2}, {4, 1}})},
  };
  for (const auto& [id, want] : expected) EXPECT_EQ(arc_dihedral(a, id), want) << "id " << id;
}

TEST(ArcDihedral, MatchesNumpyIndexRulesOnRandomRectangles) {
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    const auto g = random_shape_grid(12, rng);
    for (int id = 0; id < 8; ++id) {
      const auto got = arc_dihedral(g, id);
      EXPECT_EQ(got, reference_dihedral(g, id)) << "id " << id << " on " << g.rows << "x" << g.cols;
    }
  }
}

TEST(ArcDihedral, GroupTable) {
  std::mt19937_64 rng(2);
  const auto g = random_grid(4, 7, rng);
  auto d = [](const ArcGrid& x, int id) { return arc_dihedral(x, id); };
  EXPECT_EQ(d(d(g, 1), 1), d(g, 2));     // rot90 twice = rot180
  EXPECT_EQ(d(d(g, 1), 2), d(g, 3));     // rot90 then rot180 = rot270
  EXPECT_EQ(d(d(d(d(g, 1), 1), 1), 1), g);
  EXPECT_EQ(d(d(g, 4), 4), g);           // fliplr is an involution
  EXPECT_EQ(d(d(g, 5), 5), g);
  EXPECT_EQ(d(d(g, 6), 6), g);           // transpose of transpose
  EXPECT_EQ(d(d(g, 7), 7), g);
  EXPECT_EQ(d(d(g, 4), 5), d(g, 2));     // fliplr then flipud = rot180
  EXPECT_EQ(d(d(g, 1), 4), d(g, 7));     // the reference's definition of id 7
  EXPECT_EQ(d(d(g, 6), 2), d(g, 7));     // anti-transpose = rot180 of the transpose
  EXPECT_EQ(d(d(g, 6), 4), d(g, 3));     // fliplr(a.T) = rot270
  // A square grid with distinct cells tells all 8 apart, and each id has exactly one inverse.
  ArcGrid square;
  square.rows = square.cols = 3;
  for (int i = 0; i < 9; ++i) square.cells.push_back(static_cast<uint8_t>(i));
  for (int a = 0; a < 8; ++a) {
    for (int b = a + 1; b < 8; ++b) EXPECT_NE(d(square, a), d(square, b)) << a << " vs " << b;
    int undoing = -1, count = 0;
    for (int b = 0; b < 8; ++b)
      if (d(d(square, a), b) == square) undoing = b, ++count;
    EXPECT_EQ(count, 1);
    EXPECT_EQ(inverse_dihedral_id(a), undoing) << "id " << a;
  }
}

// --- augmentations ---

TEST(ArcAugment, InverseUndoesApplyForEveryDihedralAndColourPermutation) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 40; ++trial)
    for (int id = 0; id < 8; ++id) {
      const auto g = random_shape_grid(30, rng);
      const auto aug = random_augmentation_with(id, rng);
      EXPECT_EQ(aug.invert(aug.apply(g)), g) << aug.name();
      EXPECT_EQ(aug.apply(aug.invert(g)), g) << aug.name();
    }
}

TEST(ArcAugment, ColoursThenDihedralAndBlackStaysBlack) {
  std::mt19937_64 rng(4);
  std::set<int> dihedrals_seen;
  for (int trial = 0; trial < 200; ++trial) {
    const auto aug = ArcAugmentation::random(rng);
    dihedrals_seen.insert(aug.dihedral);
    EXPECT_EQ(aug.colours[0], 0);
    std::set<int> image(aug.colours.begin(), aug.colours.end());
    EXPECT_EQ(image.size(), 10u) << aug.name();  // a permutation
    const auto g = random_grid(3, 5, rng);
    ArcGrid recoloured = g;
    for (auto& cell : recoloured.cells) cell = aug.colours[cell];
    EXPECT_EQ(aug.apply(g), reference_dihedral(recoloured, aug.dihedral));
    for (size_t i = 0; i < g.cells.size(); ++i)
      if (g.cells[i] == 0) {
        EXPECT_EQ(recoloured.cells[i], 0);
      }
  }
  EXPECT_EQ(dihedrals_seen.size(), 8u);
}

TEST(ArcAugment, NameAndIdentity) {
  ArcAugmentation aug;
  EXPECT_TRUE(aug.is_identity());
  EXPECT_EQ(aug.name(), "t0|||0123456789");
  aug.dihedral = 3;
  aug.colours = {0, 4, 5, 7, 1, 2, 6, 9, 8, 3};
  EXPECT_EQ(aug.name(), "t3|||0457126983");
  EXPECT_FALSE(aug.is_identity());
  ArcAugmentation colours_only;
  std::swap(colours_only.colours[1], colours_only.colours[2]);
  EXPECT_FALSE(colours_only.is_identity());
  ArcAugmentation turn_only;
  turn_only.dihedral = 6;
  EXPECT_FALSE(turn_only.is_identity());
}

TEST(ArcAugment, AugmentTaskThenInvertingEveryGridGivesTheOriginal) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    const auto task = random_task(rng);
    const auto aug = ArcAugmentation::random(rng);
    const auto out = augment_task(task, aug);
    ASSERT_EQ(out.train.size(), task.train.size());
    ASSERT_EQ(out.test.size(), task.test.size());
    for (size_t i = 0; i < task.train.size(); ++i) {
      EXPECT_EQ(out.train[i].input, aug.apply(task.train[i].input));
      EXPECT_EQ(aug.invert(out.train[i].input), task.train[i].input);
      EXPECT_EQ(aug.invert(out.train[i].output), task.train[i].output);
    }
    EXPECT_EQ(aug.invert(out.test[0].input), task.test[0].input);
    EXPECT_EQ(aug.invert(out.test[0].output), task.test[0].output);
    EXPECT_EQ(aug.invert(out.test[1].input), task.test[1].input);
    EXPECT_FALSE(out.test[1].has_output);
    EXPECT_TRUE(out.test[1].output.empty());
  }
}

TEST(ArcVariants, IdentityFirstThenDistinctTasks) {
  std::mt19937_64 rng(6);
  const auto task = random_task(rng);
  const auto variants = make_arc_variants(task, 20, rng);
  ASSERT_EQ(variants.size(), 21u);  // random grids have no symmetry
  EXPECT_TRUE(variants[0].is_identity());
  auto all_grids = [&](const ArcAugmentation& aug) {
    std::vector<ArcGrid> grids;
    const auto t = augment_task(task, aug);
    for (const auto* list : {&t.train, &t.test})
      for (const auto& p : *list) grids.push_back(p.input), grids.push_back(p.output);
    return grids;
  };
  for (size_t i = 0; i < variants.size(); ++i)
    for (size_t j = i + 1; j < variants.size(); ++j)
      EXPECT_NE(all_grids(variants[i]), all_grids(variants[j])) << variants[i].name() << " = " << variants[j].name();
}

TEST(ArcVariants, FullySymmetricTaskKeepsOnlyTheIdentityAfterFiveTimesCountTries) {
  ArcTask task;
  const auto zeros = grid_of({{0, 0, 0}, {0, 0, 0}, {0, 0, 0}});
  task.train.push_back({zeros, zeros, true});
  task.test.push_back({zeros, zeros, true});
  std::mt19937_64 rng(7), replay(7);
  const auto variants = make_arc_variants(task, 4, rng);
  ASSERT_EQ(variants.size(), 1u);
  EXPECT_TRUE(variants[0].is_identity());
  for (int i = 0; i < 5 * 4; ++i) ArcAugmentation::random(replay);  // exactly 5 * count draws
  EXPECT_EQ(rng(), replay());
}

TEST(ArcVariants, OnlyColourSymmetryLeavesNineVariants) {
  // All black but a centred 5: every dihedral transform leaves it alone, so only where colour 5
  // goes (1-9) tells variants apart.
  ArcTask task;
  const auto dot = grid_of({{0, 0, 0}, {0, 5, 0}, {0, 0, 0}});
  task.train.push_back({dot, dot, true});
  task.test.push_back({dot, ArcGrid{}, false});
  std::mt19937_64 rng(8);
  EXPECT_EQ(make_arc_variants(task, 20, rng).size(), 9u);
}

TEST(ArcVariants, TestPairsCountWhenComparing) {
  // The train pair is all black; only the test input's corner dot differs between variants.
  ArcTask task;
  const auto zeros = grid_of({{0, 0}, {0, 0}});
  task.train.push_back({zeros, zeros, true});
  task.test.push_back({grid_of({{1, 0}, {0, 0}}), ArcGrid{}, false});
  std::mt19937_64 rng(9);
  EXPECT_EQ(make_arc_variants(task, 5, rng).size(), 6u);
}

// --- canvas encoding ---

TEST(ArcEncoding, HandBoardAtAnOffset) {
  // [[1,2,3],[4,5,6]] at (1, 2) on a 6x6 canvas: colours + 2, EOS below and right, corner PAD.
  const auto tokens = encode_arc_grid(grid_of({{1, 2, 3}, {4, 5, 6}}), 6, 1, 2);
  const std::vector<int64_t> expected = {
      0, 0, 0, 0, 0, 0,  //
      0, 0, 3, 4, 5, 1,  //
      0, 0, 6, 7, 8, 1,  //
      0, 0, 1, 1, 1, 0,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
  };
  EXPECT_EQ(tokens, expected);
}

TEST(ArcEncoding, NoEosOutsideTheCanvas) {
  const auto g = grid_of({{1, 2, 3}, {4, 5, 6}});
  const std::vector<int64_t> bottom_right = {
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 3, 4, 5,  //
      0, 0, 0, 6, 7, 8,  //
  };
  EXPECT_EQ(encode_arc_grid(g, 6, 4, 3), bottom_right);
  const std::vector<int64_t> right_edge = {
      0, 0, 0, 3, 4, 5,  //
      0, 0, 0, 6, 7, 8,  //
      0, 0, 0, 1, 1, 1,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
      0, 0, 0, 0, 0, 0,  //
  };
  EXPECT_EQ(encode_arc_grid(g, 6, 0, 3), right_edge);
  EXPECT_THROW(encode_arc_grid(g, 6, 5, 0), InputError);
  EXPECT_THROW(encode_arc_grid(g, 6, 0, 4), InputError);
  EXPECT_THROW(encode_arc_grid(g, 2, 0, 0), InputError);
}

TEST(ArcEncoding, CropOfEncodeIsTheGridAtTheTopLeft) {
  std::mt19937_64 rng(10);
  for (int canvas : {30, 10}) {
    for (int trial = 0; trial < 150; ++trial) {
      const auto g = random_shape_grid(canvas, rng);
      EXPECT_EQ(crop_arc_grid(encode_arc_grid(g, canvas), canvas), g) << g.rows << "x" << g.cols << " on " << canvas;
    }
    const auto full = random_grid(canvas, canvas, rng);
    EXPECT_EQ(crop_arc_grid(encode_arc_grid(full, canvas), canvas), full);
  }
}

TEST(ArcEncoding, CropOfATranslatedGridIsEmpty) {
  // The crop reads from (0, 0): a translated training board starts with PAD there, so it crops to
  // nothing; only offset (0, 0) gives the grid back.
  std::mt19937_64 rng(11);
  int translated = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const auto g = random_shape_grid(30, rng);
    const auto offset = random_arc_offset(g, g, 30, rng);
    const auto cropped = crop_arc_grid(encode_arc_grid(g, 30, offset.row, offset.col), 30);
    if (offset.row == 0 && offset.col == 0) {
      EXPECT_EQ(cropped, g);
    } else {
      ++translated;
      EXPECT_EQ(cropped.rows * cropped.cols, 0) << offset.row << "," << offset.col;
      EXPECT_TRUE(cropped.cells.empty());
    }
  }
  EXPECT_GT(translated, 100);
}

TEST(ArcEncoding, CropMatchesBruteForceOnRandomBoards) {
  std::mt19937_64 rng(12);
  for (int trial = 0; trial < 300; ++trial) {
    const int canvas = 1 + static_cast<int>(uniform_below(rng, 8));
    std::vector<int64_t> tokens(static_cast<size_t>(canvas * canvas));
    for (auto& t : tokens) t = uniform_below(rng, 8) == 0 ? static_cast<int64_t>(uniform_below(rng, 2)) : 2 + static_cast<int64_t>(uniform_below(rng, 10));
    EXPECT_EQ(crop_arc_grid(tokens, canvas), brute_force_crop(tokens, canvas)) << "trial " << trial;
  }
}

TEST(ArcEncoding, CropHandBoards) {
  // Widths by row 4, 2, 2, 2: areas 4, 4, 6, 8 -> the 4x2 rectangle.
  const std::vector<int64_t> tall = {
      2, 3, 4, 5,  //
      6, 7, 1, 0,  //
      8, 9, 0, 0,  //
      10, 11, 4, 1,  //
  };
  EXPECT_EQ(crop_arc_grid(tall, 4), grid_of({{0, 1}, {4, 5}, {6, 7}, {8, 9}}));
  // Widths 4, 1, 1, 0: areas 4, 2, 3 -> the first row.
  const std::vector<int64_t> wide = {
      2, 3, 4, 5,  //
      6, 1, 1, 1,  //
      8, 0, 0, 0,  //
      1, 1, 1, 1,  //
  };
  EXPECT_EQ(crop_arc_grid(wide, 4), grid_of({{0, 1, 2, 3}}));
  std::vector<int64_t> pad_corner = tall, eos_corner = tall;
  pad_corner[0] = kArcPad;
  eos_corner[0] = kArcEos;
  EXPECT_TRUE(crop_arc_grid(pad_corner, 4).empty());
  EXPECT_TRUE(crop_arc_grid(eos_corner, 4).cells.empty());
  EXPECT_TRUE(crop_arc_grid(std::vector<int64_t>(900, kArcPad), 30).empty());
}

TEST(ArcEncoding, RandomOffsetCoversExactlyTheRangeThatFits) {
  std::mt19937_64 rng(13);
  const auto input = random_grid(27, 29, rng), output = random_grid(28, 5, rng);
  std::set<int> rows, cols;
  for (int i = 0; i < 300; ++i) {
    const auto o = random_arc_offset(input, output, 30, rng);
    rows.insert(o.row);
    cols.insert(o.col);
  }
  EXPECT_EQ(rows, (std::set<int>{0, 1, 2}));  // 30 - 28
  EXPECT_EQ(cols, (std::set<int>{0, 1}));     // 30 - 29
  const auto full = random_grid(30, 30, rng);
  const auto o = random_arc_offset(full, input, 30, rng);
  EXPECT_EQ(o.row + o.col, 0);
}

// --- loader ---

TEST(ArcLoader, GoodFileLoads) {
  const auto path = write_task(temp_dir("good"), "0a1b2c3d", R"({
    "train": [{"input": [[1, 2, 3], [4, 5, 6]], "output": [[7]]},
              {"input": [[0]], "output": [[9, 8], [7, 6], [5, 4], [3, 2]]}],
    "test": [{"input": [[2, 2]], "output": [[3], [3]]}, {"input": [[4]]}]
  })");
  const auto task = load_arc_task(path);
  EXPECT_EQ(task.id, "0a1b2c3d");
  EXPECT_EQ(task.path, path);
  ASSERT_EQ(task.train.size(), 2u);
  ASSERT_EQ(task.test.size(), 2u);
  EXPECT_EQ(task.train[0].input, grid_of({{1, 2, 3}, {4, 5, 6}}));
  EXPECT_EQ(task.train[0].output, grid_of({{7}}));
  EXPECT_EQ(task.train[1].output, grid_of({{9, 8}, {7, 6}, {5, 4}, {3, 2}}));
  EXPECT_TRUE(task.test[0].has_output);
  EXPECT_EQ(task.test[0].output, grid_of({{3}, {3}}));
  EXPECT_FALSE(task.test[1].has_output);
  EXPECT_EQ(task.test[1].input, grid_of({{4}}));
  EXPECT_TRUE(task.test[1].output.empty());
  EXPECT_EQ(task.max_side(), 4);
}

TEST(ArcLoader, MissingFile) {
  const auto path = (temp_dir("missing") / "nothere.json").string();
  try {
    load_arc_task(path);
    FAIL() << "loaded a missing file";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), path);
    EXPECT_HAS(std::string(e.what()), "no such file");
  }
}

TEST(ArcLoader, NotJson) {
  const auto e = load_error_of(R"({"train": [)", "notjson");
  EXPECT_HAS(e, "notjson.json");
  EXPECT_HAS(e, "not JSON");
}

TEST(ArcLoader, MissingTrainOrTest) {
  auto e = load_error_of(std::string(R"({"test": [)") + kGoodPair + "]}", "notrain");
  EXPECT_HAS(e, "notrain.json");
  EXPECT_HAS(e, "no \"train\"");
  e = load_error_of(std::string(R"({"train": [)") + kGoodPair + "]}", "notest");
  EXPECT_HAS(e, "notest.json");
  EXPECT_HAS(e, "no \"test\"");
}

TEST(ArcLoader, EmptyTrainOrTest) {
  auto e = load_error_of(std::string(R"({"train": [], "test": [)") + kGoodPair + "]}", "emptytrain");
  EXPECT_HAS(e, "emptytrain.json");
  EXPECT_HAS(e, "\"train\" is empty");
  e = load_error_of(std::string(R"({"train": [)") + kGoodPair + R"(], "test": []})", "emptytest");
  EXPECT_HAS(e, "emptytest.json");
  EXPECT_HAS(e, "\"test\" is empty");
}

TEST(ArcLoader, PairWithoutInput) {
  const auto e = load_error_of(std::string(R"({"train": [)") + kGoodPair + R"(], "test": [{"output": [[1]]}]})", "noinput");
  EXPECT_HAS(e, "noinput.json");
  EXPECT_HAS(e, "test[0]: no \"input\"");
}

TEST(ArcLoader, TrainPairWithoutOutput) {
  const auto e = load_error_of(std::string(R"({"train": [)") + kGoodPair + R"(, {"input": [[1]]}], "test": [)" + kGoodPair + "]}",
                               "nooutput");
  EXPECT_HAS(e, "nooutput.json");
  EXPECT_HAS(e, "train[1]: no \"output\"");
}

TEST(ArcLoader, GridNotAListOfListsOfInts) {
  auto e = load_error_of(task_with_train_input("5"), "notlist");
  EXPECT_HAS(e, "notlist.json");
  EXPECT_HAS(e, "train[0].input: expected a list of rows");
  e = load_error_of(task_with_train_input("[1, 2]"), "flat");
  EXPECT_HAS(e, "flat.json");
  EXPECT_HAS(e, "train[0].input row 0: expected a list of colours");
}

TEST(ArcLoader, EmptyGridOrEmptyRow) {
  auto e = load_error_of(task_with_train_input("[]"), "emptygrid");
  EXPECT_HAS(e, "emptygrid.json");
  EXPECT_HAS(e, "train[0].input: empty grid");
  e = load_error_of(task_with_train_input("[[1], []]"), "emptyrow");
  EXPECT_HAS(e, "emptyrow.json");
  EXPECT_HAS(e, "train[0].input row 1: empty row");
}

TEST(ArcLoader, RaggedRows) {
  const auto e = load_error_of(task_with_train_input("[[1, 2], [3, 4], [5]]"), "ragged");
  EXPECT_HAS(e, "ragged.json");
  EXPECT_HAS(e, "train[0].input row 2: 1 columns, row 0 has 2");
}

TEST(ArcLoader, MoreThanThirtyRowsOrColumns) {
  std::string tall = "[[1]";
  for (int i = 1; i < 31; ++i) tall += ",[1]";
  tall += "]";
  auto e = load_error_of(task_with_train_input(tall), "tall");
  EXPECT_HAS(e, "tall.json");
  EXPECT_HAS(e, "train[0].input: 31 rows, more than 30");
  std::string wide = "[[0";
  for (int i = 1; i < 31; ++i) wide += ",0";
  wide += "]]";
  e = load_error_of(task_with_train_input(wide), "wide");
  EXPECT_HAS(e, "wide.json");
  EXPECT_HAS(e, "train[0].input row 0: 31 columns, more than 30");
  // 30 x 30 itself is fine.
  std::string row = "[0";
  for (int i = 1; i < 30; ++i) row += ",0";
  row += "]";
  std::string full = "[" + row;
  for (int i = 1; i < 30; ++i) full += "," + row;
  full += "]";
  EXPECT_EQ(load_error_of(task_with_train_input(full), "full"), "");
}

TEST(ArcLoader, ColourOutsideZeroToNine) {
  const auto dir = temp_dir("colour");
  const auto path = write_task(dir, "abc", std::string(R"({"train": [)") + kGoodPair +
                                                 R"(, {"input": [[1]], "output": [[0, 0], [1, 1], [2, 12]]}], "test": [)" + kGoodPair + "]}");
  try {
    load_arc_task(path);
    FAIL() << "loaded colour 12";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": train[1].output row 2: colour 12 is outside 0-9");
  }
  const auto e = load_error_of(task_with_train_input("[[3, -1]]"), "negative");
  EXPECT_HAS(e, "negative.json");
  EXPECT_HAS(e, "train[0].input row 0: colour -1 is outside 0-9");
}

TEST(ArcLoader, NonIntegerCell) {
  for (const std::string cell : {"1.5", "\"3\"", "true", "null", "[1]"}) {
    const auto e = load_error_of(task_with_train_input("[[0, " + cell + "]]"), "nonint");
    EXPECT_HAS(e, "nonint.json");
    EXPECT_HAS(e, "train[0].input row 0: cell 1 is " + cell + ", not an integer colour");
  }
}

TEST(ArcLoader, DirSortedByIdWithIdFilterAndErrors) {
  const auto dir = temp_dir("dir");
  write_task(dir, "bbb", std::string(R"({"train": [)") + kGoodPair + R"(], "test": [)" + kGoodPair + "]}");
  write_task(dir, "aaa", std::string(R"({"train": [)") + kGoodPair + R"(], "test": [)" + kGoodPair + "]}");
  std::ofstream(dir / "notes.txt") << "not a task";
  const auto all = load_arc_dir(dir.string());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "aaa");
  EXPECT_EQ(all[1].id, "bbb");
  const auto some = load_arc_dir(dir.string(), {"bbb"});
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].id, "bbb");
  try {
    load_arc_dir(dir.string(), {"aaa", "ccc"});
    FAIL() << "loaded a missing id";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "ccc");
  }
  const auto missing = (dir / "nowhere").string();
  try {
    load_arc_dir(missing);
    FAIL() << "loaded a missing folder";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), missing);
  }
}

TEST(ArcLoader, IdListSkipsBlanksAndComments) {
  const auto path = (temp_dir("ids") / "training.txt").string();
  std::ofstream(path, std::ios::binary) << "# ARC-AGI-2\n00576224\r\n\n  \n  009d5c81  \n#skip\n";
  EXPECT_EQ(read_arc_id_list(path), (std::vector<std::string>{"00576224", "009d5c81"}));
  EXPECT_THROW(read_arc_id_list(path + ".missing"), InputError);
}

TEST(ArcLoader, GridJsonRoundTrip) {
  const auto g = grid_of({{0, 1}, {2, 3}});
  EXPECT_EQ(arc_grid_json(g), "[[0,1],[2,3]]");
  EXPECT_EQ(parse_arc_grid_json("[[0, 1], [2, 3]]", "here"), g);
  std::mt19937_64 rng(14);
  for (int i = 0; i < 20; ++i) {
    const auto r = random_shape_grid(30, rng);
    EXPECT_EQ(parse_arc_grid_json(arc_grid_json(r), "here"), r);
  }
  try {
    parse_arc_grid_json("[[1,2],[3]]", "submission.json: task x");
    FAIL() << "parsed a ragged grid";
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "submission.json: task x row 1");
  }
  EXPECT_THROW(parse_arc_grid_json("[[1,", "here"), InputError);
}

TEST(ArcLoader, OverlapBetweenTwoFolders) {
  const std::string pair = std::string(R"({"train": [)") + kGoodPair + R"(], "test": [)" + kGoodPair + "]}";
  const auto one = temp_dir("overlap_one"), two = temp_dir("overlap_two");
  write_task(one, "aaa", pair);
  write_task(one, "shared", pair);
  write_task(two, "shared", pair);
  write_task(two, "zzz", pair);
  const auto a = load_arc_dir(one.string()), b = load_arc_dir(two.string());
  EXPECT_EQ(overlapping_ids(a, b), (std::set<std::string>{"shared"}));
  testing::internal::CaptureStderr();
  EXPECT_EQ(warn_if_overlapping(a, b, "one", "two"), 1u);
  const auto logged = testing::internal::GetCapturedStderr();
  EXPECT_HAS(logged, "shared");
  EXPECT_EQ(warn_if_overlapping(a, load_arc_dir(one.string(), {"aaa"}), "one", "aaa only"), 1u);
  EXPECT_EQ(warn_if_overlapping(load_arc_dir(two.string(), {"zzz"}), load_arc_dir(one.string(), {"aaa"}), "z", "a"), 0u);
}

TEST(ArcLoader, RealDataSmoke) {
  const std::string root = "/work/shared/data";
  if (!fs::is_directory(root + "/arc1/training")) GTEST_SKIP() << "no ARC data under " << root;
  const auto training = load_arc_dir(root + "/arc1/training");
  size_t train_pairs = 0, test_pairs = 0;
  for (const auto& t : training) {
    train_pairs += t.train.size();
    test_pairs += t.test.size();
  }
  EXPECT_EQ(training.size(), 400u);
  EXPECT_EQ(train_pairs, 1302u);
  EXPECT_EQ(test_pairs, 416u);
  if (!fs::is_directory(root + "/arc2/training") || !fs::is_directory(root + "/arc1/evaluation")) return;
  EXPECT_EQ(overlapping_ids(load_arc_dir(root + "/arc2/training"), load_arc_dir(root + "/arc1/evaluation")).size(), 376u);
}
