// The text_diffusion experiment (with its AR comparison runs) and `beyond sample` on a
// diffusion run, end to end on a small generated text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

struct DiffusionRun {
  std::string dir, corpus, config, ar_config;
  DiffusionRun() {
    dir = fresh_temp_dir("text_diffusion");
    fs::create_directories(dir);
    corpus = dir + "/tiny.txt";
    std::ofstream out(corpus);
    for (int i = 0; i < 300; ++i) out << "ROMEO: so fair a day " << i % 7 << "\nJULIET: and yet not fair\n";
    const std::string common = "[data]\npath = \"" + corpus + "\"\ncache_dir = \"" + dir + "/cache\"\n" +
                               "[train]\nsteps = 20\nbatch_size = 4\nblock_size = 24\nlog_every = 10\n" +
                               "[eval]\nbatches = 2\n";
    ar_config = dir + "/ar.toml";
    std::ofstream(ar_config) << "[run]\nexperiment = \"text_lm\"\nthreads = 1\n" << common
                             << "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\n[sample]\nmax_new_tokens = 0\n";
    config = dir + "/diffusion.toml";
    std::ofstream(config) << "[run]\nexperiment = \"text_diffusion\"\nthreads = 1\n" << common
                          << "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\ncausal = false\n"
                          << "[elbo]\nsamples = 4\n[compare]\nar_config = \"" << ar_config << "\"\n"
                          << "[sample]\nsteps = 8\nmax_new_tokens = 16\n";
  }
  ~DiffusionRun() { fs::remove_all(dir); }
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(TextDiffusion, TrainsAndReportsTheGapToTheARModel) {
  DiffusionRun t;
  const auto r = run_beyond("run " + t.config + " run.dir=" + t.dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto s = read_json(t.dir + "/run/summary.json");
  for (const char* key : {"elbo_bpc", "elbo_bpc_stderr", "ar_val_bpc", "ar_val_bpc_twice_steps", "elbo_bpc_twice_steps",
                          "bpc_gap", "sample_forward_passes"})
    ASSERT_TRUE(s.contains(key)) << key << " missing from " << s.dump();
  EXPECT_GT(s["elbo_bpc"].get<double>(), 0.0);
  EXPECT_GT(s["elbo_bpc_stderr"].get<double>(), 0.0);
  // The numbers come from the comparison runs, which are ordinary run folders.
  EXPECT_EQ(s["ar_val_bpc"], read_json(t.dir + "/run/ar_same_steps/summary.json")["val_bpc"]);
  EXPECT_EQ(read_json(t.dir + "/run/ar_twice_steps/summary.json")["step"].get<double>(), 40.0);
  EXPECT_EQ(s["elbo_bpc_twice_steps"], read_json(t.dir + "/run/diffusion_twice_steps/summary.json")["elbo_bpc"]);
  EXPECT_NEAR(s["bpc_gap"].get<double>(), s["elbo_bpc"].get<double>() - s["ar_val_bpc"].get<double>(), 1e-12);
  // llada with 8 steps over a 16-token canvas: 8 forward passes.
  EXPECT_EQ(s["sample_forward_passes"].get<double>(), 8.0);
  std::ifstream report(t.dir + "/run/report.md");
  const std::string md((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(md.find("Bits per character against the autoregressive model"), std::string::npos) << md;
  EXPECT_NE(md.find("## Sample"), std::string::npos) << md;
}

TEST(TextDiffusion, ShowStepsFillsTheMasksOnTheSchedule) {
  DiffusionRun t;
  auto r = run_beyond("run " + t.config + " compare.ar_config='\"\"' run.dir=" + t.dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  // 16 masked positions over 8 steps: 2 committed per step, frames from all-masked to none.
  r = run_beyond("sample " + t.dir + "/run --prompt ROMEO: --max-new-tokens 16 --steps 8 --show-steps --seed 2");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::regex step_line(R"(step (\d+), block 1: (\d+) committed)");
  int steps = 0;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), step_line); it != std::sregex_iterator(); ++it) {
    ++steps;
    EXPECT_EQ((*it)[1].str(), std::to_string(steps));
    EXPECT_EQ((*it)[2].str(), "2");
  }
  EXPECT_EQ(steps, 8) << r.output;
  // The first frame is the prompt and 16 placeholders; the last frame has none left.
  EXPECT_NE(r.output.find("ROMEO:" + std::string(16, '_')), std::string::npos) << r.output;
  const auto last = r.output.rfind("step 8, block 1");
  ASSERT_NE(last, std::string::npos);
  const std::string final_frame = r.output.substr(last, r.output.find('[', last) - last);
  EXPECT_EQ(final_frame.find('_'), std::string::npos) << final_frame;
  // Same seed, same text (the timing line on stderr aside).
  const auto text = [&](int seed) {
    const auto out = run_beyond("sample " + t.dir + "/run --max-new-tokens 16 --steps 8 --seed " + std::to_string(seed)).output;
    return out.substr(0, out.rfind("[llada"));
  };
  EXPECT_EQ(text(5), text(5));
  EXPECT_EQ(text(5).size(), 1u + 16u + 1u);  // the "\n" prompt, 16 characters, a newline
}

TEST(TextDiffusion, BadInputsAreOneLineErrors) {
  DiffusionRun t;
  auto r = run_beyond("run " + t.config + " model.causal=true");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.causal"), std::string::npos) << r.output;
  r = run_beyond("run " + t.config + " compare.ar_config=/nonexistent.toml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent.toml"), std::string::npos) << r.output;
  // The sample's canvas must fit the 24-token window: said before any training.
  r = run_beyond("run " + t.config + " sample.max_new_tokens=30");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("sample.max_new_tokens"), std::string::npos) << r.output;
  r = run_beyond("run " + t.config + " sample.remasking=lowest");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("sample.remasking"), std::string::npos) << r.output;
}
