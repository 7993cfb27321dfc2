// Scoring execution models, without the model: frames of token sequences, teacher-forced frame
// exact match from argmax predictions, outputs of generated sequences, and free-running rollouts
// driven by any next-frame predictor (the trained model is one, an oracle another).
//
// Frames in a token sequence (trace_tokenizer.h): each starts at an event token and runs to the
// next event token, <output> or <eos>. A generated frame is complete when the model emits one of
// those; so greedy generation from the true prefix reproduces frame k exactly iff the argmax
// matches every token of the frame AND the argmax after its last token ends the frame. That is
// what match_frame checks, from one teacher-forced forward pass.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "worldmodel/trace_tokenizer.h"

namespace beyond::wm {

struct FrameSpan {
  int64_t begin = 0, end = 0;  // token positions [begin, end); begin holds the event token
};

// The frames of ids[from, to): a new frame at every event token. Tokens before the first event
// token are ignored.
std::vector<FrameSpan> frame_spans(const TraceTokenizer& tok, const std::vector<int64_t>& ids, int64_t from, int64_t to);

// A full-trace sequence's frames: from answer_start to its <output> token (or the end).
std::vector<FrameSpan> trace_frame_spans(const TraceTokenizer& tok, const EncodedSequence& seq);

// True for the tokens that end a frame of a full trace: an event token, <output>, <eos>.
bool ends_trace_frame(const TraceTokenizer& tok, int64_t id);

// Teacher-forced exact match of one frame and of its parts. pred[t] is the model's argmax for
// token t given tokens [0, t) (pred[0] unused); `ends` says which predicted token may follow the
// frame (ends_trace_frame for full traces, only <eos> for a markov frame).
//   event: the event token; line: the line token; locals (call/line frames): the tokens between
//   them; value (return/exception frames): the tokens after the line token and the end of frame.
struct FrameMatch {
  bool frame = false, event = false, line = false;
  std::optional<bool> locals, value;  // nullopt where the frame kind has no such part
};
FrameMatch match_frame(const TraceTokenizer& tok, const std::vector<int64_t>& truth, const std::vector<int64_t>& pred,
                       FrameSpan span, const std::function<bool(int64_t)>& ends);

// Counts of teacher-forced matches over many frames.
struct FrameTally {
  int64_t frames = 0, frame_ok = 0, event_ok = 0, line_ok = 0;
  int64_t locals = 0, locals_ok = 0, values = 0, values_ok = 0;
  void add(const FrameMatch& m);
  void add(const FrameTally& other);
  double frame_em() const;
  double event_em() const;
  double line_em() const;
  double locals_em() const;  // over call/line frames
  double value_em() const;   // over return/exception frames
};

// The value after the first <output> token, up to <eos> or the end, as a repr ("12", "[1, 2]");
// nullopt when there is no <output> or the tokens are not a value.
std::optional<std::string> parse_output(const TraceTokenizer& tok, const std::vector<int64_t>& ids);

// A generated full trace (the tokens after the prompt's <trace>): the events of its longest
// prefix of frames that decodes, whether every frame decoded, and its output.
struct ParsedTrace {
  std::vector<TraceEvent> events;
  bool complete = false;  // every frame before <output> decoded (and there was an <output>)
  std::optional<std::string> output;
};
ParsedTrace parse_generated_trace(const TraceTokenizer& tok, const std::string& source,
                                  const std::vector<int64_t>& generated);

// A predicted trace against the interpreter's.
struct RolloutScore {
  int64_t first_wrong = -1;  // index of the first frame that differs (a missing or extra frame
                             // counts), -1 when the traces are identical
  bool exact = false;
  double right_share = 0;    // frames right before the first wrong one, over the true frames
};
RolloutScore score_rollout(const std::vector<TraceEvent>& truth, const std::vector<TraceEvent>& predicted);

// A free-running rollout, one frame at a time from the call stack (the markov world model).
struct Rollout {
  const TraceExample* example = nullptr;
  std::vector<TraceEvent> events;  // events[0] is the true call frame (given); the rest predicted
  std::vector<TraceEvent> stack;   // advance_stack's call stack after the last event
  int depth = 0;                   // active calls (call +1, return -1): 0 once the entry returned
  bool failed = false;             // the predictor gave no parseable frame
  bool capped = false;             // stopped at max_frames
  bool finished() const { return !events.empty() && depth == 0; }
  bool done() const { return failed || capped || finished(); }
  // The entry function's return value when the rollout ended with it.
  std::optional<std::string> output() const;
};

// Predicts the next event of each given rollout (nullopt: no parseable frame).
using FramePredictor = std::function<std::vector<std::optional<TraceEvent>>(const std::vector<const Rollout*>&)>;

// Rolls every example out from its true call frame: the predictor is asked for the next event of
// up to `batch_size` unfinished rollouts at a time, and a rollout ends when the entry function
// returns, the predictor fails, or it holds max_frames events.
std::vector<Rollout> roll_out(const std::vector<const TraceExample*>& examples, const FramePredictor& predict,
                              int64_t max_frames, int64_t batch_size);

}  // namespace beyond::wm
