// The token format a model reads and writes: programs, calls, traces and values, one token per
// digit, a fixed vocabulary of 174 tokens (no BPE, so no subword surprises).
//
// Sequences (CWM's order: a frame's state first, then the line about to run):
//   full trace  <bos> PROGRAM <input> CALL <trace> FRAME* <output> VALUE <eos>
//   direct      <bos> PROGRAM <input> CALL <output> VALUE <eos>
//   markov      <bos> PROGRAM <input> CALL <stack> FULLFRAME* <next> FULLFRAME <eos>
// PROGRAM: per source line its line token <L1>..<L64>, one <indent> per indentation level, then
//   the line's words, numbers digit by digit (comments and blank lines dropped; line numbers kept).
// CALL: the call expression's tokens, e.g. f ( 3 , [ 1 , - 2 ] ).
// FRAME:
//   <call> a = 3 ; xs = [ 1 , 2 ] <L1>     every argument
//   <line> s = 0 <L5>                       diff mode: only variables whose repr changed or that
//                                           were bound since this scope's previous frame
//                                           ("<line> <L5>" if none); the first frame of a scope
//                                           after a call or return shows all locals. full mode:
//                                           all locals every frame. Locals are listed in
//                                           co_varnames order; a decoded diff puts a newly bound
//                                           name at its co_varnames position (source_functions).
//   <return> <L9> 7                         the returned value's repr tokens
//   <exception> <L9> IndexError
// VALUE: the repr's tokens: - 1 2, True, None, [ 1 , - 2 ], an exception class name.
// Identifiers must be single lowercase letters or xs ys zs ws; encoding anything outside the
// vocabulary throws InputError naming the token and its line.
// The vocabulary's order (the ids) is listed in trace_tokenizer.cpp; only ever append to it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "worldmodel/generator.h"
#include "worldmodel/trace.h"

namespace beyond::wm {

enum class StateMode { Diff, Full };

class TraceTokenizer {
 public:
  TraceTokenizer();
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t id(const std::string& token) const;  // InputError when not in the vocabulary
  bool is_token(const std::string& token) const;  // is it in the vocabulary
  const std::string& token(int64_t id) const;
  std::string to_text(const std::vector<int64_t>& ids) const;  // tokens joined by spaces

  int64_t pad() const, bos() const, eos() const, input() const, trace() const, output() const,
      stack() const, next() const;
  bool is_event(int64_t id) const;        // <call> <line> <return> <exception>
  int line_of(int64_t id) const;          // 1..64 for <L1>..<L64>, else 0

  std::vector<int64_t> encode_program(const std::string& source) const;
  std::vector<int64_t> encode_call(const std::string& call) const;
  std::vector<int64_t> encode_value(const std::string& repr) const;
  std::string decode_value(const std::vector<int64_t>& ids) const;  // back to the repr text

  // The frames of a trace, in this format.
  std::vector<int64_t> encode_frames(const Trace& trace, StateMode mode) const;
  // The exact inverse: frames back to events with full locals (diffs resolved per scope). The
  // source gives each line's function (the innermost def around it; "<module>" outside any def).
  // Returns nullopt for a malformed frame sequence (ids are the frames only: no <trace>,
  // <output> or <eos>). Reads either mode: a frame that lists every local of its scope's
  // previous state is taken as the full state, in its own order.
  std::optional<std::vector<TraceEvent>> decode_frames(const std::vector<int64_t>& ids, const std::string& source) const;

  // One frame with all its locals (markov format), and its inverse (nullopt when malformed; one
  // frame, optionally followed by <eos>).
  std::vector<int64_t> encode_full_frame(const TraceEvent& event) const;
  std::optional<TraceEvent> decode_full_frame(const std::vector<int64_t>& ids, const std::string& source) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

// A training sequence: loss on tokens[answer_start..] (the positions the model must predict).
struct EncodedSequence {
  std::vector<int64_t> tokens;
  int64_t answer_start = 0;  // index of the first predicted token
};

EncodedSequence encode_full_trace(const TraceTokenizer& tok, const TraceExample& ex, StateMode mode);
EncodedSequence encode_direct(const TraceTokenizer& tok, const TraceExample& ex);

// The call stack before an event: for each active scope, outermost first, its latest frame.
// markov_steps(ex)[k] predicts event k+1 from the stack after event k (k = 0 is the call frame).
// A finished callee stays on top for one step, its last frame (an <exception> frame when an
// error unwinds it) under its <return> frame: the caller's next frame depends on both (the
// returned value lands in its locals; an exception in flight gives it an <exception> frame,
// although the <return> frame says None either way).
std::vector<EncodedSequence> encode_markov_steps(const TraceTokenizer& tok, const TraceExample& ex);
std::vector<int64_t> markov_prompt(const TraceTokenizer& tok, const std::string& source, const std::string& call,
                                   const std::vector<TraceEvent>& stack);  // ends with <next>
// The stack after `event` happens on `stack`: first a finished callee (a <return> on top) and
// its frame are popped; then call pushes, line replaces the top, exception replaces it keeping
// its locals (the same frame), return pushes itself on top of the frame it ends.
std::vector<TraceEvent> advance_stack(std::vector<TraceEvent> stack, const TraceEvent& event);

// A function of the source as CPython compiles it; decode_frames names each event's function from
// these and places a diff's newly bound variable at its position in `varnames`.
struct SourceFunction {
  std::string name;
  int def_line = 0;                // its def line (the call event's line)
  int last_line = 0;               // the last line of its body
  bool body_on_def_line = false;   // def f(x): return x
  // co_varnames, as the PyLite parser computes it (ast.h): the parameters, then the other locals
  // in the order CPython's compiler first meets them.
  std::vector<std::string> varnames;
};
// In source order, from the parsed program. Throws InputError when the source is not PyLite.
std::vector<SourceFunction> source_functions(const std::string& source);

}  // namespace beyond::wm
