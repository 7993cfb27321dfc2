// TRM: the recursion written out by hand, where the gradient flows, and the deep-supervision carry.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "recursive/trm_objective.h"

using namespace beyond;

namespace {

TRMConfig tiny_trm(int64_t h = 3, int64_t l = 2, int64_t n_sup = 4) {
  TRMConfig c;
  c.net.vocab_size = 6;
  c.net.max_seq_len = 16;
  c.net.d_model = 32;
  c.net.n_layers = 2;
  c.net.n_heads = 4;
  c.net.norm_scale = false;
  c.net.norm_placement = "post";
  c.net.causal = false;
  c.net.tie_embeddings = false;
  c.net.init = "lecun";
  c.net.embedding_scale = true;
  c.h_cycles = h;
  c.l_cycles = l;
  c.halt_max_steps = n_sup;
  return c;
}

at::Tensor tokens(int64_t b, int64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return at::randint(0, 6, {b, 16}, gen, at::kLong);
}

}  // namespace

TEST(TRM, StepEqualsTheRecursionWrittenOut) {
  torch::manual_seed(0);
  TRM m(tiny_trm(3, 2));
  const auto x_tok = tokens(2, 1);
  auto [y0, z0] = m->initial_carry(2);
  const auto out = m->step(x_tok, y0, z0);
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
  EXPECT_FALSE(out.y.requires_grad());
}

TEST(TRM, GradientFlowsOnlyThroughTheLastCycle) {
  torch::manual_seed(0);
  const auto x = tokens(2, 2);
  for (int64_t h : {1, 3}) {
    TRM m(tiny_trm(h, 2));
    auto [y0, z0] = m->initial_carry(2);
    y0.set_requires_grad(true);
    m->step(x, y0, z0).logits.sum().backward();
    // With T = 1 the carry feeds the graded cycle; with T = 3 it only feeds no-grad cycles.
    const bool reached = y0.grad().defined() && y0.grad().abs().sum().item<double>() > 0;
    EXPECT_EQ(reached, h == 1) << "h_cycles " << h;
    EXPECT_GT(m->embed_tokens->weight.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(TRMObjective, HaltedSlotsTakeNewExamplesRunningOnesKeepTheirs) {
  torch::manual_seed(0);
  const auto b1 = tokens(3, 10), b2 = tokens(3, 11), b3 = tokens(3, 12);
  const auto batch = [](const at::Tensor& t, int64_t min_steps) {
    return Batch{{"inputs", t}, {"labels", t}, {"min_steps", at::full({3}, min_steps, at::kLong)}};
  };
  // Never halting by q (bias -5): slots keep their example until halt_max_steps = 2.
  {
    TRM m(tiny_trm(1, 1, 2));
    TRMObjective obj(m);
    obj.loss(batch(b1, 0));
    obj.loss(batch(b2, 0));
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b1));
    EXPECT_TRUE(at::equal(obj.state().at("steps"), at::full({3}, 2, at::kLong)));
    obj.loss(batch(b3, 0));  // all halted at 2 steps: every slot restarts on b3
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b3));
    EXPECT_TRUE(at::equal(obj.state().at("steps"), at::ones({3}, at::kLong)));
  }
  // Always halting by q (bias +5) after one step, unless exploration sets a minimum.
  {
    TRM m(tiny_trm(1, 1, 8));
    {
      at::NoGradGuard g;
      m->q_head->bias.fill_(5.0);
    }
    TRMObjective obj(m);
    obj.loss(batch(b1, 0));
    EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
    obj.loss(batch(b2, 3));  // fresh slots with a minimum of 3 steps
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b2));
    obj.loss(batch(b3, 0));
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b2)) << "a slot below its minimum must keep running";
    EXPECT_FALSE(obj.state().at("halted").any().item<bool>());
    obj.loss(batch(b3, 0));
    EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
  }
}

TEST(TRMObjective, StateRoundTripContinuesIdentically) {
  torch::manual_seed(0);
  TRM m(tiny_trm(2, 1, 3));
  TRMObjective a(m), b(m);
  const auto batch = [](int64_t s) {
    const auto t = tokens(3, s);
    return Batch{{"inputs", t}, {"labels", t}, {"min_steps", at::zeros({3}, at::kLong)}};
  };
  a.loss(batch(1));
  a.loss(batch(2));
  b.load_state(a.state());
  const auto la = a.loss(batch(3)).loss.item<double>(), lb = b.loss(batch(3)).loss.item<double>();
  EXPECT_EQ(la, lb);
  EXPECT_TRUE(at::equal(a.state().at("y"), b.state().at("y")));
}

TEST(TRMEvaluate, RunsEveryStepWithoutHalting) {
  torch::manual_seed(0);
  TRM m(tiny_trm(1, 1, 4));
  const auto x = tokens(5, 3);
  const auto e = evaluate_trm(m, x, x, 4, 2);
  ASSERT_EQ(e.exact_by_step.size(), 4u);
  EXPECT_EQ(e.predictions.size(0), 5);
  EXPECT_EQ(e.mean_halt_step, 4.0);  // q never > 0 at init
  // The reported exact accuracy is the naive count over the predictions.
  EXPECT_DOUBLE_EQ(e.exact, (e.predictions == x).all(-1).to(at::kDouble).mean().item<double>());
}
