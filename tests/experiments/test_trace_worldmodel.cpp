// The trace_worldmodel experiment end to end on its smoke config
// (experiments/configs/trace_worldmodel_tiny.toml), and `beyond trace check` on the run:
//  - a run stopped early (train.stop_at_step) resumes from its checkpoint, then finishes with
//    every summary key, the report and its plots; a second `beyond run` reuses the sub-runs;
//  - an unknown config key exits 2 naming the key;
//  - trace_check_command (and `beyond trace check`) prints the interpreter's and the model's
//    frames and where they part, and rejects bad runs, programs and calls with InputError (exit 2).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "experiments/runner.h"
#include "experiments/worldmodel/trace_check.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

const std::string kConfig = std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/trace_worldmodel_tiny.toml";

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// One tiny run shared by the tests of this file (trained once, in SetUpTestSuite).
class TraceWorldModelRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_temp_dir("trace_worldmodel");
    fs::create_directories(dir_);
    run_ = dir_ + "/run";
    // Stopped at step 10 of the first sub-run (the full-trace model), as if interrupted.
    first_ = run_beyond("run " + kConfig + " run.dir=" + run_ + " train.stop_at_step=10");
    stopped_summary_ = fs::exists(run_ + "/summary.json");
    // The same command without the stop resumes it and trains the rest.
    second_ = run_beyond("run " + kConfig + " run.dir=" + run_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string dir_, run_;
  static CliResult first_, second_;
  static bool stopped_summary_;
};

std::string TraceWorldModelRun::dir_, TraceWorldModelRun::run_;
CliResult TraceWorldModelRun::first_, TraceWorldModelRun::second_;
bool TraceWorldModelRun::stopped_summary_ = false;

}  // namespace

TEST_F(TraceWorldModelRun, ResumesThenWritesEverySummaryKeyReportAndPlots) {
  ASSERT_EQ(first_.code, 0) << first_.output;
  EXPECT_FALSE(stopped_summary_) << "a stopped run must not write its summary";
  EXPECT_NE(first_.output.find("sub-run trace"), std::string::npos) << first_.output;
  ASSERT_EQ(second_.code, 0) << second_.output;
  EXPECT_NE(second_.output.find("resumed from"), std::string::npos) << second_.output;
  EXPECT_NE(second_.output.find("at step 10"), std::string::npos) << second_.output;

  const auto summary = read_json_file(run_ + "/summary.json");
  EXPECT_EQ(summary.value("status", ""), "completed");
  for (const std::string sfx : {"", "_ood"}) {
    for (const std::string key :
         {"trace_output_accuracy", "direct_output_accuracy", "direct_programs_output_accuracy", "markov_output_accuracy",
          "trace_exact_match", "markov_trace_exact_match", "trace_direct_answer_accuracy", "baseline_output_accuracy",
          "trace_tf_frame_em", "trace_tf_event_em", "trace_tf_line_em", "trace_tf_locals_em", "trace_tf_value_em",
          "markov_tf_frame_em", "markov_tf_event_em", "markov_tf_line_em", "markov_tf_locals_em", "markov_tf_value_em",
          "trace_mean_right_share", "markov_mean_right_share", "trace_parse_rate", "markov_parse_rate"}) {
      ASSERT_TRUE(summary.contains(key + sfx) && summary[key + sfx].is_number()) << key + sfx;
      EXPECT_GE(summary[key + sfx].get<double>(), 0.0) << key + sfx;
      EXPECT_LE(summary[key + sfx].get<double>(), 1.0) << key + sfx;
    }
    for (const std::string key : {"trace_mean_first_wrong_frame", "markov_mean_first_wrong_frame"})
      EXPECT_GE(summary.at(key + sfx).get<double>(), 0.0) << key + sfx;
  }
  // Equal programs: the same steps and sequences; equal tokens: at least the trace model's tokens.
  EXPECT_EQ(summary.at("direct_programs_steps"), summary.at("trace_steps"));
  EXPECT_EQ(summary.at("direct_programs_train_sequences"), summary.at("trace_train_sequences"));
  EXPECT_GE(summary.at("direct_train_tokens").get<double>(), summary.at("trace_train_tokens").get<double>());
  EXPECT_GE(summary.at("markov_train_tokens").get<double>(), summary.at("trace_train_tokens").get<double>());
  EXPECT_GT(summary.at("direct_steps").get<double>(), summary.at("trace_steps").get<double>());
  EXPECT_GT(summary.at("test_programs_ood").get<double>(), 0.0);

  const std::string report = read_text(run_ + "/report.md");
  for (const char* section : {"## What this run shows", "## Output accuracy", "## Next frame under teacher forcing",
                              "Predicting the trace"})
    EXPECT_NE(report.find(section), std::string::npos) << section;
  for (const char* sub : {"trace", "direct_programs", "direct_tokens", "markov"}) {
    EXPECT_TRUE(beyond::run_finished(run_ + "/" + sub)) << sub;
    EXPECT_TRUE(fs::exists(run_ + "/" + sub + "/eval_id.jsonl")) << sub;
    EXPECT_TRUE(fs::exists(run_ + "/" + sub + "/eval_ood.jsonl")) << sub;
  }
  if (std::string(BEYOND_PYTHON).empty()) GTEST_SKIP() << "no project Python: plots are skipped";
  EXPECT_TRUE(fs::exists(run_ + "/accuracy_vs_length.png"));
  EXPECT_TRUE(fs::exists(run_ + "/rollouts.png"));
  EXPECT_NE(report.find("accuracy_vs_length.png"), std::string::npos);
}

TEST_F(TraceWorldModelRun, ASecondRunReusesTheFinishedSubRuns) {
  ASSERT_EQ(second_.code, 0) << second_.output;
  const auto checkpoint_time = fs::last_write_time(run_ + "/trace/checkpoints");
  const auto r = run_beyond("run " + kConfig + " run.dir=" + run_);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(count(r.output, "finished, reused"), 4u) << r.output;
  EXPECT_EQ(r.output.find("step 10/"), std::string::npos) << "nothing is trained again:\n" << r.output;
  EXPECT_EQ(fs::last_write_time(run_ + "/trace/checkpoints"), checkpoint_time);
  EXPECT_EQ(read_json_file(run_ + "/summary.json").value("status", ""), "completed");
}

TEST_F(TraceWorldModelRun, TraceCheckShowsBothTracesAndWhereTheyPart) {
  ASSERT_EQ(second_.code, 0) << second_.output;
  const std::string program = dir_ + "/prog.py";
  std::ofstream(program) << "def f(n):\n    a = n + 1\n    if a > 3:\n        a -= 2\n    return a\n";
  for (const std::string sub : {"", "/markov"}) {
    ::testing::internal::CaptureStdout();
    const int code = beyond::trace_check_command(run_ + sub, program, "f(3)", 50);
    const std::string out = ::testing::internal::GetCapturedStdout();
    // A 20-step smoke model does not execute programs: it diverges, and says where.
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("interpreter"), std::string::npos) << out;
    EXPECT_NE(out.find("call      f:1"), std::string::npos) << out;  // the interpreter's call frame
    EXPECT_NE(out.find("diverges at frame"), std::string::npos) << out;
    EXPECT_NE(out.find(sub.empty() ? "full trace" : "markov"), std::string::npos) << out;
    EXPECT_NE(out.find("-> 2 (interpreter)"), std::string::npos) << out;  // f(3) = 4 - 2
  }
  // Bad input: a missing run, the direct baseline, a program that does not parse, a bad call.
  std::ofstream(dir_ + "/bad.py") << "def f(n):\n    a = = 1\n";
  EXPECT_THROW(beyond::trace_check_command(dir_ + "/no_such_run", program, "f(3)", 50), beyond::InputError);
  EXPECT_THROW(beyond::trace_check_command(run_ + "/direct_tokens", program, "f(3)", 50), beyond::InputError);
  EXPECT_THROW(beyond::trace_check_command(run_, dir_ + "/bad.py", "f(3)", 50), beyond::InputError);
  EXPECT_THROW(beyond::trace_check_command(run_, dir_ + "/missing.py", "f(3)", 50), beyond::InputError);
  EXPECT_THROW(beyond::trace_check_command(run_, program, "f(", 50), beyond::InputError);
  EXPECT_THROW(beyond::trace_check_command(run_, program, "g(3)", 50), beyond::InputError);
}

TEST_F(TraceWorldModelRun, TraceCheckCommandLine) {
  ASSERT_EQ(second_.code, 0) << second_.output;
  const std::string program = dir_ + "/cli.py";
  std::ofstream(program) << "def f(n):\n    a = n * 2\n    return a\n";
  auto r = run_beyond("trace check " + run_ + " " + program + " --call 'f(4)' --max-frames 20");
  EXPECT_EQ(r.code, 1) << r.output;  // the smoke model diverges
  EXPECT_NE(r.output.find("-> 8 (interpreter)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("diverges at frame"), std::string::npos) << r.output;
  r = run_beyond("trace check " + run_ + "/direct_programs " + program + " --call 'f(4)'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("direct"), std::string::npos) << r.output;
  r = run_beyond("trace check " + run_ + " " + program + " --call 'f(4, 5)'");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(TraceWorldModel, UnknownConfigKeyExitsTwoNamingIt) {
  const auto r = run_beyond("run " + kConfig + " run.dir=" + fresh_temp_dir("trace_worldmodel_bad") +
                            " data.generator.n_statement=4");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("data.generator.n_statement"), std::string::npos) << r.output;
  const auto causal = run_beyond("run " + kConfig + " run.dir=" + fresh_temp_dir("trace_worldmodel_bad") + " model.causal=false");
  EXPECT_EQ(causal.code, 2) << causal.output;
  EXPECT_NE(causal.output.find("model.causal"), std::string::npos) << causal.output;
}
