// `beyond bench ar-train` and `trm-step` run end to end (a few steps; no timing is checked:
// benchmarks are not tests).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/experiments/run_beyond.h"

TEST(Bench, ArTrainRunsAndComparesWithPython) {
  const auto r = run_beyond("bench ar-train --steps 2 --warmup 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("C++ (LibTorch)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("parameters: C++ "), std::string::npos) << r.output;
  // With a configured Python the reference runs too; a Python without torch (LibTorch taken from
  // Torch_DIR or LIBTORCH) is a set-up the bench reports rather than a failure.
  if (std::string(BEYOND_PYTHON).empty()) return;
  if (r.output.find("has no torch") != std::string::npos) GTEST_SKIP() << r.output;
  EXPECT_NE(r.output.find("C++ / Python eager: "), std::string::npos) << r.output;
}

// `beyond bench trm-step` on a tiny TRM from a config of its own, with both token mixers. With the
// Python reference, exit 0 also says that its first-step loss matched the C++ one.
TEST(Bench, TrmStepRunsBothMixersAndComparesWithPython) {
  namespace fs = std::filesystem;
  const auto dir = fresh_temp_dir("bench_trm_step");
  fs::create_directories(dir);
  const std::string config = dir + "/tiny_trm.toml";
  std::ofstream(config) << "[task]\nsize = 4\n"
                           "[model]\nd_model = 16\nn_heads = 2\nn_layers = 2\nmixer = \"mlp_t\"\npositional = \"none\"\n"
                           "h_cycles = 2\nl_cycles = 2\nhalt_max_steps = 2\n"
                           "[train]\nbatch_size = 4\noptimizer = \"adam_atan2\"\nlr = 1e-3\nweight_decay = 1.0\n"
                           "ema = 0.999\n";
  for (const std::string mixer : {"", " model.mixer=attention model.positional=rope"}) {
    const auto r = run_beyond("bench trm-step --config " + config + " --steps 3 --warmup 1" + mixer);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(mixer.empty() ? "mlp_t mixer" : "RoPE"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("seq_len 16, vocab 6"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("C++ (LibTorch)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("parameters: C++ "), std::string::npos) << r.output;
    if (std::string(BEYOND_PYTHON).empty()) continue;
    if (r.output.find("has no torch") != std::string::npos) GTEST_SKIP() << r.output;
    EXPECT_NE(r.output.find("Python eager (torch"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("loss at the first step: C++ "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("C++ / Python eager: "), std::string::npos) << r.output;
  }
  // A misspelt key stops the bench before anything runs, as `beyond run` does.
  const auto bad = run_beyond("bench trm-step --config " + config + " --steps 1 model.d_modle=32");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("model.d_model"), std::string::npos) << bad.output;
  fs::remove_all(dir);
}

// `beyond bench diffusion-sample` with tiny settings: every decoder row at every batch size, the
// ratio column against the AR baseline and the verdict lines (no timing is checked).
TEST(Bench, DiffusionSampleRunsTinySettings) {
  const auto r = run_beyond("bench diffusion-sample --length 16 --batch 1,2 --steps 4,16 --block 8 --repeats 1 --warmup 1");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* want : {"AR, KV cache", "llada low-confidence, 4 steps, block 8", "llada low-confidence, 16 steps, block 8",
                           "threshold 0.9, block 8, no cache", "threshold 0.9, block 8, prefix cache", "vs AR cache",
                           "batch 1: diffusion faster than AR", "batch 2: diffusion faster than AR"})
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
  // One run without the other is an input error.
  const auto bad = run_beyond("bench diffusion-sample --ar-run /nonexistent");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--diffusion-run"), std::string::npos) << bad.output;
}
