// The decoding-cache arithmetic of core/cache_memory.h against two independent references: the
// figures of the KV-memory plot in Raschka's "Beyond Standard LLMs" (numbers copied from
// ../shared/research/architectures.md §1.3), and the bytes a real cache holds after a prefill.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/cache_memory.h"
#include "core/errors.h"
#include "core/model.h"

using namespace beyond;

namespace {

// The figure's geometry: emb 2048, 16 heads of 128, 48 layers, bf16, batch 1, conv-free DeltaNet.
TransformerConfig figure_cfg(const std::string& pattern) {
  TransformerConfig cfg;
  cfg.d_model = 2048;
  cfg.n_heads = 16;
  cfg.n_layers = 48;
  cfg.layer_pattern = pattern;
  cfg.linear_heads = 16;
  cfg.linear_head_dim = 128;
  cfg.linear_conv = 0;
  return cfg;
}

int64_t per_token(const std::vector<LayerMemory>& layers) {
  int64_t total = 0;
  for (const auto& l : layers) total += l.bytes_per_token;
  return total;
}

}  // namespace

TEST(CacheMemory, FullAttentionMatchesTheFigure) {
  const auto layers = cache_memory(figure_cfg("G"), 2, 2);
  EXPECT_EQ(per_token(layers), 393216);  // the figure: 8,192 B per token per layer
  EXPECT_EQ(layers[0].bytes_per_token, 8192);
  // 1.611 GB at 4,096 tokens, 51.540 GB at 131,072.
  EXPECT_NEAR(static_cast<double>(total_cache_bytes(layers, 4096)) / 1e9, 1.611, 0.0005);
  EXPECT_NEAR(static_cast<double>(total_cache_bytes(layers, 131072)) / 1e9, 51.540, 0.0005);
}

TEST(CacheMemory, DeltaNetStateIsConstant) {
  const auto layers = cache_memory(figure_cfg("L"), 2, 2);
  EXPECT_EQ(per_token(layers), 0);
  EXPECT_EQ(layers[0].state_bytes, 524288);  // 16 heads x 128 x 128 x 2 bytes
  EXPECT_EQ(total_cache_bytes(layers, 128), 25165824);
  EXPECT_EQ(total_cache_bytes(layers, 262144), 25165824);
}

TEST(CacheMemory, ThreeToOneHybridIsAboutFourTimesSmaller) {
  const auto hybrid = cache_memory(figure_cfg("LLLG"), 2, 2);
  const auto full = cache_memory(figure_cfg("G"), 2, 2);
  EXPECT_EQ(per_token(hybrid), 98304);
  EXPECT_EQ(total_cache_bytes(hybrid, 0), 18874368);
  // The figure's table: hybrid GB and MHA / hybrid ratio.
  const std::vector<std::tuple<int64_t, double, double>> rows = {
      {1024, 0.120, 3.37}, {4096, 0.422, 3.82}, {32768, 3.240, 3.98}, {131072, 12.904, 3.99}};
  for (const auto& [context, gb, ratio] : rows) {
    const double h = static_cast<double>(total_cache_bytes(hybrid, context));
    EXPECT_NEAR(h / 1e9, gb, 0.0005) << context;
    EXPECT_NEAR(static_cast<double>(total_cache_bytes(full, context)) / h, ratio, 0.005) << context;
  }
}

TEST(CacheMemory, SlidingLayersAreCappedAtTheirWindow) {
  TransformerConfig cfg;
  cfg.d_model = 64;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.n_layers = 6;
  cfg.sliding_window = 100;
  cfg.layer_pattern = "SSSSSG";
  const auto layers = cache_memory(cfg, 2, 2);
  // Per layer and token: K and V of 2 heads x 16 dims x 2 bytes = 128 bytes.
  EXPECT_EQ(total_cache_bytes(layers, 50), 6 * 128 * 50);
  EXPECT_EQ(total_cache_bytes(layers, 1000), 5 * 128 * 100 + 128 * 1000);
  // Chunked local layers hold at most one chunk (the worst case: the last token of a chunk).
  cfg.layer_pattern = "CCCCCG";
  cfg.attention_chunk = 64;
  EXPECT_EQ(total_cache_bytes(cache_memory(cfg, 2, 2), 1000), 5 * 128 * 64 + 128 * 1000);
}

TEST(CacheMemory, UnknownDtypeIsAnInputError) {
  EXPECT_EQ(dtype_bytes("bf16"), 2);
  EXPECT_EQ(dtype_bytes("fp32"), 4);
  EXPECT_THROW(dtype_bytes("int3"), InputError);
}

// The formula against the tensors a float32 cache really holds after prefilling T tokens. A
// sliding layer holds window - 1 positions between calls, one fewer than the formula's window
// (which counts the peak within a step).
class CacheBytesOfARealModel : public ::testing::TestWithParam<std::string> {};

TEST_P(CacheBytesOfARealModel, MatchTheFormula) {
  TransformerConfig cfg;
  cfg.vocab_size = 32;
  cfg.d_model = 32;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.n_layers = 4;
  cfg.max_seq_len = 64;
  cfg.linear_heads = 4;
  cfg.linear_k_heads = 2;
  cfg.linear_head_dim = 8;
  cfg.linear_v_head_dim = 12;
  const std::string kind = GetParam();
  if (kind == "gdn" || kind == "kda") cfg.layer_pattern = "LLLG";
  if (kind == "kda") cfg.linear_mixer = "kda";
  if (kind == "sliding") {
    cfg.layer_pattern = "SSSG";
    cfg.sliding_window = 8;
  }
  if (kind == "mla") {
    cfg.attention = "mla";
    cfg.mla_kv_lora_rank = 12;
    cfg.mla_qk_rope_dim = 4;
  }
  torch::manual_seed(0);
  LanguageModel model(cfg);
  model->eval();
  at::NoGradGuard no_grad;
  for (int64_t T : {5, 23}) {
    auto cache = model->make_cache();
    model(at::randint(0, cfg.vocab_size, {1, T}, at::kLong), &cache);
    const int64_t position_bytes = 2 * 2 * 8 * 4;  // k and v, 2 kv heads of 8 dims, float32
    const int64_t forgotten = kind == "sliding" && T >= cfg.sliding_window ? 3 * position_bytes : 0;
    EXPECT_EQ(cache.bytes(), total_cache_bytes(cache_memory(cfg, 4, 4), T) - forgotten) << kind << " T=" << T;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, CacheBytesOfARealModel, ::testing::Values("gqa", "gdn", "kda", "mla", "sliding"));
