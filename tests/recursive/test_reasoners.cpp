// The reasoner interface: deep supervision with halting and ACT Q-learning, evaluation and
// tracing, the no-recursion baseline, make_reasoner's config, and every kind training briefly.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>

#include "core/config.h"
#include "core/optim.h"
#include "recursive/deep_supervision.h"
#include "recursive/puzzles/sudoku.h"
#include "recursive/stablemax.h"
#include "tests/recursive/tiny_reasoners.h"

using namespace beyond;
using namespace beyond::testing;

namespace {

Batch batch_of(const at::Tensor& inputs, const at::Tensor& labels, const at::Tensor& min_steps) {
  return Batch{{"inputs", inputs}, {"labels", labels}, {"min_steps", min_steps}};
}

Batch batch_of(const at::Tensor& t, int64_t min_steps) {
  return batch_of(t, t, at::full({t.size(0)}, min_steps, at::kLong));
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
// Binary cross-entropy of a logit against a target in [0, 1], from its definition.
double bce(double logit, double target) {
  return -(target * std::log(sigmoid(logit)) + (1.0 - target) * std::log(1.0 - sigmoid(logit)));
}

void set_q_head(torch::nn::Linear& q, std::vector<double> bias) {
  at::NoGradGuard g;
  q->weight.zero_();
  for (size_t i = 0; i < bias.size(); ++i) q->bias[static_cast<int64_t>(i)].fill_(bias[i]);
}

}  // namespace

// --- deep supervision ------------------------------------------------------------------------

TEST(DeepSupervision, HaltedSlotsTakeNewExamplesRunningOnesKeepTheirs) {
  torch::manual_seed(0);
  const auto b1 = tokens(3, 10), b2 = tokens(3, 11), b3 = tokens(3, 12);
  // Never halting by q (bias -5): slots keep their example until halt_max_steps = 2.
  {
    TRM m(tiny_trm(1, 1, 2));
    DeepSupervisionObjective obj(m.ptr());
    obj.loss(batch_of(b1, 0));
    obj.loss(batch_of(b2, 0));
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b1));
    EXPECT_TRUE(at::equal(obj.state().at("steps"), at::full({3}, 2, at::kLong)));
    obj.loss(batch_of(b3, 0));  // all halted at 2 steps: every slot restarts on b3
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b3));
    EXPECT_TRUE(at::equal(obj.state().at("steps"), at::ones({3}, at::kLong)));
  }
  // Always halting by q (bias +5) after one step, unless exploration sets a minimum.
  {
    TRM m(tiny_trm(1, 1, 8));
    set_q_head(m->q_head, {5.0});
    DeepSupervisionObjective obj(m.ptr());
    obj.loss(batch_of(b1, 0));
    EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
    obj.loss(batch_of(b2, 3));  // fresh slots with a minimum of 3 steps
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b2));
    obj.loss(batch_of(b3, 0));
    EXPECT_TRUE(at::equal(obj.state().at("inputs"), b2)) << "a slot below its minimum must keep running";
    EXPECT_FALSE(obj.state().at("halted").any().item<bool>());
    obj.loss(batch_of(b3, 0));
    EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
  }
}

TEST(DeepSupervision, StateRoundTripContinuesIdentically) {
  for (bool hrm : {false, true}) {
    torch::manual_seed(0);
    Reasoner m = hrm ? Reasoner(std::make_shared<HRMImpl>(tiny_hrm(1, 2, 3))) : Reasoner(TRM(tiny_trm(2, 1, 3)).ptr());
    DeepSupervisionObjective a(m), b(m);
    a.loss(batch_of(tokens(3, 1), 0));
    a.loss(batch_of(tokens(3, 2), 0));
    b.load_state(a.state());
    const auto la = a.loss(batch_of(tokens(3, 3), 0)).loss.item<double>();
    const auto lb = b.loss(batch_of(tokens(3, 3), 0)).loss.item<double>();
    EXPECT_EQ(la, lb) << m->kind;
    EXPECT_TRUE(at::equal(a.state().at("y"), b.state().at("y"))) << m->kind;
  }
}

TEST(DeepSupervision, ContinueTargetIsTheBootstrappedFormula) {
  // Slots that have run 1, 2, 3 steps of at most 3: only the last one is on its final step.
  const auto steps = at::tensor(std::vector<int64_t>{1, 2, 3});
  const auto next_halt = at::tensor(std::vector<double>{0.5, -1.0, 3.0});
  const auto next_continue = at::tensor(std::vector<double>{1.5, -2.0, 7.0});
  const auto t = continue_target(steps, 3, next_halt, next_continue);
  EXPECT_NEAR(t[0].item<double>(), sigmoid(1.5), 1e-12);  // max(0.5, 1.5)
  EXPECT_NEAR(t[1].item<double>(), sigmoid(-1.0), 1e-12);  // max(-1, -2)
  EXPECT_NEAR(t[2].item<double>(), sigmoid(3.0), 1e-12);  // last step: next q_halt only, not 7
}

TEST(DeepSupervision, ContinueLossOnAHandSetHead) {
  // Zero weights: q_halt = 1, q_continue = 2 on every step, so the targets are known by hand.
  torch::manual_seed(0);
  HRM m(tiny_hrm(1, 1, 2));
  set_q_head(m->q_head, {1.0, 2.0});
  DeepSupervisionObjective obj(m.ptr());
  const auto x = tokens(4, 5);
  const auto first = obj.loss(batch_of(x, 0)).metrics;
  // Step 1 of 2: target sigmoid(max(1, 2)). q_halt = 1 > 0 but not > q_continue: no halting.
  EXPECT_NEAR(first.at("continue_loss"), bce(2.0, sigmoid(2.0)), 1e-6);  // float32 Q logits
  EXPECT_FALSE(obj.state().at("halted").any().item<bool>());
  const auto second = obj.loss(batch_of(x, 0)).metrics;
  // Step 2 of 2, the last: target sigmoid(next q_halt) = sigmoid(1).
  EXPECT_NEAR(second.at("continue_loss"), bce(2.0, sigmoid(1.0)), 1e-6);
  EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
}

TEST(DeepSupervision, ActLossIsCEPlusHalfHaltAndContinue) {
  for (int64_t max_steps : {1, 4}) {  // the last-step target, and the max(q_halt, q_continue) one
    torch::manual_seed(1);
    HRM m(tiny_hrm(2, 2, max_steps));
    {
      at::NoGradGuard g;
      m->q_head->weight.normal_(0.0, 0.3);  // Q values that differ by slot and by step
    }
    DeepSupervisionObjective obj(m.ptr());
    const auto x = tokens(5, 6), labels = tokens(5, 7);
    const double total = obj.loss(batch_of(x, labels, at::zeros({5}, at::kLong))).loss.item<double>();

    at::NoGradGuard g;
    auto [y0, z0] = m->initial_carry(5);
    const auto out = m->step(x, {}, y0, z0);
    const auto next = m->step(x, {}, out.y, out.z);
    const double lm = stablemax_cross_entropy(out.logits, labels).mean(-1).mean().item<double>();
    const auto exact = (out.logits.argmax(-1) == labels).all(-1);
    double halt = 0, cont = 0;
    for (int64_t i = 0; i < 5; ++i) {
      const double nh = next.q_halt[i].item<double>(), nc = next.q_continue[i].item<double>();
      const double target = sigmoid(max_steps == 1 ? nh : std::max(nh, nc));
      halt += bce(out.q_halt[i].item<double>(), exact[i].item<bool>() ? 1.0 : 0.0) / 5;
      cont += bce(out.q_continue[i].item<double>(), target) / 5;
    }
    EXPECT_NEAR(total, lm + 0.5 * (halt + cont), 1e-5) << "max_steps " << max_steps;
  }
}

// ARC's labels leave the PAD around a grid out (-100): the loss averages a puzzle's supervised
// cells only, and exact/cell accuracy ignore the rest (checked by loops over the cells).
TEST(DeepSupervision, IgnoredLabelsAreLeftOutOfLossAndAccuracy) {
  torch::manual_seed(3);
  TRM m(tiny_trm(2, 1, 4));
  DeepSupervisionObjective obj(m.ptr());
  const auto x = tokens(3, 8);
  at::Tensor labels;
  {
    at::NoGradGuard g;
    auto [y0, z0] = m->initial_carry(3);
    labels = m->step(x, {}, y0, z0).logits.argmax(-1);  // right everywhere...
  }
  labels[0].narrow(0, 0, 6).fill_(-100);                           // puzzle 0: 6 ignored cells, the rest right
  labels[1].narrow(0, 0, 4).fill_(-100);                           // puzzle 1: 4 ignored, one wrong cell
  labels[1][10] = (labels[1][10].item<int64_t>() + 1) % 6;
  labels[2].fill_(-100);                                           // puzzle 2: nothing supervised
  const auto out = obj.loss(batch_of(x, labels, at::zeros({3}, at::kLong)));

  at::NoGradGuard g;
  auto [y0, z0] = m->initial_carry(3);
  const auto step = m->step(x, {}, y0, z0);
  const auto logp = log_stablemax(step.logits);
  double lm = 0, cells = 0, exact = 0;
  for (int64_t b = 0; b < 3; ++b) {
    double sum = 0, n = 0, right = 0;
    for (int64_t c = 0; c < 16; ++c) {
      const int64_t label = labels[b][c].item<int64_t>();
      if (label == -100) continue;
      sum -= logp[b][c][label].item<double>();
      n += 1;
      right += step.logits[b][c].argmax().item<int64_t>() == label ? 1 : 0;
    }
    lm += (n > 0 ? sum / n : 0.0) / 3;
    cells += (n > 0 ? right / n : 0.0) / 3;
    exact += (n > 0 && right == n ? 1.0 : 0.0) / 3;
  }
  EXPECT_NEAR(exact, 1.0 / 3, 1e-12);  // only puzzle 0
  EXPECT_NEAR(out.metrics.at("exact_accuracy"), exact, 1e-6);
  EXPECT_NEAR(out.metrics.at("cell_accuracy"), cells, 1e-6);
  const double halt_part = out.loss.item<double>() - lm;  // what is left must be the halt BCE term
  double halt = 0;
  for (int64_t b = 0; b < 3; ++b) halt += bce(step.q_halt[b].item<double>(), b == 0 ? 1.0 : 0.0) / 3;
  EXPECT_NEAR(halt_part, 0.5 * halt, 1e-5);
  const auto e = evaluate_reasoner(*m, x, labels, 1, 2);
  EXPECT_EQ(e.correct_by_puzzle, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_NEAR(e.cell, cells, 1e-9);
}

TEST(DeepSupervision, ActHaltsWhenQHaltExceedsQContinue) {
  torch::manual_seed(0);
  HRM m(tiny_hrm(1, 1, 8));
  // q_halt = -3 < 0 would never halt TRM-style, but it beats q_continue = -4.
  set_q_head(m->q_head, {-3.0, -4.0});
  DeepSupervisionObjective obj(m.ptr());
  const auto x = tokens(3, 8);
  obj.loss(batch_of(x, x, at::tensor(std::vector<int64_t>{0, 3, 0})));
  EXPECT_TRUE(at::equal(obj.state().at("halted"), at::tensor(std::vector<int64_t>{1, 0, 1}).to(at::kBool)))
      << "slot 1 must wait for its exploration minimum of 3 steps";
  // And the other way round: q_halt = 3 > 0, but q_continue = 4 is larger, so nothing halts.
  HRM m2(tiny_hrm(1, 1, 8));
  set_q_head(m2->q_head, {3.0, 4.0});
  DeepSupervisionObjective obj2(m2.ptr());
  obj2.loss(batch_of(x, 0));
  EXPECT_FALSE(obj2.state().at("halted").any().item<bool>());
}

TEST(EvaluateReasoner, RunsEveryStepWithoutHaltingAndTracesOnePuzzle) {
  torch::manual_seed(0);
  TRM m(tiny_trm(1, 1, 4));
  const auto x = tokens(5, 3);
  const auto e = evaluate_reasoner(*m, x, x, 4, 2);
  ASSERT_EQ(e.exact_by_step.size(), 4u);
  ASSERT_EQ(e.cell_by_step.size(), 4u);
  EXPECT_EQ(e.predictions.size(0), 5);
  EXPECT_EQ(e.mean_halt_step, 4.0);  // q never > 0 at init
  // The reported accuracies are the naive counts over the predictions.
  EXPECT_DOUBLE_EQ(e.exact, (e.predictions == x).all(-1).to(at::kDouble).mean().item<double>());
  EXPECT_NEAR(e.cell, (e.predictions == x).to(at::kDouble).mean().item<double>(), 1e-12);
  EXPECT_EQ(e.cell, e.cell_by_step.back());
  // The trace of puzzle 3 ends on the same answer as its evaluation.
  const auto t = trace_reasoner(*m, x[3], 4);
  EXPECT_EQ(t.predictions.sizes().vec(), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(t.q_halt.sizes().vec(), (std::vector<int64_t>{4}));
  EXPECT_FALSE(t.q_continue.defined());
  EXPECT_TRUE(at::equal(t.predictions[3], e.predictions[3]));
}

TEST(EvaluateReasoner, HaltStepOfAnActModelIsWhereQHaltBeatsQContinue) {
  torch::manual_seed(0);
  HRM m(tiny_hrm(1, 1, 4));
  set_q_head(m->q_head, {-3.0, -4.0});
  const auto x = tokens(3, 9);
  EXPECT_EQ(evaluate_reasoner(*m, x, x, 4, 8).mean_halt_step, 1.0);
  const auto t = trace_reasoner(*m, x[0], 2);
  ASSERT_TRUE(t.q_continue.defined());
  EXPECT_TRUE(at::allclose(t.q_continue, at::full({2}, -4.0)));
}

// --- the no-recursion baseline ---------------------------------------------------------------

TEST(TransformerBaseline, StepIsEmbeddingStackHeadAndIgnoresTheCarry) {
  torch::manual_seed(0);
  TransformerBaseline m(tiny_baseline(2));
  const auto tok = tokens(2, 4);
  auto [y0, z0] = m->initial_carry(2);
  const auto out = m->step(tok, {}, y0, z0);
  const auto other = m->step(tok, {}, at::randn_like(y0), at::randn_like(z0));
  at::NoGradGuard no_grad;
  auto h = m->embed_tokens(tok) * std::sqrt(32.0);
  for (size_t i = 0; i < m->net->blocks->size(); ++i) h = m->net->blocks[i]->as<Block>()->forward(h, false);
  EXPECT_TRUE(at::allclose(out.logits, m->lm_head(h), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(out.q_halt, m->q_head(h.select(1, 0)).squeeze(-1), 1e-5, 1e-6));
  EXPECT_FALSE(out.q_continue.defined());
  EXPECT_TRUE(at::equal(out.logits, other.logits));
}

TEST(TransformerBaseline, HaltsAfterOneStepByDefault) {
  auto c = Config::parse("[model]\nkind = \"transformer\"\nd_model = 32\n", "t.toml");
  torch::manual_seed(0);
  const auto m = make_reasoner(c, 16, 6);
  EXPECT_EQ(m->halting.max_steps, 1);
  EXPECT_EQ(m->halting.exploration, 0.0);
  DeepSupervisionObjective obj(m);
  const auto b1 = tokens(3, 1), b2 = tokens(3, 2);
  obj.loss(batch_of(b1, 0));
  EXPECT_TRUE(obj.state().at("halted").all().item<bool>());
  obj.loss(batch_of(b2, 0));
  EXPECT_TRUE(at::equal(obj.state().at("inputs"), b2));
  EXPECT_TRUE(at::equal(obj.state().at("steps"), at::ones({3}, at::kLong)));
  // Run for more steps, it gives the same answer every time: the carry is ignored.
  const auto e = evaluate_reasoner(*m, b1, b1, 3, 8);
  EXPECT_EQ(e.exact_by_step, std::vector<double>(3, e.exact_by_step[0]));
  EXPECT_EQ(e.cell_by_step, std::vector<double>(3, e.cell_by_step[0]));
}

// --- make_reasoner ---------------------------------------------------------------------------

TEST(MakeReasoner, RejectsAnUnknownKindNamingTheKey) {
  auto c = Config::parse("[model]\nkind = \"hrn\"\n", "k.toml");
  try {
    make_reasoner(c, 16, 6);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.kind"), std::string::npos) << msg;
    EXPECT_NE(msg.find("k.toml:2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'hrm'"), std::string::npos) << msg;
  }
}

TEST(MakeReasoner, ReadsOnlyTheChosenKindsKeys) {
  {  // h_cycles means nothing to the baseline: the framework reports it as unknown.
    auto c = Config::parse("[model]\nkind = \"transformer\"\nh_cycles = 3\n", "b.toml");
    make_reasoner(c, 16, 6);
    try {
      c.check_all_used();
      FAIL() << "expected model.h_cycles to be reported";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("model.h_cycles"), std::string::npos) << e.what();
    }
  }
  {  // one_step_gradient is TRM's ablation; HRM always uses the 1-step gradient.
    auto c = Config::parse("[model]\nkind = \"hrm\"\none_step_gradient = true\n", "h.toml");
    make_reasoner(c, 16, 6);
    EXPECT_THROW(c.check_all_used(), InputError);
  }
  {  // TRM's "w/ ACT" ablation from the config; the default kind is trm.
    auto c = Config::parse("[model]\nd_model = 32\nact_continue = true\nhalt_max_steps = 5\n", "t.toml");
    const auto spec = read_reasoner(c, 16, 6);
    c.check_all_used();
    EXPECT_EQ(spec.kind, "trm");
    EXPECT_TRUE(spec.halting.act_continue);
    const auto m = spec.build();
    EXPECT_EQ(m->kind, "trm");
    EXPECT_EQ(m->halting.max_steps, 5);
    auto [y, z] = m->initial_carry(1);
    EXPECT_TRUE(m->step(tokens(1, 1), {}, y, z).q_continue.defined());
  }
  {  // exploration draws from U{2..max}: meaningless with one step
    auto c = Config::parse("[model]\nhalt_max_steps = 1\nhalt_exploration = 0.1\n", "e.toml");
    EXPECT_THROW(make_reasoner(c, 16, 6), InputError);
  }
  {  // a causal net is refused by every kind
    auto c = Config::parse("[model]\nkind = \"hrm\"\ncausal = true\n", "c.toml");
    EXPECT_THROW(make_reasoner(c, 16, 6), InputError);
  }
}

TEST(MakeReasoner, ParameterCountsOn4x4Sudoku) {
  // d_model 64 on 4x4 Sudoku (16 cells, 6 tokens), each kind's defaults otherwise.
  std::map<std::string, Reasoner> m;
  for (const std::string kind : {"trm", "hrm", "transformer"}) {
    auto c = Config::parse("[model]\nkind = \"" + kind + "\"\nd_model = 64\n", "p.toml");
    m[kind] = make_reasoner(c, 16, 6);
    std::cout << "  " << m[kind]->describe() << "\n";
  }
  // The baseline is TRM without the recursion: the same modules, so the same count.
  EXPECT_EQ(m["transformer"]->parameter_count(), m["trm"]->parameter_count());
  // HRM: 4 + 4 blocks instead of 2, and a second Q output (64 weights + 1 bias).
  auto& trm = dynamic_cast<TRMImpl&>(*m["trm"]);
  int64_t block = 0;
  for (const auto& p : trm.net->blocks[0]->parameters()) block += p.numel();
  EXPECT_EQ(m["hrm"]->parameter_count(), m["trm"]->parameter_count() + 6 * block + 65);
}

// --- every kind ------------------------------------------------------------------------------

class EveryKind : public ::testing::TestWithParam<std::string> {
 protected:
  // A small model of the kind from a config, as an experiment builds it.
  Reasoner build(uint64_t seed) {
    const std::string extra = GetParam() == "trm"   ? "h_cycles = 2\nl_cycles = 2\nhalt_max_steps = 4\n"
                              : GetParam() == "hrm" ? "n_layers = 1\nhalt_max_steps = 4\n"
                                                    : "";
    auto c = Config::parse("[model]\nkind = \"" + GetParam() + "\"\nd_model = 32\n" + extra, "k.toml");
    torch::manual_seed(seed);
    auto m = make_reasoner(c, 16, 6);
    c.check_all_used();
    return m;
  }
};

TEST_P(EveryKind, TrainsOnTinySudokuWithoutNaNAndTheLossGoesDown) {
  std::mt19937_64 rng(5);
  std::vector<GeneratedSudoku> pool;
  SudokuGenerateOptions opt;
  opt.givens = 8;
  for (int i = 0; i < 64; ++i) pool.push_back(generate_sudoku(SudokuShape::for_size(4), opt, rng));
  const auto m = build(0);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& p : m->named_parameters()) named.emplace_back(p.key(), p.value());
  AdamW::Options o;
  o.beta2 = 0.95;
  o.atan2 = true;
  AdamW optim(named, o);
  DeepSupervisionObjective obj(m);
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step) {
    std::vector<int64_t> in, out, min_steps;
    for (int i = 0; i < 32; ++i) {
      const auto& p = pool[rng() % pool.size()];
      const auto a = sudoku_tokens(p.puzzle), b = sudoku_tokens(p.solution);
      in.insert(in.end(), a.begin(), a.end());
      out.insert(out.end(), b.begin(), b.end());
      min_steps.push_back(0);
    }
    const auto x = at::tensor(in).view({32, 16}), y = at::tensor(out).view({32, 16});
    optim.zero_grad();
    auto l = obj.loss(batch_of(x, y, at::tensor(min_steps)));
    l.loss.backward();
    optim.step(3e-3);
    losses.push_back(l.loss.item<double>());
    ASSERT_TRUE(std::isfinite(losses.back())) << "step " << step;
  }
  const auto mean = [&](size_t from) { return (losses[from] + losses[from + 1] + losses[from + 2] + losses[from + 3]) / 4; };
  EXPECT_LT(mean(36), 0.9 * mean(0)) << GetParam() << ": first " << mean(0) << ", last " << mean(36);
}

TEST_P(EveryKind, ReproducibleOnAFixedSeed) {
  const auto x = tokens(2, 9);
  // The logits and losses of two supervision steps, from a model built on `seed`.
  const auto run = [&](uint64_t seed) {
    const auto m = build(seed);
    DeepSupervisionObjective obj(m);
    std::vector<double> losses{obj.loss(batch_of(x, 0)).loss.item<double>(), obj.loss(batch_of(x, 0)).loss.item<double>()};
    auto [y, z] = m->initial_carry(2);
    return std::make_pair(m->step(x, {}, y, z).logits.detach(), losses);
  };
  const auto a = run(11), b = run(11), c = run(12);
  EXPECT_TRUE(at::equal(a.first, b.first));
  EXPECT_EQ(a.second, b.second);
  EXPECT_FALSE(at::equal(a.first, c.first));
}

INSTANTIATE_TEST_SUITE_P(Reasoners, EveryKind, ::testing::Values("trm", "hrm", "transformer"),
                         [](const auto& info) { return info.param; });
