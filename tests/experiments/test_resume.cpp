// Checkpoints through the CLI: resume is bit-identical, and bad checkpoints are clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/safetensors.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;
using namespace beyond;

namespace {

CliResult beyond_cmd(const std::string& args) { return run_beyond(args); }
std::string fresh_dir(const std::string& name) { return fresh_temp_dir("resume_" + name); }

// A short quickstart with dropout, so that the restored RNG state matters too.
const std::string kRun = std::string("run ") + BEYOND_SOURCE_DIR +
                         "/experiments/configs/digit_sort.toml train.steps=40 train.checkpoint_every=10 "
                         "train.eval_every=0 eval.size=20 model.dropout=0.1 train.ema=0.9 run.threads=1 ";

}  // namespace

TEST(Resume, StopAndResumeIsBitIdentical) {
  const auto one_go = fresh_dir("one_go"), split = fresh_dir("split");
  auto r = beyond_cmd(kRun + "run.dir=" + one_go);
  ASSERT_EQ(r.code, 0) << r.output;
  r = beyond_cmd(kRun + "run.dir=" + split + " train.stop_at_step=20");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_FALSE(fs::exists(split + "/summary.json")) << "a stopped run has no summary yet";
  r = beyond_cmd(kRun + "run.dir=" + split);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step_00000020"), std::string::npos) << r.output;

  const auto a = safetensors::load(checkpoint_path(one_go + "/checkpoints", 40));
  const auto b = safetensors::load(checkpoint_path(split + "/checkpoints", 40));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  size_t model_tensors = 0;
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name;
    EXPECT_TRUE(at::equal(t, b.tensors.at(name))) << name << " differs after resume";
    model_tensors += name.rfind("model.", 0) == 0;
  }
  EXPECT_GT(model_tensors, 5u);
  // And training did move the weights: step 30 differs from step 40.
  const auto early = safetensors::load(checkpoint_path(one_go + "/checkpoints", 30));
  EXPECT_FALSE(at::equal(early.tensors.at("model.blocks.0.attn.q_proj.weight"),
                         a.tensors.at("model.blocks.0.attn.q_proj.weight")));
  fs::remove_all(one_go);
  fs::remove_all(split);
}

TEST(Resume, RunFolderHasEverything) {
  const auto dir = fresh_dir("folder");
  const auto r = beyond_cmd(kRun + "run.dir=" + dir);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"config.toml", "metrics.jsonl", "log.txt", "summary.json", "report.md"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  std::ifstream summary(dir + "/summary.json");
  const std::string text((std::istreambuf_iterator<char>(summary)), {});
  for (const char* key : {"\"exact_match\"", "\"token_accuracy\"", "\"train_loss\"", "\"status\": \"completed\""})
    EXPECT_NE(text.find(key), std::string::npos) << key << " in " << text;
  // keep_checkpoints = 2 by default: only the two newest remain.
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir + "/checkpoints")) ++n;
  EXPECT_EQ(n, 2u);
  fs::remove_all(dir);
}

TEST(Resume, TruncatedCheckpointIsAClearError) {
  const auto dir = fresh_dir("truncated");
  auto r = beyond_cmd(kRun + "run.dir=" + dir + " train.stop_at_step=10");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ckpt = checkpoint_path(dir + "/checkpoints", 10);
  fs::resize_file(ckpt, fs::file_size(ckpt) - 100);
  r = beyond_cmd(kRun + "run.dir=" + dir);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("step_00000010.safetensors"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Exception"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(Resume, CheckpointOfAnotherModelIsAClearError) {
  const auto dir = fresh_dir("mismatch");
  auto r = beyond_cmd(kRun + "run.dir=" + dir + " train.stop_at_step=10");
  ASSERT_EQ(r.code, 0) << r.output;
  r = beyond_cmd(kRun + "run.dir=" + dir + " model.d_model=32");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("shape"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model config change"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(Resume, NotACheckpointIsAClearError) {
  const auto dir = fresh_dir("garbage");
  fs::create_directories(dir + "/checkpoints");
  std::ofstream(checkpoint_path(dir + "/checkpoints", 5)) << "this is not a safetensors file at all";
  const auto r = beyond_cmd(kRun + "run.dir=" + dir);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("step_00000005.safetensors"), std::string::npos) << r.output;
  fs::remove_all(dir);
}
