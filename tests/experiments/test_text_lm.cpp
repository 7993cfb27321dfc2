// The text_lm experiment and `beyond sample` end to end, on a small generated text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

struct TextRun {
  std::string dir, corpus, config;
  TextRun() {
    dir = fresh_temp_dir("text_lm");
    fs::create_directories(dir);
    corpus = dir + "/tiny.txt";
    std::ofstream out(corpus);
    for (int i = 0; i < 300; ++i) out << "ROMEO: so fair a day " << i % 7 << "\nJULIET: and yet not fair\n";
    config = dir + "/tiny.toml";
    std::ofstream(config) << "[run]\nexperiment = \"text_lm\"\nthreads = 1\n"
                          << "[data]\npath = \"" << corpus << "\"\ncache_dir = \"" << dir << "/cache\"\n"
                          << "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\n"
                          << "[train]\nsteps = 30\nbatch_size = 4\nblock_size = 16\nlog_every = 10\n"
                          << "[eval]\nbatches = 2\n[sample]\nmax_new_tokens = 40\n";
  }
  ~TextRun() { fs::remove_all(dir); }
};

}  // namespace

TEST(TextLM, TrainsWritesSummaryTokenizerAndSample) {
  TextRun t;
  auto r = run_beyond("run " + t.config + " run.dir=" + t.dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream summary(t.dir + "/run/summary.json");
  const std::string s((std::istreambuf_iterator<char>(summary)), {});
  for (const char* key : {"\"val_loss\"", "\"val_bpc\"", "\"val_ppl\""}) EXPECT_NE(s.find(key), std::string::npos) << s;
  EXPECT_TRUE(fs::exists(t.dir + "/run/tokenizer.json"));
  std::ifstream report(t.dir + "/run/report.md");
  const std::string md((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(md.find("## Sample"), std::string::npos) << md;

  // Sampling from the run folder streams the prompt and then new text.
  r = run_beyond("sample " + t.dir + "/run --prompt ROMEO: --max-new-tokens 25 --seed 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ROMEO:", 0), 0u) << r.output;
  EXPECT_GT(r.output.size(), 6u + 10u) << r.output;
  // The same seed gives the same text; batched prompts print one block per sample.
  EXPECT_EQ(run_beyond("sample " + t.dir + "/run --prompt ROMEO: --max-new-tokens 25 --seed 3").output, r.output);
  r = run_beyond("sample " + t.dir + "/run --prompt ROMEO: --prompt JULIET: --max-new-tokens 10 --temperature 0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--- sample 2\nJULIET:"), std::string::npos) << r.output;
  // A character the run never saw is a clear error, not a silent drop.
  r = run_beyond("sample " + t.dir + "/run --prompt 'ZEBRA'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("not in the char tokenizer's vocabulary"), std::string::npos) << r.output;
}

TEST(TextLM, BadInputsAreOneLineErrors) {
  TextRun t;
  auto r = run_beyond("run " + t.config + " data.path=/nonexistent/corpus.txt");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("data.path"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/corpus.txt"), std::string::npos) << r.output;
  r = run_beyond("sample " + t.dir + "/no_such_run");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no_such_run"), std::string::npos) << r.output;
  r = run_beyond("run " + t.config + " model.causal=false");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.causal"), std::string::npos) << r.output;
}
