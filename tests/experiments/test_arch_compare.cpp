// The arch_compare experiment end to end through `beyond run`: two tiny variants (full attention and
// a 3:1 gated DeltaNet hybrid) train a few steps, decoding is measured at contexts 64 and 128; the
// summary's cache bytes are checked against arithmetic done here; a second run skips the training;
// a variant with an unknown override key exits 2 naming it. Plumbing, not model quality.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

std::string write_text(const std::string& dir) {
  fs::create_directories(dir);
  const std::string path = dir + "/text.txt";
  std::ofstream out(path);
  const char* lines[] = {"to be or not to be, that is the question.\n", "the quick brown fox jumps over the lazy dog.\n",
                         "all the world's a stage, and all the men and women merely players.\n"};
  for (int i = 0; i < 60; ++i) out << lines[i % 3];
  return path;
}

// d_model 16, 2 heads of 8, 1 KV head, 4 layers; the hybrid's linear layers use 2 heads of 8 and a
// short convolution of kernel 4.
std::string write_config(const std::string& dir, const std::string& text, const std::string& hybrid_overrides) {
  const std::string path = dir + "/arch.toml";
  std::ofstream(path) << "[run]\nexperiment = \"arch_compare\"\nseed = 1\nthreads = 1\n"
                      << "[data]\npath = \"" << text << "\"\ntokenizer = \"char\"\n"
                      << "[model]\nd_model = 16\nn_layers = 4\nn_heads = 2\nn_kv_heads = 1\nmax_seq_len = 256\n"
                      << "mlp_ratio = 2.0\nlinear_conv = 4\nlinear_chunk = 16\n"
                      << "[train]\nsteps = 4\nbatch_size = 4\nblock_size = 16\nwarmup_steps = 0\neval_every = 2\n"
                      << "checkpoint_every = 2\nlog_every = 1\n"
                      << "[eval]\nbatches = 2\n[sample]\nmax_new_tokens = 0\n"
                      << "[compare]\ncontexts = [64, 128]\nnew_tokens = 4\nrepeats = 1\nprefill_chunk = 48\n"
                      << "order = [\"full\", \"hybrid\"]\n"
                      << "[variants.full]\nlabel = \"full attention\"\n"
                      << "[variants.hybrid]\nlabel = \"3:1 DeltaNet\"\noverrides = [" << hybrid_overrides << "]\n";
  return path;
}

const std::string kHybrid = "\"model.layer_pattern=\\\"LLLG\\\"\"";

}  // namespace

TEST(ArchCompare, TrainsVariantsMeasuresDecodingAndResumes) {
  const auto dir = fresh_temp_dir("arch_compare");
  const auto config = write_config(dir, write_text(dir), kHybrid);
  const std::string run_dir = dir + "/run";
  const auto r = run_beyond("run " + config + " run.dir=" + run_dir);
  ASSERT_EQ(r.code, 0) << r.output;

  const auto s = read_json(run_dir + "/summary.json");
  EXPECT_EQ(s.value("status", ""), "completed");
  for (const std::string v : {"full", "hybrid"}) {
    for (const std::string k : {"val_loss", "val_bpc", "parameters", "train_tok_s"}) {
      ASSERT_TRUE(s.contains(v + "_" + k)) << v + "_" + k;
      EXPECT_GT(s[v + "_" + k].get<double>(), 0.0) << v + "_" + k;
    }
    for (const std::string L : {"64", "128"})
      for (const std::string k : {"decode_tok_s_", "decode_ms_", "cache_bytes_", "cache_formula_bytes_"}) {
        ASSERT_TRUE(s.contains(v + "_" + k + L)) << v + "_" + k + L;
        EXPECT_GT(s[v + "_" + k + L].get<double>(), 0.0) << v + "_" + k + L;
      }
  }
  // Full attention keeps keys and values of every token in every layer:
  //   2 (k, v) * 1 KV head * 8 head dims * 4 bytes * 4 layers = 256 bytes per token.
  EXPECT_EQ(s["full_cache_bytes_64"].get<double>(), 256.0 * 64);
  EXPECT_EQ(s["full_cache_bytes_128"].get<double>(), 256.0 * 128);
  // The hybrid: one attention layer, 64 bytes per token; each of the 3 DeltaNet layers holds a state of
  // 2 heads * 8 * 8 * 4 bytes = 512 and the convolution's last 3 inputs of q, k, v (3 * 16 channels):
  // 48 * 3 * 4 = 576 bytes, whatever the context.
  EXPECT_EQ(s["hybrid_cache_bytes_64"].get<double>(), 64.0 * 64 + 3 * (512 + 576));
  EXPECT_EQ(s["hybrid_cache_bytes_128"].get<double>() - s["hybrid_cache_bytes_64"].get<double>(), 64.0 * 64);
  EXPECT_EQ(s["hybrid_cache_formula_bytes_128"].get<double>(), s["hybrid_cache_bytes_128"].get<double>());
  for (const char* claim : {"claim_similar_val_loss", "claim_hybrid_cache_quarter_growth", "claim_hybrid_decode_flatter"})
    EXPECT_TRUE(s.contains(claim)) << claim;
  EXPECT_EQ(s["claim_hybrid_cache_quarter_growth"].get<double>(), 1.0);  // 4096 / 16384 bytes of growth

  const std::string report = read_text(run_dir + "/report.md");
  EXPECT_NE(report.find("Decoding tokens per second"), std::string::npos);
  EXPECT_NE(report.find("| 3:1 DeltaNet | LLLG |"), std::string::npos) << report;
  EXPECT_NE(report.find("claims held"), std::string::npos);
  EXPECT_TRUE(fs::exists(run_dir + "/full/summary.json"));
  EXPECT_TRUE(fs::exists(run_dir + "/hybrid/decode.json"));

  // Again in the same folder: both variants are finished, so nothing trains and nothing is re-measured.
  const std::string metrics_before = read_text(run_dir + "/hybrid/metrics.jsonl");
  const auto again = run_beyond("run " + config + " run.dir=" + run_dir);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(output_has(again, "full already trained")) << again.output;
  EXPECT_TRUE(output_has(again, "hybrid already trained")) << again.output;
  EXPECT_TRUE(output_has(again, "decoding already measured")) << again.output;
  EXPECT_EQ(read_text(run_dir + "/hybrid/metrics.jsonl"), metrics_before);
  EXPECT_EQ(read_json(run_dir + "/summary.json")["hybrid_cache_bytes_128"], s["hybrid_cache_bytes_128"]);
}

TEST(ArchCompare, UnknownOverrideKeyInAVariantExitsTwoNamingIt) {
  const auto dir = fresh_temp_dir("arch_compare_bad");
  const auto config = write_config(dir, write_text(dir), "\"model.layer_patern=\\\"LLLG\\\"\"");
  const auto r = run_beyond("run " + config + " run.dir=" + dir + "/run");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(output_has(r, "hybrid")) << r.output;
  EXPECT_TRUE(output_has(r, "layer_patern")) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/run/full")) << "nothing trains before every variant is checked";
}
