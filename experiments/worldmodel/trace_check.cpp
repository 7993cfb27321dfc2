// `beyond trace check`: a trained world model's trace of one call beside the interpreter's.
// A trace_worldmodel run folder means its full-trace model (greedy decode of the whole trace);
// a `markov` sub-run folder rolls the markov model out frame by frame from the true call frame.
#include "experiments/worldmodel/trace_check.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "experiments/worldmodel/trace_worldmodel.h"
#include "worldmodel/interpreter.h"

namespace beyond {
namespace {

using namespace wm;

std::string read_program(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw InputError("cannot read program file '" + file + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What differs between two frames, in words.
std::string difference(const TraceEvent& truth, const TraceEvent& model) {
  if (truth.kind != model.kind) return std::string("event: ") + event_name(truth.kind) + " vs " + event_name(model.kind);
  if (truth.function != model.function || truth.line != model.line)
    return "line: " + truth.function + ":" + std::to_string(truth.line) + " vs " + model.function + ":" +
           std::to_string(model.line);
  if (truth.locals != model.locals) return "locals";
  return "value: " + truth.value + " vs " + model.value;
}

// The model's frames for the call, at most max_frames of them; *complete is false when it
// stopped on a frame it could not write.
std::vector<TraceEvent> model_frames(LoadedWorldModel& w, const TraceTokenizer& tok, const TraceExample& ex,
                                     int64_t max_frames, bool* complete) {
  if (w.task == TraceTask::Markov) {
    const auto r = roll_out({&ex}, markov_predictor(w.model, tok, w.max_frame_tokens), max_frames, 1);
    *complete = !r[0].failed;
    return r[0].events;
  }
  const auto prompt = trace_prompt(tok, ex, w.mode);
  if (static_cast<int64_t>(prompt.size()) >= w.model->cfg.max_seq_len)
    throw InputError("the program and call take " + std::to_string(prompt.size()) +
                     " tokens, more than the model's window of " + std::to_string(w.model->cfg.max_seq_len));
  const auto generated = generate_traces(w.model, tok, {prompt}, max_frames, 1);
  ParsedTrace p = parse_generated_trace(tok, ex.source, generated[0]);
  *complete = p.complete;
  if (static_cast<int64_t>(p.events.size()) > max_frames) p.events.resize(static_cast<size_t>(max_frames));
  return p.events;
}

}  // namespace

int trace_check_command(const std::string& run, const std::string& file, const std::string& call, int64_t max_frames) {
  LoadedWorldModel w = load_world_model(run);
  if (max_frames <= 0) max_frames = w.max_frames;
  TraceExample ex;
  ex.source = read_program(file);
  Program program;
  try {
    program = Program::parse(ex.source);
  } catch (const SyntaxError& e) {
    throw InputError(file + ": " + e.what());
  }
  try {
    ex.call = canonical_call(program, call);
    ex.trace = run_call(program, call);
  } catch (const SyntaxError& e) {
    throw InputError("--call '" + call + "': " + e.what());
  }
  fill_features(ex);
  const TraceTokenizer tok;
  bool complete = true;
  const auto predicted = model_frames(w, tok, ex, max_frames, &complete);
  std::vector<TraceEvent> truth = ex.trace.events;
  const bool truth_cut = static_cast<int64_t>(truth.size()) > max_frames;
  if (truth_cut) truth.resize(static_cast<size_t>(max_frames));
  const RolloutScore score = score_rollout(truth, predicted);

  std::cout << "model: " << w.run_dir << " ("
            << (w.task == TraceTask::Markov ? "markov, rolled out frame by frame from the call frame"
                                            : "full trace, one greedy decode")
            << ")\ncall:  " << ex.call << " -> " << ex.trace.result << " (interpreter)\n\n";
  const size_t shown = score.exact ? truth.size() : static_cast<size_t>(score.first_wrong) + 1;
  size_t width = 11;
  for (size_t i = 0; i < std::min(shown, truth.size()); ++i) width = std::max(width, format_event(truth[i]).size());
  width = std::min<size_t>(width, 60);
  const auto cell = [&](const std::string& s) { return s + std::string(s.size() < width ? width - s.size() : 0, ' '); };
  std::cout << "frame  " << cell("interpreter") << "   model\n";
  for (size_t i = 0; i < shown; ++i) {
    const std::string left = i < truth.size() ? format_event(truth[i]) : "(ended)";
    const std::string right = i < predicted.size() ? format_event(predicted[i]) : complete ? "(ended)" : "(no parseable frame)";
    const bool same = i < truth.size() && i < predicted.size() && truth[i] == predicted[i];
    char index[32];
    std::snprintf(index, sizeof index, "%5zu", i);
    std::cout << index << "  " << cell(left) << (same ? "   " : " ≠ ") << right << "\n";
  }
  if (score.exact) {
    std::cout << "\nthe model's trace matches the interpreter's: " << truth.size() << " frames"
              << (truth_cut ? " (the first " + std::to_string(max_frames) + " of " + std::to_string(ex.trace.events.size()) + ")" : "")
              << "\n";
    return 0;
  }
  const auto k = static_cast<size_t>(score.first_wrong);
  std::cout << "\ndiverges at frame " << k << " of " << ex.trace.events.size() << ": ";
  if (k >= truth.size()) std::cout << "the model goes on after the interpreter's trace ends\n";
  else if (k >= predicted.size())
    std::cout << (complete ? "the model's trace ends early\n" : "the model wrote no parseable frame\n");
  else std::cout << difference(truth[k], predicted[k]) << " (interpreter at " << truth[k].function << ":" << truth[k].line << ")\n";
  return 1;
}

}  // namespace beyond
