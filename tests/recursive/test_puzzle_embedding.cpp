// Puzzle-id embeddings: the prefix they make, sparse SignSGD against a hand computation, how the
// reasoners use them (gradient only through the prefix, halting head on position 0, logits
// without the prefix), training through the Trainer, checkpoints and evaluation.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "recursive/deep_supervision.h"
#include "recursive/puzzle_embedding.h"
#include "tests/recursive/tiny_reasoners.h"

namespace fs = std::filesystem;
using namespace beyond;
using namespace beyond::testing;

namespace {

// A tiny TRM (16 cells, 6 tokens, D = 32) with `num_ids` puzzle ids and a prefix of `len`.
TRM trm_with_ids(int64_t num_ids, int64_t len, int64_t h = 1, int64_t l = 1, int64_t n_sup = 4) {
  auto cfg = tiny_trm(h, l, n_sup);
  cfg.puzzle = {num_ids, len};
  return TRM(cfg);
}

// Random weights for the halting head, which starts at zero and so would read nothing.
void randomise_q_head(torch::nn::Linear& q) {
  at::NoGradGuard no_grad;
  q->weight.normal_(0.0, 1.0);
}

std::string fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("beyond_puzzle_emb_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

}  // namespace

// --- the embedding and its optimizer ---------------------------------------------------------

TEST(PuzzleEmbedding, ForwardIsTheIdsVectorThenZeroRegisters) {
  PuzzleEmbedding e(5, 3, 4);
  EXPECT_TRUE(at::equal(e->weights, at::zeros({5, 3}))) << "the table starts at zero";
  EXPECT_EQ(e->named_parameters().size(), 0u) << "the table is a buffer";
  e->weights.copy_(at::arange(15, at::kFloat).view({5, 3}));
  const auto out = e(at::tensor({2, 4, 2}, at::kLong));
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{3, 4, 3}));
  // Row 2 is {6, 7, 8} and row 4 is {12, 13, 14}.
  EXPECT_TRUE(at::equal(out.select(1, 0), at::tensor({6.f, 7.f, 8.f, 12.f, 13.f, 14.f, 6.f, 7.f, 8.f}).view({3, 3})));
  EXPECT_TRUE(at::equal(out.narrow(1, 1, 3), at::zeros({3, 3, 3})));
  ASSERT_EQ(e->pending.size(), 1u) << "training mode with gradients on remembers the gather";
  EXPECT_TRUE(e->pending[0].second.requires_grad());
  EXPECT_TRUE(e->pending[0].second.is_leaf());
  {
    at::NoGradGuard no_grad;
    e(at::tensor({1}, at::kLong));
  }
  e->eval();
  e(at::tensor({1}, at::kLong));
  EXPECT_EQ(e->pending.size(), 1u) << "no gather is remembered without gradients or in eval mode";
}

TEST(PuzzleEmbedding, SparseSignSgdMatchesAHandComputation) {
  PuzzleEmbedding e(4, 2, 1);
  e->weights.copy_(at::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f}).view({4, 2}));
  // Two gathers used by the loss with chosen gradients, and one (id 2) that the loss never reads.
  const auto a = e(at::tensor({1, 3, 1}, at::kLong)).select(1, 0);
  const auto b = e(at::tensor({3, 0}, at::kLong)).select(1, 0);
  e(at::tensor({2}, at::kLong));
  const auto ga = at::tensor({1.f, -2.f, 0.5f, 0.f, -3.f, 1.f}).view({3, 2});
  const auto gb = at::tensor({-0.5f, 0.f, 4.f, 0.f}).view({2, 2});
  ((a * ga).sum() + (b * gb).sum()).backward();
  // Summed per id: id 1: (1 - 3, -2 + 1) = (-2, -1); id 3: (0.5 - 0.5, 0) = (0, 0); id 0: (4, 0).
  // lr 0.1, wd 0.5: used rows are scaled by 1 - 0.05 = 0.95, then minus 0.1 * sign (sign(0) = 0):
  //   id 0: (0.95 - 0.1, 1.9 - 0) = (0.85, 1.9)     id 1: (2.85 + 0.1, 3.8 + 0.1) = (2.95, 3.9)
  //   id 2: not used, untouched (5, 6)             id 3: decay only (6.65, 7.6)
  EXPECT_EQ(sparse_sign_sgd_step(*e, 0.1, 0.5), 3);
  const auto expected = at::tensor({0.85f, 1.9f, 2.95f, 3.9f, 5.f, 6.f, 6.65f, 7.6f}).view({4, 2});
  EXPECT_TRUE(at::allclose(e->weights, expected, 1e-6, 1e-6)) << e->weights;
  EXPECT_TRUE(e->pending.empty());
  EXPECT_EQ(sparse_sign_sgd_step(*e, 0.1, 0.5), 0) << "nothing pending, nothing updated";
  EXPECT_TRUE(at::allclose(e->weights, expected, 1e-6, 1e-6));
}

// --- in the reasoners ------------------------------------------------------------------------

TEST(PuzzleEmbedding, GradientReachesTheTableOnlyThroughThePrefixAndOnlyTheBatchsRows) {
  torch::manual_seed(0);
  auto m = trm_with_ids(6, 4);
  auto plain = TRM(tiny_trm(1, 1, 4));
  EXPECT_EQ(m->parameter_count(), plain->parameter_count()) << "AdamW never sees the table";
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("puzzle_emb"), std::string::npos) << p.key();
  {
    at::NoGradGuard no_grad;
    m->puzzle_emb->weights.normal_();
  }
  const auto before = m->puzzle_emb->weights.clone();
  const auto ids = at::tensor({1, 4, 1}, at::kLong);
  auto [y0, z0] = m->initial_carry(3);
  const auto out = m->step(tokens(3, 7), ids, y0, z0);
  (out.logits * at::randn_like(out.logits)).sum().backward();
  ASSERT_EQ(m->puzzle_emb->pending.size(), 1u);
  const auto g = m->puzzle_emb->pending[0].second.grad();  // [3, D]: rows of ids 1, 4, 1
  ASSERT_TRUE(g.defined());
  EXPECT_FALSE(m->puzzle_emb->weights.grad().defined());
  const auto g1 = g[0] + g[2], g4 = g[1];
  sparse_sign_sgd_step(*m->puzzle_emb, 0.01, 0.0);
  const auto delta = m->puzzle_emb->weights - before;
  for (int64_t id : {0, 2, 3, 5}) EXPECT_TRUE(at::equal(delta[id], at::zeros({32}))) << "row " << id << " was not used";
  for (const auto& [id, grad] : {std::pair<int64_t, at::Tensor>{1, g1}, {4, g4}}) {
    EXPECT_GT(grad.ne(0).sum().item<int64_t>(), 16) << "the prefix reaches the logits";
    // wd 0: each element moved by exactly -0.01 * sign(grad).
    EXPECT_TRUE(at::allclose(delta[id], -0.01 * grad.sign(), 0.0, 1e-7)) << "row " << id;
  }
}

TEST(PuzzleEmbedding, PrefixIsInTheCarryNotTheLogitsAndTheHaltHeadReadsTheIdsPosition) {
  torch::manual_seed(1);
  auto m = trm_with_ids(3, 4);
  randomise_q_head(m->q_head);
  m->eval();
  at::NoGradGuard no_grad;
  m->puzzle_emb->weights.normal_();
  const auto x_tok = tokens(2, 3);
  const auto ids = at::tensor({1, 2}, at::kLong);
  auto [y0, z0] = m->initial_carry(2);
  ASSERT_EQ(y0.sizes(), (at::IntArrayRef{2, 4 + 16, 32}));
  const auto out = m->step(x_tok, ids, y0, z0);
  EXPECT_EQ(out.logits.sizes(), (at::IntArrayRef{2, 16, 6}));
  EXPECT_EQ(out.y.sizes(), (at::IntArrayRef{2, 20, 32}));
  // By hand, T = n = 1: x = sqrt(D) * (id's row, 3 zero rows, token embeddings); z = net(z + y + x);
  // y = net(y + z); logits from the 16 cells after the prefix, the halt logit from position 0.
  const auto rows = m->puzzle_emb->weights.index_select(0, ids).unsqueeze(1);
  const auto x = at::cat({rows, at::zeros({2, 3, 32}), m->embed_tokens(x_tok)}, 1) * std::sqrt(32.0);
  const auto z = m->net(z0 + y0 + x);
  const auto y = m->net(y0 + z);
  EXPECT_TRUE(at::allclose(out.logits, m->lm_head(y.narrow(1, 4, 16)), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(out.q_halt, m->q_head(y.select(1, 0)).squeeze(-1), 1e-5, 1e-5));
  // Change only id 2's vector: puzzle 0 (id 1) is unchanged, puzzle 1's halt logit moves.
  m->puzzle_emb->weights[2].add_(1.0);
  const auto again = m->step(x_tok, ids, y0, z0);
  EXPECT_FLOAT_EQ(again.q_halt[0].item<float>(), out.q_halt[0].item<float>());
  EXPECT_GT(std::abs(again.q_halt[1].item<float>() - out.q_halt[1].item<float>()), 1e-4);
}

TEST(PuzzleEmbedding, StepChecksThatIdsComeExactlyWithAPrefix) {
  torch::manual_seed(2);
  auto with = trm_with_ids(3, 2);
  auto without = TRM(tiny_trm(1, 1));
  const auto x = tokens(2, 1);
  auto [y, z] = with->initial_carry(2);
  auto [y_plain, z_plain] = without->initial_carry(2);
  EXPECT_THROW(with->step(x, {}, y, z), c10::Error);
  EXPECT_THROW(without->step(x, at::tensor({1, 2}, at::kLong), y_plain, z_plain), c10::Error);
  EXPECT_THROW(with->step(x, at::tensor({1}, at::kLong), y, z), c10::Error) << "one id per puzzle";
}

TEST(PuzzleEmbedding, EveryKindReadsThePrefixFromItsConfig) {
  for (const std::string kind : {"trm", "hrm", "transformer"}) {
    const std::string extra = kind == "hrm" ? "n_layers = 1\n" : "";
    auto c = Config::parse("[model]\nkind = \"" + kind + "\"\nd_model = 32\npuzzle_emb_len = 3\n" + extra, "p.toml");
    torch::manual_seed(0);
    const auto m = make_reasoner(c, 16, 6, 10);
    c.check_all_used();
    ASSERT_TRUE(m->puzzle_emb) << kind;
    EXPECT_EQ(m->prefix_len(), 3) << kind;
    bool registered = false;
    for (const auto& b : m->named_buffers()) registered |= b.key() == "puzzle_emb.weights";
    EXPECT_TRUE(registered) << kind;
    EXPECT_EQ(m->puzzle_emb->weights.sizes(), (at::IntArrayRef{10, 32})) << kind;
    auto [y, z] = m->initial_carry(2);
    EXPECT_EQ(y.size(1), 3 + 16) << kind;
    const auto out = m->step(tokens(2, 4), at::tensor({0, 9}, at::kLong), y, z);
    EXPECT_EQ(out.logits.sizes(), (at::IntArrayRef{2, 16, 6})) << kind;
    EXPECT_NE(m->describe().find("10 puzzle ids, prefix 3"), std::string::npos) << m->describe();
  }
  auto defaults = Config::parse("[model]\nd_model = 32\n", "d.toml");
  EXPECT_EQ(make_reasoner(defaults, 16, 6, 2)->prefix_len(), 16);
  auto no_ids = Config::parse("[model]\npuzzle_emb_len = 4\n", "n.toml");
  try {
    make_reasoner(no_ids, 16, 6);
    FAIL() << "puzzle_emb_len without puzzle ids";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.puzzle_emb_len needs a task with puzzle ids"), std::string::npos);
  }
  auto too_long = Config::parse("[model]\npuzzle_emb_len = 65\n", "l.toml");
  EXPECT_THROW(make_reasoner(too_long, 16, 6, 2), InputError);
  auto plain = Config::parse("[model]\nd_model = 32\n", "s.toml");
  EXPECT_FALSE(make_reasoner(plain, 16, 6)->puzzle_emb);
  EXPECT_EQ(plain.resolved_toml().find("puzzle_emb_len"), std::string::npos) << "a task without ids reads nothing";
}

// --- deep supervision, training, checkpoints, evaluation -------------------------------------

TEST(PuzzleEmbedding, DeepSupervisionCarriesEachSlotsIdWithItsExample) {
  torch::manual_seed(3);
  auto m = trm_with_ids(8, 2, 1, 1, 2);
  DeepSupervisionObjective obj(m.ptr());
  const auto x = tokens(3, 5), none = at::zeros({3}, at::kLong);
  const auto batch = [&](std::vector<int64_t> ids) {
    return Batch{{"inputs", x}, {"labels", x}, {"min_steps", none}, {"puzzle_ids", at::tensor(ids, at::kLong)}};
  };
  obj.loss(batch({1, 2, 3}));
  EXPECT_TRUE(at::equal(obj.state().at("puzzle_ids"), at::tensor({1, 2, 3}, at::kLong)));
  obj.loss(batch({4, 5, 6}));  // no slot halted after one of two steps: the ids stay
  EXPECT_TRUE(at::equal(obj.state().at("puzzle_ids"), at::tensor({1, 2, 3}, at::kLong)));
  obj.loss(batch({7, 0, 7}));  // all halted at 2 steps: every slot takes the new example and id
  EXPECT_TRUE(at::equal(obj.state().at("puzzle_ids"), at::tensor({7, 0, 7}, at::kLong)));
  DeepSupervisionObjective restored(m.ptr());
  restored.load_state(obj.state());
  EXPECT_TRUE(at::equal(restored.state().at("puzzle_ids"), at::tensor({7, 0, 7}, at::kLong)));
}

TEST(PuzzleEmbedding, TrainerLearnsAnAnswerThatOnlyThePuzzleIdGivesAndCheckpointsTheTable) {
  // Identical inputs; the answer is all token 2 for id 1 and all token 3 for id 2. Without the
  // embedding both ids see the same input and get the same answer, so at most half is right.
  const int64_t B = 8;
  const auto inputs = at::ones({2, 16}, at::kLong);
  const auto labels = at::stack({at::full({16}, 2, at::kLong), at::full({16}, 3, at::kLong)});
  const auto ids = at::tensor({1, 2}, at::kLong);
  const auto make_batch = [&](int64_t step, int64_t) {
    const auto which = (at::arange(B, at::kLong) + step) % 2;
    return Batch{{"inputs", inputs.index_select(0, which)}, {"labels", labels.index_select(0, which)},
                 {"min_steps", at::zeros({B}, at::kLong)}, {"puzzle_ids", ids.index_select(0, which)}};
  };
  torch::manual_seed(4);
  auto m = trm_with_ids(3, 2, 1, 1, 2);
  DeepSupervisionObjective obj(m.ptr());
  TrainOptions o;
  o.steps = 40;
  o.schedule.kind = "constant";
  o.schedule.lr = 3e-3;
  o.schedule.warmup = 5;
  o.schedule.total = o.steps;
  o.ema = 0.9;
  o.log_every = 1000;
  const auto dir = fresh_dir("train");
  RunDir run(dir);
  Trainer trainer(*m, obj, make_batch, nullptr, o, {&run, "", c10::Device(c10::kCPU)});
  attach_puzzle_sign_sgd(trainer, *m, 1e-2, 0.1);
  trainer.fit();
  // Only ids 1 and 2 were trained; the blank id 0 kept its zero row.
  const auto table = m->puzzle_emb->weights.clone();
  EXPECT_TRUE(at::equal(table[0], at::zeros({32})));
  EXPECT_GT(table[1].abs().min().item<float>(), 0.0f);
  EXPECT_FALSE(at::allclose(table[1], table[2]));
  m->eval();
  const auto e = evaluate_reasoner(*m, inputs, labels, 2, 2, ids);
  EXPECT_EQ(e.exact, 1.0) << "cell accuracy " << e.cell;

  // The checkpoint holds the table as a model buffer; the EMA averages parameters only.
  const auto ckpt = load_checkpoint(latest_checkpoint(run.checkpoints()));
  ASSERT_TRUE(ckpt.tensors.count("model.puzzle_emb.weights"));
  EXPECT_TRUE(at::equal(ckpt.tensors.at("model.puzzle_emb.weights"), table));
  EXPECT_FALSE(ckpt.tensors.count("ema.puzzle_emb.weights"));
  EXPECT_TRUE(ckpt.tensors.count("ema.lm_head.weight")) << "the EMA is on";
  EXPECT_TRUE(ckpt.tensors.count("objective.puzzle_ids"));
  torch::manual_seed(99);
  auto fresh = trm_with_ids(3, 2, 1, 1, 2);
  EXPECT_TRUE(at::equal(fresh->puzzle_emb->weights, at::zeros({3, 32})));
  load_evaluation_weights(*fresh, run.checkpoints());
  EXPECT_TRUE(at::equal(fresh->puzzle_emb->weights, table));
  fresh->eval();
  EXPECT_EQ(evaluate_reasoner(*fresh, inputs, labels, 2, 2, ids).exact, 1.0);
  fs::remove_all(dir);
}

TEST(PuzzleEmbedding, AfterStepGetsTheScheduleFactorAndAttachingToAPlainModelDoesNothing) {
  torch::manual_seed(5);
  auto m = TRM(tiny_trm(1, 1, 2));
  DeepSupervisionObjective obj(m.ptr());
  TrainOptions o;
  o.steps = 5;
  o.schedule.kind = "constant";
  o.schedule.lr = 2e-3;
  o.schedule.warmup = 4;
  o.schedule.total = o.steps;
  o.log_every = 1000;
  const auto dir = fresh_dir("after_step");
  RunDir run(dir);
  const auto x = tokens(2, 6);
  Trainer trainer(*m, obj, [&](int64_t, int64_t) { return Batch{{"inputs", x}, {"labels", x}, {"min_steps", at::zeros({2}, at::kLong)}}; },
                  nullptr, o, {&run, "", c10::Device(c10::kCPU)});
  attach_puzzle_sign_sgd(trainer, *m, 1.0, 0.0);  // no table: a no-op
  std::vector<double> scales;
  trainer.set_after_step([&](double s) { scales.push_back(s); });
  trainer.fit();
  // Warm-up over 4 steps: lr * (step + 1) / 4, then the constant lr.
  ASSERT_EQ(scales.size(), 5u);
  const std::vector<double> expected{0.25, 0.5, 0.75, 1.0, 1.0};
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(scales[i], expected[i], 1e-12) << "step " << i;
  fs::remove_all(dir);
}

TEST(PuzzleEmbedding, EvaluationsFinalHaltLogitsAreThoseOfTheStepsRunByHand) {
  torch::manual_seed(6);
  auto m = trm_with_ids(5, 2, 1, 1, 3);
  randomise_q_head(m->q_head);
  {
    at::NoGradGuard no_grad;
    m->puzzle_emb->weights.normal_();
  }
  m->eval();
  const auto x = tokens(5, 8), labels = tokens(5, 9);
  const auto ids = at::tensor({4, 1, 1, 0, 3}, at::kLong);
  const auto e = evaluate_reasoner(*m, x, labels, 3, 2, ids);
  ASSERT_EQ(e.final_q_halt.sizes(), (at::IntArrayRef{5}));
  at::NoGradGuard no_grad;
  for (int64_t p = 0; p < 5; ++p) {  // one puzzle at a time, three steps
    auto [y, z] = m->initial_carry(1);
    ReasonerStep out;
    for (int s = 0; s < 3; ++s) {
      out = m->step(x.narrow(0, p, 1), ids.narrow(0, p, 1), y, z);
      y = out.y;
      z = out.z;
    }
    EXPECT_NEAR(e.final_q_halt[p].item<float>(), out.q_halt[0].item<float>(), 1e-4) << "puzzle " << p;
    EXPECT_TRUE(at::equal(e.predictions[p], out.logits.argmax(-1)[0])) << "puzzle " << p;
  }
  EXPECT_GT((e.final_q_halt - e.final_q_halt[0]).abs().max().item<float>(), 1e-4) << "the logits differ by puzzle";
}
