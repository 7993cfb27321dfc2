#include "worldmodel/trace_eval.h"

#include <algorithm>

namespace beyond::wm {
namespace {

double rate(int64_t ok, int64_t n) { return n > 0 ? static_cast<double>(ok) / static_cast<double>(n) : 0.0; }

bool matches(const std::vector<int64_t>& truth, const std::vector<int64_t>& pred, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; ++i)
    if (pred[static_cast<size_t>(i)] != truth[static_cast<size_t>(i)]) return false;
  return true;
}

// Return and exception frames carry a value after the line token; call and line frames locals
// before it.
bool has_value(const TraceTokenizer& tok, int64_t event_id) {
  const std::string& name = tok.token(event_id);
  return name == "<return>" || name == "<exception>";
}

}  // namespace

std::vector<FrameSpan> frame_spans(const TraceTokenizer& tok, const std::vector<int64_t>& ids, int64_t from, int64_t to) {
  std::vector<FrameSpan> spans;
  to = std::min<int64_t>(to, static_cast<int64_t>(ids.size()));
  for (int64_t i = from; i < to; ++i) {
    if (!tok.is_event(ids[static_cast<size_t>(i)])) continue;
    if (!spans.empty()) spans.back().end = i;
    spans.push_back({i, to});
  }
  return spans;
}

std::vector<FrameSpan> trace_frame_spans(const TraceTokenizer& tok, const EncodedSequence& seq) {
  const auto& ids = seq.tokens;
  const auto out = std::find(ids.begin() + seq.answer_start, ids.end(), tok.output());
  return frame_spans(tok, ids, seq.answer_start, out - ids.begin());
}

bool ends_trace_frame(const TraceTokenizer& tok, int64_t id) {
  return tok.is_event(id) || id == tok.output() || id == tok.eos();
}

FrameMatch match_frame(const TraceTokenizer& tok, const std::vector<int64_t>& truth, const std::vector<int64_t>& pred,
                       FrameSpan span, const std::function<bool(int64_t)>& ends) {
  FrameMatch m;
  const int64_t b = span.begin, e = span.end;
  const bool ended = e < static_cast<int64_t>(pred.size()) && ends(pred[static_cast<size_t>(e)]);
  int64_t line = b + 1;
  while (line < e && tok.line_of(truth[static_cast<size_t>(line)]) == 0) ++line;
  m.event = matches(truth, pred, b, b + 1);
  m.line = line < e && matches(truth, pred, line, line + 1);
  if (has_value(tok, truth[static_cast<size_t>(b)])) m.value = line < e && matches(truth, pred, line + 1, e) && ended;
  else m.locals = matches(truth, pred, b + 1, std::min(line, e));
  m.frame = matches(truth, pred, b, e) && ended;
  return m;
}

void FrameTally::add(const FrameMatch& m) {
  ++frames;
  frame_ok += m.frame;
  event_ok += m.event;
  line_ok += m.line;
  if (m.locals) ++locals, locals_ok += *m.locals;
  if (m.value) ++values, values_ok += *m.value;
}

void FrameTally::add(const FrameTally& o) {
  frames += o.frames, frame_ok += o.frame_ok, event_ok += o.event_ok, line_ok += o.line_ok;
  locals += o.locals, locals_ok += o.locals_ok, values += o.values, values_ok += o.values_ok;
}

double FrameTally::frame_em() const { return rate(frame_ok, frames); }
double FrameTally::event_em() const { return rate(event_ok, frames); }
double FrameTally::line_em() const { return rate(line_ok, frames); }
double FrameTally::locals_em() const { return rate(locals_ok, locals); }
double FrameTally::value_em() const { return rate(values_ok, values); }

std::optional<std::string> parse_output(const TraceTokenizer& tok, const std::vector<int64_t>& ids) {
  const auto out = std::find(ids.begin(), ids.end(), tok.output());
  if (out == ids.end()) return std::nullopt;
  const auto end = std::find(out + 1, ids.end(), tok.eos());
  const std::vector<int64_t> value(out + 1, end);
  if (value.empty()) return std::nullopt;
  try {
    return tok.decode_value(value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ParsedTrace parse_generated_trace(const TraceTokenizer& tok, const std::string& source,
                                  const std::vector<int64_t>& generated) {
  ParsedTrace p;
  p.output = parse_output(tok, generated);
  const auto stop = std::find_if(generated.begin(), generated.end(),
                                 [&](int64_t id) { return id == tok.output() || id == tok.eos(); });
  const bool has_output = stop != generated.end() && *stop == tok.output();
  const int64_t n = stop - generated.begin();
  const auto spans = frame_spans(tok, generated, 0, n);
  if (spans.empty() || spans[0].begin != 0) return p;  // no frame, or stray tokens before the first
  const auto decode = [&](size_t frames) {
    const int64_t end = frames == 0 ? 0 : spans[frames - 1].end;
    return tok.decode_frames(std::vector<int64_t>(generated.begin(), generated.begin() + end), source);
  };
  if (auto all = decode(spans.size())) {
    p.events = std::move(*all);
    p.complete = has_output;
    return p;
  }
  // A prefix of a decodable frame sequence decodes: find the longest by bisection.
  size_t good = 0, bad = spans.size();
  while (bad - good > 1) {
    const size_t mid = (good + bad) / 2;
    if (decode(mid)) good = mid;
    else bad = mid;
  }
  if (auto events = decode(good)) p.events = std::move(*events);
  return p;
}

RolloutScore score_rollout(const std::vector<TraceEvent>& truth, const std::vector<TraceEvent>& predicted) {
  RolloutScore s;
  const size_t n = std::max(truth.size(), predicted.size());
  for (size_t i = 0; i < n; ++i) {
    if (i >= truth.size() || i >= predicted.size() || !(truth[i] == predicted[i])) {
      s.first_wrong = static_cast<int64_t>(i);
      break;
    }
  }
  s.exact = s.first_wrong < 0;
  const auto right = s.exact ? truth.size() : std::min(static_cast<size_t>(s.first_wrong), truth.size());
  s.right_share = truth.empty() ? 1.0 : static_cast<double>(right) / static_cast<double>(truth.size());
  return s;
}

std::optional<std::string> Rollout::output() const {
  if (failed || !finished() || events.size() < 2 || events.back().kind != EventKind::Return) return std::nullopt;
  // An uncaught exception ends the entry function with `exception` then `return None`.
  const auto& before = events[events.size() - 2];
  if (before.kind == EventKind::Exception && before.function == events.back().function) return before.value;
  return events.back().value;
}

std::vector<Rollout> roll_out(const std::vector<const TraceExample*>& examples, const FramePredictor& predict,
                              int64_t max_frames, int64_t batch_size) {
  std::vector<Rollout> rollouts(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    auto& r = rollouts[i];
    r.example = examples[i];
    if (r.example->trace.events.empty()) {
      r.failed = true;
      continue;
    }
    r.events = {r.example->trace.events[0]};
    r.stack = advance_stack({}, r.events[0]);
    r.depth = 1;
    r.capped = max_frames <= 1;
  }
  size_t next = 0;  // rollouts before `next` have joined the active set
  std::vector<Rollout*> active;
  for (;;) {
    std::erase_if(active, [](const Rollout* r) { return r->done(); });
    while (static_cast<int64_t>(active.size()) < batch_size && next < rollouts.size()) {
      if (!rollouts[next].done()) active.push_back(&rollouts[next]);
      ++next;
    }
    if (active.empty()) break;
    const auto predicted = predict(std::vector<const Rollout*>(active.begin(), active.end()));
    for (size_t i = 0; i < active.size(); ++i) {
      Rollout& r = *active[i];
      if (i >= predicted.size() || !predicted[i]) {
        r.failed = true;
        continue;
      }
      try {
        r.stack = advance_stack(r.stack, *predicted[i]);
      } catch (const std::exception&) {
        r.failed = true;  // an event that cannot follow this stack
        continue;
      }
      r.events.push_back(*predicted[i]);
      if (predicted[i]->kind == EventKind::Call) ++r.depth;
      if (predicted[i]->kind == EventKind::Return) --r.depth;
      if (static_cast<int64_t>(r.events.size()) >= max_frames && !r.finished()) r.capped = true;
    }
  }
  return rollouts;
}

}  // namespace beyond::wm
