// The ARC experiment end to end on tasks written here (3x3 grids): `beyond run` writes pass@K,
// submission.json and the report; `beyond eval RUN` reproduces the run's own numbers; a resumed
// run equals an uninterrupted one (the puzzle embeddings are checkpointed); overlapping task ids
// warn; bad input exits 2. Tiny models and budgets: these check plumbing, not accuracy.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

const std::string kSource = BEYOND_SOURCE_DIR;

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// Three tasks with a rule each (flip left-right, recolour 1 -> 2, transpose); 3 demos, 1 or 2 tests.
std::string write_tasks(const std::string& dir) {
  fs::create_directories(dir);
  const auto pair = [](const std::string& in, const std::string& out) {
    return "{\"input\": " + in + ", \"output\": " + out + "}";
  };
  std::ofstream(dir + "/flip.json") << "{\"train\": [" << pair("[[1,2,0],[0,3,0],[4,0,0]]", "[[0,2,1],[0,3,0],[0,0,4]]")
                                    << "," << pair("[[5,0,0],[0,6,7],[0,0,8]]", "[[0,0,5],[7,6,0],[8,0,0]]") << ","
                                    << pair("[[9,9,0],[1,0,0],[0,0,2]]", "[[0,9,9],[0,0,1],[2,0,0]]") << "], \"test\": ["
                                    << pair("[[3,0,0],[0,0,4],[5,6,0]]", "[[0,0,3],[4,0,0],[0,6,5]]") << "]}";
  std::ofstream(dir + "/recolour.json") << "{\"train\": [" << pair("[[1,0,0],[0,1,0],[0,0,3]]", "[[2,0,0],[0,2,0],[0,0,3]]")
                                        << "," << pair("[[1,1,0],[4,0,0],[0,0,0]]", "[[2,2,0],[4,0,0],[0,0,0]]") << ","
                                        << pair("[[0,0,1],[0,5,1],[0,0,0]]", "[[0,0,2],[0,5,2],[0,0,0]]") << "], \"test\": ["
                                        << pair("[[1,0,1],[0,6,0],[1,0,0]]", "[[2,0,2],[0,6,0],[2,0,0]]") << ","
                                        << pair("[[0,1],[1,7]]", "[[0,2],[2,7]]") << "]}";
  std::ofstream(dir + "/transpose.json") << "{\"train\": [" << pair("[[1,2],[0,0]]", "[[1,0],[2,0]]") << ","
                                         << pair("[[3,0,4],[0,0,0]]", "[[3,0],[0,0],[4,0]]") << ","
                                         << pair("[[5],[6],[7]]", "[[5,6,7]]") << "], \"test\": ["
                                         << pair("[[8,9,0]]", "[[8],[9],[0]]") << "]}";
  return dir;
}

std::string tiny(const std::string& tasks, const std::string& run_dir) {
  return "run " + kSource + "/experiments/configs/arc_trm_cpu.toml run.dir=" + run_dir +
         " task.evaluation_dir=" + tasks +
         " task.evaluation_ids=[] task.max_grid=3 task.canvas=4 task.augmentations=3"
         " model.d_model=16 model.n_heads=2 model.h_cycles=2 model.l_cycles=1 model.halt_max_steps=3"
         " model.puzzle_emb_len=2 train.steps=6 train.batch_size=8 train.warmup_steps=0 train.eval_every=0"
         " train.checkpoint_every=3 train.log_every=3 eval.batch_size=16 eval.steps=3";
}

}  // namespace

TEST(ArcExperiment, RunWritesPassAtKSubmissionAndReport) {
  const auto tasks = write_tasks(fresh_temp_dir("arc_tasks"));
  const auto dir = fresh_temp_dir("arc_run");
  const auto r = run_beyond(tiny(tasks, dir));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto summary = read_json(dir + "/summary.json");
  for (const char* key : {"pass_at_1", "pass_at_2", "variant_exact_accuracy", "variant_cell_accuracy"}) {
    ASSERT_TRUE(summary.contains(key)) << key;
    EXPECT_GE(summary[key].get<double>(), 0.0) << key;
    EXPECT_LE(summary[key].get<double>(), 1.0) << key;
  }
  EXPECT_LE(summary["pass_at_1"].get<double>(), summary["pass_at_2"].get<double>());
  EXPECT_EQ(summary["tasks_scored"].get<double>(), 3.0);
  EXPECT_EQ(summary["overlapping_task_ids"].get<double>(), 0.0);

  // submission.json: every task, one entry per test input, two attempts of colours 0-9.
  const auto sub = read_json(dir + "/submission.json");
  ASSERT_EQ(sub.size(), 3u);
  EXPECT_EQ(sub["flip"].size(), 1u);
  EXPECT_EQ(sub["recolour"].size(), 2u);
  EXPECT_EQ(sub["transpose"].size(), 1u);
  for (const auto& [id, entries] : sub.items())
    for (const auto& e : entries)
      for (const char* attempt : {"attempt_1", "attempt_2"}) {
        ASSERT_TRUE(e.contains(attempt)) << id;
        for (const auto& row : e[attempt])
          for (const auto& v : row) EXPECT_TRUE(v.get<int>() >= 0 && v.get<int>() <= 9) << id;
      }
  const std::string report = read_text(dir + "/report.md");
  for (const char* text : {"pass@K", "| flip |", "| recolour |", "| transpose |", "submission.json"})
    EXPECT_NE(report.find(text), std::string::npos) << text << "\n" << report;
  fs::remove_all(dir);
  // Without augmentations, the floor of copying the input board as the answer, worked out by hand
  // on the 4x4 boards (grid cells plus the EOS border): flip 9/15, recolour 12/15 and 6/8,
  // transpose 2/7 (only cell (0,0) and one EOS cell agree).
  const auto plain = run_beyond(tiny(tasks, dir) + " task.augmentations=0 train.steps=2");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_NEAR(read_json(dir + "/summary.json")["copy_input_cell_accuracy"].get<double>(),
              (9.0 / 15 + 12.0 / 15 + 6.0 / 8 + 2.0 / 7) / 4, 1e-9);
  fs::remove_all(dir);
  fs::remove_all(tasks);
}

TEST(ArcExperiment, EvalReproducesTheRunAndResumeMatchesAnUninterruptedRun) {
  const auto tasks = write_tasks(fresh_temp_dir("arc_tasks2"));
  const auto whole = fresh_temp_dir("arc_whole"), halves = fresh_temp_dir("arc_halves");
  ASSERT_EQ(run_beyond(tiny(tasks, whole)).code, 0);
  const auto first = run_beyond(tiny(tasks, halves) + " train.stop_at_step=3");
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_FALSE(fs::exists(halves + "/summary.json"));
  const auto second = run_beyond(tiny(tasks, halves));
  ASSERT_EQ(second.code, 0) << second.output;
  const auto a = read_json(whole + "/summary.json"), b = read_json(halves + "/summary.json");
  for (const char* key : {"pass_at_1", "pass_at_2", "variant_exact_accuracy", "variant_cell_accuracy"})
    EXPECT_DOUBLE_EQ(a[key].get<double>(), b[key].get<double>()) << key;
  EXPECT_EQ(read_text(whole + "/submission.json"), read_text(halves + "/submission.json"));
  // `beyond eval` on the finished run: the same weights give the same vote.
  const auto e = run_beyond("eval " + whole);
  ASSERT_EQ(e.code, 0) << e.output;
  const auto again = read_json(whole + "/eval_steps_3.json");
  EXPECT_DOUBLE_EQ(again["pass_at_2"].get<double>(), a["pass_at_2"].get<double>());
  EXPECT_DOUBLE_EQ(again["variant_cell_accuracy"].get<double>(), a["variant_cell_accuracy"].get<double>());
  EXPECT_EQ(read_text(whole + "/submission_steps_3.json"), read_text(whole + "/submission.json"));
  for (const auto& d : {whole, halves, tasks}) fs::remove_all(d);
}

TEST(ArcExperiment, TrainingOnTheEvaluationTasksWarns) {
  const auto tasks = write_tasks(fresh_temp_dir("arc_tasks3"));
  const auto dir = fresh_temp_dir("arc_overlap");
  const auto r = run_beyond(tiny(tasks, dir) + " 'task.training_dirs=[\"" + tasks + "\"]' train.steps=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "overlap")) << r.output;
  EXPECT_EQ(read_json(dir + "/summary.json")["overlapping_task_ids"].get<double>(), 3.0);
  EXPECT_NE(read_text(dir + "/report.md").find("contaminated"), std::string::npos);
  fs::remove_all(dir);
  fs::remove_all(tasks);
}

TEST(ArcExperiment, BadInputExitsTwoNamingTheProblem) {
  const auto tasks = write_tasks(fresh_temp_dir("arc_tasks4"));
  const auto dir = fresh_temp_dir("arc_bad");
  const auto no_dir = run_beyond(tiny(tasks, dir) + " task.evaluation_dir=" + tasks + "/nowhere");
  EXPECT_EQ(no_dir.code, 2) << no_dir.output;
  EXPECT_TRUE(output_has(no_dir, "nowhere")) << no_dir.output;
  const auto small_canvas = run_beyond(tiny(tasks, dir) + " task.canvas=2");
  EXPECT_EQ(small_canvas.code, 2) << small_canvas.output;
  EXPECT_TRUE(output_has(small_canvas, "task.canvas")) << small_canvas.output;
  const auto missing_id = run_beyond(tiny(tasks, dir) + " 'task.evaluation_ids=[\"nosuch\"]'");
  EXPECT_EQ(missing_id.code, 2) << missing_id.output;
  EXPECT_TRUE(output_has(missing_id, "nosuch")) << missing_id.output;
  std::ofstream(tasks + "/broken.json") << "{\"train\": [{\"input\": [[1,2],[3]], \"output\": [[1]]}], \"test\": []}";
  const auto broken = run_beyond(tiny(tasks, dir));
  EXPECT_EQ(broken.code, 2) << broken.output;
  EXPECT_TRUE(output_has(broken, "broken.json")) << broken.output;
  fs::remove_all(dir);
  fs::remove_all(tasks);
}
