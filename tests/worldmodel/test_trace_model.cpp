// The world-model training and evaluation code (worldmodel/trace_model.h, trace_eval.h) against
// independent references:
//  - batches: targets are -100 exactly outside the answers, checked by hand and by a naive loop;
//  - the batch schedule: every sequence once per epoch, the same programs for two pools of the
//    same size whatever their lengths, token counts by a naive sum;
//  - teacher-forced frame exact match equals what greedy generation from the true prefix gives
//    (real KV-cache decoding, one frame at a time) on a small briefly trained model;
//  - rollouts and trace scoring driven by an ORACLE (the interpreter's own next frame) give no
//    wrong frame and every output right; corrupted at frame k they give k;
//  - output parsing on hand-made token strings.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/optim.h"
#include "worldmodel/generator.h"
#include "worldmodel/interpreter.h"
#include "worldmodel/trace_model.h"

using namespace beyond;
using namespace beyond::wm;

namespace {

TraceExample example_of(const std::string& source, const std::string& call) {
  TraceExample ex;
  ex.source = source;
  const Program program = Program::parse(source);
  ex.call = canonical_call(program, call);
  ex.trace = run_call(program, call);
  fill_features(ex);
  return ex;
}

// Hand-written programs: a loop with a branch, a helper call, lists, a while loop.
const std::vector<TraceExample>& hand_examples() {
  static const std::vector<TraceExample> all = {
      example_of("def f(n):\n    s = 0\n    for i in range(n):\n        if i % 2 == 0:\n            s += i\n"
                 "        else:\n            s -= 1\n    return s\n",
                 "f(5)"),
      example_of("def g(a, b):\n    return a * b - 1\n\n\ndef f(n):\n    t = 0\n    while n > 0:\n        t += g(n, 2)\n"
                 "        n -= 1\n    return t\n",
                 "f(3)"),
      example_of("def f(xs, k):\n    ys = []\n    for x in xs:\n        ys.append(x * k)\n    ys[0] = len(ys)\n    return ys\n",
                 "f([1, -2, 3], 2)"),
      example_of("def f(a):\n    b = a + 1\n    return b\n", "f(7)"),
  };
  return all;
}

std::vector<int64_t> ids(const TraceTokenizer& tok, const std::vector<std::string>& words) {
  std::vector<int64_t> out;
  for (const auto& w : words) out.push_back(tok.id(w));
  return out;
}

}  // namespace

// --- Batches ------------------------------------------------------------------------------------

TEST(TraceModelBatch, HandComputedRow) {
  const EncodedSequence s{{5, 6, 7, 8}, 2};
  const EncodedSequence t{{9, 10}, 1};
  const Batch b = make_lm_batch({&s, &t}, /*pad=*/0);
  const auto inputs = b.at("inputs"), targets = b.at("targets");
  ASSERT_EQ(inputs.sizes(), (std::vector<int64_t>{2, 3}));
  const std::vector<int64_t> want_in = {5, 6, 7, 9, 0, 0}, want_tg = {-100, 7, 8, 10, -100, -100};
  const auto in = inputs.contiguous(), tg = targets.contiguous();
  EXPECT_EQ(std::vector<int64_t>(in.data_ptr<int64_t>(), in.data_ptr<int64_t>() + 6), want_in);
  EXPECT_EQ(std::vector<int64_t>(tg.data_ptr<int64_t>(), tg.data_ptr<int64_t>() + 6), want_tg);
}

TEST(TraceModelBatch, TargetsAreIgnoredExactlyOutsideTheAnswersOfRealSequences) {
  const TraceTokenizer tok;
  for (TraceTask task : {TraceTask::Trace, TraceTask::Direct, TraceTask::Markov}) {
    const auto seqs = encode_task(tok, hand_examples(), task, StateMode::Diff);
    std::vector<const EncodedSequence*> rows;
    for (const auto& s : seqs) rows.push_back(&s);
    const Batch b = make_lm_batch(rows, tok.pad());
    const auto in = b.at("inputs").contiguous(), tg = b.at("targets").contiguous();
    const int64_t T = in.size(1);
    int64_t answer_positions = 0;
    for (size_t r = 0; r < seqs.size(); ++r) {
      const auto& s = seqs[r];
      // Naive: position t reads token t and, inside the answer, is trained on token t + 1.
      for (int64_t t = 0; t < T; ++t) {
        const int64_t got_in = in[static_cast<int64_t>(r)][t].item<int64_t>();
        const int64_t got_tg = tg[static_cast<int64_t>(r)][t].item<int64_t>();
        const bool inside = t + 1 < static_cast<int64_t>(s.tokens.size());
        EXPECT_EQ(got_in, inside ? s.tokens[static_cast<size_t>(t)] : tok.pad());
        const bool answer = inside && t + 1 >= s.answer_start;
        EXPECT_EQ(got_tg, answer ? s.tokens[static_cast<size_t>(t + 1)] : -100) << task_name(task) << " row " << r << " t " << t;
        answer_positions += answer;
      }
    }
    // The answers are what the layout says: trace -> frames + output, direct -> value + <eos>.
    int64_t expected = 0;
    for (const auto& s : seqs) expected += static_cast<int64_t>(s.tokens.size()) - s.answer_start;
    EXPECT_EQ(answer_positions, expected);
    EXPECT_EQ(tg.ne(-100).sum().item<int64_t>(), expected);
  }
  // The direct answer is exactly the value and <eos>: f(7) -> "8".
  const auto direct = encode_direct(tok, hand_examples()[3]);
  EXPECT_EQ(std::vector<int64_t>(direct.tokens.begin() + direct.answer_start, direct.tokens.end()),
            ids(tok, {"8", "<eos>"}));
}

TEST(TraceModelBatch, ScheduleCoversEachEpochAndPairsPoolsOfEqualSize) {
  const int64_t N = 96, B = 4, G = 3;
  std::vector<int64_t> a(N), b(N);
  for (int64_t i = 0; i < N; ++i) a[i] = 2 + (i * 37) % 50, b[i] = 2 + (i * 11) % 7;
  const BatchSchedule sa(a, B, 42, G), sb(b, B, 42, G);
  // 96 / 4 = 24 steps are one epoch: every sequence exactly once.
  std::vector<int64_t> seen;
  for (int64_t step = 0; step < N / B; ++step) {
    const auto batch = sa.batch(step);
    ASSERT_EQ(static_cast<int64_t>(batch.size()), B);
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < N; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
  // Same pool size and seed: the same sequences in each group of G steps, whatever the lengths.
  for (int64_t g = 0; g < 12; ++g) {
    std::multiset<int64_t> ga, gb;
    for (int64_t s = g * G; s < (g + 1) * G; ++s)
      for (int64_t i : sa.batch(s)) ga.insert(i);
    for (int64_t s = g * G; s < (g + 1) * G; ++s)
      for (int64_t i : sb.batch(s)) gb.insert(i);
    EXPECT_EQ(ga, gb) << "group " << g;
  }
  // Batches within a group are sorted by length: each batch spans a narrow range.
  // Token counts: a naive sum over the batches.
  int64_t naive = 0;
  for (int64_t step = 0; step < 50; ++step)
    for (int64_t i : sa.batch(step)) naive += a[static_cast<size_t>(i)] - 1;
  EXPECT_EQ(sa.tokens_through(50), naive);
  const int64_t steps = sa.steps_for_tokens(naive);
  EXPECT_LE(steps, 50);
  EXPECT_GE(sa.tokens_through(steps), naive);
  EXPECT_LT(sa.tokens_through(steps - 1), naive);
  // A different seed draws another order.
  const BatchSchedule sc(a, B, 43, G);
  EXPECT_NE(sa.batch(0), sc.batch(0));
}

// --- Output parsing -----------------------------------------------------------------------------

TEST(TraceModelParse, OutputsFromHandMadeTokens) {
  const TraceTokenizer tok;
  EXPECT_EQ(parse_output(tok, ids(tok, {"<output>", "1", "2", "<eos>"})), "12");
  EXPECT_EQ(parse_output(tok, ids(tok, {"<line>", "<L3>", "<output>", "-", "3", "<eos>", "4"})), "-3");
  EXPECT_EQ(parse_output(tok, ids(tok, {"<output>", "[", "1", ",", "-", "2", "]", "<eos>"})), "[1, -2]");
  EXPECT_EQ(parse_output(tok, ids(tok, {"<output>", "True"})), "True");  // no <eos>: up to the end
  EXPECT_EQ(parse_output(tok, ids(tok, {"1", "2", "<eos>"})), std::nullopt);  // no <output>
  EXPECT_EQ(parse_output(tok, ids(tok, {"<output>", "<eos>"})), std::nullopt);  // empty value
}

TEST(TraceModelParse, MatchFramePartsOnHandMadePredictions) {
  const TraceTokenizer tok;
  // <trace> <line> s = 1 <L3> <return> <L4> 7 <output> ...
  const auto truth = ids(tok, {"<trace>", "<line>", "s", "=", "1", "<L3>", "<return>", "<L4>", "7", "<output>", "7", "<eos>"});
  const auto ends = [&](int64_t id) { return ends_trace_frame(tok, id); };
  const FrameSpan line{1, 6}, ret{6, 9};
  auto pred = truth;
  FrameMatch m = match_frame(tok, truth, pred, line, ends);
  EXPECT_TRUE(m.frame && m.event && m.line && m.locals.value_or(false));
  EXPECT_FALSE(m.value.has_value());
  pred[4] = tok.id("2");  // a wrong value in the locals
  m = match_frame(tok, truth, pred, line, ends);
  EXPECT_FALSE(m.frame);
  EXPECT_FALSE(m.locals.value_or(true));
  EXPECT_TRUE(m.event && m.line);
  pred = truth;
  pred[8] = tok.id("8");  // a wrong return value
  m = match_frame(tok, truth, pred, ret, ends);
  EXPECT_FALSE(m.frame || m.value.value_or(true));
  EXPECT_TRUE(m.event && m.line);
  pred = truth;
  pred[9] = tok.id("3");  // the model would go on writing digits after the value: not a reproduced frame
  m = match_frame(tok, truth, pred, ret, ends);
  EXPECT_FALSE(m.frame || m.value.value_or(true));
  pred[9] = tok.id("<line>");  // any frame end will do: the next frame is another frame's business
  EXPECT_TRUE(match_frame(tok, truth, pred, ret, ends).frame);
}

// --- Rollouts and trace scoring with an oracle ----------------------------------------------------

namespace {

// The interpreter's next frame; wrong (another line) at frame `corrupt`, or no frame at `fail`.
FramePredictor oracle(int64_t corrupt = -1, int64_t fail = -1) {
  return [=](const std::vector<const Rollout*>& rollouts) {
    std::vector<std::optional<TraceEvent>> out;
    for (const auto* r : rollouts) {
      const auto k = static_cast<int64_t>(r->events.size());
      const auto& events = r->example->trace.events;
      if (k == fail || k >= static_cast<int64_t>(events.size())) {
        out.emplace_back(std::nullopt);
        continue;
      }
      TraceEvent e = events[static_cast<size_t>(k)];
      if (k == corrupt) e.line += 1;
      out.emplace_back(e);
    }
    return out;
  };
}

std::vector<const TraceExample*> pointers(const std::vector<TraceExample>& v) {
  std::vector<const TraceExample*> out;
  for (const auto& e : v) out.push_back(&e);
  return out;
}

}  // namespace

TEST(TraceModelRollout, OracleIsExactAndCorruptionIsFoundWhereItIs) {
  const auto& examples = hand_examples();
  const auto rollouts = roll_out(pointers(examples), oracle(), 1000, /*batch_size=*/3);
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto s = score_rollout(examples[i].trace.events, rollouts[i].events);
    EXPECT_EQ(s.first_wrong, -1) << i;
    EXPECT_TRUE(s.exact);
    EXPECT_DOUBLE_EQ(s.right_share, 1.0);
    EXPECT_TRUE(rollouts[i].finished() && !rollouts[i].failed && !rollouts[i].capped);
    EXPECT_EQ(rollouts[i].output(), examples[i].trace.result) << i;
  }
  for (int64_t k : {1, 2, 5}) {
    const auto wrong = roll_out(pointers(examples), oracle(k), 1000, 2);
    const auto failed = roll_out(pointers(examples), oracle(-1, k), 1000, 2);
    for (size_t i = 0; i < examples.size(); ++i) {
      const auto n = static_cast<int64_t>(examples[i].trace.events.size());
      if (k >= n) continue;
      const auto s = score_rollout(examples[i].trace.events, wrong[i].events);
      EXPECT_EQ(s.first_wrong, k) << "example " << i;
      EXPECT_DOUBLE_EQ(s.right_share, static_cast<double>(k) / static_cast<double>(n));
      const auto f = score_rollout(examples[i].trace.events, failed[i].events);
      EXPECT_TRUE(failed[i].failed);
      EXPECT_EQ(f.first_wrong, k);
      EXPECT_EQ(failed[i].output(), std::nullopt);
    }
  }
  // A frame cap stops a long rollout there: its first "wrong" frame is the first missing one.
  const auto capped = roll_out(pointers(examples), oracle(), 4, 2);
  EXPECT_TRUE(capped[0].capped);
  EXPECT_EQ(score_rollout(examples[0].trace.events, capped[0].events).first_wrong, 4);
}

TEST(TraceModelRollout, RolloutStacksGiveTheTokenizersMarkovPrompts) {
  // The stack a rollout keeps, written as a prompt, is the prompt of the tokenizer's own markov step.
  const TraceTokenizer tok;
  for (const auto& ex : hand_examples()) {
    const auto steps = encode_markov_steps(tok, ex);
    size_t asked = 0;
    const FramePredictor check = [&](const std::vector<const Rollout*>& rs) {
      const size_t k = rs[0]->events.size() - 1;
      const auto& want = steps.at(k);
      EXPECT_EQ(markov_prompt(tok, ex.source, ex.call, rs[0]->stack),
                std::vector<int64_t>(want.tokens.begin(), want.tokens.begin() + want.answer_start));
      ++asked;
      return oracle()(rs);
    };
    roll_out({&ex}, check, 1000, 1);
    EXPECT_EQ(asked, steps.size());
  }
}

TEST(TraceModelRollout, GeneratedTraceTokensScoreLikeTheirFrames) {
  const TraceTokenizer tok;
  for (const auto& ex : hand_examples()) {
    for (StateMode mode : {StateMode::Diff, StateMode::Full}) {
      const auto seq = encode_full_trace(tok, ex, mode);
      const std::vector<int64_t> truth(seq.tokens.begin() + seq.answer_start, seq.tokens.end());
      // The oracle's generation: the true continuation.
      const auto p = parse_generated_trace(tok, ex.source, truth);
      EXPECT_TRUE(p.complete);
      EXPECT_EQ(p.events, ex.trace.events);
      EXPECT_EQ(p.output, ex.trace.result);
      EXPECT_TRUE(score_rollout(ex.trace.events, p.events).exact);
      const auto spans = frame_spans(tok, truth, 0, static_cast<int64_t>(truth.size()));
      ASSERT_EQ(spans.size(), ex.trace.events.size());
      for (size_t k : {size_t{1}, spans.size() / 2, spans.size() - 1}) {
        // Frame k's line token moved to another line: k is the first wrong frame.
        auto moved = truth;
        for (int64_t i = spans[k].begin; i < spans[k].end; ++i) {
          const int line = tok.line_of(moved[static_cast<size_t>(i)]);
          if (line > 0) moved[static_cast<size_t>(i)] = tok.id("<L" + std::to_string(line == 1 ? 2 : line - 1) + ">");
        }
        const auto pm = parse_generated_trace(tok, ex.source, moved);
        EXPECT_EQ(score_rollout(ex.trace.events, pm.events).first_wrong, static_cast<int64_t>(k));
        // Frame k garbled (a stray token after its event): only the frames before it decode.
        auto garbled = truth;
        garbled.insert(garbled.begin() + spans[k].begin + 1, tok.id("("));
        const auto pg = parse_generated_trace(tok, ex.source, garbled);
        EXPECT_FALSE(pg.complete);
        EXPECT_EQ(static_cast<int64_t>(pg.events.size()), static_cast<int64_t>(k));
        EXPECT_EQ(score_rollout(ex.trace.events, pg.events).first_wrong, static_cast<int64_t>(k));
        // Cut inside frame k: no <output>, so not complete.
        const std::vector<int64_t> cut(truth.begin(), truth.begin() + spans[k].begin + 1);
        EXPECT_FALSE(parse_generated_trace(tok, ex.source, cut).complete);
      }
    }
  }
}

// --- Teacher forcing against real greedy generation -------------------------------------------------

TEST(TraceModelTeacherForcing, FrameMatchIsExactlyWhenGreedyGenerationReproducesTheFrame) {
  torch::manual_seed(3);
  const TraceTokenizer tok;
  GeneratorOptions o;
  o.n_statements = 2;
  o.max_loop_iters = 2;
  o.n_params = 1;
  o.n_vars = 2;
  o.allow_lists = false;
  const auto examples = generate_examples(o, 12, 11);
  const std::vector<TraceExample> seen(examples.begin(), examples.begin() + 6);
  // One small model briefly trained on traces and markov steps of half of the programs: it gets
  // some frames right (mostly on those) and some wrong.
  TransformerConfig cfg;
  cfg.vocab_size = tok.vocab_size();
  cfg.max_seq_len = 512;
  cfg.d_model = 48;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  LanguageModel model(cfg);
  auto train = encode_task(tok, seen, TraceTask::Trace, StateMode::Diff);
  for (auto& s : encode_task(tok, seen, TraceTask::Markov, StateMode::Diff)) train.push_back(std::move(s));
  std::vector<const EncodedSequence*> rows;
  for (const auto& s : train) rows.push_back(&s);
  const Batch batch = make_lm_batch(rows, tok.pad());
  AdamW opt(model->named_parameters().pairs(), {});
  for (int step = 0; step < 80; ++step) {
    opt.zero_grad();
    const auto logits = model(batch.at("inputs"));
    at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), batch.at("targets").reshape({-1})).backward();
    opt.step(3e-3);
  }
  model->eval();

  // Every frame of every trace: teacher forcing against a greedy decode from its true prefix.
  const auto traces = encode_task(tok, examples, TraceTask::Trace, StateMode::Diff);
  std::vector<const EncodedSequence*> trace_rows;
  for (const auto& s : traces) trace_rows.push_back(&s);
  const auto tf = teacher_forced(model, trace_rows, 16);
  std::vector<std::vector<int64_t>> prompts, wanted;
  std::vector<bool> matched;
  for (size_t i = 0; i < traces.size(); ++i) {
    const auto& s = traces[i];
    const auto ends = [&](int64_t id) { return ends_trace_frame(tok, id); };
    for (const auto& span : trace_frame_spans(tok, s)) {
      prompts.emplace_back(s.tokens.begin(), s.tokens.begin() + span.begin);
      wanted.emplace_back(s.tokens.begin() + span.begin, s.tokens.begin() + span.end);
      matched.push_back(match_frame(tok, s.tokens, tf.pred[i], span, ends).frame);
    }
  }
  // A frame's generation ends at the first frame-ending token after its event token.
  const StopFn frame_done = [&](const std::vector<int64_t>& out) {
    return out.size() == 1 ? !tok.is_event(out[0]) : ends_trace_frame(tok, out.back());
  };
  const auto generated = greedy_continue(model, prompts, frame_done, 80, 32);
  int64_t right = 0;
  for (size_t j = 0; j < prompts.size(); ++j) {
    const auto& g = generated[j];
    const bool reproduced = g.size() == wanted[j].size() + 1 && std::equal(wanted[j].begin(), wanted[j].end(), g.begin()) &&
                            ends_trace_frame(tok, g.back());
    EXPECT_EQ(reproduced, matched[j]) << "frame " << j;
    right += reproduced;
  }
  // Both outcomes occur, so the equivalence was tested both ways (32 of 54 frames right when written).
  EXPECT_GT(right, 0);
  EXPECT_LT(right, static_cast<int64_t>(prompts.size()));

  // The same for markov steps: the whole answer up to <eos>.
  const auto steps = encode_task(tok, examples, TraceTask::Markov, StateMode::Diff);
  std::vector<const EncodedSequence*> step_rows;
  for (const auto& s : steps) step_rows.push_back(&s);
  const auto tfm = teacher_forced(model, step_rows, 32);
  std::vector<std::vector<int64_t>> step_prompts;
  for (const auto& s : steps) step_prompts.emplace_back(s.tokens.begin(), s.tokens.begin() + s.answer_start);
  const int64_t eos = tok.eos();
  const auto frames = greedy_continue(model, step_prompts, [&](const std::vector<int64_t>& out) { return out.back() == eos; },
                                      80, 64);
  int64_t markov_right = 0;
  for (size_t j = 0; j < steps.size(); ++j) {
    const std::vector<int64_t> answer(steps[j].tokens.begin() + steps[j].answer_start, steps[j].tokens.end());
    const bool reproduced = frames[j] == answer;
    EXPECT_EQ(reproduced, tally_markov_frame(tok, steps[j], tfm.pred[j]).frame_ok == 1) << "step " << j;
    markov_right += reproduced;
  }
  EXPECT_GT(markov_right, 0);
  EXPECT_LT(markov_right, static_cast<int64_t>(steps.size()));
}
