// The forward process and the training objective against independent references: masking-rate
// statistics, strata, a naive per-position recomputation of the loss from the model's logits,
// gradients, the two normalisations, SUBS and the config.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/config.h"
#include "core/optim.h"
#include "diffusion/masking.h"
#include "diffusion/objective.h"

using namespace beyond;

namespace {

constexpr int64_t kMask = 11;  // vocabulary: tokens 0..10, then MASK

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

double sd_of_mean(double p, double n) { return std::sqrt(p * (1.0 - p) / n); }

LanguageModel tiny_bidirectional(int64_t n_layers = 1, bool tied = true) {
  TransformerConfig cfg;
  cfg.vocab_size = kMask + 1;
  cfg.d_model = 16;
  cfg.n_layers = n_layers;
  cfg.n_heads = 2;
  cfg.max_seq_len = 16;
  cfg.causal = false;
  cfg.tie_embeddings = tied;
  torch::manual_seed(5);
  LanguageModel m(cfg);
  m->to(at::kDouble);  // the references below are computed in float64
  return m;
}

at::Tensor random_tokens(int64_t B, int64_t T, uint64_t seed) { return at::randint(0, kMask, {B, T}, seeded(seed), at::kLong); }

// The masks of a batch, drawn as objective.cpp documents: rates, then masks, from a generator
// seeded by the batch's seed (after the optional length draw, off here).
struct Noise {
  at::Tensor rates, masked, noisy;
};
Noise noise_of(const at::Tensor& tokens, uint64_t seed, const MaskedDiffusionOptions& o, const at::Tensor& maskable = {}) {
  auto gen = seeded(seed);
  const auto rates = sample_mask_rates(tokens.size(0), o.stratified, o.eps, gen);
  auto n = mask_tokens(tokens, rates, kMask, gen, maskable);
  return {rates, n.masked, n.noisy};
}

// The loss written out position by position: for each masked (b, i), the CE of the clean token
// under a softmax over the non-MASK logits, divided by p_b; row b divided by its normaliser (T or
// its maskable count), the rows averaged.
double naive_loss(const at::Tensor& logits, const at::Tensor& tokens, const Noise& noise, const at::Tensor& maskable) {
  const int64_t B = tokens.size(0), T = tokens.size(1), V = logits.size(2);
  const auto x = logits.accessor<double, 3>();
  const auto tok = tokens.accessor<int64_t, 2>();
  const auto m = noise.masked.accessor<bool, 2>();
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    double row = 0.0, count = 0.0;
    for (int64_t i = 0; i < T; ++i) {
      count += maskable.defined() ? (maskable[b][i].item<bool>() ? 1.0 : 0.0) : 1.0;
      if (!m[b][i]) continue;
      double sum = 0.0;
      for (int64_t v = 0; v < V; ++v)
        if (v != kMask) sum += std::exp(x[b][i][v]);
      row += (std::log(sum) - x[b][i][tok[b][i]]) / noise.rates[b].item<double>();
    }
    total += row / std::max(count, 1.0);
  }
  return total / static_cast<double>(B);
}

Batch batch_of(const at::Tensor& tokens, int64_t seed, const at::Tensor& maskable = {}) {
  Batch b{{"tokens", tokens}, {"seed", at::scalar_tensor(seed, at::kLong)}};
  if (maskable.defined()) b["maskable"] = maskable;
  return b;
}

// Row b's first prompt[b] positions are a prompt (not maskable).
at::Tensor answer_mask(int64_t T, const std::vector<int64_t>& prompt) {
  const auto len = at::tensor(prompt, at::kLong).unsqueeze(1);
  return at::arange(T, at::kLong).unsqueeze(0) >= len;
}

}  // namespace

TEST(MaskRates, StratifiedOnePerStratumWithinEpsAndOne) {
  for (const int64_t n : {1, 7, 64, 1000}) {
    for (const double eps : {1e-3, 0.25}) {
      const auto rates = sample_mask_rates(n, true, eps, seeded(static_cast<uint64_t>(n)));
      ASSERT_EQ(rates.scalar_type(), at::kFloat);
      ASSERT_EQ(rates.size(0), n);
      for (int64_t i = 0; i < n; ++i) {
        const double p = rates[i].item<double>();
        const double lo = (1.0 - eps) * static_cast<double>(i) / static_cast<double>(n) + eps;
        const double hi = (1.0 - eps) * static_cast<double>(i + 1) / static_cast<double>(n) + eps;
        EXPECT_GE(p, lo - 1e-6) << "n " << n << " i " << i;
        EXPECT_LT(p, hi + 1e-6) << "n " << n << " i " << i;
        EXPECT_GE(p, static_cast<float>(eps));
        EXPECT_LE(p, 1.0);
      }
    }
  }
}

TEST(MaskRates, UnstratifiedIsUniformOnEpsToOne) {
  const double eps = 0.2, n = 100000;
  const auto rates = sample_mask_rates(100000, false, eps, seeded(1)).to(at::kDouble);
  EXPECT_GE(rates.min().item<double>(), static_cast<float>(eps));
  EXPECT_LE(rates.max().item<double>(), 1.0);
  // p = (1 - eps) t + eps with t ~ U(0, 1): mean (1 + eps) / 2, sd (1 - eps) / sqrt(12).
  EXPECT_NEAR(rates.mean().item<double>(), (1.0 + eps) / 2.0, 4.0 * (1.0 - eps) / std::sqrt(12.0 * n));
  // A quarter of the rates lie below the first quartile of the range.
  const double below = (rates < eps + 0.25 * (1.0 - eps)).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(below, 0.25, 4.0 * sd_of_mean(0.25, n));
}

TEST(MaskTokens, MaskedFractionMatchesRate) {
  const int64_t B = 200, T = 1000;  // 200k tokens per rate
  const auto tokens = random_tokens(B, T, 2);
  for (const double p : {0.01, 0.2, 0.5, 0.9}) {
    const auto n = mask_tokens(tokens, at::full({B}, p, at::kFloat), kMask, seeded(3));
    const double frac = n.masked.to(at::kDouble).mean().item<double>();
    EXPECT_NEAR(frac, p, 4.0 * sd_of_mean(p, B * T)) << "p " << p;
    // MASK exactly where masked, the clean token elsewhere.
    EXPECT_TRUE(at::equal(n.noisy == kMask, n.masked));
    EXPECT_TRUE(at::equal(n.noisy.masked_select(~n.masked), tokens.masked_select(~n.masked)));
  }
  // Each row follows its own rate.
  const auto rates = at::cat({at::full({B / 2}, 0.1, at::kFloat), at::full({B / 2}, 0.8, at::kFloat)});
  const auto n = mask_tokens(tokens, rates, kMask, seeded(4)).masked.to(at::kDouble);
  EXPECT_NEAR(n.narrow(0, 0, B / 2).mean().item<double>(), 0.1, 4.0 * sd_of_mean(0.1, B / 2 * T));
  EXPECT_NEAR(n.narrow(0, B / 2, B / 2).mean().item<double>(), 0.8, 4.0 * sd_of_mean(0.8, B / 2 * T));
}

TEST(MaskTokens, NeverMasksNonMaskablePositions) {
  const int64_t B = 100, T = 500;
  const auto tokens = random_tokens(B, T, 5);
  const auto maskable = at::rand({B, T}, seeded(6)) < 0.3;
  const auto n = mask_tokens(tokens, at::full({B}, 0.9, at::kFloat), kMask, seeded(7), maskable);
  EXPECT_FALSE((n.masked & ~maskable).any().item<bool>());
  EXPECT_TRUE(at::equal(n.noisy.masked_select(~maskable), tokens.masked_select(~maskable)));
  const double among = n.masked.masked_select(maskable).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(among, 0.9, 4.0 * sd_of_mean(0.9, maskable.sum().item<double>()));
  // Rate 1 masks exactly the maskable positions.
  EXPECT_TRUE(at::equal(mask_tokens(tokens, at::ones({B}), kMask, seeded(8), maskable).masked, maskable));
}

TEST(MaskTokens, SameSeedSameMasks) {
  const auto tokens = random_tokens(8, 64, 9);
  const auto rates = at::full({8}, 0.5, at::kFloat);
  const auto a = mask_tokens(tokens, rates, kMask, seeded(10)).masked;
  EXPECT_TRUE(at::equal(a, mask_tokens(tokens, rates, kMask, seeded(10)).masked));
  EXPECT_FALSE(at::equal(a, mask_tokens(tokens, rates, kMask, seeded(11)).masked));
}

TEST(MaskTokens, SameSeedSameMasksOnCuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const auto tokens = random_tokens(8, 64, 9);
  const auto rates = at::full({8}, 0.5, at::kFloat);
  const auto a = mask_tokens(tokens, rates, kMask, seeded(10)).masked;
  const auto on_gpu = mask_tokens(tokens.cuda(), rates.cuda(), kMask, seeded(10));
  EXPECT_TRUE(on_gpu.masked.is_cuda());
  EXPECT_TRUE(at::equal(a, on_gpu.masked.cpu()));
}

TEST(MaskingSubs, MaskHasZeroProbabilityOthersRenormalised) {
  const auto logits = at::randn({2, 3, kMask + 1}, seeded(12), at::kDouble) * 3.0;
  const auto logp = subs_log_probs(logits, kMask);
  ASSERT_EQ(logp.scalar_type(), at::kDouble);
  const auto x = logits.accessor<double, 3>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 3; ++i) {
      double sum = 0.0;
      for (int64_t v = 0; v < kMask; ++v) sum += std::exp(x[b][i][v]);
      for (int64_t v = 0; v < kMask; ++v) EXPECT_NEAR(logp[b][i][v].item<double>(), x[b][i][v] - std::log(sum), 1e-12);
      EXPECT_EQ(logp[b][i][kMask].exp().item<double>(), 0.0);
    }
  }
  // Low precision comes back as float32; p log p of MASK is 0, not NaN.
  const auto low = subs_log_probs(logits.to(at::kBFloat16), kMask);
  EXPECT_EQ(low.scalar_type(), at::kFloat);
  EXPECT_TRUE((low.exp() * low).sum(-1).isfinite().all().item<bool>());
}

TEST(MaskingTransferSchedule, EvenSplitRemainderFirst) {
  EXPECT_EQ(transfer_schedule(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(transfer_schedule(3, 5), (std::vector<int64_t>{1, 1, 1, 0, 0}));
  EXPECT_EQ(transfer_schedule(12, 3), (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(transfer_schedule(0, 2), (std::vector<int64_t>{0, 0}));
}

TEST(MaskedDiffusionObjective, LossIsTheNaiveSumOverMaskedPositions) {
  auto model = tiny_bidirectional();
  MaskedDiffusionOptions o;
  MaskedDiffusionObjective objective(model, kMask, o);
  const auto tokens = random_tokens(6, 12, 13);
  for (const bool with_prompt : {false, true}) {
    const auto maskable = with_prompt ? answer_mask(12, {3, 0, 11, 5, 12, 1}) : at::Tensor();
    for (const int64_t seed : {14, 15, 16}) {
      const auto out = objective.loss(batch_of(tokens, seed, maskable));
      const auto noise = noise_of(tokens, static_cast<uint64_t>(seed), o, maskable);
      at::NoGradGuard no_grad;
      const double expected = naive_loss(model(noise.noisy), tokens, noise, maskable);
      EXPECT_NEAR(out.loss.item<double>(), expected, 1e-10 * expected) << "seed " << seed << " prompt " << with_prompt;
      const double maskable_count = with_prompt ? maskable.sum().item<double>() : 72.0;
      EXPECT_DOUBLE_EQ(out.metrics.at("masked_fraction"), noise.masked.sum().item<double>() / maskable_count);
    }
  }
}

TEST(MaskExactCounts, ExactlyLOfTheMaskablePositionsUniformly) {
  const int64_t B = 3, T = 10, trials = 20000;
  const auto tokens = random_tokens(B, T, 3);
  const auto maskable = answer_mask(T, {0, 4, 9});  // 10, 6 and 1 maskable positions
  const auto counts = at::tensor(std::vector<int64_t>{3, 6, 5}, at::kLong);  // the last asks for more than it has
  auto gen = seeded(4);
  auto hits = at::zeros({B, T}, at::kDouble);
  for (int64_t k = 0; k < trials; ++k) {
    const auto n = mask_exact_counts(tokens, counts, kMask, gen, maskable);
    ASSERT_TRUE(at::equal(n.masked.sum(1), at::tensor(std::vector<int64_t>{3, 6, 1}, at::kLong)));
    ASSERT_FALSE((n.masked & maskable.logical_not()).any().item<bool>());
    ASSERT_TRUE(at::equal(n.noisy, tokens.masked_fill(n.masked, kMask)));
    hits += n.masked.to(at::kDouble);
  }
  // Row 0: every position masked with probability 3/10 (a uniform 3-subset of 10).
  for (int64_t i = 0; i < T; ++i)
    EXPECT_NEAR(hits[0][i].item<double>() / trials, 0.3, 4.0 * sd_of_mean(0.3, trials)) << "position " << i;
}

// Count masking: row b masks exactly l_b = ceil(t_b n_b) of its n_b maskable positions (t_b
// stratified, drawn as objective.cpp documents) and contributes the mean CE over them.
TEST(MaskedDiffusionObjective, CountMaskingIsTheMeanCEOverExactlyLMaskedPositions) {
  auto model = tiny_bidirectional();
  MaskedDiffusionOptions o;
  o.masking = "count";
  MaskedDiffusionObjective objective(model, kMask, o);
  const int64_t B = 6, T = 12;
  const auto tokens = random_tokens(B, T, 21);
  for (const bool with_prompt : {false, true}) {
    const auto maskable = with_prompt ? answer_mask(T, {3, 0, 11, 5, 12, 1}) : at::Tensor();
    for (const int64_t seed : {22, 23}) {
      auto gen = seeded(static_cast<uint64_t>(seed));
      const auto t = sample_mask_rates(B, true, 0.0, gen).to(at::kDouble);
      std::vector<int64_t> l(B);
      double expected = 0.0;
      at::Tensor masked;
      for (int64_t b = 0; b < B; ++b) {
        const double n = with_prompt ? maskable[b].sum().item<double>() : static_cast<double>(T);
        l[b] = std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(std::ceil(t[b].item<double>() * n)),
                                                      std::max<int64_t>(1, static_cast<int64_t>(n))));
        EXPECT_GE(t[b].item<double>(), static_cast<double>(b) / B);  // one t per stratum
      }
      const auto noise = mask_exact_counts(tokens, at::tensor(l, at::kLong), kMask, gen, maskable);
      at::NoGradGuard no_grad;
      const auto logits = model(noise.noisy);
      for (int64_t b = 0; b < B; ++b) {
        double row = 0.0;
        int64_t m = 0;
        for (int64_t i = 0; i < T; ++i) {
          if (!noise.masked[b][i].item<bool>()) continue;
          double sum = 0.0;
          for (int64_t v = 0; v < kMask; ++v) sum += std::exp(logits[b][i][v].item<double>());
          row += std::log(sum) - logits[b][i][tokens[b][i].item<int64_t>()].item<double>();
          ++m;
        }
        if (m > 0) {
          EXPECT_EQ(m, l[b]);
          expected += row / static_cast<double>(m);
        }
      }
      expected /= static_cast<double>(B);
      const auto out = objective.loss(batch_of(tokens, seed, maskable));
      EXPECT_NEAR(out.loss.item<double>(), expected, 1e-10 * expected) << "seed " << seed << " prompt " << with_prompt;
    }
  }
}

TEST(MaskedDiffusionObjective, NormalisationByTOrByAnswerLength) {
  auto model = tiny_bidirectional();
  MaskedDiffusionObjective objective(model, kMask);
  const auto tokens = random_tokens(4, 10, 17);
  // Everything maskable: the answer length is T, the same loss as without "maskable".
  const auto all = at::ones({4, 10}, at::kBool);
  EXPECT_NEAR(objective.loss(batch_of(tokens, 18, all)).loss.item<double>(),
              objective.loss(batch_of(tokens, 18)).loss.item<double>(), 1e-12);
  // Row 0's answer is its last token alone, the other rows have none: the loss is
  // (that token masked ? CE / p_0 / 1 : 0) / B with B = 4, whatever T is.
  const auto one = at::zeros({4, 10}, at::kBool);
  one[0][9] = true;
  for (int64_t seed = 0; seed < 40; ++seed) {
    const auto out = objective.loss(batch_of(tokens, seed, one)).loss.item<double>();
    const auto noise = noise_of(tokens, static_cast<uint64_t>(seed), MaskedDiffusionOptions{}, one);
    if (!noise.masked[0][9].item<bool>()) {
      EXPECT_EQ(out, 0.0);
      continue;
    }
    at::NoGradGuard no_grad;
    const auto x = model(noise.noisy)[0][9].narrow(0, 0, kMask);
    const double ce = (x.logsumexp(0) - x[tokens[0][9].item<int64_t>()]).item<double>();
    EXPECT_NEAR(out, ce / noise.rates[0].item<double>() / 4.0, 1e-10 * out);
  }
  // No maskable position at all: a zero loss, not NaN.
  EXPECT_EQ(objective.loss(batch_of(tokens, 19, at::zeros({4, 10}, at::kBool))).loss.item<double>(), 0.0);
}

TEST(MaskedDiffusionObjective, UnmaskedPositionsGetNoGradient) {
  // No blocks and untied embeddings: position i's logits are a function of token i alone, so the
  // input-embedding row of a clean token v collects the logit gradients of exactly the unmasked
  // positions holding v, and the MASK row those of the masked positions.
  auto model = tiny_bidirectional(0, false);
  MaskedDiffusionObjective objective(model, kMask);
  const auto tokens = random_tokens(8, 16, 20);
  const auto out = objective.loss(batch_of(tokens, 21));
  out.loss.backward();
  const auto grad = model->embed_tokens->weight.grad();
  EXPECT_EQ(grad.narrow(0, 0, kMask).abs().max().item<double>(), 0.0);
  EXPECT_GT(grad[kMask].abs().max().item<double>(), 0.0);
}

TEST(MaskedDiffusionObjective, ParameterGradientsMatchTheNaiveLoss) {
  auto model = tiny_bidirectional(1, false);
  MaskedDiffusionOptions o;
  MaskedDiffusionObjective objective(model, kMask, o);
  const auto tokens = random_tokens(3, 8, 22);
  const auto maskable = answer_mask(8, {2, 0, 5});
  objective.loss(batch_of(tokens, 23, maskable)).loss.backward();
  std::vector<at::Tensor> grads;
  for (auto& p : model->parameters()) {
    grads.push_back(p.grad().clone());
    p.mutable_grad().zero_();
  }

  // The same loss with autograd, one masked position at a time.
  const auto noise = noise_of(tokens, 23, o, maskable);
  const auto logits = model(noise.noisy);
  auto ref = at::zeros({}, at::kDouble);
  for (int64_t b = 0; b < 3; ++b) {
    const double count = maskable[b].sum().item<double>();
    for (int64_t i = 0; i < 8; ++i) {
      if (!noise.masked[b][i].item<bool>()) continue;
      const auto x = logits[b][i].narrow(0, 0, kMask);
      ref = ref + (x.logsumexp(0) - x[tokens[b][i].item<int64_t>()]) / (noise.rates[b].item<double>() * count * 3.0);
    }
  }
  ref.backward();
  size_t k = 0;
  for (auto& p : model->parameters()) {
    EXPECT_TRUE(at::allclose(grads[k], p.grad(), 1e-9, 1e-12)) << "parameter " << k;
    ++k;
  }
}

TEST(MaskedDiffusionObjective, MaskLogitHasNoEffect) {
  auto model = tiny_bidirectional(1, false);
  MaskedDiffusionObjective objective(model, kMask);
  const auto tokens = random_tokens(4, 12, 24);
  const auto before = objective.loss(batch_of(tokens, 25));
  before.loss.backward();
  // SUBS: the MASK logit never enters the loss, so its head row gets no gradient ...
  EXPECT_EQ(model->lm_head->weight.grad()[kMask].abs().max().item<double>(), 0.0);
  // ... and changing that row (only the MASK logit changes) leaves the loss as it was.
  {
    at::NoGradGuard no_grad;
    model->lm_head->weight[kMask].normal_(0.0, 10.0);
  }
  EXPECT_NEAR(objective.loss(batch_of(tokens, 25)).loss.item<double>(), before.loss.item<double>(), 1e-12);
}

TEST(MaskedDiffusionObjective, RandomLengthCutsTheWholeBatch) {
  auto model = tiny_bidirectional();
  MaskedDiffusionOptions o;
  o.random_length_prob = 1.0;  // always cut
  MaskedDiffusionObjective objective(model, kMask, o);
  const auto tokens = random_tokens(4, 12, 26);
  std::vector<int> seen(13, 0);
  for (int64_t seed = 0; seed < 30; ++seed) {
    // The documented order: one U[0,1) draw, the length n ~ U{1..T}, then the usual noise.
    auto gen = seeded(static_cast<uint64_t>(seed));
    at::rand({1}, gen, at::kDouble);
    const int64_t n = at::randint(1, 13, {1}, gen, at::kLong).item<int64_t>();
    ++seen[static_cast<size_t>(n)];
    const auto cut = tokens.narrow(1, 0, n);
    const auto rates = sample_mask_rates(4, o.stratified, o.eps, gen);
    const auto masked = mask_tokens(cut, rates, kMask, gen);
    const Noise noise{rates, masked.masked, masked.noisy};
    const double loss = objective.loss(batch_of(tokens, seed)).loss.item<double>();
    at::NoGradGuard no_grad;
    EXPECT_NEAR(loss, naive_loss(model(noise.noisy), cut, noise, {}), 1e-10 * std::max(loss, 1.0)) << "seed " << seed;
  }
  EXPECT_EQ(seen[0], 0);
  int lengths = 0;
  for (int c : seen) lengths += c > 0;
  EXPECT_GE(lengths, 6);  // spread over 1..T, not one fixed cut
}

TEST(MaskedDiffusionObjective, Bf16AutocastKeepsTheLossInFloat32) {
  auto model = tiny_bidirectional();
  model->to(at::kFloat);
  MaskedDiffusionObjective objective(model, kMask);
  const auto tokens = random_tokens(4, 12, 27);
  const double fp32 = objective.loss(batch_of(tokens, 28)).loss.item<double>();
  AutocastGuard autocast(at::kCPU, true);
  const auto bf16 = objective.loss(batch_of(tokens, 28)).loss;
  EXPECT_EQ(bf16.scalar_type(), at::kFloat);
  EXPECT_NEAR(bf16.item<double>(), fp32, 0.05 * fp32);
}

TEST(MaskedDiffusionObjective, NeedsABidirectionalModel) {
  TransformerConfig cfg;
  cfg.vocab_size = kMask + 1;
  cfg.d_model = 16;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  EXPECT_THROW(MaskedDiffusionObjective(LanguageModel(cfg), kMask), InputError);
}

TEST(MaskedDiffusionOptions, FromConfigReadsTheDiffusionTable) {
  auto c = Config::parse("[diffusion]\neps = 0.01\nstratified_t = false\nrandom_length_prob = 0.01\nmasking = \"count\"\n",
                         "t.toml");
  const auto o = MaskedDiffusionOptions::from_config(c);
  EXPECT_EQ(o.masking, "count");
  EXPECT_DOUBLE_EQ(o.eps, 0.01);
  EXPECT_FALSE(o.stratified);
  EXPECT_DOUBLE_EQ(o.random_length_prob, 0.01);
  c.check_all_used();
  auto empty = Config::parse("", "e.toml");
  const auto d = MaskedDiffusionOptions::from_config(empty);
  EXPECT_DOUBLE_EQ(d.eps, 1e-3);
  EXPECT_TRUE(d.stratified);
  EXPECT_DOUBLE_EQ(d.random_length_prob, 0.0);
}

TEST(MaskedDiffusionOptions, FromConfigRejectsOutOfRangeValues) {
  for (const std::string bad : {"eps = -0.1", "eps = 1.0", "eps = 2", "random_length_prob = 1.5",
                                "random_length_prob = -0.01", "stratified_t = 3", "masking = \"counts\""}) {
    auto c = Config::parse("[diffusion]\n" + bad + "\n", "bad.toml");
    EXPECT_THROW(MaskedDiffusionOptions::from_config(c), InputError) << bad;
  }
}
