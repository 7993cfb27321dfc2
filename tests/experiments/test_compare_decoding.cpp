// `beyond compare-decoding`: the quality metrics against hand computations, the judge's NLL
// against a naive one-prefix-at-a-time computation, config errors, and a tiny run end to end.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "experiments/diffusion/compare_decoding.h"
#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;
using beyond::distinct_n;
using beyond::unigram_entropy_bits;
using beyond::utf8_chars;

TEST(CompareDecodingMetrics, UnigramEntropyOfKnownStrings) {
  EXPECT_DOUBLE_EQ(unigram_entropy_bits(utf8_chars("aabb")), 1.0);
  EXPECT_DOUBLE_EQ(unigram_entropy_bits(utf8_chars("abcd")), 2.0);
  EXPECT_DOUBLE_EQ(unigram_entropy_bits(utf8_chars("aaaa")), 0.0);
  EXPECT_DOUBLE_EQ(unigram_entropy_bits({}), 0.0);
  // "aab": p = 2/3, 1/3.
  EXPECT_NEAR(unigram_entropy_bits(utf8_chars("aab")), -(2.0 / 3) * std::log2(2.0 / 3) - (1.0 / 3) * std::log2(1.0 / 3), 1e-12);
  // Characters, not bytes: "éé" is one symbol twice.
  EXPECT_EQ(utf8_chars("héé").size(), 3u);
  EXPECT_DOUBLE_EQ(unigram_entropy_bits(utf8_chars("éé")), 0.0);
}

TEST(CompareDecodingMetrics, DistinctNOfAKnownString) {
  const auto u = utf8_chars("abcabc");
  EXPECT_DOUBLE_EQ(distinct_n(u, 1), 3.0 / 6);  // a b c
  EXPECT_DOUBLE_EQ(distinct_n(u, 2), 3.0 / 5);  // ab bc ca ab bc
  EXPECT_DOUBLE_EQ(distinct_n(u, 3), 3.0 / 4);  // abc bca cab abc
  EXPECT_DOUBLE_EQ(distinct_n(utf8_chars("aaaa"), 2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(distinct_n(utf8_chars("ab"), 3), 0.0);  // no trigrams
}

namespace {

beyond::LanguageModel tiny_causal(int64_t max_seq_len) {
  beyond::TransformerConfig c;
  c.vocab_size = 11;
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.max_seq_len = max_seq_len;
  torch::manual_seed(3);
  beyond::LanguageModel m(c);
  m->eval();
  return m;
}

// -log p(continuation | context), one forward per scored token over everything before it.
double naive_nll(beyond::LanguageModel& m, const std::vector<int64_t>& context, const std::vector<int64_t>& cont) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> all(context);
  double nll = 0.0;
  for (const auto t : cont) {
    const auto logits = m->forward(at::tensor(all, at::kLong).unsqueeze(0));
    nll -= at::log_softmax(logits[0][-1].to(at::kDouble), -1)[t].item<double>();
    all.push_back(t);
  }
  return nll;
}

}  // namespace

TEST(CompareDecodingMetrics, JudgeNllEqualsNaivePrefixComputation) {
  auto m = tiny_causal(32);
  const std::vector<int64_t> context{1, 2}, cont{3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3};
  const auto s = beyond::judge_nll(m, context, cont);
  EXPECT_EQ(s.tokens, static_cast<int64_t>(cont.size()));
  EXPECT_NEAR(s.nll_nats, naive_nll(m, context, cont), 1e-4);
  // Longer than the window (8): every token is scored once, each with at least half a window
  // of context after the first window; the first window's tokens agree with the naive ones.
  auto w = tiny_causal(8);
  std::vector<int64_t> longer;
  for (int i = 0; i < 30; ++i) longer.push_back((i * 7) % 11);
  const auto sw = beyond::judge_nll(w, {1}, longer);
  EXPECT_EQ(sw.tokens, 30);
  EXPECT_TRUE(std::isfinite(sw.nll_nats));
  const std::vector<int64_t> first7(longer.begin(), longer.begin() + 7);
  EXPECT_NEAR(beyond::judge_nll(w, {1}, first7).nll_nats, naive_nll(w, {1}, first7), 1e-4);
}

TEST(CompareDecodingCli, MalformedConfigIsAOneLineErrorNamingTheKey) {
  const auto dir = fresh_temp_dir("compare_bad");
  fs::create_directories(dir);
  const std::string base = std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/shakespeare_char_ar_modern.toml";
  const std::string cfg = dir + "/bad.toml";
  std::ofstream(cfg) << "[compare]\ndir = \"" << dir << "/out\"\nsampels = 4\n"
                     << "[runs.ar]\nconfig = \"" << base << "\"\n[runs.diffusion]\nconfig = \"" << base << "\"\n"
                     << "[runs.judge]\nconfig = \"" << base << "\"\n[ar_decoding.greedy]\ntemperature = 0.0\n";
  auto r = run_beyond("compare-decoding " + cfg);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("compare.sampels"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("compare.samples"), std::string::npos) << r.output;  // the close spelling
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  // A missing run config names its key and the file.
  std::ofstream(cfg) << "[compare]\ndir = \"" << dir << "/out\"\n[runs.ar]\nconfig = \"" << base << "\"\n"
                     << "[runs.diffusion]\nconfig = \"" << base << "\"\n[runs.judge]\nconfig = \"" << dir
                     << "/nope.toml\"\n[ar_decoding.greedy]\ntemperature = 0.0\n";
  r = run_beyond("compare-decoding " + cfg);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("runs.judge.config"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nope.toml"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  // A bad remasking order in the grid.
  std::ofstream(cfg) << "[compare]\ndir = \"" << dir << "/out\"\n[runs.ar]\nconfig = \"" << base << "\"\n"
                     << "[runs.diffusion]\nconfig = \"" << base << "\"\n[runs.judge]\nconfig = \"" << base << "\"\n"
                     << "[diffusion_decoding]\nremasking = [\"low-confidance\"]\n";
  r = run_beyond("compare-decoding " + cfg);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("diffusion_decoding.remasking"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

// Three tiny runs trained from scratch, two decoders, a reference row; then a second call reuses
// the runs (no retraining).
TEST(CompareDecodingCli, TinyEndToEndWritesRowsReportAndSummary) {
  const auto dir = fresh_temp_dir("compare_tiny");
  fs::create_directories(dir);
  const std::string corpus = dir + "/tiny.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 300; ++i) out << "ROMEO: so fair a day " << i % 7 << "\nJULIET: and yet not fair\n";
  }
  const auto write_run = [&](const std::string& name, const std::string& experiment, bool causal, int64_t d_model) {
    const std::string path = dir + "/" + name + ".toml";
    std::ofstream(path) << "[run]\nexperiment = \"" << experiment << "\"\nthreads = 1\n"
                        << "[data]\npath = \"" << corpus << "\"\ncache_dir = \"" << dir << "/cache\"\n"
                        << "[model]\nd_model = " << d_model << "\nn_layers = 1\nn_heads = 2\nmax_seq_len = 24\n"
                        << "causal = " << (causal ? "true" : "false") << "\n"
                        << "[train]\nsteps = 12\nbatch_size = 4\nblock_size = 24\nlog_every = 6\n"
                        << "[eval]\nbatches = 1\n[sample]\nmax_new_tokens = 8\n"
                        << (causal ? "" : "[elbo]\nsamples = 2\n");
    return path;
  };
  const auto ar = write_run("ar", "text_lm", true, 16);
  const auto dm = write_run("dm", "text_diffusion", false, 16);
  const auto judge = write_run("judge", "text_lm", true, 32);
  const std::string cfg = dir + "/compare.toml";
  std::ofstream(cfg) << "[compare]\ndir = \"" << dir << "/out\"\nsamples = 3\nbatch_size = 2\ngen_length = 16\n"
                     << "reference_chunks = 4\nthreads = 1\n"
                     << "[runs.ar]\nconfig = \"" << ar << "\"\n"
                     << "[runs.diffusion]\nconfig = \"" << dm << "\"\n"
                     << "[runs.judge]\nconfig = \"" << judge << "\"\noverrides = [\"train.steps=20\"]\n"
                     << "[ar_decoding.temp1]\ntemperature = 1.0\n"
                     << "[diffusion_decoding]\nsteps = [4]\nblock_lengths = [8]\ntemperature = 1.0\n";
  auto r = run_beyond("compare-decoding " + cfg);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"decoding.json", "report.md", "summary.json", "ar/summary.json", "diffusion/summary.json",
                        "judge/summary.json"})
    EXPECT_TRUE(fs::exists(dir + "/out/" + f)) << f;
  std::ifstream in(dir + "/out/decoding.json");
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["rows"].size(), 2u) << doc.dump(1);
  const auto& a = doc["rows"][0];
  const auto& d = doc["rows"][1];
  EXPECT_EQ(a["model"], "ar");
  EXPECT_EQ(a["decoder"], "temp1");
  EXPECT_EQ(a["samples"], 3);
  EXPECT_EQ(d["model"], "diffusion");
  EXPECT_EQ(d["decoder"], "llada s4 b8 low-confidence");
  EXPECT_DOUBLE_EQ(d["nfe"].get<double>(), 4.0);  // llada: one forward per step
  EXPECT_GE(a["nfe"].get<double>(), 16.0);        // AR: one per new token (prefill included)
  for (const auto& row : {a, d, doc["reference"]}) {
    EXPECT_GT(row["judge_bpc"].get<double>(), 0.0) << row.dump();
    EXPECT_GT(row["gen_ppl"].get<double>(), 1.0) << row.dump();
    EXPECT_GE(row["entropy_bits"].get<double>(), 0.0) << row.dump();
    EXPECT_LE(row["distinct_3"].get<double>(), 1.0) << row.dump();
  }
  // Degenerate: entropy below 90% (compare.degenerate_entropy) or distinct-3 below 75%
  // (compare.degenerate_distinct_3) of the held-out chunks'.
  const double floor = 0.9 * doc["reference"]["entropy_bits"].get<double>();
  const double d3_floor = 0.75 * doc["reference"]["distinct_3"].get<double>();
  for (const auto& row : {a, d})
    EXPECT_EQ(row["degenerate"].get<bool>(),
              row["entropy_bits"].get<double>() < floor || row["distinct_3"].get<double>() < d3_floor) << row.dump();
  EXPECT_EQ(doc["reference"]["samples"], 4);
  std::ifstream rep(dir + "/out/report.md");
  const std::string md((std::istreambuf_iterator<char>(rep)), {});
  EXPECT_NE(md.find("| diffusion | llada s4 b8 low-confidence |"), std::string::npos) << md;
  EXPECT_NE(md.find("Threshold sampler against fixed-step llada"), std::string::npos) << md;

  // Again: the runs are reused, only the decoding is redone.
  r = run_beyond("compare-decoding " + cfg);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("judge already trained"), std::string::npos) << r.output;
  fs::remove_all(dir);
}
