// `beyond arc show` end to end on a small task written here: the exact digit rows, the ANSI colour
// of known cells, predictions marked right or wrong, and one-line errors with exit code 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>

#include "experiments/arc_command.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  const auto dir = fresh_temp_dir("arc_cli");
  fs::create_directories(dir);
  return dir;
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Two train pairs, a test pair with its output and one without.
const char* kTask = R"({
  "train": [{"input": [[1, 2], [3, 4]], "output": [[5, 6, 7]]},
            {"input": [[0]], "output": [[8], [9]]}],
  "test": [{"input": [[2, 2]], "output": [[3, 3], [4, 4]]},
           {"input": [[6]]}]
})";

}  // namespace

TEST(ArcCli, HelpHasAnExample) {
  CLI::App app;
  beyond::ArcCli cli(app);
  auto* arc = app.get_subcommand("arc");
  EXPECT_NE(arc->help().find("Example: beyond arc show"), std::string::npos) << arc->help();
  EXPECT_NE(arc->get_subcommand("show")->help().find("Example: beyond arc show"), std::string::npos);
}

TEST(ArcCli, ShowPrintsDigitRowsWithoutColour) {
  const auto task = write(temp_dir() + "/t1.json", kTask);
  const auto r = run_beyond("arc show " + task + " --color never");
  ASSERT_EQ(r.code, 0) << r.output;
  // Each cell as its digit and a space (two columns, like a coloured cell), grids 3 spaces apart,
  // trailing blanks trimmed; a shorter grid leaves its columns blank.
  const std::string expected =
      "task t1: 2 train pairs, 2 test inputs\n"
      "\n"
      "train 1/2: 2x2 -> 1x3\n"
      "1 2    5 6 7\n"
      "3 4\n"
      "\n"
      "train 2/2: 1x1 -> 2x1\n"
      "0    8\n"
      "     9\n"
      "\n"
      "test 1/2: 1x2 -> 2x2\n"
      "2 2    3 3\n"
      "       4 4\n"
      "\n"
      "test 2/2: 1x1 -> ? (no output in the file)\n"
      "6\n";
  EXPECT_EQ(r.output, expected);
  // Not a terminal, so auto means no colour.
  EXPECT_EQ(run_beyond("arc show " + task).output, expected);
}

TEST(ArcCli, ShowColoursCellsWithThePalette) {
  const auto task = write(temp_dir() + "/t1.json", kTask);
  const auto r = run_beyond("arc show " + task + " --color always");
  ASSERT_EQ(r.code, 0) << r.output;
  // Row 0 of train 1's input: blue (1, #0074D9) then red (2, #FF4136), then the colour reset.
  EXPECT_TRUE(output_has(r, "\x1b[48;2;0;116;217m  \x1b[48;2;255;65;54m  \x1b[0m")) << r.output;
  EXPECT_TRUE(output_has(r, "\x1b[48;2;135;12;37m  ")) << r.output;   // 9 maroon #870C25
  EXPECT_TRUE(output_has(r, "\x1b[48;2;127;219;255m  ")) << r.output;  // 8 light blue #7FDBFF
  EXPECT_FALSE(output_has(r, "1 2")) << r.output;
}

TEST(ArcCli, PredictionsMarkedRightOrWrong) {
  const auto dir = temp_dir();
  const auto task = write(dir + "/t1.json", kTask);
  // attempt_1 right, attempt_2 wrong for test 1; test 2 has no output.
  const auto good = write(dir + "/good.json", R"({"other": [], "t1": [{"attempt_1": [[3, 3], [4, 4]], "attempt_2": [[0]]},
                                                                     {"attempt_1": [[6]], "attempt_2": [[6]]}]})");
  auto r = run_beyond("arc show " + task + " --color never --prediction " + good);
  ASSERT_EQ(r.code, 0) << r.output;
  // Labels over the grids: each column as wide as its label or its grid, whichever is wider.
  EXPECT_TRUE(output_has(r, "test 1/2: 1x2 -> 2x2\n"
                            "input   output   attempt 1   attempt 2\n"
                            "2 2     3 3      3 3         0\n"
                            "        4 4      4 4\n"
                            "attempt 1 right, attempt 2 wrong\n"))
      << r.output;
  EXPECT_TRUE(output_has(r, "input   attempt 1   attempt 2\n"
                            "6       6           6\n"
                            "no output to compare\n"))
      << r.output;
  EXPECT_TRUE(output_has(r, "solved 1 of 1 test inputs")) << r.output;

  const auto bad = write(dir + "/bad.json", R"({"t1": [{"attempt_1": [[3, 3], [4, 5]], "attempt_2": [[3, 3], [4, 4]]},
                                                        {"attempt_1": [[6]], "attempt_2": [[6]]}]})");
  r = run_beyond("arc show " + task + " --color never --prediction " + bad);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "attempt 1 wrong, attempt 2 right")) << r.output;

  // A file holding one grid: the prediction for test input 1.
  const auto one = write(dir + "/one.json", "[[3, 3], [4, 4]]");
  r = run_beyond("arc show " + task + " --color never --prediction " + one);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "\nattempt 1 right\n")) << r.output;
  const auto wrong = write(dir + "/wrong.json", "[[3, 3]]");
  EXPECT_TRUE(output_has(run_beyond("arc show " + task + " --color never --prediction " + wrong), "\nattempt 1 wrong\n"));
}

TEST(ArcCli, BadInputExitsWith2) {
  const auto dir = temp_dir();
  const auto task = write(dir + "/t1.json", kTask);
  auto fails = [](const std::string& args, const std::string& message) {
    const auto r = run_beyond(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_TRUE(output_has(r, "error: ")) << r.output;
    EXPECT_TRUE(output_has(r, message)) << args << "\n" << r.output;
  };
  fails("arc show " + dir + "/missing.json", dir + "/missing.json");
  const auto colour12 = write(dir + "/c12.json", R"({"train": [{"input": [[1]], "output": [[12]]}], "test": [{"input": [[1]]}]})");
  fails("arc show " + colour12, colour12 + ": train[0].output row 0: colour 12 is outside 0-9");
  fails("arc show " + write(dir + "/notjson.json", "{\"train\": ["), dir + "/notjson.json: not JSON");
  fails("arc show " + task + " --color pink", "--color pink: expected auto, always or never");

  fails("arc show " + task + " --prediction " + dir + "/nothing.json", dir + "/nothing.json: cannot open the prediction file");
  const auto other = write(dir + "/other.json", R"({"t2": [{"attempt_1": [[1]]}]})");
  fails("arc show " + task + " --prediction " + other, other + ": no entry for task t1");
  const auto short_entry = write(dir + "/short.json", R"({"t1": [{"attempt_1": [[1]]}]})");
  fails("arc show " + task + " --prediction " + short_entry, short_entry + ": t1 has 1 test entries, the task has 2 test inputs");
  const auto bad_grid = write(dir + "/badgrid.json", R"({"t1": [{"attempt_1": [[1, 2], [3]]}, {"attempt_1": [[1]]}]})");
  fails("arc show " + task + " --prediction " + bad_grid, bad_grid + ": t1[0].attempt_1 row 1: 1 columns, row 0 has 2");
  fails("arc show " + task + " --prediction " + write(dir + "/colour.json", "[[1, 10]]"), "colour 10 is outside 0-9");
}
