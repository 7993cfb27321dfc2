// The linear-attention token mixers (Gated DeltaNet, Kimi delta attention) against naive float64
// references written with Eigen: the short conv as a loop over taps, the whole layer from the
// module's weights with the recurrence in its matrix (paper) form
//   H_t = (I - beta_t k_t k_t^T) diag(exp(g_t)) H_{t-1} + beta_t k_t v_t^T,   o_t = H_t^T q_t,
// which is the same map as the delta rule's four steps but written as products of matrices.
// Geometry (heads, dims, kernel) comes from the test's config, not from the module.
//
// Also: chunked == recurrent forms, decoding with a cache (prefill, single tokens, uneven pieces)
// == the cache-free forward, gradients reach every parameter, and the decay initialisation.
//
// Tolerances: 1e-10 absolute in float64 (values are O(1); the sides differ only by the order of
// sums, ~1e-15), 1e-5 in float32.
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/linear_attention.h"
#include "tests/core/eigen_reference.h"

using namespace beyond;

namespace {

using namespace beyond::eigen_ref;

constexpr double kTol = 1e-10;

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus(double x) { return std::log1p(std::exp(x)); }

// silu(sum_j w[c, j] x[t - kernel + 1 + j, c]), zeros before the first row.
Mat ref_short_conv(const at::Tensor& weight, const Mat& x) {
  const Mat w = to_mat(weight);  // [C, kernel]
  const int64_t T = x.rows(), C = x.cols(), kernel = w.cols();
  Mat y(T, C);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t j = 0; j < kernel; ++j) {
        const int64_t src = t - kernel + 1 + j;
        if (src >= 0) s += w(c, j) * x(src, c);
      }
      y(t, c) = silu(s);
    }
  return y;
}

TransformerConfig linear_cfg(const std::string& mixer, int64_t conv, int64_t k_heads = 2) {
  TransformerConfig cfg;
  cfg.d_model = 32;
  cfg.n_heads = 4;
  cfg.linear_mixer = mixer;
  cfg.linear_heads = 4;
  cfg.linear_k_heads = k_heads;
  cfg.linear_head_dim = 8;
  cfg.linear_v_head_dim = 6;  // differs from dk so that a swapped dimension cannot pass
  cfg.linear_conv = conv;
  cfg.linear_chunk = 8;
  cfg.norm_eps = 1e-5;
  return cfg;
}

// Random values for every weight, so that unit norm scales or zero biases cannot hide a missing
// term; A_log and dt_bias stay moderate so that the state remembers across a few tokens.
LinearAttention make_layer(const TransformerConfig& cfg, at::ScalarType dtype, uint64_t seed = 7) {
  torch::manual_seed(seed);
  LinearAttention m(cfg);
  at::NoGradGuard no_grad;
  for (auto& item : m->named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    if (name == "A_log") p.uniform_(-1.5, 0.5);
    else if (name == "dt_bias") p.uniform_(-2.0, 0.0);
    else if (name.find("conv") != std::string::npos) p.uniform_(-0.6, 0.6);
    else p.normal_(0.0, 0.3);
  }
  m->to(dtype);
  return m;
}

// One sequence x [T, D] through the layer, from a zero state, written from cfg and the weights.
Mat ref_layer(LinearAttentionImpl& m, const TransformerConfig& cfg, const Mat& x) {
  const bool kda = cfg.linear_mixer == "kda";
  const int64_t T = x.rows(), Hk = cfg.linear_qk_heads(), Hv = cfg.linear_v_heads();
  const int64_t dk = cfg.linear_k_dim(), dv = cfg.linear_v_dim(), group = Hv / Hk;

  Mat q = ref_linear(m.q_proj, x), k = ref_linear(m.k_proj, x), v = ref_linear(m.v_proj, x);
  if (cfg.linear_conv > 0) {
    q = ref_short_conv(m.q_conv->weight.view({-1, cfg.linear_conv}), q);
    k = ref_short_conv(m.k_conv->weight.view({-1, cfg.linear_conv}), k);
    v = ref_short_conv(m.v_conv->weight.view({-1, cfg.linear_conv}), v);
  } else {
    q = q.unaryExpr(&silu), k = k.unaryExpr(&silu), v = v.unaryExpr(&silu);
  }
  // L2 norm per head (eps 1e-6 inside the root), q also scaled by dk^-1/2.
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < Hk; ++h) {
      auto qh = q.block(t, h * dk, 1, dk), kh = k.block(t, h * dk, 1, dk);
      qh /= std::sqrt(qh.squaredNorm() + 1e-6) * std::sqrt(static_cast<double>(dk));
      kh /= std::sqrt(kh.squaredNorm() + 1e-6);
    }
  const Mat b = ref_linear(m.b_proj, x);
  const Vec A_log = to_vec(m.A_log), dt_bias = to_vec(m.dt_bias);
  // Log decay per (t, value head, key channel); GDN repeats its per-head scalar over the channels.
  const Mat f = kda ? ref_linear(m.f_up, ref_linear(m.f_down, x)) : ref_linear(m.a_proj, x);
  const auto log_decay = [&](int64_t t, int64_t h, int64_t d) {
    return kda ? -std::exp(A_log[h]) * softplus(f(t, h * dk + d) + dt_bias[h * dk + d])
               : -std::exp(A_log[h]) * softplus(f(t, h) + dt_bias[h]);
  };

  Mat o(T, Hv * dv);
  for (int64_t h = 0; h < Hv; ++h) {
    const int64_t hk = h / group;
    Mat H = Mat::Zero(dk, dv);
    for (int64_t t = 0; t < T; ++t) {
      const Vec kt = k.block(t, hk * dk, 1, dk).transpose(), qt = q.block(t, hk * dk, 1, dk).transpose();
      const Vec vt = v.block(t, h * dv, 1, dv).transpose();
      const double beta = sigmoid(b(t, h));
      Vec alpha(dk);
      for (int64_t d = 0; d < dk; ++d) alpha[d] = std::exp(log_decay(t, h, d));
      const Mat householder = Mat::Identity(dk, dk) - beta * kt * kt.transpose();
      H = householder * alpha.asDiagonal() * H + beta * kt * vt.transpose();
      o.block(t, h * dv, 1, dv) = (H.transpose() * qt).transpose();
    }
  }

  // RMSNorm over dv per head (one weight shared by the heads), times the gate, then o_proj.
  const Vec w = to_vec(m.o_norm->weight);
  Mat gate = kda ? ref_linear(m.g_up, ref_linear(m.g_down, x)).unaryExpr(&sigmoid)
                 : ref_linear(m.g_proj, x).unaryExpr(&silu);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < Hv; ++h) {
      auto oh = o.block(t, h * dv, 1, dv);
      const double rms = std::sqrt(oh.squaredNorm() / static_cast<double>(dv) + cfg.norm_eps);
      for (int64_t c = 0; c < dv; ++c) oh(0, c) = oh(0, c) / rms * w[c] * gate(t, h * dv + c);
    }
  return ref_linear(m.o_proj, o);
}

void expect_matches_reference(const TransformerConfig& cfg) {
  auto m = make_layer(cfg, at::kDouble);
  torch::manual_seed(3);
  const auto x = at::randn({2, 13, cfg.d_model}, at::kDouble);
  const auto y = m->forward(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  for (int64_t b = 0; b < x.size(0); ++b) {
    const Mat ref = ref_layer(*m, cfg, to_mat(x[b]));
    EXPECT_LT((to_mat(y[b]) - ref).cwiseAbs().maxCoeff(), kTol) << cfg.linear_mixer << " batch " << b;
    EXPECT_GT(ref.cwiseAbs().maxCoeff(), 1e-2);  // not trivially zero
  }
}

// Runs x through the layer with a cache in pieces of the given lengths; returns the outputs
// concatenated over time and leaves the cache for inspection.
at::Tensor forward_in_pieces(LinearAttentionImpl& m, const at::Tensor& x, const std::vector<int64_t>& pieces,
                             LayerCache& cache) {
  std::vector<at::Tensor> outs;
  int64_t start = 0;
  for (const int64_t n : pieces) {
    outs.push_back(m.forward(x.narrow(1, start, n), &cache));
    start += n;
  }
  EXPECT_EQ(start, x.size(1));
  return at::cat(outs, 1);
}

}  // namespace

TEST(ShortConv, MatchesLoopOverTaps) {
  torch::manual_seed(1);
  ShortConv conv(5, 4);
  conv->to(at::kDouble);
  EXPECT_EQ(conv->weight.sizes(), (std::vector<int64_t>{5, 1, 4}));
  const auto x = at::randn({2, 9, 5}, at::kDouble);
  const auto y = conv->forward(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  for (int64_t b = 0; b < 2; ++b) {
    const Mat ref = ref_short_conv(conv->weight.view({5, 4}), to_mat(x[b]));
    EXPECT_LT((to_mat(y[b]) - ref).cwiseAbs().maxCoeff(), kTol);
  }
}

TEST(ShortConv, SplitCallsWithStateEqualOneCall) {
  torch::manual_seed(2);
  ShortConv conv(6, 4);
  conv->to(at::kDouble);
  const auto x = at::randn({2, 11, 6}, at::kDouble);
  const auto whole = conv->forward(x);
  // Pieces shorter than kernel-1 too: the state must then mix old and new inputs.
  at::Tensor state;
  std::vector<at::Tensor> outs;
  int64_t start = 0;
  for (const int64_t n : {1, 2, 1, 5, 2}) {
    outs.push_back(conv->forward(x.narrow(1, start, n), &state));
    start += n;
    ASSERT_EQ(state.sizes(), (std::vector<int64_t>{2, 6, 3}));
  }
  EXPECT_LT(max_abs(at::cat(outs, 1), whole), kTol);
  // The state is the last kernel-1 inputs, channels first.
  EXPECT_EQ(max_abs(state, x.narrow(1, 8, 3).transpose(1, 2)), 0.0);
}

TEST(LinearAttention, GatedDeltaNetMatchesReference) {
  for (const std::string form : {"recurrent", "chunked"}) {
    auto cfg = linear_cfg("gated_deltanet", 4);
    cfg.linear_form = form;
    expect_matches_reference(cfg);
  }
  expect_matches_reference(linear_cfg("gated_deltanet", 0, /*k_heads=*/4));
}

TEST(LinearAttention, KimiDeltaAttentionMatchesReference) {
  for (const std::string form : {"recurrent", "chunked"}) {
    auto cfg = linear_cfg("kda", 4);
    cfg.linear_form = form;
    expect_matches_reference(cfg);
  }
  expect_matches_reference(linear_cfg("kda", 0, /*k_heads=*/4));
}

TEST(LinearAttention, ChunkedEqualsRecurrent) {
  for (const std::string mixer : {"gated_deltanet", "kda"})
    for (const auto dtype : {at::kDouble, at::kFloat}) {
      auto cfg = linear_cfg(mixer, 4);
      auto m = make_layer(cfg, dtype);
      torch::manual_seed(4);
      const auto x = at::randn({2, 21, cfg.d_model}, dtype);  // 21 = 2 chunks of 8 and a tail of 5
      m->form = "chunked";
      const auto chunked = m->forward(x);
      m->form = "recurrent";
      const auto recurrent = m->forward(x);
      EXPECT_LT(max_abs(chunked, recurrent), dtype == at::kDouble ? kTol : 1e-5) << mixer << " " << dtype;
    }
}

TEST(LinearAttention, DecodingWithCacheEqualsFullForward) {
  const int64_t T = 16;
  const std::vector<std::vector<int64_t>> schedules = {
      {7, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // prefill then one token at a time
      {1, 5, 1, 3, 6},                 // starts from a single token, uneven pieces
  };
  for (const std::string mixer : {"gated_deltanet", "kda"})
    for (const int64_t conv : {0, 4}) {
      const auto cfg = linear_cfg(mixer, conv, /*k_heads=*/2);  // GVA: 2 key heads serve 4 value heads
      auto m = make_layer(cfg, at::kDouble);
      torch::manual_seed(5);
      const auto x = at::randn({2, T, cfg.d_model}, at::kDouble);
      const auto full = m->forward(x);
      for (const auto& pieces : schedules) {
        LayerCache cache;
        const auto y = forward_in_pieces(*m, x, pieces, cache);
        EXPECT_LT(max_abs(y, full), kTol) << mixer << " conv " << conv << " first piece " << pieces[0];
        EXPECT_EQ(cache.len, T);
        EXPECT_EQ(cache.state.sizes(), (std::vector<int64_t>{2, 4, 8, 6}));
        if (conv > 0) EXPECT_EQ(cache.conv_state.sizes(), (std::vector<int64_t>{2, 2 * 2 * 8 + 4 * 6, conv - 1}));
        else EXPECT_FALSE(cache.conv_state.defined());
      }
    }
}

TEST(LinearAttention, BackwardReachesEveryParameter) {
  for (const std::string mixer : {"gated_deltanet", "kda"}) {
    const auto cfg = linear_cfg(mixer, 4);
    auto m = make_layer(cfg, at::kFloat);
    torch::manual_seed(6);
    const auto x = at::randn({2, 19, cfg.d_model});
    const auto r = at::randn({2, 19, cfg.d_model});
    (m->forward(x) * r).sum().backward();
    for (const auto& item : m->named_parameters()) {
      const auto& g = item.value().grad();
      ASSERT_TRUE(g.defined()) << mixer << " " << item.key();
      EXPECT_TRUE(at::isfinite(g).all().item<bool>()) << mixer << " " << item.key();
      EXPECT_GT(g.abs().max().item<double>(), 0.0) << mixer << " " << item.key();
    }
  }
}

TEST(LinearAttention, DecayInitialisation) {
  for (const std::string mixer : {"gated_deltanet", "kda"}) {
    torch::manual_seed(8);
    auto cfg = linear_cfg(mixer, 4);
    cfg.linear_heads = 64;
    cfg.linear_k_heads = 64;
    cfg.norm_offset = true;
    LinearAttention m(cfg);
    // exp(A_log) ~ U(1, 16); softplus(dt_bias) = dt, log-uniform in [1e-3, 0.1].
    const auto A = m->A_log.exp();
    EXPECT_GE(A.min().item<double>(), 1.0);
    EXPECT_LE(A.max().item<double>(), 16.0);
    EXPECT_GT(A.max().item<double>() - A.min().item<double>(), 7.0);  // spread, not a constant
    const auto dt = at::softplus(m->dt_bias.to(at::kDouble));
    EXPECT_EQ(m->dt_bias.numel(), mixer == "kda" ? 64 * 8 : 64);
    EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-4));
    EXPECT_LE(dt.max().item<double>(), 0.1 * (1 + 1e-4));
    EXPECT_LT(dt.min().item<double>(), 3e-3);
    EXPECT_GT(dt.max().item<double>(), 3e-2);
    // The output norm is a plain scale starting at 1, also under norm_offset.
    EXPECT_EQ(m->o_norm->weight.sizes(), (std::vector<int64_t>{6}));
    EXPECT_FALSE(m->o_norm->offset);
    EXPECT_EQ(m->o_norm->weight.min().item<double>(), 1.0);
    EXPECT_EQ(m->o_norm->weight.max().item<double>(), 1.0);
  }
}
