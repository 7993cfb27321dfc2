// HRM: the segment written out by hand, the 1-step gradient, its defaults and its fixed initial states.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "core/config.h"
#include "tests/recursive/tiny_reasoners.h"

using namespace beyond;
using namespace beyond::testing;

namespace {

// One segment by hand: h_cycles times { l_cycles times z_L = L(z_L + z_H + x); z_H = H(z_H + z_L) }.
// With one_step, everything before the final L call and the final H call runs without gradient.
std::pair<at::Tensor, at::Tensor> segment_by_hand(HRM& m, const at::Tensor& tok, at::Tensor z_h, at::Tensor z_l,
                                                  bool one_step) {
  const auto& c = m->cfg;
  const auto x = m->embed_tokens(tok) * std::sqrt(static_cast<double>(c.net.d_model));
  const int64_t calls = c.h_cycles * (c.l_cycles + 1);  // the final two are the graded ones
  int64_t call = 0;
  const auto run = [&](Stack& level, const at::Tensor& in) {
    const bool graded = !one_step || call++ >= calls - 2;
    if (graded) return level(in);
    at::NoGradGuard no_grad;
    return level(in);
  };
  for (int64_t h = 0; h < c.h_cycles; ++h) {
    for (int64_t l = 0; l < c.l_cycles; ++l) z_l = run(m->l_level, z_l + z_h + x);
    z_h = run(m->h_level, z_h + z_l);
  }
  return {z_h, z_l};
}

}  // namespace

TEST(HRM, StepEqualsTheSegmentWrittenOut) {
  torch::manual_seed(0);
  HRM m(tiny_hrm(2, 3));
  const auto tok = tokens(2, 1);
  auto [y0, z0] = m->initial_carry(2);
  const auto out = m->step(tok, {}, y0, z0);
  at::NoGradGuard no_grad;
  const auto [z_h, z_l] = segment_by_hand(m, tok, y0, z0, false);
  EXPECT_TRUE(at::allclose(out.y, z_h, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.z, z_l, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.logits, m->lm_head(z_h), 1e-5, 1e-6));
  const auto q = m->q_head(z_h.select(1, 0));
  EXPECT_TRUE(at::allclose(out.q_halt, q.select(-1, 0), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.q_continue, q.select(-1, 1), 1e-5, 1e-6));
  // Zero weights and bias -5 on both Q outputs at the start.
  EXPECT_TRUE(at::allclose(out.q_halt, at::full_like(out.q_halt, -5.0)));
  EXPECT_TRUE(at::allclose(out.q_continue, at::full_like(out.q_continue, -5.0)));
  EXPECT_FALSE(out.y.requires_grad());
  EXPECT_FALSE(out.z.requires_grad());
}

TEST(HRM, GradientReachesParametersOnlyThroughTheFinalLAndHCalls) {
  torch::manual_seed(0);
  HRM m(tiny_hrm(2, 2));
  const auto tok = tokens(3, 2);
  auto [y0, z0] = m->initial_carry(3);
  // A loss that reads both the answer and the Q head, so that every output path is exercised.
  const auto loss_of = [&](const at::Tensor& z_h) {
    return m->lm_head(z_h).pow(2).sum() + m->q_head(z_h.select(1, 0)).sum();
  };
  {
    const auto out = m->step(tok, {}, y0, z0);
    (out.logits.pow(2).sum() + out.q_halt.sum() + out.q_continue.sum()).backward();
  }
  const auto model_grads = take_grads(*m);
  loss_of(segment_by_hand(m, tok, y0, z0, true).first).backward();
  const auto one_step_grads = take_grads(*m);
  loss_of(segment_by_hand(m, tok, y0, z0, false).first).backward();
  const auto full_grads = take_grads(*m);
  double differs_from_full = 0;
  for (const auto& [name, g] : model_grads) {
    EXPECT_TRUE(at::allclose(g, one_step_grads.at(name), 1e-4, 1e-6)) << name;
    differs_from_full += (g - full_grads.at(name)).abs().sum().item<double>();
  }
  EXPECT_GT(model_grads.at("l_level.blocks.0.attn.q_proj.weight").abs().sum().item<double>(), 0.0);
  EXPECT_GT(model_grads.at("h_level.blocks.0.mlp.down_proj.weight").abs().sum().item<double>(), 0.0);
  EXPECT_GT(differs_from_full, 1e-3) << "full backpropagation through the segment must give other gradients";
}

TEST(HRM, TheCarryGetsGradientOnlyWhenItFeedsTheGradedCalls) {
  const auto tok = tokens(2, 3);
  for (int64_t cycles : {1, 2}) {
    torch::manual_seed(0);
    HRM m(tiny_hrm(cycles, cycles));
    auto [y0, z0] = m->initial_carry(2);
    y0.set_requires_grad(true);
    z0.set_requires_grad(true);
    m->step(tok, {}, y0, z0).logits.sum().backward();
    // H = L = 1: the segment is just the two graded calls, fed by the carry. Otherwise the carry
    // only feeds no-grad calls.
    for (const auto& c : {y0, z0}) {
      const bool reached = c.grad().defined() && c.grad().abs().sum().item<double>() > 0;
      EXPECT_EQ(reached, cycles == 1) << "cycles " << cycles;
    }
  }
}

TEST(HRM, InitialCarryIsTheFixedUntrainedInitVectors) {
  torch::manual_seed(0);
  HRM m(tiny_hrm());
  auto [z_h, z_l] = m->initial_carry(3);
  EXPECT_EQ(z_h.sizes().vec(), (std::vector<int64_t>{3, 16, 32}));
  EXPECT_TRUE(at::equal(z_h[2][7], m->h_init));
  EXPECT_TRUE(at::equal(z_l[0][15], m->l_init));
  EXPECT_FALSE(at::equal(m->h_init, m->l_init));
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("_init"), std::string::npos) << p.key();
  const auto buffers = m->named_buffers();
  EXPECT_TRUE(buffers.contains("h_init") && buffers.contains("l_init"));
}

TEST(HRM, ConfigDefaultsFollowThePaper) {
  auto c = Config::parse("[model]\nkind = \"hrm\"\nd_model = 64\n", "hrm.toml");
  torch::manual_seed(0);
  const auto r = make_reasoner(c, 16, 6);
  c.check_all_used();
  auto& m = dynamic_cast<HRMImpl&>(*r);
  EXPECT_EQ(r->kind, "hrm");
  EXPECT_EQ(m.cfg.net.n_layers, 4);
  EXPECT_EQ(m.cfg.h_cycles, 2);
  EXPECT_EQ(m.cfg.l_cycles, 2);
  EXPECT_EQ(m.cfg.net.norm_placement, "post");
  EXPECT_FALSE(m.cfg.net.norm_scale);
  EXPECT_FALSE(m.cfg.net.causal);
  EXPECT_EQ(r->halting.max_steps, 16);
  EXPECT_TRUE(r->halting.act_continue);
  EXPECT_EQ(m.q_head->weight.size(0), 2);
  EXPECT_EQ(m.h_level->blocks->size(), 4u);
  EXPECT_EQ(m.l_level->blocks->size(), 4u);
  EXPECT_NE(r->describe().find("HRM: "), std::string::npos) << r->describe();
}
