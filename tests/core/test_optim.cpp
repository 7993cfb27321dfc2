// Optimisation pieces against closed forms and against torch::optim::AdamW as the reference.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/optim.h"

using namespace beyond;

namespace {

// ---------------------------------------------------------------------------------------------
// LRSchedule

// Closed form: warm-up lr * (step + 1) / warmup (the first step already moves), then
// min_lr + (lr - min_lr) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2, min_lr after total.
double closed_form(double lr, double min_lr, int64_t warmup, int64_t total, int64_t step) {
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

TEST(OptimSchedule, CosineWithWarmup) {
  LRSchedule s{"cosine", 1e-3, 1e-4, 10, 110};
  for (int64_t step = 0; step < 130; ++step)
    EXPECT_NEAR(s.at(step), closed_form(1e-3, 1e-4, 10, 110, step), 1e-15) << "step " << step;
  EXPECT_NEAR(s.at(0), 1e-4, 1e-15);       // lr / warmup
  EXPECT_NEAR(s.at(4), 5e-4, 1e-15);
  EXPECT_NEAR(s.at(9), 1e-3, 1e-15);       // warm-up reaches lr ...
  EXPECT_NEAR(s.at(10), 1e-3, 1e-15);      // ... and the cosine starts there
  EXPECT_NEAR(s.at(60), (1e-3 + 1e-4) / 2, 1e-15);  // midpoint of the cosine
  EXPECT_NEAR(s.at(110), 1e-4, 1e-15);
  EXPECT_NEAR(s.at(500), 1e-4, 1e-15);
  for (int64_t step = 10; step < 120; ++step) EXPECT_LE(s.at(step + 1), s.at(step)) << step;
}

TEST(OptimSchedule, CosineWithoutWarmup) {
  LRSchedule s{"cosine", 2.0, 0.0, 0, 100};
  EXPECT_DOUBLE_EQ(s.at(0), 2.0);
  EXPECT_NEAR(s.at(50), 1.0, 1e-14);
  EXPECT_NEAR(s.at(25), 1.0 + std::cos(M_PI / 4), 1e-14);
  EXPECT_NEAR(s.at(100), 0.0, 1e-14);
}

TEST(OptimSchedule, Constant) {
  LRSchedule s{"constant", 3e-4, 0.0, 4, 10};
  EXPECT_NEAR(s.at(0), 0.75e-4, 1e-18);
  EXPECT_NEAR(s.at(3), 3e-4, 1e-18);
  for (int64_t step = 4; step < 50; ++step) EXPECT_EQ(s.at(step), 3e-4) << step;
  LRSchedule no_warmup{"constant", 0.5, 0.0, 0, 1};
  EXPECT_EQ(no_warmup.at(0), 0.5);
  EXPECT_EQ(no_warmup.at(1000), 0.5);
}

// ---------------------------------------------------------------------------------------------
// AdamW

using Named = std::vector<std::pair<std::string, at::Tensor>>;

// A small "model" in float64: two matrices (decay) and three vectors (no decay), one of them a
// norm scale.
Named make_params(uint64_t seed) {
  torch::manual_seed(seed);
  Named p;
  p.emplace_back("fc1.weight", at::randn({8, 4}, at::kDouble));
  p.emplace_back("fc1.bias", at::randn({8}, at::kDouble));
  p.emplace_back("fc2.weight", at::randn({3, 8}, at::kDouble));
  p.emplace_back("fc2.bias", at::randn({3}, at::kDouble));
  p.emplace_back("norm.weight", at::randn({3}, at::kDouble));
  for (auto& [name, t] : p) t.requires_grad_(true);
  return p;
}

Named clone_params(const Named& src) {
  Named out;
  for (const auto& [name, t] : src) out.emplace_back(name, t.detach().clone().requires_grad_(true));
  return out;
}

// The same gradient sequence for every copy: step k's grads come from seed 1000 + k.
void set_grads(const Named& params, int64_t k) {
  torch::manual_seed(1000 + static_cast<uint64_t>(k));
  for (const auto& [name, t] : params) t.mutable_grad() = at::randn_like(t);
}

double max_diff(const Named& a, const Named& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i].second - b[i].second).abs().max().item<double>());
  return d;
}

TEST(OptimAdamW, DecayGroups) {
  const auto p = make_params(1);
  AdamW opt(p, {});
  EXPECT_TRUE(opt.decays("fc1.weight"));
  EXPECT_TRUE(opt.decays("fc2.weight"));
  EXPECT_FALSE(opt.decays("fc1.bias"));
  EXPECT_FALSE(opt.decays("norm.weight"));
}

TEST(OptimAdamW, MatchesTorchAdamW) {
  const double wd = 0.1;
  const auto ours = make_params(1), theirs = clone_params(ours);
  AdamW opt(ours, {0.9, 0.95, 1e-8, wd});

  // torch's AdamW with the same split: weight decay on matrices, none on vectors.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [name, t] : theirs) (t.dim() >= 2 ? decay : no_decay).push_back(t);
  auto opts = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8);
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts.weight_decay(wd)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts.weight_decay(0.0)));
  torch::optim::AdamW ref(groups, opts);

  LRSchedule schedule{"cosine", 1e-2, 1e-3, 5, 20};
  for (int64_t k = 0; k < 20; ++k) {
    const double lr = schedule.at(k);  // a changing lr, passed to both
    for (auto& g : ref.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    set_grads(ours, k);
    set_grads(theirs, k);
    opt.step(lr);
    ref.step();
    ASSERT_LT(max_diff(ours, theirs), 1e-12) << "after step " << k + 1;
  }
  EXPECT_EQ(opt.steps(), 20);
  // And the weights did move by much more than the tolerance.
  EXPECT_GT(max_diff(ours, make_params(1)), 1e-2);
}

TEST(OptimAdamW, SkipsParamsWithoutGrad) {
  const auto p = make_params(2), before = clone_params(p);
  AdamW opt(p, {});
  set_grads(p, 0);
  p[1].second.mutable_grad() = at::Tensor();  // fc1.bias has no grad this step
  opt.step(1e-2);
  EXPECT_TRUE(at::equal(p[1].second, before[1].second));
  EXPECT_FALSE(at::equal(p[0].second, before[0].second));
}

TEST(OptimAdamW, StateRoundTripContinuesIdentically) {
  const auto a = make_params(3);
  AdamW opt_a(a, {});
  for (int64_t k = 0; k < 10; ++k) {
    set_grads(a, k);
    opt_a.step(1e-2);
  }
  // A checkpoint: weights and optimizer state deep-copied, as if written to disk.
  const auto b = clone_params(a);
  std::map<std::string, at::Tensor> saved;
  for (const auto& [key, t] : opt_a.state()) saved[key] = t.clone();
  EXPECT_EQ(saved.at("step").item<int64_t>(), 10);
  EXPECT_EQ(saved.size(), 2 * a.size() + 1);

  AdamW opt_b(b, {});
  opt_b.load_state(saved);
  EXPECT_EQ(opt_b.steps(), 10);
  for (int64_t k = 10; k < 20; ++k) {
    set_grads(a, k);
    set_grads(b, k);
    opt_a.step(1e-2);
    opt_b.step(1e-2);
  }
  EXPECT_EQ(max_diff(a, b), 0.0);

  // Without the state (fresh moments, step 0) the run would differ: the test can fail.
  const auto c = clone_params(b);
  AdamW opt_c(c, {});
  set_grads(b, 20);
  set_grads(c, 20);
  opt_b.step(1e-2);
  opt_c.step(1e-2);
  EXPECT_GT(max_diff(b, c), 1e-6);
}

TEST(OptimAdamW, LoadStateRejectsMismatch) {
  const auto p = make_params(4);
  AdamW opt(p, {});
  auto state = opt.state();
  state["fc1.weight.exp_avg"] = at::zeros({2, 2}, at::kDouble);
  EXPECT_THROW(opt.load_state(state), std::runtime_error);
  state = opt.state();
  state.erase("step");
  EXPECT_THROW(opt.load_state(state), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// EMA

TEST(OptimEMA, ClosedFormAndSwap) {
  const double d = 0.9;
  const int64_t K = 7;
  auto w = at::zeros({5}, at::kDouble);
  const auto weights_at = [](int64_t k) { return at::arange(5, at::kDouble) * static_cast<double>(k) + std::sin(k); };
  {
    at::NoGradGuard no_grad;
    w.copy_(weights_at(0));
  }
  EMA ema({{"w", w}}, d);
  for (int64_t k = 1; k <= K; ++k) {
    w.copy_(weights_at(k));
    ema.update();
  }
  // ema_K = d^K w_0 + sum_k (1 - d) d^(K - k) w_k
  auto expected = weights_at(0) * std::pow(d, K);
  for (int64_t k = 1; k <= K; ++k) expected = expected + weights_at(k) * ((1 - d) * std::pow(d, K - k));
  EXPECT_LT((ema.state().at("w") - expected).abs().max().item<double>(), 1e-12);

  const auto live = w.clone();
  ema.swap();
  EXPECT_LT((w - expected).abs().max().item<double>(), 1e-12);  // live weights are the average
  ema.swap();
  EXPECT_TRUE(at::equal(w, live));  // and back
  EXPECT_LT((ema.state().at("w") - expected).abs().max().item<double>(), 1e-12);
}

// ---------------------------------------------------------------------------------------------
// clip_grad_norm

TEST(OptimClip, NormAndClipping) {
  torch::manual_seed(5);
  std::vector<at::Tensor> params{at::randn({10, 7}).requires_grad_(true), at::randn({13}).requires_grad_(true),
                                 at::randn({3}).requires_grad_(true)};
  for (auto& p : params) p.mutable_grad() = at::randn_like(p) * 2.0;
  params[2].mutable_grad() = at::Tensor();  // a parameter without grad is skipped
  const auto naive_norm = [&] {
    double s = 0;
    for (const auto& p : params) {
      if (!p.grad().defined()) continue;
      const auto g = p.grad().contiguous();
      for (int64_t i = 0; i < g.numel(); ++i) s += static_cast<double>(g.data_ptr<float>()[i]) * g.data_ptr<float>()[i];
    }
    return std::sqrt(s);
  };
  const double before = naive_norm();
  ASSERT_GT(before, 5.0);

  // No clipping above the norm.
  const auto g0 = params[0].grad().clone();
  EXPECT_NEAR(clip_grad_norm(params, 1e9), before, 1e-6 * before);
  EXPECT_TRUE(at::equal(params[0].grad(), g0));

  EXPECT_NEAR(clip_grad_norm(params, 1.0), before, 1e-6 * before);
  EXPECT_NEAR(naive_norm(), 1.0, 1e-5);
  // Clipping scales every gradient by one factor.
  EXPECT_LT((params[0].grad() * before - g0).abs().max().item<double>(), 1e-4);

  EXPECT_EQ(clip_grad_norm({at::zeros({2})}, 1.0), 0.0);  // no grads at all
}

// ---------------------------------------------------------------------------------------------
// AutocastGuard

TEST(OptimAutocast, Bf16InsideFloatAfter) {
  const auto a = at::randn({4, 5}), b = at::randn({5, 3});
  ASSERT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    AutocastGuard guard(at::kCPU, true);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kFloat);
  {
    AutocastGuard off(at::kCPU, false);
    EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kFloat);
  }
}

}  // namespace

// AdamATan2 against the formula written out element by element in double:
//   p <- p (1 - lr wd);  p <- p - lr / (1 - b1^t) * atan2(m, sqrt(v) / sqrt(1 - b2^t))
TEST(OptimAdamATan2, MatchesTheFormulaElementwise) {
  torch::manual_seed(5);
  auto w = at::randn({3, 4}, at::kDouble).set_requires_grad(true);
  AdamW::Options o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.weight_decay = 0.1;
  o.atan2 = true;
  AdamW opt({{"w", w}}, o);
  std::vector<double> p(12), m(12, 0.0), v(12, 0.0);
  for (int i = 0; i < 12; ++i) p[i] = w.view(-1)[i].item<double>();
  const double lr = 0.01;
  for (int t = 1; t <= 6; ++t) {
    const auto g = at::randn({3, 4}, at::kDouble) * (t % 2 ? 1.0 : 1e-3);  // include tiny gradients
    w.mutable_grad() = g.clone();
    opt.step(lr);
    for (int i = 0; i < 12; ++i) {
      const double gi = g.view(-1)[i].item<double>();
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.95 * v[i] + 0.05 * gi * gi;
      p[i] *= 1.0 - lr * 0.1;
      p[i] -= lr / (1.0 - std::pow(0.9, t)) * std::atan2(m[i], std::sqrt(v[i]) / std::sqrt(1.0 - std::pow(0.95, t)));
    }
  }
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(w.view(-1)[i].item<double>(), p[i], 1e-12) << i;
}
