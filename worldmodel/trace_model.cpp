#include "worldmodel/trace_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "core/errors.h"
#include "core/seed.h"

namespace beyond::wm {

std::string task_name(TraceTask task) {
  switch (task) {
    case TraceTask::Trace: return "trace";
    case TraceTask::Direct: return "direct";
    case TraceTask::Markov: return "markov";
  }
  return "?";
}

TraceTask task_from_name(const std::string& s) {
  for (auto t : {TraceTask::Trace, TraceTask::Direct, TraceTask::Markov})
    if (s == task_name(t)) return t;
  throw InputError("unknown world-model task '" + s + "' (expected trace, direct or markov)");
}

std::vector<EncodedSequence> encode_task(const TraceTokenizer& tok, const std::vector<TraceExample>& examples,
                                         TraceTask task, StateMode mode) {
  std::vector<EncodedSequence> out;
  out.reserve(examples.size());
  for (const auto& ex : examples) {
    switch (task) {
      case TraceTask::Trace: out.push_back(encode_full_trace(tok, ex, mode)); break;
      case TraceTask::Direct: out.push_back(encode_direct(tok, ex)); break;
      case TraceTask::Markov:
        for (auto& s : encode_markov_steps(tok, ex)) out.push_back(std::move(s));
        break;
    }
  }
  return out;
}

Batch make_lm_batch(const std::vector<const EncodedSequence*>& rows, int64_t pad, c10::Device device) {
  const auto B = static_cast<int64_t>(rows.size());
  int64_t T = 1;
  for (const auto* r : rows) T = std::max(T, input_tokens(*r));
  std::vector<int64_t> inputs(static_cast<size_t>(B * T), pad), targets(static_cast<size_t>(B * T), -100);
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = *rows[static_cast<size_t>(b)];
    for (int64_t t = 0; t < input_tokens(s); ++t) {
      inputs[static_cast<size_t>(b * T + t)] = s.tokens[static_cast<size_t>(t)];
      if (t + 1 >= s.answer_start) targets[static_cast<size_t>(b * T + t)] = s.tokens[static_cast<size_t>(t + 1)];
    }
  }
  return {{"inputs", at::tensor(inputs, at::kLong).view({B, T}).to(device)},
          {"targets", at::tensor(targets, at::kLong).view({B, T}).to(device)}};
}

// --- BatchSchedule ------------------------------------------------------------------------------

BatchSchedule::BatchSchedule(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed, int64_t group)
    : lengths_(std::move(lengths)), batch_(batch_size), group_(group), seed_(seed) {
  if (lengths_.empty()) throw InputError("no training sequences to draw batches from");
  if (batch_ < 1 || group_ < 1) throw InputError("batch size and group must be positive");
}

std::vector<int64_t> BatchSchedule::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(lengths_.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(mix_seed(seed_ ^ mix_seed(static_cast<uint64_t>(epoch) + 1)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);  // Fisher-Yates
  return order;
}

std::vector<std::vector<int64_t>> BatchSchedule::group_batches(int64_t group) const {
  const auto N = static_cast<int64_t>(lengths_.size());
  const int64_t first = group * group_ * batch_, count = group_ * batch_;
  std::map<int64_t, std::vector<int64_t>> orders;  // the (at most few) epochs this group spans
  std::vector<int64_t> picked;
  picked.reserve(static_cast<size_t>(count));
  for (int64_t p = first; p < first + count; ++p) {
    auto it = orders.find(p / N);
    if (it == orders.end()) it = orders.emplace(p / N, epoch_order(p / N)).first;
    picked.push_back(it->second[static_cast<size_t>(p % N)]);
  }
  std::stable_sort(picked.begin(), picked.end(),
                   [&](int64_t a, int64_t b) { return lengths_[static_cast<size_t>(a)] < lengths_[static_cast<size_t>(b)]; });
  std::vector<std::vector<int64_t>> batches;
  for (int64_t i = 0; i < group_; ++i)
    batches.emplace_back(picked.begin() + i * batch_, picked.begin() + (i + 1) * batch_);
  std::mt19937_64 rng(mix_seed(~seed_ ^ mix_seed(static_cast<uint64_t>(group))));
  for (size_t i = batches.size(); i > 1; --i) std::swap(batches[i - 1], batches[rng() % i]);
  return batches;
}

std::vector<int64_t> BatchSchedule::batch(int64_t step) const { return group_batches(step / group_)[step % group_]; }

int64_t BatchSchedule::tokens_through(int64_t steps) const {
  int64_t tokens = 0;
  for (int64_t g = 0; g * group_ < steps; ++g) {
    const auto batches = group_batches(g);
    for (int64_t i = 0; i < group_ && g * group_ + i < steps; ++i)
      for (int64_t s : batches[static_cast<size_t>(i)]) tokens += lengths_[static_cast<size_t>(s)] - 1;
  }
  return tokens;
}

int64_t BatchSchedule::steps_for_tokens(int64_t tokens) const {
  int64_t steps = 0, total = 0;
  for (int64_t g = 0; total < tokens; ++g) {
    for (const auto& b : group_batches(g)) {
      if (total >= tokens) break;
      for (int64_t s : b) total += lengths_[static_cast<size_t>(s)] - 1;
      ++steps;
    }
  }
  return steps;
}

// --- Decoding and teacher forcing ---------------------------------------------------------------

namespace {

// Indices of `lengths` sorted by length, cut into chunks of at most `batch`.
std::vector<std::vector<size_t>> chunks_by_length(const std::vector<size_t>& lengths, int64_t batch) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<size_t>> chunks;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch))
    chunks.emplace_back(order.begin() + static_cast<int64_t>(i),
                        order.begin() + static_cast<int64_t>(std::min(order.size(), i + static_cast<size_t>(batch))));
  return chunks;
}

// One batch of greedy continuations. All rows share positions: the cache is filled to the
// shortest prompt, then rows still inside their prompt are fed their own next prompt token and
// the others their last argmax, so no padding is needed (as in autoregressive/generate.cpp).
std::vector<std::vector<int64_t>> greedy_chunk(LanguageModel& model, std::vector<std::vector<int64_t>> context,
                                               const StopFn& stop, int64_t max_new) {
  const auto B = static_cast<int64_t>(context.size());
  const int64_t window = model->cfg.max_seq_len;
  const auto device = model->embed_tokens->weight.device();
  std::vector<size_t> prompt_len(context.size());
  size_t min_len = context[0].size();
  for (size_t r = 0; r < context.size(); ++r) prompt_len[r] = context[r].size(), min_len = std::min(min_len, context[r].size());
  std::vector<std::vector<int64_t>> out(context.size());
  std::vector<bool> done(context.size(), false);
  for (size_t r = 0; r < context.size(); ++r) done[r] = max_new <= 0 || static_cast<int64_t>(prompt_len[r]) >= window;
  auto cache = model->make_cache(window);
  int64_t cached = 0;
  for (int64_t length = static_cast<int64_t>(min_len); length < window; ++length) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    std::vector<int64_t> flat;
    for (const auto& c : context) flat.insert(flat.end(), c.begin() + cached, c.begin() + length);
    const auto logits = model(at::tensor(flat, at::kLong).view({B, length - cached}).to(device), &cache);
    cached = length;
    const auto next = logits.select(1, logits.size(1) - 1).argmax(-1).cpu().contiguous();
    const int64_t* p = next.data_ptr<int64_t>();
    for (size_t r = 0; r < context.size(); ++r) {
      if (static_cast<int64_t>(prompt_len[r]) > length) continue;  // still feeding its prompt
      context[r].push_back(p[r]);  // finished rows go on too, to keep the batch aligned
      if (done[r]) continue;
      out[r].push_back(p[r]);
      done[r] = stop(out[r]) || static_cast<int64_t>(out[r].size()) >= max_new;
    }
  }
  return out;
}

}  // namespace

std::vector<std::vector<int64_t>> greedy_continue(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                                  const StopFn& stop, int64_t max_new, int64_t batch_size) {
  c10::InferenceMode guard;
  std::vector<std::vector<int64_t>> out(prompts.size());
  std::vector<size_t> lengths;
  for (const auto& p : prompts) {
    if (p.empty()) throw InputError("greedy_continue: an empty prompt");
    lengths.push_back(p.size());
  }
  for (const auto& chunk : chunks_by_length(lengths, batch_size)) {
    std::vector<std::vector<int64_t>> rows;
    for (size_t i : chunk) rows.push_back(prompts[i]);
    auto produced = greedy_chunk(model, std::move(rows), stop, max_new);
    for (size_t j = 0; j < chunk.size(); ++j) out[chunk[j]] = std::move(produced[j]);
  }
  return out;
}

TeacherForced teacher_forced(LanguageModel& model, const std::vector<const EncodedSequence*>& seqs, int64_t batch_size) {
  c10::InferenceMode guard;
  TeacherForced tf;
  tf.pred.resize(seqs.size());
  const auto device = model->embed_tokens->weight.device();
  std::vector<size_t> lengths;
  for (const auto* s : seqs) lengths.push_back(s->tokens.size());
  for (const auto& chunk : chunks_by_length(lengths, batch_size)) {
    std::vector<const EncodedSequence*> rows;
    for (size_t i : chunk) rows.push_back(seqs[i]);
    const Batch batch = make_lm_batch(rows, 0, device);
    const auto& targets = batch.at("targets");
    const auto logits = model(batch.at("inputs")).to(at::kFloat);
    const auto flat_logits = logits.reshape({-1, logits.size(-1)});
    tf.answer_nll += at::cross_entropy_loss(flat_logits, targets.reshape({-1}), {}, at::Reduction::Sum, -100).item<double>();
    const auto argmax = logits.argmax(-1);
    const auto answer = targets.ne(-100);
    tf.answer_tokens += answer.sum().item<int64_t>();
    tf.answer_tokens_right += (argmax.eq(targets) & answer).sum().item<int64_t>();
    const auto a = argmax.cpu().contiguous();
    const int64_t T = a.size(1);
    const int64_t* p = a.data_ptr<int64_t>();
    for (size_t j = 0; j < chunk.size(); ++j) {
      auto& pred = tf.pred[chunk[j]];
      const int64_t n = input_tokens(*rows[j]);
      pred.assign(1, -1);
      pred.insert(pred.end(), p + static_cast<int64_t>(j) * T, p + static_cast<int64_t>(j) * T + n);
    }
  }
  return tf;
}

FrameTally tally_trace_frames(const TraceTokenizer& tok, const EncodedSequence& seq, const std::vector<int64_t>& pred) {
  FrameTally tally;
  const auto ends = [&](int64_t id) { return ends_trace_frame(tok, id); };
  for (const auto& span : trace_frame_spans(tok, seq)) tally.add(match_frame(tok, seq.tokens, pred, span, ends));
  return tally;
}

FrameTally tally_markov_frame(const TraceTokenizer& tok, const EncodedSequence& seq, const std::vector<int64_t>& pred) {
  FrameTally tally;
  const auto& ids = seq.tokens;
  const auto eos = std::find(ids.begin() + seq.answer_start, ids.end(), tok.eos());
  const auto spans = frame_spans(tok, ids, seq.answer_start, eos - ids.begin());
  if (spans.empty()) return tally;
  const int64_t eos_id = tok.eos();
  // A markov frame is the whole answer: it must end where the true one does, with <eos>.
  tally.add(match_frame(tok, ids, pred, {spans.front().begin, eos - ids.begin()}, [&](int64_t id) { return id == eos_id; }));
  return tally;
}

namespace {

// The sequence's tokens up to and including the first `marker`.
std::vector<int64_t> prefix_through(const std::vector<int64_t>& ids, int64_t marker, const char* what) {
  const auto it = std::find(ids.begin(), ids.end(), marker);
  if (it == ids.end()) throw InputError(std::string("encoded sequence without its ") + what + " token");
  return {ids.begin(), it + 1};
}

}  // namespace

std::vector<int64_t> trace_prompt(const TraceTokenizer& tok, const TraceExample& ex, StateMode mode) {
  return prefix_through(encode_full_trace(tok, ex, mode).tokens, tok.trace(), "<trace>");
}

std::vector<int64_t> direct_prompt(const TraceTokenizer& tok, const TraceExample& ex) {
  return prefix_through(encode_direct(tok, ex).tokens, tok.output(), "<output>");
}

std::vector<std::vector<int64_t>> generate_traces(LanguageModel& model, const TraceTokenizer& tok,
                                                  const std::vector<std::vector<int64_t>>& prompts, int64_t max_frames,
                                                  int64_t batch_size) {
  const auto stop = [&tok, max_frames](const std::vector<int64_t>& out) {
    if (out.back() == tok.eos()) return true;
    return tok.is_event(out.back()) && std::count_if(out.begin(), out.end(), [&](int64_t id) { return tok.is_event(id); }) > max_frames;
  };
  auto traces = greedy_continue(model, prompts, stop, model->cfg.max_seq_len, batch_size);
  for (auto& t : traces)
    if (!t.empty() && tok.is_event(t.back())) t.pop_back();  // the frame beyond the cap
  return traces;
}

std::vector<std::vector<int64_t>> generate_answers(LanguageModel& model, const TraceTokenizer& tok,
                                                   const std::vector<std::vector<int64_t>>& prompts, int64_t max_tokens,
                                                   int64_t batch_size) {
  const int64_t eos = tok.eos();
  return greedy_continue(model, prompts, [eos](const std::vector<int64_t>& out) { return out.back() == eos; },
                         max_tokens, batch_size);
}

FramePredictor markov_predictor(LanguageModel& model, const TraceTokenizer& tok, int64_t max_frame_tokens) {
  return [&model, &tok, max_frame_tokens](const std::vector<const Rollout*>& rollouts) {
    std::vector<std::optional<TraceEvent>> events(rollouts.size());
    std::vector<std::vector<int64_t>> prompts;
    std::vector<size_t> rows;
    for (size_t i = 0; i < rollouts.size(); ++i) {
      const auto& ex = *rollouts[i]->example;
      try {
        prompts.push_back(markov_prompt(tok, ex.source, ex.call, rollouts[i]->stack));
        rows.push_back(i);
      } catch (const std::exception&) {
        // a stack the tokenizer cannot write: no prediction
      }
    }
    if (prompts.empty()) return events;
    const int64_t eos = tok.eos();
    const auto frames = greedy_continue(model, prompts, [eos](const std::vector<int64_t>& out) { return out.back() == eos; },
                                        max_frame_tokens, static_cast<int64_t>(prompts.size()));
    for (size_t j = 0; j < rows.size(); ++j) {
      const auto& f = frames[j];
      if (f.empty() || f.back() != eos) continue;
      try {
        events[rows[j]] = tok.decode_full_frame({f.begin(), f.end() - 1}, rollouts[rows[j]]->example->source);
      } catch (const std::exception&) {
      }
    }
    return events;
  };
}

// --- Evaluation ---------------------------------------------------------------------------------

namespace {

double share(int64_t ok, size_t n) { return n ? static_cast<double>(ok) / static_cast<double>(n) : 0.0; }

void add_teacher_forced(ModelEval& e, const TeacherForced& tf) {
  e.answer_nll += tf.answer_nll;
  e.answer_tokens += tf.answer_tokens;
  e.answer_tokens_right += tf.answer_tokens_right;
}

void score_trace(ExampleResult& r, const TraceExample& ex, const std::vector<TraceEvent>& events, bool parsed) {
  const RolloutScore s = score_rollout(ex.trace.events, events);
  r.exact = s.exact && parsed;
  r.parsed = parsed;
  r.first_wrong = s.first_wrong;
  r.right_share = s.right_share;
  r.frames = static_cast<int64_t>(events.size());
  r.output_correct = r.output && *r.output == ex.trace.result;
}

void evaluate_trace(ModelEval& e, LanguageModel& model, const TraceTokenizer& tok, StateMode mode,
                    const std::vector<TraceExample>& examples, const EvalOptions& opt) {
  std::vector<std::vector<int64_t>> prompts, direct;
  for (const auto& ex : examples) prompts.push_back(trace_prompt(tok, ex, mode)), direct.push_back(direct_prompt(tok, ex));
  const auto traces = generate_traces(model, tok, prompts, opt.max_frames, opt.batch_size);
  const auto answers = generate_answers(model, tok, direct, opt.max_answer_tokens, opt.batch_size);
  for (size_t i = 0; i < examples.size(); ++i) {
    ExampleResult& r = e.examples[i];
    const ParsedTrace p = parse_generated_trace(tok, examples[i].source, traces[i]);
    r.output = p.output;
    score_trace(r, examples[i], p.events, p.complete);
    std::vector<int64_t> answer{tok.output()};
    answer.insert(answer.end(), answers[i].begin(), answers[i].end());
    const auto value = parse_output(tok, answer);
    r.direct_answer_correct = value && *value == examples[i].trace.result;
  }
  std::vector<EncodedSequence> seqs;
  for (const auto& ex : examples) seqs.push_back(encode_full_trace(tok, ex, mode));
  std::vector<const EncodedSequence*> rows;
  for (const auto& s : seqs) rows.push_back(&s);
  const auto tf = teacher_forced(model, rows, opt.batch_size);
  add_teacher_forced(e, tf);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const FrameTally t = tally_trace_frames(tok, seqs[i], tf.pred[i]);
    e.teacher_forced.add(t);
    e.examples[i].tf_frames = t.frames, e.examples[i].tf_frames_right = t.frame_ok;
  }
}

void evaluate_direct(ModelEval& e, LanguageModel& model, const TraceTokenizer& tok,
                     const std::vector<TraceExample>& examples, const EvalOptions& opt) {
  std::vector<std::vector<int64_t>> prompts;
  for (const auto& ex : examples) prompts.push_back(direct_prompt(tok, ex));
  const auto answers = generate_answers(model, tok, prompts, opt.max_answer_tokens, opt.batch_size);
  for (size_t i = 0; i < examples.size(); ++i) {
    std::vector<int64_t> answer{tok.output()};
    answer.insert(answer.end(), answers[i].begin(), answers[i].end());
    e.examples[i].output = parse_output(tok, answer);
    e.examples[i].output_correct = e.examples[i].output && *e.examples[i].output == examples[i].trace.result;
  }
  std::vector<EncodedSequence> seqs;
  for (const auto& ex : examples) seqs.push_back(encode_direct(tok, ex));
  std::vector<const EncodedSequence*> rows;
  for (const auto& s : seqs) rows.push_back(&s);
  add_teacher_forced(e, teacher_forced(model, rows, opt.batch_size));
}

void evaluate_markov(ModelEval& e, LanguageModel& model, const TraceTokenizer& tok,
                     const std::vector<TraceExample>& examples, const EvalOptions& opt) {
  std::vector<const TraceExample*> ptrs;
  for (const auto& ex : examples) ptrs.push_back(&ex);
  const auto rollouts = roll_out(ptrs, markov_predictor(model, tok, opt.max_frame_tokens), opt.max_frames, opt.batch_size);
  for (size_t i = 0; i < examples.size(); ++i) {
    ExampleResult& r = e.examples[i];
    r.output = rollouts[i].output();
    score_trace(r, examples[i], rollouts[i].events, !rollouts[i].failed);
  }
  std::vector<EncodedSequence> seqs;
  std::vector<size_t> owner;  // the example of each step
  for (size_t i = 0; i < examples.size(); ++i)
    for (auto& s : encode_markov_steps(tok, examples[i])) seqs.push_back(std::move(s)), owner.push_back(i);
  std::vector<const EncodedSequence*> rows;
  for (const auto& s : seqs) rows.push_back(&s);
  const auto tf = teacher_forced(model, rows, opt.batch_size);
  add_teacher_forced(e, tf);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const FrameTally t = tally_markov_frame(tok, seqs[i], tf.pred[i]);
    e.teacher_forced.add(t);
    e.examples[owner[i]].tf_frames += t.frames, e.examples[owner[i]].tf_frames_right += t.frame_ok;
  }
}

}  // namespace

double ModelEval::output_accuracy() const {
  int64_t ok = 0;
  for (const auto& r : examples) ok += r.output_correct;
  return share(ok, examples.size());
}

double ModelEval::exact_match() const {
  int64_t ok = 0;
  for (const auto& r : examples) ok += r.exact;
  return share(ok, examples.size());
}

double ModelEval::parse_rate() const {
  int64_t ok = 0;
  for (const auto& r : examples) ok += r.parsed;
  return share(ok, examples.size());
}

double ModelEval::mean_first_wrong() const {
  double sum = 0;
  int64_t n = 0;
  for (const auto& r : examples)
    if (r.first_wrong >= 0) sum += static_cast<double>(r.first_wrong), ++n;
  return n ? sum / static_cast<double>(n) : 0.0;
}

double ModelEval::mean_right_share() const {
  double sum = 0;
  for (const auto& r : examples) sum += r.right_share;
  return examples.empty() ? 0.0 : sum / static_cast<double>(examples.size());
}

double ModelEval::direct_answer_accuracy() const {
  int64_t ok = 0;
  for (const auto& r : examples) ok += r.direct_answer_correct.value_or(false);
  return share(ok, examples.size());
}

ModelEval evaluate_model(LanguageModel& model, const TraceTokenizer& tok, TraceTask task, StateMode mode,
                         const std::vector<TraceExample>& examples, const EvalOptions& options) {
  ModelEval e;
  e.examples.resize(examples.size());
  if (examples.empty()) return e;
  switch (task) {
    case TraceTask::Trace: evaluate_trace(e, model, tok, mode, examples, options); break;
    case TraceTask::Direct: evaluate_direct(e, model, tok, examples, options); break;
    case TraceTask::Markov: evaluate_markov(e, model, tok, examples, options); break;
  }
  return e;
}

}  // namespace beyond::wm
