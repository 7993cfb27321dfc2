// Samplers against naive std::vector references in double (sort, cumulative sums, hand-computed
// values) and, for the draw itself, chi-square goodness-of-fit tests with fixed seeds.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <tuple>
#include <vector>

#include "autoregressive/sampling.h"

using namespace beyond;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor random_logits(int64_t rows, int64_t vocab, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  return at::randn({rows, vocab}, seeded(seed), at::TensorOptions().dtype(dtype));
}

std::vector<double> row_of(const at::Tensor& t, int64_t b) {
  const auto r = t.select(0, b).to(at::kDouble).contiguous();
  return {r.data_ptr<double>(), r.data_ptr<double>() + r.numel()};
}

std::vector<double> values_of(const at::Tensor& t) {
  const auto r = t.to(at::kDouble).contiguous().view(-1);
  return {r.data_ptr<double>(), r.data_ptr<double>() + r.numel()};
}

// Ids a filter left alive in row b: anything not -inf.
std::set<int64_t> kept(const at::Tensor& filtered, int64_t b) {
  std::set<int64_t> ids;
  const auto r = row_of(filtered, b);
  for (size_t i = 0; i < r.size(); ++i)
    if (r[i] != -kInf) ids.insert(static_cast<int64_t>(i));
  return ids;
}

// Kept tokens must keep their logit bit for bit; the rest must be -inf.
void expect_kept_unchanged(const at::Tensor& input, const at::Tensor& filtered, int64_t b) {
  const auto in = row_of(input, b), out = row_of(filtered, b);
  ASSERT_EQ(in.size(), out.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (out[i] != -kInf) {
      EXPECT_EQ(out[i], in[i]) << "row " << b << " token " << i;
    }
  }
}

std::vector<double> naive_softmax(const std::vector<double>& logits) {
  const double m = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double z = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) z += p[i] = std::exp(logits[i] - m);
  for (auto& v : p) v /= z;
  return p;
}

// Ids ordered by value, largest first; equal values by id (std::stable_sort on an iota).
std::vector<int64_t> ranked(const std::vector<double>& values) {
  std::vector<int64_t> ids(values.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  return ids;
}

std::set<int64_t> naive_top_k(const std::vector<double>& logits, int64_t k) {
  const auto ids = ranked(logits);
  return {ids.begin(), ids.begin() + std::min<int64_t>(k, ids.size())};
}

std::set<int64_t> naive_top_p(const std::vector<double>& probs, double p) {
  std::set<int64_t> out;
  double mass = 0.0;
  for (const int64_t i : ranked(probs)) {
    out.insert(i);
    mass += probs[i];
    if (mass >= p) break;
  }
  return out;
}

std::set<int64_t> naive_min_p(const std::vector<double>& probs, double min_p) {
  const double p_max = *std::max_element(probs.begin(), probs.end());
  std::set<int64_t> out;
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] >= min_p * p_max) out.insert(static_cast<int64_t>(i));
  return out;
}

// Zero outside `ids`, renormalised inside.
std::vector<double> restrict_to(const std::vector<double>& probs, const std::set<int64_t>& ids) {
  std::vector<double> out(probs.size(), 0.0);
  double z = 0.0;
  for (const int64_t i : ids) z += probs[i];
  for (const int64_t i : ids) out[i] = probs[i] / z;
  return out;
}

at::Tensor logits_from_probs(const std::vector<double>& probs, at::ScalarType dtype = at::kDouble) {
  std::vector<double> l(probs.size());
  for (size_t i = 0; i < probs.size(); ++i) l[i] = std::log(probs[i]);
  return at::tensor(l, at::kDouble).view({1, -1}).to(dtype);
}

// Upper 0.999 quantile of chi-square with df degrees of freedom, Wilson-Hilferty approximation
// (z_0.999 = 3.0902323). It errs slightly high for small df, i.e. on the lenient side.
double chi2_quantile_999(int64_t df) {
  const double a = 2.0 / (9.0 * static_cast<double>(df));
  return static_cast<double>(df) * std::pow(1.0 - a + 3.090232306167813 * std::sqrt(a), 3.0);
}

struct Fit {
  double stat = 0.0;
  int64_t df = 0;
  int64_t outside = 0;  // draws of tokens whose expected probability is 0
};

Fit chi_square(const std::vector<int64_t>& counts, const std::vector<double>& expected) {
  Fit fit;
  int64_t n = 0;
  for (const auto c : counts) n += c;
  int64_t categories = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      fit.outside += counts[i];
      continue;
    }
    const double e = expected[i] * static_cast<double>(n);
    fit.stat += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
    ++categories;
  }
  fit.df = categories - 1;
  return fit;
}

std::vector<int64_t> token_counts(const at::Tensor& tokens, int64_t vocab) {
  const auto c = at::bincount(tokens.contiguous().view(-1), {}, vocab).to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

// N draws from one row: the row is repeated N times and drawn in one call.
std::vector<int64_t> draw_counts(const at::Tensor& row, const SamplingOptions& o, int64_t n, uint64_t seed) {
  const auto tokens = sample_next(row.expand({n, row.size(1)}).contiguous(), o, {}, seeded(seed));
  EXPECT_EQ(tokens.scalar_type(), at::kLong);
  EXPECT_EQ(tokens.sizes(), at::IntArrayRef({n}));
  return token_counts(tokens, row.size(1));
}

// A fixed 10-token distribution with enough spread for temperature and filters to matter and
// every token likely enough (> 0.5%) for the chi-square approximation at N = 20000.
const std::vector<double> kBase = {1.2, 0.9, 0.6, 0.35, 0.1, -0.2, -0.5, -0.9, -1.3, -1.9};

at::Tensor base_row() { return at::tensor(kBase, at::kDouble).view({1, -1}).to(at::kFloat); }

// Checks the draws fit `expected` and, as a power check, do not fit `wrong`.
void expect_fit(const std::vector<int64_t>& counts, const std::vector<double>& expected,
                const std::vector<double>& wrong) {
  const auto fit = chi_square(counts, expected);
  EXPECT_EQ(fit.outside, 0) << "draws of tokens the filters should have removed";
  ASSERT_GT(fit.df, 0);
  EXPECT_LT(fit.stat, chi2_quantile_999(fit.df)) << "df " << fit.df;
  // The wrong distribution may give a token no mass that was drawn; count those as a misfit too.
  const auto miss = chi_square(counts, wrong);
  EXPECT_TRUE(miss.outside > 0 || miss.stat > chi2_quantile_999(miss.df)) << "test has no power: " << miss.stat;
}

// ---------------------------------------------------------------------------------------------
// Repetition penalty

TEST(RepetitionPenalty, HandComputed) {
  const auto logits = at::tensor({2.0, -1.0, 0.5, -3.0, 0.0, 4.0,  //
                                  2.0, -1.0, 0.5, -3.0, 0.0, 4.0},
                                 at::kFloat)
                          .view({2, 6});
  // Row 0 sees 0 twice, 1 twice, 3 and 4; row 1 sees only 5 (three times) and 2.
  const auto history = at::tensor({0, 1, 1, 3, 0, 4, 5, 5, 2, 5, 5, 5}, at::kLong).view({2, 6});
  const auto before = logits.clone();
  const auto out = apply_repetition_penalty(logits, history, 2.0);
  EXPECT_EQ(values_of(out), (std::vector<double>{1.0, -2.0, 0.5, -6.0, 0.0, 4.0,  //
                                                 2.0, -1.0, 0.25, -3.0, 0.0, 2.0}));
  EXPECT_TRUE(at::equal(logits, before)) << "input modified";

  // A penalty below 1 rewards repeats instead; float64 stays float64.
  const auto out_half = apply_repetition_penalty(logits.to(at::kDouble), history, 0.5);
  EXPECT_EQ(out_half.scalar_type(), at::kDouble);
  EXPECT_EQ(values_of(out_half), (std::vector<double>{4.0, -0.5, 0.5, -1.5, 0.0, 4.0,  //
                                                      2.0, -1.0, 1.0, -3.0, 0.0, 8.0}));
}

TEST(RepetitionPenalty, NoOps) {
  const auto logits = random_logits(2, 7, 1);
  const auto history = at::tensor({1, 2, 3, 4}, at::kLong).view({2, 2});
  EXPECT_TRUE(at::equal(apply_repetition_penalty(logits, history, 1.0), logits));
  EXPECT_TRUE(at::equal(apply_repetition_penalty(logits, at::Tensor(), 1.3), logits));
  EXPECT_TRUE(at::equal(apply_repetition_penalty(logits, at::zeros({2, 0}, at::kLong), 1.3), logits));
}

TEST(RepetitionPenalty, RejectsBadInput) {
  const auto logits = random_logits(2, 5, 2);
  EXPECT_THROW(apply_repetition_penalty(logits, at::tensor({0, 5}, at::kLong).view({2, 1}), 1.2), c10::Error);
  EXPECT_THROW(apply_repetition_penalty(logits, at::tensor({0, -1}, at::kLong).view({2, 1}), 1.2), c10::Error);
  EXPECT_THROW(apply_repetition_penalty(logits, at::tensor({0, 1, 2}, at::kLong).view({3, 1}), 1.2), c10::Error);
  EXPECT_THROW(apply_repetition_penalty(logits, at::tensor({0, 1}, at::kLong).view({2, 1}), 0.0), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// Top-k

TEST(TopK, KeptSetIsTheKLargest) {
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    const auto logits = random_logits(6, 50, 3, dtype);
    for (const int64_t k : {1, 2, 5, 17, 49}) {
      const auto out = filter_top_k(logits, k);
      EXPECT_EQ(out.scalar_type(), dtype);
      for (int64_t b = 0; b < logits.size(0); ++b) {
        EXPECT_EQ(kept(out, b), naive_top_k(row_of(logits, b), k)) << "k " << k << " row " << b;
        expect_kept_unchanged(logits, out, b);
      }
    }
  }
}

TEST(TopK, OutOfRangeIsNoOp) {
  const auto logits = random_logits(3, 9, 4);
  for (const int64_t k : {-3, 0, 9, 20}) EXPECT_TRUE(at::equal(filter_top_k(logits, k), logits)) << k;
}

// Tied boundary values: exactly k stay, the lower ids first.
TEST(TopK, TiesKeepExactlyKLowestIdsFirst) {
  const auto logits = at::tensor({1.0, 3.0, 3.0, 3.0, 0.0, 2.0}, at::kFloat).view({1, -1});
  EXPECT_EQ(kept(filter_top_k(logits, 1), 0), (std::set<int64_t>{1}));
  EXPECT_EQ(kept(filter_top_k(logits, 2), 0), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(kept(filter_top_k(logits, 3), 0), (std::set<int64_t>{1, 2, 3}));
  EXPECT_EQ(kept(filter_top_k(logits, 4), 0), (std::set<int64_t>{1, 2, 3, 5}));
}

TEST(TopK, NeverDrawsOutsideTheKBest) {
  const auto row = random_logits(1, 50, 5);
  const auto best = naive_top_k(row_of(row, 0), 5);
  SamplingOptions o;
  o.top_k = 5;
  const auto counts = draw_counts(row, o, 5000, 11);
  for (int64_t i = 0; i < 50; ++i) {
    if (best.count(i))
      EXPECT_GT(counts[i], 0) << "token " << i << " of the top 5 never drawn";
    else
      EXPECT_EQ(counts[i], 0) << "token " << i << " is outside the top 5";
  }
}

// ---------------------------------------------------------------------------------------------
// Top-p

TEST(TopP, HandMadeDistributions) {
  // Dyadic probabilities, so the reference's sums are exact: 0.5, 0.25, 0.125, 0.125.
  const std::vector<double> probs = {0.125, 0.5, 0.25, 0.125};
  const auto logits = logits_from_probs(probs);
  const std::vector<std::pair<double, std::set<int64_t>>> cases = {
      {0.3, {1}},           {0.5, {1}},           // 0.5 hits p exactly: nothing more
      {0.6, {1, 2}},        {0.75, {1, 2}},       // 0.75 hits p exactly
      {0.76, {0, 1, 2}},    {0.875, {0, 1, 2}},   // the tie at 0.125 goes to the lower id
      {0.9, {0, 1, 2, 3}},  {0.0, {1}},           // p = 0 still keeps one
  };
  for (const auto& [p, expected] : cases) {
    EXPECT_EQ(naive_top_p(probs, p), expected) << "reference, p " << p;
    const auto out = filter_top_p(logits, p);
    EXPECT_EQ(kept(out, 0), expected) << "p " << p;
    expect_kept_unchanged(logits, out, 0);
  }
  // Here float64 softmax lands 1 ulp short of the exact cumulative sums (0.5 - 1.1e-16 after the
  // first token), which must still count as reaching p.
  const std::vector<double> short_probs = {0.0625, 0.0625, 0.125, 0.125, 0.5, 0.125};
  const auto short_logits = logits_from_probs(short_probs);
  const std::vector<std::pair<double, std::set<int64_t>>> short_cases = {
      {0.5, {4}}, {0.75, {2, 3, 4}}, {0.875, {2, 3, 4, 5}}, {0.9375, {0, 2, 3, 4, 5}}};
  for (const auto& [p, expected] : short_cases) {
    EXPECT_EQ(naive_top_p(short_probs, p), expected) << "reference, p " << p;
    EXPECT_EQ(kept(filter_top_p(short_logits, p), 0), expected) << "p " << p;
  }
  // Uniform float32 logits have exact probabilities 1/4 even in float32, so p = 0.5 is hit exactly.
  const auto uniform = at::zeros({1, 4}, at::kFloat);
  EXPECT_EQ(kept(filter_top_p(uniform, 0.5), 0), (std::set<int64_t>{0, 1}));
  EXPECT_EQ(kept(filter_top_p(uniform, 0.51), 0), (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(kept(filter_top_p(uniform, 0.25), 0), (std::set<int64_t>{0}));
}

TEST(TopP, RandomRowsMatchNaiveSortAndCumsum) {
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    const auto logits = random_logits(8, 50, 6, dtype) * 2.0;
    for (const double p : {0.05, 0.3, 0.5, 0.8, 0.9, 0.99}) {
      const auto out = filter_top_p(logits, p);
      EXPECT_EQ(out.scalar_type(), dtype);
      for (int64_t b = 0; b < logits.size(0); ++b) {
        EXPECT_EQ(kept(out, b), naive_top_p(naive_softmax(row_of(logits, b)), p)) << "p " << p << " row " << b;
        expect_kept_unchanged(logits, out, b);
      }
    }
  }
}

// After top-k the -inf tokens carry no mass and the rest is renormalised.
TEST(TopP, AfterTopKUsesRenormalisedMass) {
  const auto logits = random_logits(8, 50, 7);
  const auto top_k = filter_top_k(logits, 10);
  for (const double p : {0.5, 0.9}) {
    const auto out = filter_top_p(top_k, p);
    for (int64_t b = 0; b < logits.size(0); ++b)
      EXPECT_EQ(kept(out, b), naive_top_p(naive_softmax(row_of(top_k, b)), p)) << "p " << p << " row " << b;
  }
}

TEST(TopP, OneOrMoreIsNoOp) {
  const auto logits = random_logits(3, 9, 8);
  EXPECT_TRUE(at::equal(filter_top_p(logits, 1.0), logits));
  EXPECT_TRUE(at::equal(filter_top_p(logits, 1.5), logits));
  EXPECT_THROW(filter_top_p(logits, -0.1), c10::Error);
}

// ---------------------------------------------------------------------------------------------
// Min-p

TEST(MinP, MatchesNaiveLoop) {
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    const auto logits = random_logits(8, 50, 9, dtype) * 1.5;
    for (const double min_p : {0.01, 0.05, 0.1, 0.3, 0.7, 1.0}) {
      const auto out = filter_min_p(logits, min_p);
      for (int64_t b = 0; b < logits.size(0); ++b) {
        EXPECT_EQ(kept(out, b), naive_min_p(naive_softmax(row_of(logits, b)), min_p))
            << "min_p " << min_p << " row " << b;
        expect_kept_unchanged(logits, out, b);
      }
    }
  }
  const auto logits = logits_from_probs({0.5, 0.25, 0.125, 0.125});
  EXPECT_EQ(kept(filter_min_p(logits, 0.2), 0), (std::set<int64_t>{0, 1, 2, 3}));  // threshold 0.1
  EXPECT_EQ(kept(filter_min_p(logits, 0.3), 0), (std::set<int64_t>{0, 1}));        // threshold 0.15
  EXPECT_EQ(kept(filter_min_p(logits, 0.6), 0), (std::set<int64_t>{0}));           // threshold 0.3
  EXPECT_TRUE(at::equal(filter_min_p(logits, 0.0), logits));
  // Tied maxima all survive min_p = 1.
  EXPECT_EQ(kept(filter_min_p(at::tensor({2.0, 5.0, 5.0, 1.0}).view({1, -1}), 1.0), 0), (std::set<int64_t>{1, 2}));
}

// ---------------------------------------------------------------------------------------------
// sample_next

TEST(SampleNext, ZeroTemperatureIsArgmax) {
  const auto logits = random_logits(300, 50, 10);
  for (const double t : {0.0, 1e-7}) {
    SamplingOptions o;
    o.temperature = t;
    o.top_k = 7;  // filters must not change the argmax
    o.top_p = 0.5;
    // Greedy ignores the generator, so an undefined one is fine.
    const auto tokens = values_of(sample_next(logits, o, {}, at::Generator()));
    for (int64_t b = 0; b < logits.size(0); ++b) EXPECT_EQ(tokens[b], ranked(row_of(logits, b))[0]) << "row " << b;
  }
}

TEST(SampleNext, GreedyAppliesRepetitionPenaltyFirst) {
  const auto logits = at::tensor({3.0, 2.0, -1.0}, at::kFloat).view({1, -1});
  SamplingOptions o;
  o.temperature = 0.0;
  o.repetition_penalty = 2.0;
  // 3 / 2 = 1.5 < 2: the seen token loses the argmax.
  EXPECT_EQ(sample_next(logits, o, at::tensor({0}, at::kLong).view({1, 1}), {}).item<int64_t>(), 1);
  EXPECT_EQ(sample_next(logits, o, at::tensor({2}, at::kLong).view({1, 1}), {}).item<int64_t>(), 0);
}

TEST(SampleNext, TinyTemperatureIsArgmax) {
  // A margin of 0.1 at T = 1e-3 leaves the runner-up at most 49 * exp(-100) of the mass.
  auto logits = random_logits(300, 50, 12);
  const auto best = logits.argmax(-1, /*keepdim=*/true);
  logits.scatter_add_(1, best, at::full({300, 1}, 0.1f));
  SamplingOptions o;
  o.temperature = 1e-3;
  const auto tokens = values_of(sample_next(logits, o, {}, seeded(13)));
  for (int64_t b = 0; b < logits.size(0); ++b) EXPECT_EQ(tokens[b], ranked(row_of(logits, b))[0]) << "row " << b;
}

TEST(SampleNext, SeedReproducesTokens) {
  const auto logits = random_logits(1000, 50, 14);
  const auto history = at::randint(50, {1000, 8}, seeded(15));
  SamplingOptions o;
  o.temperature = 0.9;
  o.top_k = 20;
  o.top_p = 0.95;
  o.min_p = 0.01;
  o.repetition_penalty = 1.2;
  const auto a = sample_next(logits, o, history, seeded(42));
  const auto b = sample_next(logits, o, history, seeded(42));
  EXPECT_TRUE(at::equal(a, b));
  const auto c = sample_next(logits, o, history, seeded(43));
  EXPECT_GT(a.ne(c).sum().item<int64_t>(), 500) << "a different seed should change most of 1000 draws";
}

// The draw must come from the given generator, not the global one.
TEST(SampleNext, LeavesGlobalGeneratorAlone) {
  const auto logits = random_logits(100, 50, 16);
  at::manual_seed(0);
  const auto expected = at::rand({4});
  at::manual_seed(0);
  sample_next(logits, SamplingOptions{}, {}, seeded(1));
  EXPECT_TRUE(at::equal(at::rand({4}), expected));
}

TEST(SampleNext, ChiSquareQuantileApproximation) {
  // Table values of the chi-square 0.999 quantile for df = 1, 3, 5, 9, 20.
  const std::vector<std::pair<int64_t, double>> table = {
      {1, 10.828}, {3, 16.266}, {5, 20.515}, {9, 27.877}, {20, 45.315}};
  for (const auto& [df, q] : table) {
    EXPECT_GE(chi2_quantile_999(df), q * 0.995) << df;
    EXPECT_LE(chi2_quantile_999(df), q * 1.04) << df;
  }
}

TEST(SampleNext, PlainSamplingFitsSoftmax) {
  const auto counts = draw_counts(base_row(), SamplingOptions{}, 20000, 100);
  expect_fit(counts, naive_softmax(kBase), std::vector<double>(kBase.size(), 1.0 / kBase.size()));
}

TEST(SampleNext, TemperatureFitsTemperedSoftmax) {
  SamplingOptions o;
  o.temperature = 0.7;
  std::vector<double> tempered(kBase.size());
  for (size_t i = 0; i < kBase.size(); ++i) tempered[i] = kBase[i] / 0.7;
  expect_fit(draw_counts(base_row(), o, 20000, 101), naive_softmax(tempered), naive_softmax(kBase));
}

TEST(SampleNext, TopKFitsRenormalisedTopK) {
  SamplingOptions o;
  o.top_k = 4;
  const auto probs = naive_softmax(kBase);
  expect_fit(draw_counts(base_row(), o, 20000, 102), restrict_to(probs, naive_top_k(kBase, 4)), probs);
}

TEST(SampleNext, TopPFitsRenormalisedNucleus) {
  SamplingOptions o;
  o.top_p = 0.7;
  const auto probs = naive_softmax(kBase);
  const auto nucleus = naive_top_p(probs, 0.7);
  ASSERT_GT(nucleus.size(), 2u);
  ASSERT_LT(nucleus.size(), kBase.size() - 2);
  expect_fit(draw_counts(base_row(), o, 20000, 103), restrict_to(probs, nucleus), probs);
}

// All stages at once, with the reference applying them in the documented order. The first set
// of options gives a different nucleus if top-p runs before top-k (4 tokens instead of 3); in
// the second, min-p removes a token that top-k and top-p kept.
TEST(SampleNext, AllFiltersFitNaivePipeline) {
  const auto history = at::tensor({0, 0, 3}, at::kLong).view({1, 3});
  auto x = kBase;
  x[0] /= 1.5;  // seen and positive: divided by the penalty
  x[3] /= 1.5;
  for (auto& v : x) v /= 0.8;
  const std::vector<std::tuple<int64_t, double, double, size_t>> cases = {{4, 0.8, 0.3, 3}, {8, 0.9, 0.3, 5}};
  uint64_t seed = 104;
  for (const auto& [k, p, min_p, size] : cases) {
    SamplingOptions o;
    o.repetition_penalty = 1.5;
    o.temperature = 0.8;
    o.top_k = k;
    o.top_p = p;
    o.min_p = min_p;
    auto probs = restrict_to(naive_softmax(x), naive_top_k(x, k));
    probs = restrict_to(probs, naive_top_p(probs, p));
    probs = restrict_to(probs, naive_min_p(probs, min_p));
    ASSERT_EQ(static_cast<size_t>(std::count_if(probs.begin(), probs.end(), [](double v) { return v > 0; })), size);
    const int64_t n = 20000;
    const auto tokens =
        sample_next(base_row().expand({n, 10}).contiguous(), o, history.expand({n, 3}), seeded(seed++));
    expect_fit(token_counts(tokens, 10), probs, naive_softmax(kBase));
  }
}

// Three rows with different distributions, drawn together, each follow their own; and the draws
// of two rows in the same call are independent of each other.
TEST(SampleNext, BatchedRowsAreIndependent) {
  const std::vector<std::vector<double>> dists = {
      {0.6, 0.3, 0.1, 0.0, 0.0, 0.0},
      {0.0, 0.25, 0.25, 0.3, 0.2, 0.0},
      {0.0, 0.0, 0.0, 0.0, 0.45, 0.55},
  };
  std::vector<at::Tensor> rows;
  for (const auto& d : dists) rows.push_back(logits_from_probs(d, at::kFloat));  // log 0 = -inf
  const auto batch = at::cat(rows, 0);
  const int64_t n = 20000;
  // n calls' worth of B = 3 in one call: row 3j + r has distribution r.
  const auto tokens = sample_next(batch.repeat({n, 1}), SamplingOptions{}, {}, seeded(105)).view({n, 3});
  for (int64_t r = 0; r < 3; ++r) {
    const auto counts = token_counts(tokens.select(1, r), 6);
    expect_fit(counts, dists[r], dists[(r + 1) % 3]);
  }
  // Independence of rows 0 and 1: contingency table over their supports, df = (3 - 1) * (4 - 1).
  const auto t0 = values_of(tokens.select(1, 0)), t1 = values_of(tokens.select(1, 1));
  std::vector<std::vector<double>> joint(6, std::vector<double>(6, 0.0));
  for (int64_t j = 0; j < n; ++j) joint[static_cast<size_t>(t0[j])][static_cast<size_t>(t1[j])] += 1.0;
  std::vector<double> m0(6, 0.0), m1(6, 0.0);
  for (size_t a = 0; a < 6; ++a)
    for (size_t b = 0; b < 6; ++b) m0[a] += joint[a][b], m1[b] += joint[a][b];
  double stat = 0.0;
  for (size_t a = 0; a < 6; ++a)
    for (size_t b = 0; b < 6; ++b) {
      const double e = m0[a] * m1[b] / static_cast<double>(n);
      if (e > 0.0) stat += (joint[a][b] - e) * (joint[a][b] - e) / e;
    }
  EXPECT_LT(stat, chi2_quantile_999(6));
}

TEST(SampleNext, DtypesAndErrors) {
  const auto logits = random_logits(4, 10, 17);
  for (const auto dtype : {at::kDouble, at::kBFloat16, at::kHalf}) {
    const auto tokens = sample_next(logits.to(dtype), SamplingOptions{}, {}, seeded(3));
    EXPECT_EQ(tokens.scalar_type(), at::kLong);
    EXPECT_EQ(tokens.sizes(), at::IntArrayRef({4}));
  }
  EXPECT_EQ(filter_top_k(logits.to(at::kHalf), 3).scalar_type(), at::kFloat);
  SamplingOptions o;
  EXPECT_THROW(sample_next(logits.view({-1}), o, {}, seeded(1)), c10::Error);
  EXPECT_THROW(sample_next(logits, o, {}, at::Generator()), c10::Error);  // stochastic needs a generator
  auto dead = logits.clone();
  dead[2].fill_(-kInf);
  EXPECT_THROW(sample_next(dead, o, {}, seeded(1)), c10::Error);
  auto nan = logits.clone();
  nan[1][3] = std::nan("");
  EXPECT_THROW(sample_next(nan, o, {}, seeded(1)), c10::Error);
  o.temperature = -1.0;
  EXPECT_THROW(sample_next(logits, o, {}, seeded(1)), c10::Error);
}

}  // namespace
