// The core's layers against naive float64 references written with Eigen: explicit loops over
// heads and positions, explicit softmax, RoPE written out pair by pair. The references read only
// the modules' weights; shapes, head grouping and RoPE dims come from the test itself.
//
// Tolerance: 1e-10 absolute in float64 (values are O(1); the two sides differ only by the order
// of floating-point sums, ~1e-15).
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <torch/nn/init.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "core/attention.h"
#include "core/layers.h"
#include "core/model.h"
#include "tests/core/eigen_reference.h"

using namespace beyond;

namespace {

using namespace beyond::eigen_ref;

constexpr double kTol = 1e-10;

// One row: RMSNorm x / sqrt(mean(x^2) + eps) * w, LayerNorm (x - mean) / sqrt(var + eps) * w + b.
Vec ref_norm_row(const std::string& kind, const Vec& x, double eps, const Vec* w, const Vec* b) {
  const double n = static_cast<double>(x.size());
  Vec y(x.size());
  if (kind == "rmsnorm") {
    double ms = 0;
    for (int i = 0; i < x.size(); ++i) ms += x[i] * x[i];
    ms /= n;
    for (int i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + eps);
  } else {
    double mean = 0, var = 0;
    for (int i = 0; i < x.size(); ++i) mean += x[i];
    mean /= n;
    for (int i = 0; i < x.size(); ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= n;  // biased, as layer_norm
    for (int i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps);
  }
  if (w) y = y.cwiseProduct(*w);
  if (b) y += *b;
  return y;
}

Mat ref_norm(const std::string& kind, const NormImpl& n, const Mat& x, double eps) {
  const Vec w = n.weight.defined() ? to_vec(n.weight) : Vec();
  const Vec b = n.bias.defined() ? to_vec(n.bias) : Vec();
  Mat y(x.rows(), x.cols());
  for (int r = 0; r < x.rows(); ++r)
    y.row(r) = ref_norm_row(kind, x.row(r).transpose(), eps, n.weight.defined() ? &w : nullptr,
                            n.bias.defined() ? &b : nullptr).transpose();
  return y;
}

double silu(double z) { return z / (1.0 + std::exp(-z)); }
double gelu(double z) { return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0))); }

Mat ref_mlp(const std::string& kind, MLPImpl& m, const Mat& x) {
  const Mat up = ref_linear(m.up_proj, x);
  Mat h(up.rows(), up.cols());
  if (kind == "swiglu") {
    const Mat gate = ref_linear(m.gate_proj, x);
    for (int r = 0; r < h.rows(); ++r)
      for (int c = 0; c < h.cols(); ++c) h(r, c) = silu(gate(r, c)) * up(r, c);
  } else if (kind == "clamped_swiglu") {  // gpt-oss: alpha 1.702, limit 7
    const Mat gate = ref_linear(m.gate_proj, x);
    for (int r = 0; r < h.rows(); ++r)
      for (int c = 0; c < h.cols(); ++c) {
        const double g = std::min(gate(r, c), 7.0), u = std::max(-7.0, std::min(up(r, c), 7.0));
        h(r, c) = (u + 1.0) * g / (1.0 + std::exp(-1.702 * g));
      }
  } else {
    for (int r = 0; r < h.rows(); ++r)
      for (int c = 0; c < h.cols(); ++c) h(r, c) = gelu(up(r, c));
  }
  return ref_linear(m.down_proj, h);
}

// gpt-oss's clamped SwiGLU on inputs large enough that many gate and up values pass the limit of 7,
// with and without gradients (the two code paths of MLPImpl).
TEST(ReferenceMlp, ClampedSwiGLU) {
  torch::manual_seed(2);
  MLP mlp("clamped_swiglu", 6, 16, true);
  mlp->to(at::kDouble);
  randomize(*mlp);
  const auto x = at::randn({5, 6}, at::kDouble) * 20.0;
  const auto gate = mlp->gate_proj(x), up = mlp->up_proj(x);
  EXPECT_GT((gate > 7.0).sum().item<int64_t>(), 0) << "no gate value reaches the clamp";
  EXPECT_GT((up < -7.0).sum().item<int64_t>(), 0) << "no up value reaches the lower clamp";
  const Mat ref = ref_mlp("clamped_swiglu", *mlp, to_mat(x));
  EXPECT_LT(max_abs_diff(to_mat(mlp(x)), ref), kTol);
  at::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(to_mat(mlp(x)), ref), kTol);
}

struct AttnSpec {
  int64_t heads, kv_heads, head_dim, rot;
  double theta = 10000.0;
  bool causal = true;
  int64_t window = 0;
  bool qk_norm = false;
  double eps = 1e-5;
};

// Naive attention over one sequence x [T, D].
Mat ref_attention(AttentionImpl& a, const Mat& x, const AttnSpec& s) {
  const int64_t T = x.rows(), hd = s.head_dim, group = s.heads / s.kv_heads;
  const Mat Q = ref_linear(a.q_proj, x), K = ref_linear(a.k_proj, x), V = ref_linear(a.v_proj, x);
  Vec qw, kw;
  if (s.qk_norm) {
    qw = to_vec(a.q_norm->weight);
    kw = to_vec(a.k_norm->weight);
  }
  Mat heads_out = Mat::Zero(T, s.heads * hd);
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t g = h / group;  // consecutive query heads share a key/value head
    std::vector<Vec> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      q[t] = Q.row(t).segment(h * hd, hd).transpose();
      k[t] = K.row(t).segment(g * hd, hd).transpose();
      v[t] = V.row(t).segment(g * hd, hd).transpose();
      if (s.qk_norm) {
        q[t] = ref_norm_row("rmsnorm", q[t], s.eps, &qw, nullptr);
        k[t] = ref_norm_row("rmsnorm", k[t], s.eps, &kw, nullptr);
      }
      q[t] = ref_rope(q[t], t, s.rot, s.theta);
      k[t] = ref_rope(k[t], t, s.rot, s.theta);
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> score(T, -INFINITY);
      double mx = -INFINITY;
      for (int64_t j = 0; j < T; ++j) {
        if (!visible(t, j, s.causal, s.window)) continue;
        score[j] = q[t].dot(k[j]) / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, score[j]);
      }
      double denom = 0;
      for (int64_t j = 0; j < T; ++j)
        if (score[j] > -INFINITY) denom += std::exp(score[j] - mx);
      Vec out = Vec::Zero(hd);
      for (int64_t j = 0; j < T; ++j)
        if (score[j] > -INFINITY) out += std::exp(score[j] - mx) / denom * v[j];
      heads_out.row(t).segment(h * hd, hd) = out.transpose();
    }
  }
  return ref_linear(a.o_proj, heads_out);
}

TransformerConfig small_cfg() {
  TransformerConfig cfg;
  cfg.d_model = 32;
  cfg.n_heads = 4;
  cfg.n_layers = 1;
  cfg.max_seq_len = 64;
  cfg.positional = "nope";
  return cfg;
}

// Builds Attention from cfg in float64, runs it on random x [2, 9, D] and compares each batch
// element with the naive reference.
void check_attention(const TransformerConfig& cfg, int64_t window, bool causal, const AttnSpec& spec) {
  torch::manual_seed(1);
  // Layer 0 of a config whose every layer has this window (0: global).
  TransformerConfig layer_cfg = cfg;
  layer_cfg.sliding_window = window;
  layer_cfg.layer_pattern = window > 0 ? "S" : "G";
  Attention attn(layer_cfg, /*layer=*/0);
  attn->to(at::kDouble);
  randomize(*attn);
  attn->eval();
  const auto x = at::randn({2, 9, cfg.d_model}, at::kDouble);
  const auto y = attn->forward(x, causal);
  ASSERT_EQ(y.sizes(), x.sizes());
  AttnSpec s = spec;
  s.causal = causal;
  s.window = window;
  for (int64_t b = 0; b < 2; ++b) {
    const Mat ref = ref_attention(*attn, to_mat(x[b]), s);
    EXPECT_LT(max_abs_diff(to_mat(y[b]), ref), kTol) << "batch " << b;
  }
}

// ---------------------------------------------------------------------------------------------
// attention_mask

void check_mask(int64_t q_len, int64_t k_len, int64_t q_offset, bool causal, int64_t window) {
  const auto mask = attention_mask(q_len, k_len, q_offset, causal, window, at::kCPU);
  SCOPED_TRACE(::testing::Message() << "q_len " << q_len << " k_len " << k_len << " q_offset " << q_offset
                                    << " causal " << causal << " window " << window);
  if (mask.defined()) {
    ASSERT_EQ(mask.scalar_type(), at::kBool);
    ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{q_len, k_len}));
  }
  for (int64_t i = 0; i < q_len; ++i)
    for (int64_t j = 0; j < k_len; ++j) {
      const bool want = visible(q_offset + i, j, causal, window);
      const bool got = mask.defined() ? mask[i][j].item<bool>() : true;  // undefined: all visible
      EXPECT_EQ(got, want) << "query " << i << " key " << j;
    }
}

TEST(ReferenceMask, Causal) {
  check_mask(6, 6, 0, true, 0);
  check_mask(1, 1, 0, true, 0);
}

TEST(ReferenceMask, Bidirectional) { check_mask(5, 5, 0, false, 0); }

TEST(ReferenceMask, SlidingWindowCausal) {
  check_mask(8, 8, 0, true, 3);
  check_mask(8, 8, 0, true, 1);  // only the query's own key
}

TEST(ReferenceMask, SlidingWindowBidirectional) {
  check_mask(8, 8, 0, false, 3);
  check_mask(4, 4, 0, false, 4);   // covers every pair
  check_mask(4, 4, 0, false, 100);
}

// Chunked local attention (Llama 4): a query sees the keys of its own chunk of c positions
// (counted from key 0), and only the earlier ones when causal. Written out pair by pair.
TEST(ReferenceMask, ChunkedLocal) {
  for (const bool causal : {true, false})
    for (const auto& [q_len, k_len, q_offset, chunk] :
         std::vector<std::array<int64_t, 4>>{{9, 9, 0, 4}, {1, 11, 10, 4}, {3, 12, 9, 3}, {5, 5, 0, 1}, {6, 6, 0, 100}}) {
      SCOPED_TRACE(::testing::Message() << "causal " << causal << " q_len " << q_len << " offset " << q_offset
                                        << " chunk " << chunk);
      const auto mask = attention_mask(q_len, k_len, q_offset, causal, 0, at::kCPU, chunk);
      for (int64_t i = 0; i < q_len; ++i)
        for (int64_t j = 0; j < k_len; ++j) {
          const int64_t q = q_offset + i;
          const bool want = q / chunk == j / chunk && (!causal || j <= q);
          const bool got = mask.defined() ? mask[i][j].item<bool>() : true;  // undefined: all visible
          EXPECT_EQ(got, want) << "query " << q << " key " << j;
        }
    }
}

// Decoding one token after a cache that holds only visible keys needs no mask at all (the mask
// would be all true): full attention, a window holding w keys, a chunk from its first key.
TEST(ReferenceMask, NoMaskWhenEveryKeyIsVisible) {
  EXPECT_FALSE(attention_mask(1, 7, 6, true, 0, at::kCPU).defined());
  EXPECT_FALSE(attention_mask(1, 4, 3, true, 4, at::kCPU).defined());
  EXPECT_FALSE(attention_mask(1, 3, 2, true, 0, at::kCPU, 5).defined());
  EXPECT_TRUE(attention_mask(1, 5, 4, true, 4, at::kCPU).defined());     // key 0 is outside the window
  EXPECT_TRUE(attention_mask(1, 6, 5, true, 0, at::kCPU, 5).defined());  // keys 0-4 are another chunk
  EXPECT_TRUE(attention_mask(2, 7, 5, true, 0, at::kCPU).defined());     // the first query must not see the second's key
}

TEST(ReferenceMask, CachedDecodingOffset) {
  // New queries sit after `q_offset` cached keys; keys span cached + new.
  check_mask(1, 7, 6, true, 0);
  check_mask(3, 10, 7, true, 0);
  check_mask(3, 10, 7, true, 4);
  check_mask(2, 9, 7, false, 3);
  check_mask(2, 9, 7, false, 0);
}

// ---------------------------------------------------------------------------------------------
// Attention

TEST(ReferenceAttention, MhaCausal) {
  auto cfg = small_cfg();
  cfg.bias = true;
  check_attention(cfg, 0, true, {4, 4, 8, 0});
}

TEST(ReferenceAttention, GqaCausal) {
  auto cfg = small_cfg();
  cfg.n_kv_heads = 2;
  check_attention(cfg, 0, true, {4, 2, 8, 0});
  cfg.positional = "rope";
  check_attention(cfg, 0, true, {4, 2, 8, 8});
}

TEST(ReferenceAttention, Mqa) {
  auto cfg = small_cfg();
  cfg.n_kv_heads = 1;
  cfg.positional = "rope";
  check_attention(cfg, 0, true, {4, 1, 8, 8});
}

TEST(ReferenceAttention, Bidirectional) {
  auto cfg = small_cfg();
  check_attention(cfg, 0, false, {4, 4, 8, 0});
  cfg.n_kv_heads = 2;
  cfg.positional = "rope";
  check_attention(cfg, 0, false, {4, 2, 8, 8});
}

TEST(ReferenceAttention, SlidingWindowCausal) {
  auto cfg = small_cfg();
  cfg.positional = "rope";
  check_attention(cfg, 3, true, {4, 4, 8, 8});
  check_attention(cfg, 1, true, {4, 4, 8, 8});
}

TEST(ReferenceAttention, SlidingWindowBidirectional) {
  auto cfg = small_cfg();
  cfg.n_kv_heads = 2;
  check_attention(cfg, 3, false, {4, 2, 8, 0});
}

TEST(ReferenceAttention, Rope) {
  auto cfg = small_cfg();
  cfg.positional = "rope";
  check_attention(cfg, 0, true, {4, 4, 8, 8});
  cfg.rope_theta = 500.0;
  AttnSpec s{4, 4, 8, 8};
  s.theta = 500.0;
  check_attention(cfg, 0, true, s);
}

TEST(ReferenceAttention, PartialRope) {
  auto cfg = small_cfg();
  cfg.positional = "partial_rope";
  cfg.rope_fraction = 0.5;
  check_attention(cfg, 0, true, {4, 4, 8, 4});
  // An explicit head_dim with n_heads * head_dim != d_model.
  cfg.head_dim = 12;
  check_attention(cfg, 0, true, {4, 4, 12, 6});
}

TEST(ReferenceAttention, Nope) {
  auto cfg = small_cfg();
  cfg.positional = "nope";
  check_attention(cfg, 0, true, {4, 4, 8, 0});
}

TEST(ReferenceAttention, QkNorm) {
  auto cfg = small_cfg();
  cfg.qk_norm = true;
  cfg.positional = "rope";
  cfg.n_kv_heads = 2;
  AttnSpec s{4, 2, 8, 8};
  s.qk_norm = true;
  check_attention(cfg, 0, true, s);
}

TEST(ReferenceRope, ApplyRopeWithOffset) {
  // x [B, H, T, hd] at positions pos0..pos0+T-1, full and partial rotation.
  torch::manual_seed(2);
  const auto x = at::randn({2, 3, 5, 8}, at::kDouble);
  for (int64_t rot : {8, 4, 0}) {
    const auto y = apply_rope(x, 11, rot, 10000.0);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t t = 0; t < 5; ++t) {
          const Vec ref = ref_rope(to_vec(x[b][h][t]), 11 + t, rot, 10000.0);
          EXPECT_LT((to_vec(y[b][h][t]) - ref).cwiseAbs().maxCoeff(), kTol) << "rot " << rot << " t " << t;
        }
  }
}

// ---------------------------------------------------------------------------------------------
// Norms

void check_norm(const std::string& kind, bool scale, bool bias) {
  torch::manual_seed(3);
  Norm n(kind, 16, 1e-5, scale, bias);
  n->to(at::kDouble);
  randomize(*n);
  const auto x = at::randn({7, 16}, at::kDouble) * 3.0 + 0.5;
  const Mat ref = ref_norm(kind, *n, to_mat(x), 1e-5);
  EXPECT_LT(max_abs_diff(to_mat(n(x)), ref), kTol) << kind << " scale " << scale << " bias " << bias;
}

TEST(ReferenceNorm, RmsNormWithScale) { check_norm("rmsnorm", true, false); }
TEST(ReferenceNorm, RmsNormWithoutScale) {
  check_norm("rmsnorm", false, false);
  EXPECT_EQ(Norm("rmsnorm", 4, 1e-5, false, false)->parameters().size(), 0u);
}
TEST(ReferenceNorm, LayerNormWithBias) { check_norm("layernorm", true, true); }
TEST(ReferenceNorm, LayerNormWithoutBias) { check_norm("layernorm", true, false); }

// ---------------------------------------------------------------------------------------------
// Block

// Naive pre / post / sandwich / reordered block over one sequence, from the documented formulas.
Mat ref_block(BlockImpl& b, const Mat& x, const TransformerConfig& cfg, const AttnSpec& s) {
  const auto attn = [&](const Mat& h) { return ref_attention(*b.attn, h, s); };
  const auto mlp = [&](const Mat& h) { return ref_mlp(cfg.mlp, *b.mlp, h); };
  const auto norm = [&](Norm& n, const Mat& h) { return ref_norm(cfg.norm, *n, h, cfg.norm_eps); };
  if (cfg.norm_placement == "pre") {
    const Mat h = x + attn(norm(b.attn_norm, x));
    return h + mlp(norm(b.mlp_norm, h));
  }
  if (cfg.norm_placement == "post") {
    const Mat h = norm(b.attn_norm, x + attn(x));
    return norm(b.mlp_norm, h + mlp(h));
  }
  if (cfg.norm_placement == "reordered") {  // OLMo 2
    const Mat h = x + norm(b.attn_norm, attn(x));
    return h + norm(b.mlp_norm, mlp(h));
  }
  const Mat h = x + norm(b.attn_post_norm, attn(norm(b.attn_norm, x)));
  return h + norm(b.mlp_post_norm, mlp(norm(b.mlp_norm, h)));
}

void check_block(const TransformerConfig& cfg, const AttnSpec& s) {
  torch::manual_seed(4);
  Block block(cfg, 0);
  block->to(at::kDouble);
  randomize(*block);
  block->eval();
  const auto x = at::randn({2, 9, cfg.d_model}, at::kDouble);
  const auto y = block->forward(x, cfg.causal);
  for (int64_t b = 0; b < 2; ++b) {
    const Mat ref = ref_block(*block, to_mat(x[b]), cfg, s);
    EXPECT_LT(max_abs_diff(to_mat(y[b]), ref), kTol) << cfg.norm_placement << " batch " << b;
  }
}

TransformerConfig block_cfg(const std::string& placement) {
  auto cfg = small_cfg();
  cfg.positional = "rope";
  cfg.n_kv_heads = 2;
  cfg.norm_placement = placement;
  cfg.mlp_ratio = 2.0;
  return cfg;
}

TEST(ReferenceBlock, PreNormSwiGLU) { check_block(block_cfg("pre"), {4, 2, 8, 8}); }

TEST(ReferenceBlock, PostNorm) { check_block(block_cfg("post"), {4, 2, 8, 8}); }

TEST(ReferenceBlock, Sandwich) {
  auto cfg = block_cfg("sandwich");
  Block block(cfg, 0);
  EXPECT_TRUE(block->attn_post_norm && block->mlp_post_norm);
  check_block(cfg, {4, 2, 8, 8});
}

TEST(ReferenceBlock, ReorderedNormsTheSublayerOutputs) {
  auto cfg = block_cfg("reordered");
  Block block(cfg, 0);
  EXPECT_FALSE(block->attn_post_norm || block->mlp_post_norm);
  check_block(cfg, {4, 2, 8, 8});
}

TEST(ReferenceBlock, PreNormGeluLayerNormBias) {
  auto cfg = block_cfg("pre");
  cfg.mlp = "gelu";
  cfg.norm = "layernorm";
  cfg.bias = true;
  check_block(cfg, {4, 2, 8, 8});
}

}  // namespace
