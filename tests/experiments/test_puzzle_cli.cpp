// `beyond sudoku ...` and `beyond maze ...` end to end: outputs, exit codes and one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "experiments/puzzle_commands.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = fresh_temp_dir("puzzle_cli_" + name);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(PuzzleCli, EveryHelpHasAnExample) {
  // In process (each `beyond` start costs half a second of LibTorch loading), then one end to end.
  CLI::App app;
  beyond::PuzzleCli cli(app);
  for (const std::string family : {"sudoku", "maze"}) {
    auto* top = app.get_subcommand(family);
    EXPECT_NE(top->help().find("Example: beyond " + family), std::string::npos) << top->help();
    const auto subs = top->get_subcommands([](CLI::App*) { return true; });
    EXPECT_EQ(subs.size(), family == "sudoku" ? 4u : 2u);
    for (auto* sub : subs) {
      EXPECT_NE(sub->help().find("Example: beyond " + family + " " + sub->get_name()), std::string::npos) << sub->help();
    }
  }
  const auto r = run_beyond("sudoku generate --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(output_has(r, "Example: beyond sudoku generate")) << r.output;
}

TEST(PuzzleCli, BadSizesExitWith2) {
  auto r = run_beyond("sudoku generate --size 5 --givens 10");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "error: --size 5: a sudoku is 4, 6 or 9 cells wide")) << r.output;
  r = run_beyond("sudoku generate --size 4 --givens 3");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "--givens 3 out of range for a 4x4 (2x2 boxes) sudoku")) << r.output;
  for (const char* size : {"10", "31"}) {
    r = run_beyond(std::string("maze generate --size ") + size);
    EXPECT_EQ(r.code, 2) << size;
    EXPECT_TRUE(output_has(r, std::string("error: --size ") + size + ": a maze is 11 to 30 cells wide")) << r.output;
  }
}

TEST(PuzzleCli, SudokuGenerateSolveRateShow) {
  const auto dir = temp_dir("sudoku");
  const std::string a = dir + "/a.csv", b = dir + "/b.csv";
  auto r = run_beyond("sudoku generate --size 6 --givens 14 --count 5 --seed 3 --out " + a);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "generated 5 6x6 (2x3 boxes) sudokus with 14 givens")) << r.output;
  ASSERT_EQ(run_beyond("sudoku generate --size 6 --givens 14 --count 5 --seed 3 --out " + b).code, 0);
  const std::string text = read_text(a);
  EXPECT_EQ(text, read_text(b));  // the same seed gives the same file
  EXPECT_EQ(text.rfind("source,question,answer,rating\ngenerated_6x6_seed3,", 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 6);

  r = run_beyond("sudoku solve " + a);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, a + ":2 unique nodes=")) << r.output;
  EXPECT_TRUE(output_has(r, "5 puzzles, 5 with a unique solution")) << r.output;

  r = run_beyond("sudoku rate " + a);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "5 6x6 (2x3 boxes) puzzles, givens mean 14.0")) << r.output;
  EXPECT_TRUE(output_has(r, "unique: 5, no solution: 0, several: 0")) << r.output;

  r = run_beyond("sudoku solve 1...............");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "solutions: 2+ (several solutions")) << r.output;
  r = run_beyond("sudoku solve 12........3...4.");
  EXPECT_TRUE(output_has(r, "solutions: 0 (no solution")) << r.output;

  r = run_beyond("sudoku show ...221.43.2..... --solve");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "+-----+-----+\n| . . | . 2 |\n| 2 1 | . 4 |\n")) << r.output;
  EXPECT_TRUE(output_has(r, "solution (unique")) << r.output;
  r = run_beyond("sudoku show " + a + " --index 4");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, a + ":6: 6x6 (2x3 boxes), 14 givens")) << r.output;
  r = run_beyond("sudoku show " + a + " --index 5");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(PuzzleCli, MalformedSudokuFilesExitWith2) {
  const auto dir = temp_dir("malformed");
  const std::string lines = dir + "/p.txt";
  std::ofstream(lines) << "1.3...2.......4.\n1.3...2.......4\n";
  for (const std::string cmd : {"solve", "rate"}) {  // show reads only up to its --index
    const auto r = run_beyond("sudoku " + cmd + " " + lines);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.output;
    EXPECT_TRUE(output_has(r, "error: " + lines + ":2: 15 characters, expected 16")) << r.output;
  }
  const std::string csv = dir + "/p.csv";
  std::ofstream(csv) << "source,question,answer,rating\ns,1.3...2.......4.,1234341221434321\n";
  auto r = run_beyond("sudoku rate " + csv);
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, csv + ":2: 3 fields, expected 4")) << r.output;
  r = run_beyond("sudoku solve 1.3x");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "neither a file nor a sudoku string")) << r.output;
  r = run_beyond("sudoku solve 1.3...2.......4x");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "puzzle: bad character 'x' at position 16")) << r.output;
}

TEST(PuzzleCli, MazeGenerateAndShow) {
  const auto dir = temp_dir("maze");
  const std::string file = dir + "/m.csv";
  auto r = run_beyond("maze generate --size 13 --count 3 --seed 5 --out " + file);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "generated 3 13x13 mazes")) << r.output;
  const std::string text = read_text(file);
  EXPECT_EQ(text.rfind("source,question,answer,rating\ngenerated_13x13_seed5,#############", 0), 0u) << text;

  // Maze 2 of the file and maze 2 regenerated from the same size and seed are the same picture.
  const auto from_file = run_beyond("maze show " + file + " --index 2");
  const auto from_index = run_beyond("maze show 2 --size 13 --seed 5");
  ASSERT_EQ(from_file.code, 0) << from_file.output;
  ASSERT_EQ(from_index.code, 0) << from_index.output;
  const auto picture = [](const std::string& s) { return s.substr(s.find('\n') + 1); };
  EXPECT_EQ(picture(from_file.output), picture(from_index.output));
  EXPECT_TRUE(output_has(from_file, "13x13, shortest path")) << from_file.output;
  EXPECT_TRUE(output_has(from_file, "o ")) << from_file.output;
  EXPECT_FALSE(output_has(run_beyond("maze show 2 --size 13 --seed 5 --no-path"), "o "));

  r = run_beyond("maze show nonsense");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "'nonsense' is neither a maze CSV file nor a maze index")) << r.output;
  std::ofstream(dir + "/bad.csv") << "source,question,answer,rating\ns,#SG##,#SG##,1\n";
  r = run_beyond("maze show " + dir + "/bad.csv");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "bad.csv:2: question has 5 characters")) << r.output;
}
