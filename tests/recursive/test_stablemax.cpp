// Stable-max cross-entropy against a hand computation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "recursive/stablemax.h"

using namespace beyond;

TEST(Stablemax, HandComputedValues) {
  // logits (-1, 0, 2): s = (1/2, 1, 3), sum 4.5, so p = (1/9, 2/9, 6/9).
  const auto logits = at::tensor({-1.0, 0.0, 2.0}, at::kFloat).view({1, 3});
  const auto lp = log_stablemax(logits);
  EXPECT_EQ(lp.scalar_type(), at::kDouble);
  EXPECT_NEAR(lp[0][0].item<double>(), std::log(1.0 / 9.0), 1e-12);
  EXPECT_NEAR(lp[0][1].item<double>(), std::log(2.0 / 9.0), 1e-12);
  EXPECT_NEAR(lp[0][2].item<double>(), std::log(6.0 / 9.0), 1e-12);
  const auto loss = stablemax_cross_entropy(logits, at::tensor({2}, at::kLong));
  EXPECT_NEAR(loss[0].item<double>(), -std::log(6.0 / 9.0), 1e-12);
}

TEST(Stablemax, IgnoredLabelsAndGradient) {
  const auto logits = at::tensor({0.5, -3.0, 1.0, 4.0, 0.0, -0.5}, at::kDouble).view({2, 3}).set_requires_grad(true);
  const auto labels = at::tensor({1, -100}, at::kLong);
  const auto loss = stablemax_cross_entropy(logits, labels);
  EXPECT_EQ(loss[1].item<double>(), 0.0);
  // Row 0: s = (1.5, 0.25, 2), label 1 -> -log(0.25 / 3.75).
  EXPECT_NEAR(loss[0].item<double>(), -std::log(0.25 / 3.75), 1e-12);
  loss.sum().backward();
  EXPECT_TRUE(at::all(logits.grad()[1] == 0).item<bool>());
  // d/dx0 of -log(s1) + log(sum s) = s'(x0) / sum = 1 / 3.75 (s' = 1 for x >= 0).
  EXPECT_NEAR(logits.grad()[0][0].item<double>(), 1.0 / 3.75, 1e-12);
  // d/dx1 = -s'(x1)/s(x1) + s'(x1)/sum with s'(x) = 1/(1-x)^2 = 1/16 for x = -3.
  EXPECT_NEAR(logits.grad()[0][1].item<double>(), -(1.0 / 16.0) / 0.25 + (1.0 / 16.0) / 3.75, 1e-12);
}

TEST(Stablemax, GradientIsFiniteAtOne) {
  // x = 1 makes the unused branch 1 / (1 - x) infinite; the gradient must stay finite.
  const auto logits = at::tensor({1.0, -2.0, 0.0}, at::kDouble).view({1, 3}).set_requires_grad(true);
  stablemax_cross_entropy(logits, at::tensor({0}, at::kLong)).sum().backward();
  EXPECT_TRUE(at::isfinite(logits.grad()).all().item<bool>()) << logits.grad();
}
