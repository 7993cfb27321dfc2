// The likelihood bound on toy models whose answers are known by brute force: a model that returns
// the true conditionals of a joint table (its exact NELBO is -log p(x)), and an inconsistent one
// (random logits per noisy state), whose exact NELBO is the any-order autoregressive NLL averaged
// over all orders. The Monte Carlo estimate must agree with the exact value within its error.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "diffusion/elbo.h"

using namespace beyond;

namespace {

constexpr int64_t kV = 3;     // tokens 0, 1, 2
constexpr int64_t kMask = 3;  // the model's vocabulary is 4

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

int64_t power(int64_t base, int64_t n) {
  int64_t r = 1;
  for (int64_t i = 0; i < n; ++i) r *= base;
  return r;
}

// Digit i of `index` in base `base`: configurations and states are numbered this way.
int64_t digit(int64_t index, int64_t i, int64_t base) { return index / power(base, i) % base; }

// A random joint distribution over V^n sequences, every one with positive probability.
struct Joint {
  int64_t n;
  std::vector<double> p;

  Joint(int64_t length, uint64_t seed) : n(length) {
    const auto w = at::exp(2.0 * at::randn({power(kV, n)}, seeded(seed), at::kDouble));
    const auto q = w / w.sum();
    p.assign(q.data_ptr<double>(), q.data_ptr<double>() + q.numel());
  }
  int64_t index_of(const std::vector<int64_t>& x) const {
    int64_t idx = 0;
    for (int64_t i = n - 1; i >= 0; --i) idx = idx * kV + x[static_cast<size_t>(i)];
    return idx;
  }
  double prob(const std::vector<int64_t>& x) const { return p[static_cast<size_t>(index_of(x))]; }
  // p(x_0 = a): the marginal of the first position (the prompt in prompted tests).
  double first_marginal(int64_t a) const {
    double s = 0.0;
    for (int64_t c = 0; c < power(kV, n); ++c)
      if (digit(c, 0, kV) == a) s += p[static_cast<size_t>(c)];
    return s;
  }
};

// The consistent model: at a masked position i, log p(x_i = v | the unmasked positions), by summing
// the joint over every configuration that agrees with the unmasked tokens. MASK gets a large logit
// (SUBS must drop it); unmasked positions get zeros (never read).
DenoiseFn true_conditionals(const Joint& joint) {
  return [&joint](const at::Tensor& tokens) {
    const int64_t R = tokens.size(0), n = tokens.size(1);
    auto out = at::zeros({R, n, kV + 1}, at::kDouble);
    auto o = out.accessor<double, 3>();
    const auto t = tokens.cpu();
    const auto x = t.accessor<int64_t, 2>();
    for (int64_t r = 0; r < R; ++r) {
      std::vector<std::vector<double>> marg(static_cast<size_t>(n), std::vector<double>(kV, 0.0));
      for (int64_t c = 0; c < power(kV, n); ++c) {
        bool agrees = true;
        for (int64_t i = 0; i < n && agrees; ++i) agrees = x[r][i] == kMask || x[r][i] == digit(c, i, kV);
        if (!agrees) continue;
        for (int64_t i = 0; i < n; ++i) marg[static_cast<size_t>(i)][static_cast<size_t>(digit(c, i, kV))] += joint.p[static_cast<size_t>(c)];
      }
      for (int64_t i = 0; i < n; ++i) {
        if (x[r][i] != kMask) continue;
        for (int64_t v = 0; v < kV; ++v) o[r][i][v] = std::log(marg[static_cast<size_t>(i)][static_cast<size_t>(v)]);
        o[r][i][kMask] = 5.0;
      }
    }
    return out;
  };
}

// The inconsistent model: random logits (MASK's included) for each noisy state in {0,1,2,MASK}^n.
struct RandomModel {
  int64_t n;
  at::Tensor table;  // [4^n, n, 4]
  RandomModel(int64_t length, uint64_t seed)
      : n(length), table(at::randn({power(kV + 1, length), length, kV + 1}, seeded(seed), at::kDouble)) {}
  int64_t state(const std::vector<int64_t>& x) const {
    int64_t s = 0;
    for (int64_t i = n - 1; i >= 0; --i) s = s * (kV + 1) + x[static_cast<size_t>(i)];
    return s;
  }
  DenoiseFn fn() const {
    return [this](const at::Tensor& tokens) {
      const auto t = tokens.cpu();
      std::vector<int64_t> states;
      for (int64_t r = 0; r < t.size(0); ++r) {
        std::vector<int64_t> x(t[r].data_ptr<int64_t>(), t[r].data_ptr<int64_t>() + n);
        states.push_back(state(x));
      }
      return table.index_select(0, at::tensor(states, at::kLong));
    };
  }
  // log p(x_i = v | state) with the softmax over the real tokens only (MASK dropped by hand).
  double log_prob(const std::vector<int64_t>& state_tokens, int64_t i, int64_t v) const {
    const auto row = table[state(state_tokens)][i];
    double s = 0.0;
    for (int64_t u = 0; u < kV; ++u) s += std::exp(row[u].item<double>());
    return row[v].item<double>() - std::log(s);
  }
};

// For every order sigma of the answer positions P..n-1: reveal them one at a time, paying
// -log p(x_sigma(k) | the prompt and the positions revealed before it). Returns the mean NLL over
// the orders and -log of the mean likelihood (the order mixture).
std::pair<double, double> any_order_nll(const RandomModel& m, const std::vector<int64_t>& x, int64_t P) {
  std::vector<int64_t> order(static_cast<size_t>(m.n - P));
  std::iota(order.begin(), order.end(), P);
  double nll_sum = 0.0, lik_sum = 0.0, orders = 0.0;
  do {
    std::vector<int64_t> state(x.begin(), x.end());
    for (int64_t i = P; i < m.n; ++i) state[static_cast<size_t>(i)] = kMask;
    double nll = 0.0;
    for (const int64_t i : order) {
      nll -= m.log_prob(state, i, x[static_cast<size_t>(i)]);
      state[static_cast<size_t>(i)] = x[static_cast<size_t>(i)];
    }
    nll_sum += nll;
    lik_sum += std::exp(-nll);
    orders += 1.0;
  } while (std::next_permutation(order.begin(), order.end()));
  return {nll_sum / orders, -std::log(lik_sum / orders)};
}

std::vector<int64_t> config(int64_t c, int64_t n) {
  std::vector<int64_t> x;
  for (int64_t i = 0; i < n; ++i) x.push_back(digit(c, i, kV));
  return x;
}

at::Tensor as_tensor(const std::vector<int64_t>& x) { return at::tensor(x, at::kLong); }

// N random sequences of the toy length as [N, n].
at::Tensor random_sequences(int64_t N, int64_t n, uint64_t seed) { return at::randint(0, kV, {N, n}, seeded(seed), at::kLong); }

std::vector<int64_t> row(const at::Tensor& s, int64_t r) {
  const auto c = s[r].contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST(ElboExact, ConsistentModelGivesMinusLogLikelihood) {
  const Joint joint(4, 1);
  const auto model = true_conditionals(joint);
  for (int64_t c = 0; c < power(kV, 4); ++c) {
    const auto x = config(c, 4);
    EXPECT_NEAR(exact_nelbo(model, as_tensor(x), kMask), -std::log(joint.prob(x)), 1e-9) << "config " << c;
  }
}

TEST(ElboExact, ConsistentModelWithPromptGivesConditionalLikelihood) {
  // Position 0 is the prompt: the bound is -log p(x_1..x_3 | x_0) = -log p(x) + log p(x_0).
  const Joint joint(4, 2);
  const auto model = true_conditionals(joint);
  for (int64_t c = 0; c < power(kV, 4); c += 5) {
    const auto x = config(c, 4);
    const double expected = -std::log(joint.prob(x)) + std::log(joint.first_marginal(x[0]));
    EXPECT_NEAR(exact_nelbo(model, as_tensor(x), kMask, 1), expected, 1e-9) << "config " << c;
  }
}

TEST(ElboExact, InconsistentModelGivesTheAnyOrderAverage) {
  for (const int64_t P : {0, 1}) {
    const RandomModel m(4 + P, 3 + static_cast<uint64_t>(P));
    const auto seqs = random_sequences(6, 4 + P, 4);
    for (int64_t r = 0; r < seqs.size(0); ++r) {
      const auto x = row(seqs, r);
      const auto [average_nll, mixture_nll] = any_order_nll(m, x, P);
      const double exact = exact_nelbo(m.fn(), seqs[r], kMask, P);
      EXPECT_NEAR(exact, average_nll, 1e-9) << "P " << P << " row " << r;
      EXPECT_GE(exact, mixture_nll - 1e-12);  // Jensen: a bound on the order mixture's NLL
    }
  }
}

TEST(ElboEstimate, AgreesWithExactWithinItsStandardError) {
  const RandomModel m(6, 5);  // P = 2 prompt tokens, L = 4
  const auto seqs = random_sequences(5, 6, 6);
  double exact = 0.0;
  for (int64_t r = 0; r < 5; ++r) exact += exact_nelbo(m.fn(), seqs[r], kMask, 2);
  exact /= 5.0 * 4.0;  // per answer token
  double previous_stderr = 0.0;
  for (const int64_t K : {16, 64, 256}) {
    const auto est = estimate_nelbo(m.fn(), seqs, kMask, K, 16, 7, 2);
    EXPECT_EQ(est.sequences, 5);
    EXPECT_EQ(est.samples, K);
    EXPECT_EQ(est.forward_passes, (5 * K + 15) / 16);
    EXPECT_GT(est.mc_stderr, 0.0);
    EXPECT_NEAR(est.nats_per_token, exact, 4.0 * est.mc_stderr) << "K " << K;
    // sqrt(K) scaling: each 4x more samples should halve the error; ask for a clear drop.
    if (previous_stderr > 0.0) EXPECT_LT(est.mc_stderr, 0.7 * previous_stderr) << "K " << K;
    previous_stderr = est.mc_stderr;
  }
}

TEST(ElboEstimate, ConsistentModelEstimateAgreesWithLogLikelihood) {
  const Joint joint(4, 8);
  const auto seqs = random_sequences(4, 4, 9);
  double nll = 0.0;
  for (int64_t r = 0; r < 4; ++r) nll -= std::log(joint.prob(row(seqs, r)));
  const auto est = estimate_nelbo(true_conditionals(joint), seqs, kMask, 128, 32, 10);
  EXPECT_NEAR(est.nats_per_token, nll / 16.0, 4.0 * est.mc_stderr);
}

TEST(ElboEstimate, StratifiesLAndMasksUniformSubsetsOfTheAnswer) {
  const int64_t N = 3, K = 8, P = 2, L = 4, batch = 5;
  const auto seqs = random_sequences(N, P + L, 11);
  std::vector<at::Tensor> seen;
  int64_t calls = 0;
  const DenoiseFn record = [&](const at::Tensor& tokens) {
    EXPECT_LE(tokens.size(0), batch);
    seen.push_back(tokens.clone());
    ++calls;
    return at::zeros({tokens.size(0), tokens.size(1), kV + 1});
  };
  const auto est = estimate_nelbo(record, seqs, kMask, K, batch, 12, P);
  EXPECT_EQ(est.forward_passes, calls);
  const auto rows = at::cat(seen);
  ASSERT_EQ(rows.size(0), N * K);
  for (int64_t n = 0; n < N; ++n) {
    std::map<int64_t, int> per_l;
    for (int64_t j = 0; j < K; ++j) {
      const auto r = rows[n * K + j];
      const auto masked = r == kMask;
      EXPECT_FALSE(masked.narrow(0, 0, P).any().item<bool>()) << "a prompt token was masked";
      EXPECT_TRUE(at::equal(r.masked_select(~masked), seqs[n].masked_select(~masked)));
      ++per_l[masked.sum().item<int64_t>()];
    }
    // K = 8 samples over l in 1..4: each l exactly twice.
    EXPECT_EQ(per_l, (std::map<int64_t, int>{{1, 2}, {2, 2}, {3, 2}, {4, 2}})) << "sequence " << n;
  }

  // Given l, every l-subset equally likely: 4000 samples of one sequence, 1000 per l.
  seen.clear();
  estimate_nelbo(record, seqs.narrow(0, 0, 1).narrow(1, P, L), kMask, 4000, batch, 13);
  const auto all = at::cat(seen) == kMask;
  std::map<int64_t, int> per_subset;
  for (int64_t r = 0; r < all.size(0); ++r) {
    int64_t bits = 0;
    for (int64_t i = 0; i < L; ++i) bits |= all[r][i].item<bool>() ? (int64_t{1} << i) : 0;
    ++per_subset[bits];
  }
  const std::map<int64_t, double> subsets_of_size = {{1, 4.0}, {2, 6.0}, {3, 4.0}, {4, 1.0}};
  EXPECT_EQ(per_subset.size(), 15u);
  for (const auto& [bits, count] : per_subset) {
    const double q = 1.0 / subsets_of_size.at(__builtin_popcountll(static_cast<unsigned long long>(bits)));
    EXPECT_NEAR(count, 1000.0 * q, 4.0 * std::sqrt(1000.0 * q * (1.0 - q)) + 1e-9) << "subset " << bits;
  }
}

TEST(ElboEstimate, DeterministicInSeedAndIndependentOfBatchSize) {
  const RandomModel m(4, 14);
  const auto seqs = random_sequences(3, 4, 15);
  const auto a = estimate_nelbo(m.fn(), seqs, kMask, 12, 1, 16);
  const auto b = estimate_nelbo(m.fn(), seqs, kMask, 12, 7, 16);
  const auto c = estimate_nelbo(m.fn(), seqs, kMask, 12, 7, 17);
  EXPECT_NEAR(a.nats_per_token, b.nats_per_token, 1e-12);
  EXPECT_NEAR(a.mc_stderr, b.mc_stderr, 1e-12);
  EXPECT_EQ(a.forward_passes, 36);
  EXPECT_EQ(b.forward_passes, 6);
  EXPECT_NE(a.nats_per_token, c.nats_per_token);
  // One sample per sequence has no within-sequence variance.
  EXPECT_TRUE(std::isnan(estimate_nelbo(m.fn(), seqs, kMask, 1, 4, 16).mc_stderr));
}
