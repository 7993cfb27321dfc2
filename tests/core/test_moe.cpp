// Mixture of experts: the grouped (gather / scatter) forward against the dense reference and
// against a per-token loop that routes by hand (explicit softmax or sigmoid, top k by sorting);
// routings worked out by hand with chosen router weights; the selection bias; the load, its
// imbalance and the bias update; gradients.
//
// Tolerance: 1e-12 absolute in float64 (values are O(1); the sides differ only by the order of
// floating-point sums).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/moe.h"

using namespace beyond;

namespace {

constexpr double kTol = 1e-12;

TransformerConfig moe_cfg(int64_t experts, int64_t top_k, const std::string& router, int64_t n_shared = 0,
                          const std::string& mlp = "swiglu", int64_t d_model = 8) {
  TransformerConfig cfg;
  cfg.d_model = d_model;
  cfg.mlp = mlp;
  cfg.mlp_ratio = 2.0;
  cfg.moe_experts = experts;
  cfg.moe_top_k = top_k;
  cfg.moe_router = router;
  cfg.moe_shared_experts = n_shared;
  return cfg;
}

// A float64 MoE with every parameter random (so zero biases or a shared weight cannot hide a term).
MoE make_moe(const TransformerConfig& cfg, uint64_t seed = 0) {
  torch::manual_seed(seed);
  MoE moe(cfg);
  moe->to(at::kDouble);
  at::NoGradGuard no_grad;
  for (auto& p : moe->parameters()) p.normal_(0.0, 0.4);
  return moe;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

at::Tensor expert_out(MoE& moe, int64_t e, const at::Tensor& x) { return moe->experts->ptr<MLPImpl>(e)->forward(x); }

// Per token, with no batching: router logits as a dot product per expert, softmax or sigmoid
// written out, the top k by sorting (score + bias for sigmoid_bias), each chosen expert called on
// that one token.
at::Tensor per_token_reference(MoE& moe, const at::Tensor& x) {
  const int64_t D = x.size(-1), E = moe->n_experts, K = moe->top_k;
  const auto flat = x.reshape({-1, D});
  const auto W = moe->router->weight;
  const auto bias = moe->selection_bias.to(at::kDouble);
  auto out = at::zeros_like(flat);
  for (int64_t n = 0; n < flat.size(0); ++n) {
    const auto xn = flat[n];
    std::vector<double> logit(E), score(E), rank_by(E);
    for (int64_t e = 0; e < E; ++e) {
      logit[e] = moe->router->bias.defined() ? moe->router->bias[e].item<double>() : 0.0;
      for (int64_t d = 0; d < D; ++d) logit[e] += W[e][d].item<double>() * xn[d].item<double>();
    }
    if (moe->router_kind == "softmax") {
      const double mx = *std::max_element(logit.begin(), logit.end());
      double z = 0;
      for (int64_t e = 0; e < E; ++e) z += std::exp(logit[e] - mx);
      for (int64_t e = 0; e < E; ++e) score[e] = rank_by[e] = std::exp(logit[e] - mx) / z;
    } else {
      for (int64_t e = 0; e < E; ++e) {
        score[e] = 1.0 / (1.0 + std::exp(-logit[e]));
        rank_by[e] = score[e] + bias[e].item<double>();
      }
    }
    std::vector<int64_t> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rank_by[a] > rank_by[b]; });
    double chosen_sum = 0;
    for (int64_t j = 0; j < K; ++j) chosen_sum += score[order[j]];
    auto yn = at::zeros({D}, x.options());
    for (int64_t j = 0; j < K; ++j) {
      const int64_t e = order[j];
      yn += score[e] / chosen_sum * expert_out(moe, e, xn.unsqueeze(0))[0];
    }
    yn *= moe->routed_scale;
    double gate = 1.0;
    if (moe->shared_gate) {
      double z = 0;
      for (int64_t d = 0; d < D; ++d) z += moe->shared_gate->weight[0][d].item<double>() * xn[d].item<double>();
      gate = 1.0 / (1.0 + std::exp(-z));
    }
    for (size_t s = 0; s < moe->shared->size(); ++s)
      yn += gate * moe->shared->ptr<MLPImpl>(s)->forward(xn.unsqueeze(0))[0];
    out[n] = yn;
  }
  return out.view(x.sizes());
}

// Sets the router to the identity (D == E), so a token's logits are its own coordinates.
void identity_router(MoE& moe) {
  at::NoGradGuard no_grad;
  moe->router->weight.copy_(at::eye(moe->n_experts, at::kDouble));
}

}  // namespace

TEST(MoE, ForwardMatchesDenseAndPerTokenReferences) {
  const int64_t E = 4;
  int cases = 0;
  for (const std::string router : {"softmax", "sigmoid_bias"}) {
    for (const int64_t k : {int64_t{1}, int64_t{2}, E}) {
      for (const int64_t n_shared : {int64_t{0}, int64_t{2}}) {
        for (const std::string mlp : {"swiglu", "gelu"}) {
          SCOPED_TRACE(router + " top-" + std::to_string(k) + " shared " + std::to_string(n_shared) + " " + mlp);
          auto cfg = moe_cfg(E, k, router, n_shared, mlp);
          cfg.bias = (cases % 2 == 1);  // expert biases on in every other case
          cfg.moe_routed_scale = router == "sigmoid_bias" ? 2.5 : 1.0;
          auto moe = make_moe(cfg, 100 + cases++);
          if (router == "sigmoid_bias") {
            // A selection bias of the size of the score gaps, so it changes some choices.
            at::NoGradGuard no_grad;
            moe->selection_bias.copy_(at::tensor({0.2, -0.1, 0.0, 0.15}));
          }
          torch::manual_seed(7);
          const auto x = at::randn({2, 5, cfg.d_model}, at::kDouble);
          const auto y = moe->forward(x);
          EXPECT_EQ(y.sizes(), x.sizes());
          EXPECT_LT(max_abs_diff(y, moe->forward_dense_reference(x)), kTol);
          EXPECT_LT(max_abs_diff(y, per_token_reference(moe, x)), kTol);
        }
      }
    }
  }
}

// gpt-oss's router bias and clamped-SwiGLU experts, Qwen3-Next's gated shared expert: the grouped
// forward against the dense reference and the per-token loop, for both routers.
TEST(MoE, RouterBiasSharedGateAndClampedExperts) {
  for (const std::string router : {"softmax", "sigmoid_bias"}) {
    SCOPED_TRACE(router);
    auto cfg = moe_cfg(4, 2, router, 1, "clamped_swiglu");
    cfg.moe_router_bias = true;
    cfg.moe_shared_gate = true;
    auto moe = make_moe(cfg, 31);
    ASSERT_TRUE(moe->router->bias.defined());
    ASSERT_TRUE(moe->shared_gate);
    torch::manual_seed(8);
    const auto x = at::randn({2, 5, cfg.d_model}, at::kDouble) * 3.0;
    const auto y = moe->forward(x);
    EXPECT_LT(max_abs_diff(y, moe->forward_dense_reference(x)), kTol);
    EXPECT_LT(max_abs_diff(y, per_token_reference(moe, x)), kTol);
  }
}

// A zero gate weight gives sigmoid(0) = 1/2: the output is the routed part plus half the shared expert.
TEST(MoE, SharedGateOfZeroHalvesTheSharedExpert) {
  auto cfg = moe_cfg(4, 2, "softmax", 1);
  cfg.moe_shared_gate = true;
  auto moe = make_moe(cfg, 5);
  auto plain = make_moe(moe_cfg(4, 2, "softmax", 1), 6);
  {
    // The same router, experts and shared expert in both; the gate's weight zero.
    at::NoGradGuard no_grad;
    auto params = moe->named_parameters();
    for (const auto& p : plain->named_parameters()) params[p.key()].copy_(p.value());
    moe->shared_gate->weight.zero_();
  }
  torch::manual_seed(9);
  const auto x = at::randn({6, cfg.d_model}, at::kDouble);
  const auto shared = moe->shared->ptr<MLPImpl>(0)->forward(x);
  EXPECT_LT(max_abs_diff(moe->forward(x), plain->forward(x) - 0.5 * shared), kTol);
}

TEST(MoE, SharedGateNeedsSharedExperts) {
  auto cfg = moe_cfg(4, 2, "softmax", 0);
  cfg.moe_shared_gate = true;
  EXPECT_THROW(cfg.validate(), InputError);
}

TEST(MoE, FloatInputRoutesInFloat32AndMatchesDense) {
  auto moe = make_moe(moe_cfg(4, 2, "softmax", 1));
  moe->to(at::kFloat);
  torch::manual_seed(3);
  const auto x = at::randn({3, 4, 8});
  const auto y = moe->forward(x);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_LT(max_abs_diff(y, moe->forward_dense_reference(x)), 1e-5);
}

// Router = identity, so token n's logits are x_n. Softmax, top 2 of 4:
//   token 0: x = log(6, 1, 2, 3)      -> p = (6, 1, 2, 3) / 12; experts 0 and 3; weights 6/9, 3/9
//   token 1: x = log(1, 5, 2, 1.5)    -> p = (1, 5, 2, 1.5) / 9.5; experts 1 and 2; weights 5/7, 2/7
// Every expert gets one of the four (token, slot) pairs: load 1/4 each, imbalance 1.
TEST(MoE, HandMadeSoftmaxRouting) {
  auto cfg = moe_cfg(4, 2, "softmax", 0, "swiglu", /*d_model=*/4);
  auto moe = make_moe(cfg);
  identity_router(moe);
  const auto x = at::log(at::tensor({6.0, 1.0, 2.0, 3.0, 1.0, 5.0, 2.0, 1.5}, at::kDouble)).view({2, 4});
  moe->train();
  const auto y = moe->forward(x);
  const auto f = [&](int64_t e, int64_t n) { return expert_out(moe, e, x[n].unsqueeze(0))[0]; };
  EXPECT_LT(max_abs_diff(y[0], 6.0 / 9 * f(0, 0) + 3.0 / 9 * f(3, 0)), kTol);
  EXPECT_LT(max_abs_diff(y[1], 5.0 / 7 * f(1, 1) + 2.0 / 7 * f(2, 1)), kTol);
  // A wrong pair of experts would not pass: expert outputs are far apart.
  EXPECT_GT(max_abs_diff(y[0], 6.0 / 9 * f(0, 0) + 3.0 / 9 * f(2, 0)), 1e-3);

  EXPECT_LT(max_abs_diff(moe->last_load(), at::full({4}, 0.25)), 1e-7);
  EXPECT_NEAR(moe->load_imbalance(), 1.0, 1e-6);
}

// sigmoid_bias, top 2 of 3, router = identity, routed_scale 2.5, one token x = (0, log 3, -log 3):
//   s = sigmoid(x) = (1/2, 3/4, 1/4).
//   No bias: top 2 of s = experts 1, 0; weights 0.75/1.25 = 0.6, 0.5/1.25 = 0.4.
//   Bias (0, 0, 0.3): s + b = (0.5, 0.75, 0.55) -> experts 1, 2; the weights come from s alone:
//   0.75/(0.75+0.25) = 0.75, 0.25 (not 0.75/1.3, 0.55/1.3 from the biased scores).
TEST(MoE, SelectionBiasChangesChoiceNotWeights) {
  auto cfg = moe_cfg(3, 2, "sigmoid_bias", 0, "gelu", /*d_model=*/3);
  cfg.moe_routed_scale = 2.5;
  auto moe = make_moe(cfg);
  identity_router(moe);
  const auto x = at::tensor({0.0, std::log(3.0), -std::log(3.0)}, at::kDouble).view({1, 3});
  const auto f = [&](int64_t e) { return expert_out(moe, e, x)[0]; };

  EXPECT_LT(max_abs_diff(moe->forward(x)[0], 2.5 * (0.6 * f(1) + 0.4 * f(0))), kTol);
  {
    at::NoGradGuard no_grad;
    moe->selection_bias.copy_(at::tensor({0.0, 0.0, 0.3}));
  }
  const auto y = moe->forward(x)[0];
  EXPECT_LT(max_abs_diff(y, 2.5 * (0.75 * f(1) + 0.25 * f(2))), kTol);
  EXPECT_GT(max_abs_diff(y, 2.5 * (0.75 / 1.3 * f(1) + 0.55 / 1.3 * f(2))), 1e-3);
}

// Without renormalisation (Llama 4) the chosen sigmoid scores weight the experts as they are:
// scores (1/2, 3/4, 1/4) -> experts 1 and 0 with weights 3/4 and 1/2 (not 0.6 and 0.4).
TEST(MoE, WithoutRenormalisationTheRawScoresWeight) {
  auto cfg = moe_cfg(3, 2, "sigmoid_bias", 0, "gelu", /*d_model=*/3);
  cfg.moe_renormalize = false;
  auto moe = make_moe(cfg);
  identity_router(moe);
  const auto x = at::tensor({0.0, std::log(3.0), -std::log(3.0)}, at::kDouble).view({1, 3});
  const auto f = [&](int64_t e) { return expert_out(moe, e, x)[0]; };
  EXPECT_LT(max_abs_diff(moe->forward(x)[0], 0.75 * f(1) + 0.5 * f(0)), kTol);
  EXPECT_LT(max_abs_diff(moe->forward_dense_reference(x)[0], 0.75 * f(1) + 0.5 * f(0)), kTol);
}

// Zero router weights make every score sigmoid(0) = 1/2, so with bias (1, 0, 0, 0) and top 1 every
// token goes to expert 0: load (1, 0, 0, 0), imbalance E = 4. mean load 1/4, so the update is
// b_0 -= rate (over-loaded) and b_e += rate for the others: (1 - 0.01, 0.01, 0.01, 0.01).
TEST(MoE, AllTokensToOneExpertAndBiasUpdate) {
  auto cfg = moe_cfg(4, 1, "sigmoid_bias");
  cfg.moe_bias_rate = 0.01;
  auto moe = make_moe(cfg);
  {
    at::NoGradGuard no_grad;
    moe->router->weight.zero_();
    moe->selection_bias.copy_(at::tensor({1.0, 0.0, 0.0, 0.0}));
  }
  EXPECT_FALSE(moe->last_load().defined());
  moe->eval();
  moe->forward(at::randn({2, 3, 8}, at::kDouble));
  EXPECT_FALSE(moe->last_load().defined()) << "eval forwards must not record the load";
  moe->update_router_bias();  // nothing recorded yet: no change
  EXPECT_LT(max_abs_diff(moe->selection_bias, at::tensor({1.0, 0.0, 0.0, 0.0})), 1e-7);

  moe->train();
  moe->forward(at::randn({2, 3, 8}, at::kDouble));
  EXPECT_LT(max_abs_diff(moe->last_load(), at::tensor({1.0, 0.0, 0.0, 0.0}).to(at::kFloat)), 1e-7);
  EXPECT_NEAR(moe->load_imbalance(), 4.0, 1e-6);
  moe->update_router_bias();
  EXPECT_LT(max_abs_diff(moe->selection_bias, at::tensor({0.99, 0.01, 0.01, 0.01})), 1e-6);
  // The bias is a buffer: checkpointed, never handed to the optimizer.
  EXPECT_EQ(moe->named_buffers().size(), 1u);
  EXPECT_TRUE(moe->named_buffers().contains("selection_bias"));
  for (const auto& p : moe->named_parameters()) EXPECT_EQ(p.key().find("selection_bias"), std::string::npos);
}

// Softmax, top 1, router = identity, every token's largest coordinate is its first: all go to
// expert 0 (imbalance E = 4), and update_router_bias leaves the bias alone.
TEST(MoE, SoftmaxRouterCollapseAndNoBiasUpdate) {
  auto moe = make_moe(moe_cfg(4, 1, "softmax", 0, "swiglu", /*d_model=*/4));
  identity_router(moe);
  auto x = at::rand({5, 4}, at::kDouble);
  x.select(1, 0).fill_(2.0);
  moe->train();
  moe->forward(x);
  EXPECT_NEAR(moe->load_imbalance(), 4.0, 1e-6);
  moe->update_router_bias();
  EXPECT_EQ(moe->selection_bias.abs().sum().item<double>(), 0.0);
}

// Gradients of the grouped forward equal the dense reference's for the input, the router, every
// expert and the shared expert; the router's and the used experts' are finite and non-zero.
TEST(MoE, GradientsMatchDenseReference) {
  for (const std::string router : {"softmax", "sigmoid_bias"}) {
    SCOPED_TRACE(router);
    auto moe = make_moe(moe_cfg(4, 2, router, 1), 5);
    moe->train();
    torch::manual_seed(9);
    const auto x = at::randn({2, 4, 8}, at::kDouble).requires_grad_(true);
    const auto r = at::randn({2, 4, 8}, at::kDouble);
    const auto named = moe->named_parameters();
    std::vector<at::Tensor> inputs{x};
    for (const auto& p : named) inputs.push_back(p.value());
    const auto grads = [&](const at::Tensor& y) {
      return torch::autograd::grad({(y * r).sum()}, inputs, {}, {}, false, /*allow_unused=*/true);
    };
    const auto g = grads(moe->forward(x));
    const auto g_ref = grads(moe->forward_dense_reference(x));
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto name = i == 0 ? std::string("x") : named[i - 1].key();
      // An expert no token chose gets no gradient from the grouped forward, zeros from the dense one.
      const auto gi = g[i].defined() ? g[i] : at::zeros_like(inputs[i]);
      ASSERT_TRUE(g_ref[i].defined()) << name;
      EXPECT_LT(max_abs_diff(gi, g_ref[i]), kTol) << name;
      EXPECT_TRUE(gi.isfinite().all().item<bool>()) << name;
      const bool unused_expert = name.rfind("experts.", 0) == 0 &&
                                 moe->last_load()[std::stoi(name.substr(8))].item<double>() == 0;
      if (!unused_expert) EXPECT_GT(gi.abs().sum().item<double>(), 0.0) << name;
    }
    EXPECT_TRUE(named.contains("router.weight"));
    EXPECT_TRUE(named.contains("experts.3.down_proj.weight"));
    EXPECT_TRUE(named.contains("shared.0.gate_proj.weight"));
  }
}
