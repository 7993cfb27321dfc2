// The puzzle experiments end to end: `beyond run` for sudoku (generated and from files) and maze,
// `beyond eval RUN --steps N`, `beyond sudoku show --model`, `beyond sweep`, and their errors.
// Tiny models and budgets: these check plumbing and reports, not accuracy.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "recursive/puzzles/sudoku.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

const std::string kSource = BEYOND_SOURCE_DIR;

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// A tiny 4x4 TRM run: seconds, not minutes.
const std::string kTiny4 =
    " model.d_model=16 model.n_heads=2 model.h_cycles=2 model.l_cycles=1 model.halt_max_steps=3"
    " task.train_puzzles=50 task.test_puzzles=20 train.steps=6 train.batch_size=8 train.eval_every=6"
    " train.checkpoint_every=3 train.log_every=3 train.warmup_steps=0 eval.batch_size=16";

std::string tiny_sudoku_run(const std::string& dir, const std::string& extra = "") {
  const auto r = run_beyond("run " + kSource + "/experiments/configs/sudoku4_trm.toml run.dir=" + dir + kTiny4 + extra);
  EXPECT_EQ(r.code, 0) << r.output;
  return r.output;
}

}  // namespace

TEST(PuzzleExperiment, SudokuRunWritesAccuracyAndReport) {
  const auto dir = fresh_temp_dir("sudoku_run");
  tiny_sudoku_run(dir);
  const auto summary = read_json(dir + "/summary.json");
  for (const char* key : {"exact_accuracy", "cell_accuracy", "mean_halt_step", "parameters"}) {
    ASSERT_TRUE(summary.contains(key)) << key;
    EXPECT_GE(summary[key].get<double>(), 0.0) << key;
  }
  EXPECT_LE(summary["cell_accuracy"].get<double>(), 1.0);
  const std::string report = read_text(dir + "/report.md");
  EXPECT_NE(report.find("by test-time supervision step"), std::string::npos) << report;
  EXPECT_NE(report.find("| 3 |"), std::string::npos) << report;  // one row per supervision step
  EXPECT_NE(report.find("Accuracy by difficulty"), std::string::npos) << report;
  // Per-difficulty accuracies are aggregated separately from the overall ones: with a single
  // group (tiny 4x4 puzzles all solve by propagation) they must agree.
  std::vector<std::string> groups;
  for (const auto& [key, value] : summary.items())
    if (key.rfind("cell_accuracy[", 0) == 0) groups.push_back(key.substr(14, key.size() - 15));
  ASSERT_FALSE(groups.empty());
  if (groups.size() == 1) {
    EXPECT_NEAR(summary["cell_accuracy[" + groups[0] + "]"].get<double>(), summary["cell_accuracy"].get<double>(), 1e-9);
    EXPECT_NEAR(summary["exact_accuracy[" + groups[0] + "]"].get<double>(), summary["exact_accuracy"].get<double>(), 1e-9);
  }
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, EvalChangesTheTestTimeSteps) {
  const auto dir = fresh_temp_dir("sudoku_eval");
  tiny_sudoku_run(dir);
  const auto r = run_beyond("eval " + dir + " --steps 5");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto e = read_json(dir + "/eval_steps_5.json");
  ASSERT_EQ(e["exact_by_step"].size(), 5u);
  EXPECT_EQ(e["supervision_steps"].get<double>(), 5.0);
  EXPECT_EQ(e["checkpoint_step"].get<double>(), 6.0);
  // The first 3 steps of a 5-step evaluation are the run's own 3-step evaluation (same weights).
  const auto summary = read_json(dir + "/summary.json");
  const auto e3 = run_beyond("eval " + dir);
  ASSERT_EQ(e3.code, 0) << e3.output;
  const auto j3 = read_json(dir + "/eval_steps_3.json");
  EXPECT_DOUBLE_EQ(j3["exact_accuracy"].get<double>(), summary["exact_accuracy"].get<double>());
  EXPECT_DOUBLE_EQ(j3["cell_accuracy"].get<double>(), summary["cell_accuracy"].get<double>());
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(e["exact_by_step"][i].get<double>(), j3["exact_by_step"][i].get<double>());
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, ShowModelTracesEveryStep) {
  const auto dir = fresh_temp_dir("sudoku_show");
  tiny_sudoku_run(dir);
  std::mt19937_64 rng(3);
  beyond::SudokuGenerateOptions opt;
  opt.givens = 6;
  const auto g = beyond::generate_sudoku(beyond::SudokuShape::for_size(4), opt, rng);
  const auto r = run_beyond("sudoku show " + g.puzzle.to_string() + " --model " + dir + " --steps 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "checkpoint step 6")) << r.output;
  EXPECT_TRUE(output_has(r, "step 1: ")) << r.output;
  EXPECT_TRUE(output_has(r, "step 2: ")) << r.output;
  EXPECT_FALSE(output_has(r, "step 3: ")) << r.output;
  EXPECT_TRUE(output_has(r, "halt logit")) << r.output;
  // The question plus one grid per step, each with 3 borders for 2 bands of a 4x4.
  size_t borders = 0;
  for (size_t p = r.output.find("+-----+-----+"); p != std::string::npos; p = r.output.find("+-----+-----+", p + 1)) ++borders;
  EXPECT_EQ(borders, 9u) << r.output;
  // A 9x9 puzzle for a 4x4 model is refused.
  const auto bad = run_beyond("sudoku show 4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........ --model " + dir);
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(output_has(bad, "was trained on 16-cell puzzles; this puzzle has 81")) << bad.output;
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, Errors) {
  auto r = run_beyond("eval /nonexistent/run");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "error: '/nonexistent/run' is not a run folder (no config.toml)")) << r.output;
  r = run_beyond("run " + kSource + "/experiments/configs/sudoku4_trm.toml model.kind=trn");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "model.kind")) << r.output;
  r = run_beyond("run " + kSource + "/experiments/configs/sudoku9_trm.toml 'task.files=[\"/nonexistent.txt\"]'");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "puzzle file '/nonexistent.txt' not found")) << r.output;
}

TEST(PuzzleExperiment, SudokuFromFilesHoldsOutAFixedSubset) {
  const auto dir = fresh_temp_dir("sudoku_files");
  fs::create_directories(dir);
  // 30 generated 9x9 puzzles in the tdoku one-per-line layout, one of them twice.
  std::mt19937_64 rng(5);
  beyond::SudokuGenerateOptions opt;
  opt.givens = 30;
  std::ofstream f(dir + "/puzzles.txt");
  f << "# a comment line\n";
  std::string first;
  for (int i = 0; i < 30; ++i) {
    const auto g = beyond::generate_sudoku(beyond::SudokuShape::for_size(9), opt, rng);
    if (i == 0) first = g.puzzle.to_string();
    f << g.puzzle.to_string() << "\n";
  }
  f << first << "\n";
  f.close();
  const std::string run = dir + "/run";
  const auto r = run_beyond("run " + kSource + "/experiments/configs/sudoku9_trm.toml run.dir=" + run + " 'task.files=[\"" + dir +
                            "/puzzles.txt\"]' task.test_puzzles=10 task.train_puzzles=100 model.d_model=16 model.n_heads=2"
                            " model.h_cycles=1 model.l_cycles=1 model.halt_max_steps=2 train.steps=2 train.batch_size=4"
                            " train.eval_every=2 train.warmup_steps=0 train.log_every=1");
  ASSERT_EQ(r.code, 0) << r.output;
  // 31 lines, 30 distinct puzzles: 10 held out, the other 20 for training.
  EXPECT_TRUE(output_has(r, "20 train and 10 held-out puzzles")) << r.output;
  EXPECT_TRUE(read_json(run + "/summary.json").contains("exact_accuracy"));
  // Too few puzzles for the held-out set is an error naming the key.
  const auto bad = run_beyond("run " + kSource + "/experiments/configs/sudoku9_trm.toml run.dir=" + dir + "/bad 'task.files=[\"" +
                              dir + "/puzzles.txt\"]' task.test_puzzles=40");
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(output_has(bad, "usable held-out puzzles; task.test_puzzles asks for 40")) << bad.output;
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, MazeRunWritesAccuracy) {
  const auto dir = fresh_temp_dir("maze_run");
  const auto r = run_beyond("run " + kSource + "/experiments/configs/maze_trm.toml run.dir=" + dir +
                            " model.d_model=16 model.n_heads=2 model.h_cycles=1 model.l_cycles=1 model.halt_max_steps=2"
                            " task.train_puzzles=20 task.test_puzzles=8 train.steps=2 train.batch_size=4 train.eval_every=2"
                            " train.warmup_steps=0 train.log_every=1");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto summary = read_json(dir + "/summary.json");
  EXPECT_TRUE(summary.contains("exact_accuracy"));
  EXPECT_TRUE(summary.contains("cell_accuracy"));
  EXPECT_NE(read_text(dir + "/report.md").find("Accuracy by difficulty"), std::string::npos);
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, SweepRunsVariantsAndComparesThem) {
  const auto dir = fresh_temp_dir("sweep");
  fs::create_directories(dir);
  std::ofstream f(dir + "/sweep.toml");
  f << "[sweep]\nbase = \"" << kSource << "/experiments/configs/sudoku4_trm.toml\"\ndir = \"" << dir << "/runs\"\n"
    << "order = [\"ref\", \"no_ema\"]\njobs = 2\ntest_time_steps = 4\n"
    << "[variants.ref]\nlabel = \"reference\"\npaper = 87.4\noverrides = [";
  std::istringstream words(kTiny4);
  std::string w, list;
  while (words >> w) list += (list.empty() ? "\"" : ", \"") + w + "\"";
  f << list << "]\n[variants.no_ema]\nlabel = \"without EMA\"\npaper = 79.9\noverrides = [" << list << ", \"train.ema=0\"]\n";
  f.close();
  auto r = run_beyond("sweep " + dir + "/sweep.toml");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string report = read_text(dir + "/runs/report.md");
  EXPECT_NE(report.find("| reference |"), std::string::npos) << report;
  EXPECT_NE(report.find("| without EMA |"), std::string::npos) << report;
  EXPECT_NE(report.find("| 87.4 |"), std::string::npos) << report;
  EXPECT_NE(report.find("accuracy against test-time supervision steps"), std::string::npos) << report;
  EXPECT_TRUE(fs::exists(dir + "/runs/ref/eval_steps_4.json"));
  // A second sweep finds both finished and only rewrites the report.
  r = run_beyond("sweep " + dir + "/sweep.toml");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "no_ema already finished")) << r.output;
  // A variant listed in order without its table is an error naming it.
  r = run_beyond("sweep " + dir + "/sweep.toml 'sweep.order=[\"ref\",\"missing\"]'");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(output_has(r, "sweep.order names 'missing' but there is no [variants.missing] table")) << r.output;
  fs::remove_all(dir);
}

TEST(PuzzleExperiment, PaperRecipesResolve) {
  // The GPU recipes are complete configs: with their data files pointed at a tiny stand-in, every
  // key resolves (config show checks types, ranges and unknown keys).
  const auto dir = fresh_temp_dir("paper");
  fs::create_directories(dir);
  std::ofstream(dir + "/s.txt") << "4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........\n";
  std::ofstream(dir + "/m.csv") << "source,question,answer,rating\n";
  for (const char* name : {"sudoku_extreme_trm_mlp", "sudoku_extreme_trm_att", "sudoku_extreme_hrm"}) {
    const auto r = run_beyond("config show " + kSource + "/experiments/configs/paper/" + name + ".toml 'task.files=[\"" + dir +
                              "/s.txt\"]' 'task.test_files=[\"" + dir + "/s.txt\"]'");
    EXPECT_EQ(r.code, 0) << name << ": " << r.output;
    EXPECT_TRUE(output_has(r, "d_model = 512")) << r.output;
  }
  const auto r = run_beyond("config show " + kSource + "/experiments/configs/paper/maze_hard_trm_att.toml task.train_file=" + dir +
                            "/m.csv task.test_file=" + dir + "/m.csv");
  EXPECT_EQ(r.code, 0) << r.output;
  fs::remove_all(dir);
}
