// The diffusion samplers against independent references: hand-written greedy loops over a tiny
// bidirectional model, schedules and commit sets computed here in plain C++, and frequency tests
// of the random draws. Fake denoisers with chosen logits make every expectation exact.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>
#include <vector>

#include "core/config.h"
#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"

using namespace beyond;

namespace {

constexpr int64_t kVocab = 11;
constexpr int64_t kMask = kVocab - 1;

// Logits from a function of the tokens; counts its calls like a real denoiser.
struct FakeDenoiser : Denoiser {
  std::function<at::Tensor(const at::Tensor&)> fn;
  explicit FakeDenoiser(std::function<at::Tensor(const at::Tensor&)> f) : fn(std::move(f)) {}
  at::Tensor logits(const at::Tensor& tokens) override {
    ++forward_passes;
    forward_tokens += tokens.numel();
    return fn(tokens);
  }
};

// The same logits [T, V] for every row, whatever the tokens.
FakeDenoiser fixed_per_position(const at::Tensor& table) {
  return FakeDenoiser([table](const at::Tensor& x) { return table.unsqueeze(0).expand({x.size(0), -1, -1}); });
}

// The same logits [V] at every position.
FakeDenoiser fixed(const at::Tensor& row) {
  return FakeDenoiser([row](const at::Tensor& x) { return row.view({1, 1, -1}).expand({x.size(0), x.size(1), -1}); });
}

LanguageModel tiny_bidirectional(int64_t seed = 3) {
  TransformerConfig cfg;
  cfg.vocab_size = kVocab;
  cfg.d_model = 32;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.max_seq_len = 32;
  cfg.causal = false;
  torch::manual_seed(seed);
  LanguageModel m(cfg);
  m->to(at::kDouble);  // float64 so that argmax ties are not decided by rounding
  m->eval();
  return m;
}

// Every step the sampler reported.
struct Recorder {
  std::vector<DiffusionStep> steps;
  std::function<void(const DiffusionStep&)> fn() {
    return [this](const DiffusionStep& s) { steps.push_back(s); };
  }
};

// The region holds no MASK, and every position that was not MASK is unchanged.
void expect_filled_and_kept(const at::Tensor& before, const at::Tensor& after, int64_t region_start,
                            int64_t mask = kMask) {
  const auto was_mask = before == mask;
  EXPECT_FALSE((after.narrow(1, region_start, after.size(1) - region_start) == mask).any().item<bool>());
  EXPECT_TRUE(after.masked_select(was_mask.logical_not()).equal(before.masked_select(was_mask.logical_not())));
}

DiffusionSamplerOptions options(const std::string& method, int64_t steps, int64_t block = 0,
                                const std::string& remasking = "low-confidence", double temperature = 0.0) {
  DiffusionSamplerOptions o;
  o.method = method;
  o.steps = steps;
  o.block_length = block;
  o.remasking = remasking;
  o.temperature = temperature;
  return o;
}

// Reference greedy fill: at each step a full forward, then the chosen position takes the argmax
// over non-MASK tokens. `pick` returns the position to fill given the probabilities [T, V].
at::Tensor greedy_loop(LanguageModel& m, at::Tensor x, int64_t start,
                       const std::function<int64_t(const at::Tensor& probs, const at::Tensor& row)>& pick) {
  at::NoGradGuard no_grad;
  for (int64_t b = 0; b < x.size(0); ++b) {
    for (int64_t done = 0; done < x.size(1) - start; ++done) {
      auto logits = m(x.narrow(0, b, 1))[0].clone();
      logits.select(-1, kMask).fill_(-INFINITY);
      const auto probs = at::softmax(logits, -1);
      const int64_t i = pick(probs, x[b]);
      x[b][i] = probs[i].argmax().item<int64_t>();
    }
  }
  return x;
}

at::Tensor prompt_and_masks(const std::vector<std::vector<int64_t>>& prompts, int64_t gen) {
  std::vector<int64_t> flat;
  for (const auto& p : prompts) {
    flat.insert(flat.end(), p.begin(), p.end());
    flat.insert(flat.end(), static_cast<size_t>(gen), kMask);
  }
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(prompts.size()), -1});
}

}  // namespace

// ---- llada ------------------------------------------------------------------------------------

TEST(DiffusionSampler, LladaCommitsTheTransferScheduleOfEachBlock) {
  const int64_t B = 3, P = 2, L = 12, T = P + L;
  // Random position-dependent logits; some region positions pre-filled, differently per row.
  at::manual_seed(0);
  const auto table = at::randn({T, kVocab});
  auto x = at::full({B, T}, kMask, at::kLong);
  x.narrow(1, 0, P).fill_(1);
  x[0][P + 1] = 4;
  x[0][P + 5] = 2;
  x[1][P + 11] = 3;
  for (int64_t i = 0; i < 4; ++i) x[2][P + i] = 5;  // row 2's first block of 4 is already full

  struct Case {
    int64_t block, steps;
    std::string remasking;
    double temperature;
  };
  for (const auto& c : std::vector<Case>{{0, 12, "low-confidence", 0.0}, {0, 5, "random", 1.0},
                                         {4, 3, "margin", 0.0}, {4, 12, "entropy", 0.5},
                                         {5, 9, "left-to-right", 0.0}, {5, 3, "low-confidence", 1.0}}) {
    SCOPED_TRACE("block " + std::to_string(c.block) + " steps " + std::to_string(c.steps) + " " + c.remasking);
    auto denoiser = fixed_per_position(table);
    Recorder rec;
    const auto result = diffusion_generate(denoiser, x, P, kMask, options("llada", c.steps, c.block, c.remasking,
                                                                           c.temperature), rec.fn());
    ASSERT_EQ(result.steps, c.steps);
    ASSERT_EQ(static_cast<int64_t>(rec.steps.size()), c.steps);
    expect_filled_and_kept(x, result.tokens, P);

    const int64_t block = c.block > 0 ? c.block : L, blocks = (L + block - 1) / block, per_block = c.steps / blocks;
    auto before = x;
    int64_t forwards = 0;
    for (int64_t s = 0; s < c.steps; ++s) {
      const auto& step = rec.steps[static_cast<size_t>(s)];
      const int64_t b = s / per_block, j = s % per_block, bs = P + b * block, be = std::min(bs + block, T);
      EXPECT_EQ(step.block, b);
      int64_t total = 0;
      for (int64_t r = 0; r < B; ++r) {
        // k_j = floor(M / S) + (j < M mod S), M = the row's masks in the block before it began
        // (blocks are disjoint, so that is the input's count).
        int64_t M = 0;
        for (int64_t i = bs; i < be; ++i) M += x[r][i].item<int64_t>() == kMask;
        const int64_t k = M / per_block + (j < M % per_block ? 1 : 0);
        const auto committed = step.committed[r];
        EXPECT_EQ(committed.sum().item<int64_t>(), k) << "row " << r << " step " << s;
        for (int64_t i = 0; i < T; ++i) {
          if (!committed[i].item<bool>()) continue;
          EXPECT_TRUE(i >= bs && i < be) << "committed outside the block";
          EXPECT_EQ(before[r][i].item<int64_t>(), kMask) << "committed a position that was not masked";
        }
        total += k;
      }
      EXPECT_EQ(result.committed_per_step[static_cast<size_t>(s)], total);
      EXPECT_EQ(step.forward, total > 0) << "a step with nothing to commit needs no forward";
      forwards += total > 0;
      // Committed positions took non-MASK tokens; nothing else moved.
      const auto kept = step.committed.logical_not();
      EXPECT_TRUE(step.tokens.masked_select(kept).equal(before.masked_select(kept)));
      EXPECT_FALSE((step.tokens.masked_select(step.committed) == kMask).any().item<bool>());
      before = step.tokens;
    }
    EXPECT_EQ(result.forward_passes, forwards);
    EXPECT_EQ(denoiser.forward_passes, forwards);
    EXPECT_EQ(result.forward_tokens, forwards * B * T);
  }
}

TEST(DiffusionSampler, LladaStepsMustDivideIntoBlocks) {
  auto denoiser = fixed(at::zeros({kVocab}));
  const auto x = prompt_and_masks({{1, 2}}, 12);
  EXPECT_THROW(diffusion_generate(denoiser, x, 2, kMask, options("llada", 5, 4)), InputError);  // 3 blocks
  EXPECT_THROW(diffusion_generate(denoiser, x, 2, kMask, options("llada", 2, 5)), InputError);  // 5, 5, 2
  EXPECT_NO_THROW(diffusion_generate(denoiser, x, 2, kMask, options("llada", 6, 5)));
  EXPECT_EQ(denoiser.forward_passes, 6);
}

TEST(DiffusionSampler, LladaLeftToRightEqualsGreedyLoop) {
  auto m = tiny_bidirectional();
  const int64_t P = 3, L = 8;
  const auto x = prompt_and_masks({{1, 5, 7}, {2, 2, 9}}, L);
  const auto expected = greedy_loop(m, x.clone(), P, [](const at::Tensor&, const at::Tensor& row) {
    return (row == kMask).nonzero()[0][0].item<int64_t>();  // the leftmost MASK
  });
  for (const auto& [block, cache] : std::vector<std::pair<int64_t, bool>>{{0, false}, {4, false}, {1, true}}) {
    // Blocks of one position refresh the prefix cache at every step, so the cache is exact there.
    ModelDenoiser denoiser(m, cache);
    auto o = options("llada", L, block, "left-to-right");
    o.prefix_cache = cache;
    const auto result = diffusion_generate(denoiser, x, P, kMask, o);
    EXPECT_TRUE(result.tokens.equal(expected)) << "block " << block << "\n" << result.tokens << "\n" << expected;
    EXPECT_EQ(result.forward_passes, L);
  }
}

TEST(DiffusionSampler, LladaLowConfidenceEqualsGreedyLoop) {
  auto m = tiny_bidirectional(5);
  const int64_t P = 2, L = 7;
  const auto x = prompt_and_masks({{3, 4}, {8, 0}}, L);
  const auto expected = greedy_loop(m, x.clone(), P, [&](const at::Tensor& probs, const at::Tensor& row) {
    int64_t best = -1;
    double best_p = -1.0;
    for (int64_t i = P; i < row.size(0); ++i) {
      const double p = probs[i].max().item<double>();
      if (row[i].item<int64_t>() == kMask && p > best_p) best = i, best_p = p;
    }
    return best;
  });
  ModelDenoiser denoiser(m, false);
  const auto result = diffusion_generate(denoiser, x, P, kMask, options("llada", L, 0, "low-confidence"));
  EXPECT_TRUE(result.tokens.equal(expected)) << result.tokens << "\n" << expected;
}

// Four positions with chosen distributions over tokens 0..3, whose orders by confidence, margin
// and entropy all differ; one commit per step shows the order the sampler used.
TEST(DiffusionSampler, RemaskingOrdersMatchHandComputedScores) {
  const std::vector<std::vector<double>> p = {
      {0.4, 0.4, 0.1, 0.1}, {0.5, 1.0 / 6, 1.0 / 6, 1.0 / 6}, {0.46, 0.44, 0.05, 0.05}, {0.35, 0.05, 0.3, 0.3}};
  auto table = at::full({4, 5}, 3.0, at::kDouble);  // token 4 is MASK here; its logit must not matter
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t v = 0; v < 4; ++v) table[i][v] = std::log(p[static_cast<size_t>(i)][static_cast<size_t>(v)]);

  const auto hand_score = [&](const std::string& order, size_t i) {
    auto q = p[i];
    std::sort(q.begin(), q.end(), std::greater<>());
    if (order == "low-confidence") return q[0];
    if (order == "margin") return q[0] - q[1];
    if (order == "left-to-right") return -static_cast<double>(i);
    double s = 0;
    for (double v : q) s += v * std::log(v);
    return s;  // entropy: sum p log p
  };
  std::set<std::vector<int64_t>> distinct;
  for (const std::string order : {"low-confidence", "margin", "entropy", "left-to-right"}) {
    std::vector<int64_t> expected(4);
    std::iota(expected.begin(), expected.end(), 0);
    std::stable_sort(expected.begin(), expected.end(), [&](int64_t a, int64_t b) {
      return hand_score(order, static_cast<size_t>(a)) > hand_score(order, static_cast<size_t>(b));
    });
    distinct.insert(expected);

    auto denoiser = fixed_per_position(table);
    Recorder rec;
    const auto x = at::full({1, 4}, 4, at::kLong);
    const auto result = diffusion_generate(denoiser, x, 0, 4, options("llada", 4, 0, order), rec.fn());
    std::vector<int64_t> got;
    for (const auto& s : rec.steps) got.push_back(s.committed[0].nonzero()[0][0].item<int64_t>());
    EXPECT_EQ(got, expected) << order;
    EXPECT_TRUE(result.tokens.equal(at::tensor({0, 0, 0, 0}, at::kLong).view({1, 4}))) << "argmax is token 0";
  }
  EXPECT_EQ(distinct.size(), 4u) << "the chosen distributions should order the positions differently";
}

// ---- predictions ------------------------------------------------------------------------------

// One step commits everything at once; at temperature tau the draws follow softmax(logits / tau)
// over the non-MASK tokens, and at 0 they are the argmax.
TEST(DiffusionSampler, GumbelDrawsFollowSoftmaxAndZeroIsArgmax) {
  const auto logits = at::tensor({1.0, 0.2, -0.5, 0.7, 9.0}, at::kFloat);  // token 4 = MASK, large logit
  const int64_t B = 32, L = 64, N = B * L;
  for (double tau : {0.0, 1.0, 2.0}) {
    auto denoiser = fixed(logits);
    auto o = options("llada", 1, 0, "random", tau);
    o.seed = 11;
    const auto result = diffusion_generate(denoiser, at::full({B, L}, 4, at::kLong), 0, 4, o);
    const auto counts = at::bincount(result.tokens.flatten(), {}, 5).to(at::kDouble);
    EXPECT_EQ(counts[4].item<double>(), 0.0) << "MASK is never predicted";
    if (tau == 0.0) {
      EXPECT_EQ(counts[0].item<double>(), N);
      continue;
    }
    std::vector<double> w;
    for (int64_t v = 0; v < 4; ++v) w.push_back(std::exp(logits[v].item<double>() / tau));
    const double z = std::accumulate(w.begin(), w.end(), 0.0);
    for (int64_t v = 0; v < 4; ++v) {
      const double q = w[static_cast<size_t>(v)] / z, f = counts[v].item<double>() / N;
      EXPECT_NEAR(f, q, 4 * std::sqrt(q * (1 - q) / N)) << "tau " << tau << " token " << v;
    }
  }
}

TEST(DiffusionSampler, SameSeedSameSamples) {
  const auto logits = at::zeros({kVocab});
  const auto x = prompt_and_masks({{1}, {2}}, 16);
  auto o = options("mdlm", 8, 0, "low-confidence", 1.0);
  auto d1 = fixed(logits), d2 = fixed(logits), d3 = fixed(logits);
  const auto a = diffusion_generate(d1, x, 1, kMask, o).tokens;
  const auto b = diffusion_generate(d2, x, 1, kMask, o).tokens;
  o.seed = 1;
  const auto c = diffusion_generate(d3, x, 1, kMask, o).tokens;
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.equal(c));
}

// ---- threshold --------------------------------------------------------------------------------

// Position i's top probability is conf[row][i] on token i % 4 (the other three share the rest),
// so the sampler's confidences are known exactly and do not depend on the tokens (every conf > 1/4,
// so that token is the top one).
TEST(DiffusionSampler, ThresholdCommitsConfidentPositionsAndAtLeastOne) {
  const std::vector<std::vector<double>> conf = {{0.95, 0.5, 0.92, 0.3, 0.99, 0.6, 0.91},
                                                 {0.26, 0.4, 0.8, 0.28, 0.7, 0.3, 0.5}};
  const int64_t B = 2, P = 1, L = 7, T = P + L, V = 5, mask = 4;
  auto table = at::zeros({B, T, V}, at::kDouble);
  for (int64_t r = 0; r < B; ++r)
    for (int64_t i = 0; i < L; ++i) {
      const double c = conf[static_cast<size_t>(r)][static_cast<size_t>(i)];
      for (int64_t v = 0; v < 4; ++v) table[r][P + i][v] = std::log(v == i % 4 ? c : (1 - c) / 3);
      table[r][P + i][mask] = 10.0;
    }
  for (int64_t block : {0, 3}) {
    SCOPED_TRACE("block " + std::to_string(block));
    FakeDenoiser denoiser([&](const at::Tensor&) { return table; });
    auto o = options("threshold", 1, block);
    o.threshold = 0.9;
    auto x = at::full({B, T}, mask, at::kLong);
    x.select(1, 0).fill_(2);
    Recorder rec;
    const auto result = diffusion_generate(denoiser, x, P, mask, o, rec.fn());

    // The reference: per block, per row, commit {c >= 0.9} or else... plus the most confident.
    std::vector<std::vector<bool>> open(B, std::vector<bool>(L, true));
    const int64_t bl = block > 0 ? block : L;
    size_t s = 0;
    for (int64_t bs = 0; bs < L; bs += bl) {
      const int64_t be = std::min(bs + bl, L);
      const auto block_open = [&](int64_t r) {
        return std::any_of(open[r].begin() + bs, open[r].begin() + be, [](bool b) { return b; });
      };
      while (block_open(0) || block_open(1)) {
        ASSERT_LT(s, rec.steps.size());
        const auto& step = rec.steps[s++];
        for (int64_t r = 0; r < B; ++r) {
          std::vector<int64_t> expected;
          int64_t best = -1;
          for (int64_t i = bs; i < be; ++i) {
            if (!open[r][i]) continue;
            const double c = conf[static_cast<size_t>(r)][static_cast<size_t>(i)];
            if (c >= 0.9) expected.push_back(P + i);
            if (best < 0 || c > conf[static_cast<size_t>(r)][static_cast<size_t>(best)]) best = i;
          }
          if (best >= 0 && std::find(expected.begin(), expected.end(), P + best) == expected.end())
            expected.push_back(P + best);
          std::sort(expected.begin(), expected.end());
          std::vector<int64_t> got;
          for (int64_t i = 0; i < T; ++i) if (step.committed[r][i].item<bool>()) got.push_back(i);
          EXPECT_EQ(got, expected) << "row " << r << " step " << s - 1;
          for (int64_t i : expected) open[r][i - P] = false;
        }
      }
    }
    EXPECT_EQ(s, rec.steps.size());
    EXPECT_EQ(result.forward_passes, static_cast<int64_t>(s));
    expect_filled_and_kept(x, result.tokens, P, mask);
    for (int64_t r = 0; r < B; ++r)
      for (int64_t i = 0; i < L; ++i) EXPECT_EQ(result.tokens[r][P + i].item<int64_t>(), i % 4);
  }
}

// ---- mdlm -------------------------------------------------------------------------------------

TEST(DiffusionSampler, MdlmReusesPredictionWhenNothingChanged) {
  auto denoiser = fixed(at::randn({kVocab}));
  const int64_t L = 6, steps = 40;
  Recorder rec;
  const auto x = prompt_and_masks({{1, 2}}, L);
  auto o = options("mdlm", steps, 0, "low-confidence", 1.0);
  o.seed = 5;
  const auto result = diffusion_generate(denoiser, x, 2, kMask, o, rec.fn());
  expect_filled_and_kept(x, result.tokens, 2);
  ASSERT_FALSE(rec.steps.empty());
  int64_t forwards = 0;
  for (size_t s = 0; s < rec.steps.size(); ++s) {
    // A forward exactly when the tokens changed since the last one (or at the first step).
    const bool changed = s == 0 || rec.steps[s - 1].committed.any().item<bool>();
    EXPECT_EQ(rec.steps[s].forward, changed) << "step " << s;
    forwards += rec.steps[s].forward;
  }
  EXPECT_EQ(result.forward_passes, forwards);
  EXPECT_EQ(denoiser.forward_passes, forwards);
  EXPECT_LE(result.forward_passes, std::min(steps, L) + 1);
  EXPECT_LT(result.forward_passes, steps / 2) << "40 steps over 6 positions should mostly reuse";
}

// A fixed distribution p: committed tokens follow p at temperature 1, and each step commits a
// masked position with probability (t - s) / t on t = linspace(1, eps, steps + 1).
TEST(DiffusionSampler, MdlmDrawsFromPAndCommitsAtTheScheduledRate) {
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  auto logits = at::full({5}, 20.0, at::kDouble);  // token 4 = MASK
  for (int64_t v = 0; v < 4; ++v) logits[v] = std::log(p[static_cast<size_t>(v)]);
  auto denoiser = fixed(logits);
  const int64_t B = 64, L = 32, steps = 8;
  auto o = options("mdlm", steps, 0, "low-confidence", 1.0);
  o.seed = 3;
  Recorder rec;
  const auto x = at::full({B, L}, 4, at::kLong);
  const auto result = diffusion_generate(denoiser, x, 0, 4, o, rec.fn());
  EXPECT_FALSE((result.tokens == 4).any().item<bool>());

  std::vector<double> counts(4, 0.0);
  double n = 0, excess = 0, variance = 0;
  int64_t masked_before = B * L;
  for (const auto& step : rec.steps) {
    if (step.step >= steps) break;  // the final argmax fill is not a draw from p
    const double i = static_cast<double>(step.step);
    const double t = 1 - i * (1 - o.eps) / steps, s = 1 - (i + 1) * (1 - o.eps) / steps, q = (t - s) / t;
    const int64_t committed = step.committed.sum().item<int64_t>();
    excess += committed - masked_before * q;
    variance += masked_before * q * (1 - q);
    masked_before -= committed;
    const auto drawn = step.tokens.masked_select(step.committed);
    for (int64_t v = 0; v < 4; ++v) counts[static_cast<size_t>(v)] += (drawn == v).sum().item<double>();
    n += static_cast<double>(drawn.numel());
  }
  EXPECT_LT(std::abs(excess) / std::sqrt(variance), 4.0) << "commits per step off the (t - s) / t rate";
  for (size_t v = 0; v < 4; ++v) {
    EXPECT_NEAR(counts[v] / n, p[v], 4 * std::sqrt(p[v] * (1 - p[v]) / n)) << "token " << v;
  }
}

TEST(DiffusionSampler, MdlmOnTheModelFillsTheRegionAndKeepsPrefilled) {
  ModelDenoiser denoiser(tiny_bidirectional(), false);
  auto x = prompt_and_masks({{1, 2, 3}, {4, 5, 6}}, 10);
  x[1][7] = 0;
  const auto result = diffusion_generate(denoiser, x, 3, kMask, options("mdlm", 4));
  expect_filled_and_kept(x, result.tokens, 3);
  EXPECT_LE(result.forward_passes, 5);
  EXPECT_EQ(std::accumulate(result.committed_per_step.begin(), result.committed_per_step.end(), int64_t{0}), 19);
}

// ---- prefix cache -----------------------------------------------------------------------------

// Records which of the three calls the sampler made, with their start.
struct SpyDenoiser : Denoiser {
  std::vector<std::pair<char, int64_t>> calls;  // 'L' logits, 'R' refresh_prefix, 'F' logits_from
  at::Tensor logits(const at::Tensor& tokens) override {
    calls.emplace_back('L', 0);
    return at::randn({tokens.size(0), tokens.size(1), kVocab});
  }
  at::Tensor refresh_prefix(const at::Tensor& tokens, int64_t start) override {
    calls.emplace_back('R', start);
    return at::randn({tokens.size(0), tokens.size(1), kVocab});
  }
  at::Tensor logits_from(const at::Tensor& tokens, int64_t start) override {
    calls.emplace_back('F', start);
    return at::randn({tokens.size(0), tokens.size(1) - start, kVocab});
  }
};

TEST(DiffusionSampler, PrefixCacheRefreshesOncePerBlock) {
  const auto x = prompt_and_masks({{1, 2}}, 8);
  SpyDenoiser llada;
  auto o = options("llada", 6, 3);  // blocks [2, 5) [5, 8) [8, 10), two steps each
  o.prefix_cache = true;
  diffusion_generate(llada, x, 2, kMask, o);
  const std::vector<std::pair<char, int64_t>> expected = {{'R', 2}, {'F', 2}, {'R', 5}, {'F', 5}, {'R', 8}, {'F', 8}};
  EXPECT_EQ(llada.calls, expected);

  SpyDenoiser threshold;
  o.method = "threshold";
  o.threshold = 1.0;  // one commit per step: three steps for a block of three
  diffusion_generate(threshold, x, 2, kMask, o);
  ASSERT_EQ(threshold.calls.size(), 8u);
  EXPECT_EQ(threshold.calls[0], std::make_pair('R', int64_t{2}));
  EXPECT_EQ(threshold.calls[1], std::make_pair('F', int64_t{2}));
  EXPECT_EQ(threshold.calls[2], std::make_pair('F', int64_t{2}));
  EXPECT_EQ(threshold.calls[3], std::make_pair('R', int64_t{5}));
  EXPECT_EQ(threshold.calls[6], std::make_pair('R', int64_t{8}));

  SpyDenoiser plain;
  o.prefix_cache = false;
  diffusion_generate(plain, x, 2, kMask, o);
  for (const auto& c : plain.calls) EXPECT_EQ(c.first, 'L');
}

// On the real model: one full forward per block, then suffix-only forwards (fewer positions fed).
TEST(DiffusionSampler, PrefixCacheOnTheModelFeedsOnlyTheSuffix) {
  ModelDenoiser denoiser(tiny_bidirectional(), true);
  const int64_t B = 2, P = 4, L = 12, T = P + L;
  auto x = prompt_and_masks({{1, 2, 3, 4}, {5, 6, 7, 8}}, L);
  x[0][P + 6] = 3;
  auto o = options("llada", 9, 4);  // blocks at 4, 8, 12; three steps each
  o.prefix_cache = true;
  const auto llada = diffusion_generate(denoiser, x, P, kMask, o);
  expect_filled_and_kept(x, llada.tokens, P);
  EXPECT_EQ(llada.forward_passes, 9);
  int64_t fed = 0;
  for (int64_t bs : {4, 8, 12}) fed += B * T + 2 * B * (T - bs);
  EXPECT_EQ(llada.forward_tokens, fed);

  o.method = "threshold";
  const auto threshold = diffusion_generate(denoiser, x, P, kMask, o);
  expect_filled_and_kept(x, threshold.tokens, P);
  EXPECT_GE(threshold.forward_passes, 3);
  EXPECT_LE(threshold.forward_passes, L);
}

TEST(ModelDenoiser, PrefixCacheIsExactRightAfterRefresh) {
  auto m = tiny_bidirectional();
  at::manual_seed(1);
  const int64_t B = 2, T = 12, start = 5;
  const auto tokens = at::randint(0, kVocab - 1, {B, T}, at::kLong);
  at::Tensor full;
  {
    at::NoGradGuard no_grad;
    full = m(tokens);
  }
  ModelDenoiser d(m, true);
  const auto refreshed = d.refresh_prefix(tokens, start);
  EXPECT_TRUE(at::allclose(refreshed, full, 1e-5, 1e-5));
  EXPECT_EQ(d.forward_passes, 1);
  EXPECT_EQ(d.forward_tokens, B * T);

  const auto suffix = d.logits_from(tokens, start);
  ASSERT_EQ(suffix.sizes(), (std::vector<int64_t>{B, T - start, kVocab}));
  EXPECT_TRUE(at::allclose(suffix, full.narrow(1, start, T - start), 1e-5, 1e-5));
  EXPECT_EQ(d.forward_passes, 2);
  EXPECT_EQ(d.forward_tokens, B * T + B * (T - start));
  // The cache is back at `start`: a second call sees the same prefix at the same positions.
  EXPECT_TRUE(at::allclose(d.logits_from(tokens, start), suffix, 1e-10, 1e-10));

  // Changing a token of the block: the prefix keys/values stay those of the refresh (stale), so
  // the answer is a forward of the new suffix against the old prefix, not a fresh full forward.
  auto changed = tokens.clone();
  changed[0][start + 2] = (changed[0][start + 2].item<int64_t>() + 1) % (kVocab - 1);
  const auto stale = d.logits_from(changed, start);
  at::Tensor by_hand, fresh;
  {
    at::NoGradGuard no_grad;
    auto cache = m->make_cache();
    m(tokens, &cache);
    for (auto& layer : cache.layers) layer.len = start;
    by_hand = m(changed.narrow(1, start, T - start), &cache);
    fresh = m(changed).narrow(1, start, T - start);
  }
  EXPECT_TRUE(at::allclose(stale, by_hand, 1e-10, 1e-10));
  EXPECT_FALSE(at::allclose(stale, fresh, 1e-6, 1e-6)) << "the prefix should be stale";

  EXPECT_ANY_THROW(d.logits_from(tokens, start + 1)) << "no refresh at that start";
}

TEST(ModelDenoiser, WithoutCacheLogitsFromIsAFullForwardSliced) {
  auto m = tiny_bidirectional();
  const auto tokens = at::randint(0, kVocab - 1, {1, 9}, at::kLong);
  ModelDenoiser d(m, false);
  const auto full = d.logits(tokens);
  EXPECT_TRUE(at::allclose(d.refresh_prefix(tokens, 4), full));
  EXPECT_TRUE(at::allclose(d.logits_from(tokens, 4), full.narrow(1, 4, 5)));
  EXPECT_EQ(d.forward_passes, 3);
  EXPECT_EQ(d.forward_tokens, 27);
}

TEST(ModelDenoiser, RejectsACausalModel) {
  TransformerConfig cfg;
  cfg.vocab_size = kVocab;
  cfg.d_model = 16;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  EXPECT_THROW({ ModelDenoiser d{LanguageModel(cfg)}; }, InputError);
}

// ---- options ----------------------------------------------------------------------------------

TEST(DiffusionSamplerOptions, ValidateNamesTheBadOption) {
  const auto message = [](const DiffusionSamplerOptions& o) -> std::string {
    try {
      o.validate();
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message(DiffusionSamplerOptions{}), "");
  auto o = DiffusionSamplerOptions{};
  o.method = "lada";
  EXPECT_NE(message(o).find("did you mean 'llada'"), std::string::npos) << message(o);
  o = {};
  o.remasking = "low_confidence";
  EXPECT_NE(message(o).find("remasking"), std::string::npos);
  o = {};
  o.steps = 0;
  EXPECT_NE(message(o).find("steps"), std::string::npos);
  o = {};
  o.threshold = 1.5;
  EXPECT_NE(message(o).find("threshold"), std::string::npos);
  o = {};
  o.temperature = -1;
  EXPECT_NE(message(o).find("temperature"), std::string::npos);
}

TEST(DiffusionSamplerOptions, FromConfigReadsTheTable) {
  auto c = Config::parse(
      "[sample]\nmethod = \"threshold\"\nsteps = 32\nblock_length = 8\nremasking = \"margin\"\n"
      "temperature = 0.5\nthreshold = 0.8\nprefix_cache = true\nseed = 9\n",
      "s.toml");
  const auto o = DiffusionSamplerOptions::from_config(c, "sample");
  EXPECT_EQ(o.method, "threshold");
  EXPECT_EQ(o.steps, 32);
  EXPECT_EQ(o.block_length, 8);
  EXPECT_EQ(o.remasking, "margin");
  EXPECT_DOUBLE_EQ(o.temperature, 0.5);
  EXPECT_DOUBLE_EQ(o.threshold, 0.8);
  EXPECT_TRUE(o.prefix_cache);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_NO_THROW(c.check_all_used());

  auto bad_method = Config::parse("[sample]\nmethod = \"mdml\"\n", "b.toml");
  EXPECT_THROW(DiffusionSamplerOptions::from_config(bad_method, "sample"), InputError);
  auto bad_order = Config::parse("[sample]\nremasking = \"confidence\"\n", "b.toml");
  EXPECT_THROW(DiffusionSamplerOptions::from_config(bad_order, "sample"), InputError);
  auto bad_steps = Config::parse("[sample]\nsteps = 0\n", "b.toml");
  EXPECT_THROW(DiffusionSamplerOptions::from_config(bad_steps, "sample"), InputError);
}
