// TRM: the recursion written out by hand, where the gradient flows, and the "w/ ACT" head.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "tests/recursive/tiny_reasoners.h"

using namespace beyond;
using namespace beyond::testing;

TEST(TRM, StepEqualsTheRecursionWrittenOut) {
  torch::manual_seed(0);
  TRM m(tiny_trm(3, 2));
  const auto x_tok = tokens(2, 1);
  auto [y0, z0] = m->initial_carry(2);
  const auto out = m->step(x_tok, {}, y0, z0);
  // By hand: x = sqrt(D) * embed; 3 times { z = net(z + y + x) twice; y = net(y + z) }.
  at::NoGradGuard no_grad;
  const auto x = m->embed_tokens(x_tok) * std::sqrt(32.0);
  auto y = y0, z = z0;
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < 2; ++i) z = m->net(z + y + x);
    y = m->net(y + z);
  }
  EXPECT_TRUE(at::allclose(out.y, y, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.z, z, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.logits, m->lm_head(y), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.q_halt, m->q_head(y.select(1, 0)).squeeze(-1), 1e-5, 1e-6));
  // The halting head starts at bias -5 with zero weights: nothing halts at first.
  EXPECT_TRUE(at::allclose(out.q_halt, at::full_like(out.q_halt, -5.0)));
  EXPECT_FALSE(out.q_continue.defined()) << "no continue head without act_continue";
  EXPECT_FALSE(out.y.requires_grad());
}

TEST(TRM, GradientFlowsOnlyThroughTheLastCycle) {
  torch::manual_seed(0);
  const auto x = tokens(2, 2);
  for (int64_t h : {1, 3}) {
    TRM m(tiny_trm(h, 2));
    auto [y0, z0] = m->initial_carry(2);
    y0.set_requires_grad(true);
    m->step(x, {}, y0, z0).logits.sum().backward();
    // With T = 1 the carry feeds the graded cycle; with T = 3 it only feeds no-grad cycles.
    const bool reached = y0.grad().defined() && y0.grad().abs().sum().item<double>() > 0;
    EXPECT_EQ(reached, h == 1) << "h_cycles " << h;
    EXPECT_GT(m->embed_tokens->weight.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(TRM, ActContinueAddsAContinueHeadAndNothingElse) {
  auto cfg = tiny_trm(1, 1);
  torch::manual_seed(3);
  TRM plain(cfg);
  cfg.act_continue = true;
  TRM act(cfg);
  EXPECT_FALSE(plain->halting.act_continue);
  EXPECT_TRUE(act->halting.act_continue);
  EXPECT_EQ(act->q_head->weight.size(0), 2);
  EXPECT_EQ(act->parameter_count(), plain->parameter_count() + 32 + 1);
  // With the other weights made equal, the answer path does not depend on the extra head.
  {
    at::NoGradGuard g;
    const auto plain_params = plain->named_parameters();
    for (auto& p : act->named_parameters())
      if (p.key().rfind("q_head", 0) != 0) p.value().copy_(plain_params[p.key()]);
  }
  const auto x = tokens(3, 4);
  auto [y0, z0] = act->initial_carry(3);
  const auto a = act->step(x, {}, y0, z0), p = plain->step(x, {}, y0, z0);
  EXPECT_TRUE(at::equal(a.logits, p.logits));
  ASSERT_TRUE(a.q_continue.defined());
  EXPECT_TRUE(at::allclose(a.q_continue, at::full({3}, -5.0)));
  EXPECT_TRUE(at::allclose(a.q_halt, at::full({3}, -5.0)));
  EXPECT_NE(act->describe().find("ACT continue"), std::string::npos) << act->describe();
}
