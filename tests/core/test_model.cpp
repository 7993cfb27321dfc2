// Whole-model behaviour: which positions influence which (causal, bidirectional, sliding
// window, mlp_t), KV-cache decoding against full passes, seeding, parameter names, that a small
// model can memorise a text, and the initialisers' statistics.
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model.h"
#include "core/optim.h"

using namespace beyond;

namespace {

TransformerConfig tiny_cfg() {
  TransformerConfig cfg;
  cfg.vocab_size = 50;
  cfg.d_model = 16;
  cfg.n_heads = 2;
  cfg.n_layers = 2;
  cfg.max_seq_len = 16;
  cfg.mlp_ratio = 2.0;
  return cfg;
}

// influence[t][u] = |d <r, f(x)[0, t]> / d x[0, u]|, a random projection r so that no sum cancels.
std::vector<std::vector<double>> influence(const std::function<at::Tensor(const at::Tensor&)>& f, int64_t T,
                                           int64_t D) {
  torch::manual_seed(11);
  const auto x = at::randn({1, T, D}, at::kDouble).requires_grad_(true);
  const auto y = f(x);
  const auto r = at::randn({y.size(2)}, at::kDouble);
  std::vector<std::vector<double>> out(T, std::vector<double>(T));
  for (int64_t t = 0; t < T; ++t) {
    const auto g = torch::autograd::grad({(y[0][t] * r).sum()}, {x}, {}, /*retain_graph=*/true)[0];
    for (int64_t u = 0; u < T; ++u) out[t][u] = g[0][u].abs().sum().item<double>();
  }
  return out;
}

// Checks that influence[t][u] is non-zero exactly where `seen(t, u)`.
void expect_pattern(const std::vector<std::vector<double>>& inf, const std::function<bool(int64_t, int64_t)>& seen) {
  const auto T = static_cast<int64_t>(inf.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t u = 0; u < T; ++u) {
      if (seen(t, u)) EXPECT_GT(inf[t][u], 1e-12) << "output " << t << " should depend on input " << u;
      else EXPECT_EQ(inf[t][u], 0.0) << "output " << t << " must not depend on input " << u;
    }
}

std::function<at::Tensor(const at::Tensor&)> stack_fn(const TransformerConfig& cfg) {
  torch::manual_seed(5);
  Stack stack(cfg);
  stack->to(at::kDouble);
  return [stack](const at::Tensor& x) mutable { return stack->forward(x); };
}

// ---------------------------------------------------------------------------------------------
// Causality

TEST(ModelCausality, CausalStackSeesOnlyThePast) {
  auto cfg = tiny_cfg();
  expect_pattern(influence(stack_fn(cfg), 8, cfg.d_model), [](int64_t t, int64_t u) { return u <= t; });
}

TEST(ModelCausality, CausalLanguageModelIgnoresFutureTokens) {
  // Changing token u leaves the logits before u untouched (bit for bit) and changes those at u.
  auto cfg = tiny_cfg();
  torch::manual_seed(6);
  LanguageModel m(cfg);
  m->eval();
  const auto tokens = at::randint(cfg.vocab_size, {1, 10}, at::kLong);
  const auto base = m(tokens);
  for (int64_t u = 0; u < 10; ++u) {
    auto changed = tokens.clone();
    changed[0][u] = (tokens[0][u].item<int64_t>() + 1) % cfg.vocab_size;
    const auto out = m(changed);
    for (int64_t t = 0; t < 10; ++t) {
      const double diff = (out[0][t] - base[0][t]).abs().max().item<double>();
      if (t < u) {
        EXPECT_EQ(diff, 0.0) << "logits " << t << " changed with token " << u;
      } else if (t == u) {
        EXPECT_GT(diff, 0.0) << "logits " << t << " ignore token " << u;
      }
    }
  }
}

TEST(ModelCausality, BidirectionalSeesEverything) {
  auto cfg = tiny_cfg();
  cfg.causal = false;
  expect_pattern(influence(stack_fn(cfg), 8, cfg.d_model), [](int64_t, int64_t) { return true; });
}

TEST(ModelCausality, SlidingWindowCausalOneLayer) {
  // One layer: the receptive field is exactly the window, t - w < u <= t.
  auto cfg = tiny_cfg();
  cfg.n_layers = 1;
  cfg.sliding_window = 3;
  expect_pattern(influence(stack_fn(cfg), 10, cfg.d_model), [](int64_t t, int64_t u) { return t - 3 < u && u <= t; });
}

TEST(ModelCausality, SlidingWindowCausalTwoLayersWidens) {
  // Two layers chain two windows: t - 2(w - 1) <= u <= t.
  auto cfg = tiny_cfg();
  cfg.n_layers = 2;
  cfg.sliding_window = 3;
  expect_pattern(influence(stack_fn(cfg), 10, cfg.d_model), [](int64_t t, int64_t u) { return t - 4 <= u && u <= t; });
}

TEST(ModelCausality, ChunkedLocalOneLayer) {
  // One C layer with chunks of 4: position t sees the positions of its own chunk up to itself.
  auto cfg = tiny_cfg();
  cfg.n_layers = 1;
  cfg.layer_pattern = "C";
  cfg.attention_chunk = 4;
  expect_pattern(influence(stack_fn(cfg), 10, cfg.d_model), [](int64_t t, int64_t u) { return u <= t && u / 4 == t / 4; });
}

TEST(ModelCausality, SlidingWindowBidirectionalOneLayer) {
  auto cfg = tiny_cfg();
  cfg.n_layers = 1;
  cfg.causal = false;
  cfg.sliding_window = 3;
  expect_pattern(influence(stack_fn(cfg), 10, cfg.d_model), [](int64_t t, int64_t u) { return std::abs(t - u) < 3; });
}

TEST(ModelCausality, LayerPatternMixesGlobalAndSliding) {
  // Window 2: "SS" chains two windows (t - 2 <= u); in "GS" the global layer 0 already sees
  // the whole past, so the output does too.
  auto cfg = tiny_cfg();
  cfg.sliding_window = 2;
  cfg.layer_pattern = "SS";
  expect_pattern(influence(stack_fn(cfg), 8, cfg.d_model), [](int64_t t, int64_t u) { return t - 2 <= u && u <= t; });
  cfg.layer_pattern = "GS";
  expect_pattern(influence(stack_fn(cfg), 8, cfg.d_model), [](int64_t t, int64_t u) { return u <= t; });
}

// ---------------------------------------------------------------------------------------------
// KV cache: decoding step by step equals one full pass. Float64, tolerance 1e-10.

void check_cache(const TransformerConfig& cfg) {
  torch::manual_seed(7);
  LanguageModel m(cfg);
  m->to(at::kDouble);
  m->eval();
  const int64_t T = 11;
  const auto tokens = at::randint(cfg.vocab_size, {2, T}, at::kLong);
  const auto full = m(tokens);
  ASSERT_EQ(full.scalar_type(), at::kDouble);

  // Prefill 4 tokens, then one at a time.
  auto cache = m->make_cache();
  std::vector<at::Tensor> parts{m(tokens.narrow(1, 0, 4), &cache)};
  for (int64_t t = 4; t < T; ++t) {
    parts.push_back(m(tokens.narrow(1, t, 1), &cache));
    EXPECT_EQ(cache.length(), t + 1);
  }
  EXPECT_LT((at::cat(parts, 1) - full).abs().max().item<double>(), 1e-10) << "one token at a time";

  // Chunks of 3 from an empty cache (the last chunk is shorter).
  cache.clear();
  parts.clear();
  for (int64_t t = 0; t < T; t += 3) parts.push_back(m(tokens.narrow(1, t, std::min<int64_t>(3, T - t)), &cache));
  EXPECT_EQ(cache.length(), T);
  EXPECT_LT((at::cat(parts, 1) - full).abs().max().item<double>(), 1e-10) << "chunks of 3";
}

TEST(ModelKVCache, Mha) { check_cache(tiny_cfg()); }

TEST(ModelKVCache, Gqa) {
  auto cfg = tiny_cfg();
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  check_cache(cfg);
}

TEST(ModelKVCache, MqaPartialRopeQkNorm) {
  auto cfg = tiny_cfg();
  cfg.n_heads = 4;
  cfg.n_kv_heads = 1;
  cfg.positional = "partial_rope";
  cfg.rope_fraction = 0.5;
  cfg.qk_norm = true;
  check_cache(cfg);
}

TEST(ModelKVCache, Rope) {
  auto cfg = tiny_cfg();
  cfg.positional = "rope";
  cfg.rope_theta = 100.0;  // larger angles per step, so a wrong position offset shows
  check_cache(cfg);
}

TEST(ModelKVCache, LearnedPositions) {
  auto cfg = tiny_cfg();
  cfg.positional = "learned";
  check_cache(cfg);
}

TEST(ModelKVCache, SlidingWindow) {
  auto cfg = tiny_cfg();
  cfg.sliding_window = 3;
  check_cache(cfg);
  cfg.layer_pattern = "SG";
  check_cache(cfg);
}

// A causal local layer keeps only what a later query can see: a sliding window the last
// window - 1 positions, a chunked layer (Llama 4) the positions of the current chunk, in a buffer
// of at most max(2 bound, bound + feed) with bound = window - 1 or chunk - 1. Yet it decodes
// exactly as the full pass over the whole sequence; the global layer keeps everything. Feeds of 1
// (kept positions slid down without overlap), 2 (with overlap) and 7 tokens (longer than the
// window: the buffer grows), through SDPA and the explicit path (soft-capping), and for MLA's
// latent cache.
TEST(ModelKVCache, LocalLayersForgetWhatNoQueryCanSee) {
  for (const std::string local : {"S", "C"}) {
    for (const std::string variant : {"sdpa", "softcap", "mla"}) {
      auto cfg = tiny_cfg();
      if (variant == "softcap") cfg.attn_softcap = 5.0;
      if (variant == "mla") {
        cfg.attention = "mla";
        cfg.mla_kv_lora_rank = 10;
        cfg.mla_qk_rope_dim = 4;
      }
      cfg.positional = "rope";
      cfg.rope_theta = 100.0;
      cfg.max_seq_len = 48;
      cfg.sliding_window = 4;
      cfg.attention_chunk = 5;
      cfg.layer_pattern = local + "G";
      torch::manual_seed(9);
      LanguageModel m(cfg);
      m->to(at::kDouble);
      m->eval();
      const int64_t T = 40, bound = local == "S" ? cfg.sliding_window - 1 : cfg.attention_chunk - 1;
      // The first position a query after `len` tokens can still see.
      const auto kept_from = [&](int64_t len) {
        return local == "S" ? std::max<int64_t>(0, len - bound) : len / cfg.attention_chunk * cfg.attention_chunk;
      };
      const auto tokens = at::randint(cfg.vocab_size, {2, T}, at::kLong);
      const auto full = m(tokens);
      for (const int64_t feed : {1, 2, 7}) {
        SCOPED_TRACE(local + " " + variant + " feed " + std::to_string(feed));
        auto cache = m->make_cache(T);
        std::vector<at::Tensor> parts;
        for (int64_t t = 0; t < T; t += feed) {
          const int64_t n = std::min(feed, T - t);
          parts.push_back(m(tokens.narrow(1, t, n), &cache));
          const auto& layer = cache.layers[0];
          EXPECT_EQ(layer.length(), t + n);
          EXPECT_EQ(layer.start, kept_from(t + n)) << "at " << t;
          EXPECT_LE(layer.k.size(2), std::max(2 * bound, bound + feed)) << "the local layer's buffer stays small";
          EXPECT_EQ(cache.layers[1].start, 0);
        }
        EXPECT_LT((at::cat(parts, 1) - full).abs().max().item<double>(), 1e-10);
        // k and v (MLA: latent and rope key) per position, batch 2, float64: T on the global layer.
        const int64_t per_position = variant == "mla" ? 2 * (cfg.mla_kv_lora_rank + cfg.mla_qk_rope_dim) * 8
                                                      : 2 * 2 * cfg.kv_heads() * cfg.dim_per_head() * 8;
        EXPECT_EQ(cache.bytes(), per_position * (T + T - kept_from(T)));
      }
    }
  }
}

TEST(ModelKVCache, Float32) {
  // The dtype models actually run in: same check at float32 precision.
  auto cfg = tiny_cfg();
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  torch::manual_seed(8);
  LanguageModel m(cfg);
  m->eval();
  const auto tokens = at::randint(cfg.vocab_size, {1, 9}, at::kLong);
  const auto full = m(tokens);
  auto cache = m->make_cache();
  std::vector<at::Tensor> parts{m(tokens.narrow(1, 0, 3), &cache)};
  for (int64_t t = 3; t < 9; ++t) parts.push_back(m(tokens.narrow(1, t, 1), &cache));
  EXPECT_LT((at::cat(parts, 1) - full).abs().max().item<double>(), 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Seeding

at::Tensor seeded_output(uint64_t seed) {
  torch::manual_seed(seed);
  auto cfg = tiny_cfg();
  LanguageModel m(cfg);
  const auto tokens = at::arange(10, at::kLong).remainder(cfg.vocab_size).unsqueeze(0);
  return m(tokens).detach();
}

TEST(ModelSeed, SameSeedSameOutput) {
  const auto a = seeded_output(123), b = seeded_output(123), c = seeded_output(124);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::allclose(a, c));
}

// ---------------------------------------------------------------------------------------------
// Parameter names

std::set<std::string> names_of(torch::nn::Module& m) {
  std::set<std::string> names;
  for (const auto& item : m.named_parameters()) names.insert(item.key());
  return names;
}

TEST(ModelNames, FollowHuggingFaceHabit) {
  auto cfg = tiny_cfg();
  LanguageModel m(cfg);
  const auto names = names_of(*m);
  for (const char* want : {"embed_tokens.weight", "blocks.0.attn.q_proj.weight", "blocks.0.attn.k_proj.weight",
                           "blocks.0.attn.v_proj.weight", "blocks.0.attn.o_proj.weight",
                           "blocks.1.attn.q_proj.weight", "blocks.0.mlp.gate_proj.weight",
                           "blocks.0.mlp.up_proj.weight", "blocks.0.mlp.down_proj.weight",
                           "blocks.0.attn_norm.weight", "blocks.0.mlp_norm.weight", "norm.weight"})
    EXPECT_TRUE(names.count(want)) << want;
  for (const auto& n : names) EXPECT_NE(n.rfind("stack.", 0), 0u) << "blocks registered twice: " << n;
  EXPECT_FALSE(names.count("lm_head.weight")) << "tied embeddings need no head";
  // 2 layers x (4 attention + 3 mlp + 2 norms) + embedding + final norm.
  EXPECT_EQ(names.size(), 2u * 9u + 2u);
}

TEST(ModelNames, UntiedHasHeadAndTiedUsesEmbedding) {
  auto cfg = tiny_cfg();
  cfg.tie_embeddings = false;
  LanguageModel untied(cfg);
  EXPECT_TRUE(names_of(*untied).count("lm_head.weight"));

  // Tied: logits are hidden states times the embedding matrix, so scaling the embedding of
  // token 3 by zero zeroes logit 3 everywhere.
  cfg.tie_embeddings = true;
  LanguageModel tied(cfg);
  {
    at::NoGradGuard no_grad;
    tied->embed_tokens->weight[3].zero_();
  }
  const auto logits = tied(at::tensor({0, 1, 2}, at::kLong).unsqueeze(0));
  EXPECT_EQ(logits.select(2, 3).abs().max().item<double>(), 0.0);
}

// ---------------------------------------------------------------------------------------------
// mlp_t mixer

TransformerConfig mlp_t_cfg(int64_t T) {
  auto cfg = tiny_cfg();
  cfg.mixer = "mlp_t";
  cfg.causal = false;
  cfg.positional = "none";
  cfg.max_seq_len = T;
  cfg.n_layers = 1;
  return cfg;
}

TEST(ModelMlpT, EveryPositionSeesAll) {
  const auto cfg = mlp_t_cfg(6);
  expect_pattern(influence(stack_fn(cfg), 6, cfg.d_model), [](int64_t, int64_t) { return true; });
}

TEST(ModelMlpT, SequenceMLPIsSwiGLUAlongTime) {
  // Naive: for every (batch, channel) the length-T column u goes through down(silu(gate u) * up u).
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto mat = [](const at::Tensor& t) {
    const auto c = t.detach().contiguous();
    return Mat(Eigen::Map<const Mat>(c.data_ptr<double>(), c.size(0), c.size(1)));
  };
  const auto vec = [](const at::Tensor& t) {
    const auto c = t.detach().contiguous();
    return Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(c.data_ptr<double>(), c.numel()));
  };
  const int64_t T = 6, D = 5, H = 8;
  torch::manual_seed(9);
  SequenceMLP smlp(T, H, /*bias=*/true);
  smlp->to(at::kDouble);
  const auto x = at::randn({2, T, D}, at::kDouble);
  const auto y = smlp(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  auto& m = *smlp->mlp;
  const Mat wg = mat(m.gate_proj->weight), wu = mat(m.up_proj->weight), wd = mat(m.down_proj->weight);
  const Eigen::VectorXd bg = vec(m.gate_proj->bias), bu = vec(m.up_proj->bias), bd = vec(m.down_proj->bias);
  double worst = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t d = 0; d < D; ++d) {
      Eigen::VectorXd u(T);
      for (int64_t t = 0; t < T; ++t) u[t] = x[b][t][d].item<double>();
      const Eigen::VectorXd g = wg * u + bg, up = wu * u + bu;
      Eigen::VectorXd h(H);
      for (int64_t i = 0; i < H; ++i) h[i] = g[i] / (1.0 + std::exp(-g[i])) * up[i];
      const Eigen::VectorXd out = wd * h + bd;
      for (int64_t t = 0; t < T; ++t) worst = std::max(worst, std::abs(out[t] - y[b][t][d].item<double>()));
    }
  EXPECT_LT(worst, 1e-10);
  EXPECT_THROW(smlp(at::randn({1, T + 1, D}, at::kDouble)), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// Memorisation: a small model must be able to learn a fixed text by heart.

TEST(ModelOverfit, MemorisesFixedText) {
  const std::string text =
      "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
      "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
      "of Light, i";
  ASSERT_EQ(text.size(), 200u);
  std::vector<int64_t> bytes(text.begin(), text.end());
  const auto tokens = at::tensor(bytes, at::kLong).unsqueeze(0);
  const auto inputs = tokens.narrow(1, 0, 199), targets = tokens.narrow(1, 1, 199);

  TransformerConfig cfg;
  cfg.vocab_size = 256;
  cfg.d_model = 64;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.max_seq_len = 256;
  torch::manual_seed(0);
  LanguageModel m(cfg);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& item : m->named_parameters()) named.emplace_back(item.key(), item.value());
  AdamW opt(named, {});
  m->train();
  const auto start = std::chrono::steady_clock::now();
  double loss_value = 1e9;
  int step = 0;
  for (; step < 600 && loss_value >= 0.02; ++step) {
    opt.zero_grad();
    const auto logits = m(inputs);
    const auto loss = at::cross_entropy_loss(logits.view({-1, cfg.vocab_size}), targets.reshape({-1}));
    loss.backward();
    opt.step(3e-3);
    loss_value = loss.item<double>();
  }
  m->eval();
  at::NoGradGuard no_grad;
  const auto final_loss =
      at::cross_entropy_loss(m(inputs).view({-1, cfg.vocab_size}), targets.reshape({-1})).item<double>();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(final_loss, 0.05) << "after " << step << " steps, " << seconds << " s";
  // Memorised means greedy prediction reproduces the text.
  EXPECT_TRUE(at::equal(m(inputs).argmax(-1), targets));
}

// ---------------------------------------------------------------------------------------------
// Initialisation

// Standard deviation of N(0, 1) truncated to [-2, 2], from the closed form
// var = 1 - 2 * 2 phi(2) / (Phi(2) - Phi(-2)).
double truncated_unit_std() {
  const double phi2 = std::exp(-2.0) / std::sqrt(2.0 * M_PI);
  const double mass = std::erf(2.0 / std::sqrt(2.0));
  return std::sqrt(1.0 - 4.0 * phi2 / mass);
}

TEST(ModelInit, TruncNormalBoundsAndStd) {
  // As JAX's truncated normal: samples cut at +-2 sampling std, then scaled so the result has the
  // requested std; the cut therefore sits at +-2 / 0.8796 = +-2.27 requested std.
  torch::manual_seed(10);
  const double std = 0.3, bound = 2.0 * std / truncated_unit_std();
  auto t = at::empty({1000, 1000});
  trunc_normal_(t, std);
  EXPECT_LE(t.abs().max().item<double>(), bound * (1 + 1e-6));
  EXPECT_GT(t.abs().max().item<double>(), 0.99 * bound);  // the tails reach the cut
  EXPECT_NEAR(t.std().item<double>(), std, 0.02 * std);
  EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.01 * std);
  // Shape of a truncated normal: P(|z| < 1 | |z| < 2) = erf(1/sqrt2) / erf(2/sqrt2) = 0.7152.
  const double inner = (t.abs() < bound / 2.0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(inner, std::erf(1.0 / std::sqrt(2.0)) / std::erf(2.0 / std::sqrt(2.0)), 0.005);
}

TEST(ModelInit, LecunStdIsOneOverSqrtFanIn) {
  TransformerConfig cfg;
  cfg.d_model = 256;
  cfg.n_heads = 4;
  cfg.n_layers = 1;
  cfg.vocab_size = 512;
  cfg.init = "lecun";
  torch::manual_seed(12);
  LanguageModel m(cfg);
  const auto params = m->named_parameters();
  const auto check = [&](const std::string& name, double fan_in) {
    const auto p = params[name];
    EXPECT_NEAR(p.std().item<double>(), 1.0 / std::sqrt(fan_in), 0.03 / std::sqrt(fan_in)) << name;
  };
  check("blocks.0.attn.q_proj.weight", 256);
  check("blocks.0.attn.o_proj.weight", 256);
  check("blocks.0.mlp.gate_proj.weight", 256);
  check("blocks.0.mlp.down_proj.weight", static_cast<double>(cfg.mlp_hidden()));
  check("embed_tokens.weight", 256);  // embeddings: 1 / sqrt(d_model)
  EXPECT_EQ(params["norm.weight"].min().item<double>(), 1.0);
}

TEST(ModelInit, NormalScalesResidualProjections) {
  TransformerConfig cfg;
  cfg.d_model = 256;
  cfg.n_heads = 4;
  cfg.n_layers = 8;
  cfg.bias = true;
  torch::manual_seed(13);
  LanguageModel m(cfg);
  const auto params = m->named_parameters();
  const double residual = 0.02 / std::sqrt(16.0);
  EXPECT_NEAR(params["blocks.0.attn.q_proj.weight"].std().item<double>(), 0.02, 0.02 * 0.03);
  EXPECT_NEAR(params["blocks.3.attn.o_proj.weight"].std().item<double>(), residual, residual * 0.03);
  EXPECT_NEAR(params["blocks.3.mlp.down_proj.weight"].std().item<double>(), residual, residual * 0.03);
  EXPECT_EQ(params["blocks.0.attn.q_proj.bias"].abs().max().item<double>(), 0.0);
}

}  // namespace

// --- The architecture zoo's switches at the whole-model level -------------------------------

TransformerConfig zoo_cfg() {
  auto cfg = tiny_cfg();
  cfg.n_layers = 4;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.max_seq_len = 32;
  cfg.linear_heads = 2;
  cfg.linear_head_dim = 8;
  cfg.linear_chunk = 4;  // several chunks within the test's 11 tokens
  return cfg;
}

TEST(ModelKVCache, GatedDeltaNetHybrid) {
  auto cfg = zoo_cfg();
  cfg.layer_pattern = "LLLG";
  check_cache(cfg);
}

TEST(ModelKVCache, KimiDeltaAttentionHybridWithMla) {
  auto cfg = zoo_cfg();
  cfg.layer_pattern = "LLLG";
  cfg.linear_mixer = "kda";
  cfg.attention = "mla";
  cfg.mla_qk_rope_dim = 0;
  check_cache(cfg);
}

TEST(ModelKVCache, MlaWithDecoupledRope) {
  auto cfg = zoo_cfg();
  cfg.attention = "mla";
  cfg.mla_q_lora_rank = 12;
  cfg.mla_kv_lora_rank = 10;
  cfg.mla_qk_rope_dim = 4;
  check_cache(cfg);
}

TEST(ModelKVCache, SinksSoftcapGateBiasesNoPEAndMoE) {
  auto cfg = zoo_cfg();
  cfg.layer_pattern = "SGNG";
  cfg.sliding_window = 3;
  cfg.attn_sinks = true;
  cfg.attn_softcap = 5.0;
  cfg.logit_softcap = 7.0;
  cfg.attn_output_gate = true;
  cfg.qkv_bias = true;
  cfg.qk_norm = true;
  cfg.qk_norm_scope = "projection";
  cfg.norm_offset = true;
  cfg.rope_theta_local = 500.0;
  cfg.moe_experts = 4;
  cfg.moe_top_k = 2;
  cfg.moe_shared_experts = 1;
  cfg.moe_dense_layers = 1;
  check_cache(cfg);
}

TEST(ModelSchedule, LayerPatternPicksEachBlocksMixerAndChannel) {
  auto cfg = zoo_cfg();
  cfg.n_layers = 8;
  cfg.layer_pattern = "LLLF";
  cfg.moe_experts = 4;
  cfg.moe_dense_layers = 1;
  cfg.moe_every = 2;
  LanguageModel m(cfg);
  for (int64_t i = 0; i < cfg.n_layers; ++i) {
    const auto block = m->stack->blocks[i]->as<Block>();
    const bool linear = i % 4 != 3;
    EXPECT_EQ(static_cast<bool>(block->linear_attn), linear) << "layer " << i;
    EXPECT_EQ(static_cast<bool>(block->attn), !linear) << "layer " << i;
    // Dense layer 0, then MoE on every 2nd layer after it: 2, 4, 6.
    const bool moe = i >= 1 && (i - 1) % 2 == 1;
    EXPECT_EQ(static_cast<bool>(block->moe), moe) << "layer " << i;
    EXPECT_EQ(static_cast<bool>(block->mlp), !moe) << "layer " << i;
  }
  EXPECT_EQ(m->moe_layers().size(), 3u);
}

TEST(ModelSchedule, NoPELayersAndLocalRopeBase) {
  auto cfg = zoo_cfg();
  cfg.layer_pattern = "SGGN";
  cfg.sliding_window = 4;
  cfg.rope_theta = 1e6;
  cfg.rope_theta_local = 1e4;
  LanguageModel m(cfg);
  const auto attn = [&](int64_t i) { return m->stack->blocks[i]->as<Block>()->attn; };
  EXPECT_EQ(attn(0)->window, 4);
  EXPECT_EQ(attn(0)->rope_theta, 1e4);
  EXPECT_EQ(attn(1)->rope_theta, 1e6);
  EXPECT_EQ(attn(1)->rot_dims, cfg.dim_per_head());
  EXPECT_EQ(attn(3)->rot_dims, 0);  // NoPE
  EXPECT_EQ(attn(3)->window, 0);
}

TEST(ModelSchedule, BadPatternsAreInputErrors) {
  auto cfg = zoo_cfg();
  cfg.layer_pattern = "LLXG";
  EXPECT_THROW(cfg.validate(), InputError);
  cfg.layer_pattern = "LLLG";
  cfg.causal = false;  // the delta rule only runs forward in time
  EXPECT_THROW(cfg.validate(), InputError);
  cfg = zoo_cfg();
  cfg.moe_experts = 2;
  cfg.moe_top_k = 3;
  EXPECT_THROW(cfg.validate(), InputError);
}

TEST(ModelLogits, SoftcapIsCTanhOfTheRawLogits) {
  auto cfg = zoo_cfg();
  torch::manual_seed(3);
  LanguageModel raw(cfg);
  cfg.logit_softcap = 0.05;  // small, so the cap really bends the logits
  LanguageModel capped(cfg);
  torch::autograd::GradMode::set_enabled(false);
  for (auto& p : capped->named_parameters()) p.value().copy_(raw->named_parameters()[p.key()]);
  torch::autograd::GradMode::set_enabled(true);
  const auto tokens = at::randint(cfg.vocab_size, {1, 6}, at::kLong);
  const auto r = raw(tokens).to(at::kDouble), c = capped(tokens).to(at::kDouble);
  EXPECT_LE(c.abs().max().item<double>(), 0.05);
  EXPECT_LT((c - 0.05 * at::tanh(r / 0.05)).abs().max().item<double>(), 1e-6);
}

TEST(ModelMtp, PredictsTokenTPlusTwoFromTokensUpToTPlusOne) {
  auto cfg = zoo_cfg();
  cfg.mtp_depth = 1;
  torch::manual_seed(4);
  LanguageModel m(cfg);
  m->to(at::kDouble);
  m->eval();
  at::NoGradGuard no_grad;
  const int64_t T = 9;
  auto tokens = at::randint(cfg.vocab_size, {1, T}, at::kLong);
  const auto base = m->mtp_logits(m->hidden_states(tokens), tokens);
  ASSERT_EQ(base.sizes(), (std::vector<int64_t>{1, T - 1, cfg.vocab_size}));
  // Changing token 5 may change the MTP logits at positions >= 4 (they read token t+1 = 5) only.
  auto changed = tokens.clone();
  changed[0][5] = (changed[0][5].item<int64_t>() + 1) % cfg.vocab_size;
  const auto after = m->mtp_logits(m->hidden_states(changed), changed);
  for (int64_t t = 0; t < T - 1; ++t) {
    const double diff = (after[0][t] - base[0][t]).abs().max().item<double>();
    if (t < 4) EXPECT_EQ(diff, 0.0) << "position " << t;
    else EXPECT_GT(diff, 0.0) << "position " << t;
  }
}
