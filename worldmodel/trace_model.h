// Models that predict execution: a causal LanguageModel trained on token sequences of
// trace_tokenizer.h, in one of three tasks, and what evaluates it.
//   trace   encode_full_trace: the program and call, then every frame and the output (loss on
//           the frames and the output);
//   direct  encode_direct: the program and call, then the output only (the baseline);
//   markov  encode_markov_steps: the program, call and call stack, then the next full frame (the
//           world-model step, rolled out frame by frame).
// Training batches are right-padded; the loss sees only answer positions (targets -100
// elsewhere), so a causal model's predictions are those of each sequence alone.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/trainer.h"
#include "worldmodel/trace_eval.h"
#include "worldmodel/trace_tokenizer.h"

namespace beyond::wm {

enum class TraceTask { Trace, Direct, Markov };
std::string task_name(TraceTask task);           // "trace" | "direct" | "markov"
TraceTask task_from_name(const std::string& s);  // InputError on anything else

// The training sequences of a task: one per example (trace, direct; index i is example i) or
// one per predicted frame (markov, example by example).
std::vector<EncodedSequence> encode_task(const TraceTokenizer& tok, const std::vector<TraceExample>& examples,
                                         TraceTask task, StateMode mode);

// The tokens a sequence feeds the model: all but its last (the last is only a target). This is
// what "training tokens" counts: pads are not tokens.
inline int64_t input_tokens(const EncodedSequence& s) { return static_cast<int64_t>(s.tokens.size()) - 1; }

// A next-token batch of rows: "inputs" [B, T] (each row's tokens but its last, right-padded with
// `pad`, T the longest row's input length) and "targets" [B, T] (token t+1 where t+1 >=
// answer_start, -100 elsewhere and on pads), on `device`.
Batch make_lm_batch(const std::vector<const EncodedSequence*>& rows, int64_t pad, c10::Device device = c10::kCPU);

// Which sequences make up the batch of each training step, as a function of (seed, step) only,
// so a resumed run sees the same batches. Sequences are drawn epoch by epoch without replacement
// (one shuffle per epoch); the batch_size * group positions of each group of steps are sorted by
// length and cut into the group's batches (in a shuffled order), which keeps padding small. Two
// schedules with the same pool size, batch, group and seed present the same sequences in each
// group of steps, whatever the lengths: that is how the direct baseline sees the trace model's
// programs.
class BatchSchedule {
 public:
  BatchSchedule(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed, int64_t group = 8);
  std::vector<int64_t> batch(int64_t step) const;
  // Input tokens (lengths minus one, summed) of steps [0, steps).
  int64_t tokens_through(int64_t steps) const;
  // The fewest steps whose input tokens reach `tokens`.
  int64_t steps_for_tokens(int64_t tokens) const;

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  std::vector<std::vector<int64_t>> group_batches(int64_t group) const;

  std::vector<int64_t> lengths_;
  int64_t batch_, group_;
  uint64_t seed_;
};

// Greedy continuation (KV cache) of each prompt until stop(produced tokens) holds, max_new tokens
// are produced, or the model's window is full. Prompts of similar length decode together in
// batches of batch_size; results are in the prompts' order.
using StopFn = std::function<bool(const std::vector<int64_t>&)>;
std::vector<std::vector<int64_t>> greedy_continue(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                                  const StopFn& stop, int64_t max_new, int64_t batch_size);

// Teacher forcing, one forward pass per sequence: pred[t] = the argmax for token t given tokens
// [0, t) (pred[0] = -1), and the summed answer cross-entropy and answer-token count.
struct TeacherForced {
  std::vector<std::vector<int64_t>> pred;
  double answer_nll = 0;
  int64_t answer_tokens = 0, answer_tokens_right = 0;
};
TeacherForced teacher_forced(LanguageModel& model, const std::vector<const EncodedSequence*>& seqs, int64_t batch_size);

// Teacher-forced frame matches of a trace sequence (its frames) or a markov step (its one frame).
FrameTally tally_trace_frames(const TraceTokenizer& tok, const EncodedSequence& seq, const std::vector<int64_t>& pred);
FrameTally tally_markov_frame(const TraceTokenizer& tok, const EncodedSequence& seq, const std::vector<int64_t>& pred);

// The prompt of a full trace (up to and including <trace>) and of a direct answer (up to and
// including <output>).
std::vector<int64_t> trace_prompt(const TraceTokenizer& tok, const TraceExample& ex, StateMode mode);
std::vector<int64_t> direct_prompt(const TraceTokenizer& tok, const TraceExample& ex);
// Greedy traces until <eos>, the window, or a frame beyond max_frames (then the trace is cut
// there: a model that loops is stopped as a markov rollout would be).
std::vector<std::vector<int64_t>> generate_traces(LanguageModel& model, const TraceTokenizer& tok,
                                                  const std::vector<std::vector<int64_t>>& prompts, int64_t max_frames,
                                                  int64_t batch_size);
// Greedy answers (a value) until <eos> or max_tokens.
std::vector<std::vector<int64_t>> generate_answers(LanguageModel& model, const TraceTokenizer& tok,
                                                   const std::vector<std::vector<int64_t>>& prompts, int64_t max_tokens,
                                                   int64_t batch_size);

// The markov model as a frame predictor: the prompt of each rollout's stack, a greedy frame
// until <eos> (at most max_frame_tokens), decoded with decode_full_frame.
FramePredictor markov_predictor(LanguageModel& model, const TraceTokenizer& tok, int64_t max_frame_tokens);

// --- Evaluating a trained model on examples -----------------------------------------------------

// One example's result. The answer is the output after <output> (trace, direct) or the entry
// function's return value in the rollout (markov); correct when it equals the interpreter's.
struct ExampleResult {
  std::optional<std::string> output;
  bool output_correct = false;
  // trace and markov: the greedy trace (full-trace decode, or frame-by-frame rollout) against
  // the interpreter's events (score_rollout); `parsed`: every generated frame decoded.
  bool exact = false, parsed = false;
  int64_t first_wrong = -1, frames = 0;
  double right_share = 0;
  // trace: the same model asked for the output right after the call (Scratchpads' ablation).
  std::optional<bool> direct_answer_correct;
  // trace and markov: this program's teacher-forced next frames, and how many were right.
  int64_t tf_frames = 0, tf_frames_right = 0;
};

struct ModelEval {
  std::vector<ExampleResult> examples;
  FrameTally teacher_forced;  // trace: every frame of the true trace; markov: every step's frame
  double answer_nll = 0;      // summed teacher-forced cross-entropy on answer tokens
  int64_t answer_tokens = 0, answer_tokens_right = 0;

  double output_accuracy() const;
  double exact_match() const;
  double parse_rate() const;
  double mean_first_wrong() const;  // over the examples whose trace has a wrong frame (0 if none)
  double mean_right_share() const;
  double direct_answer_accuracy() const;  // trace only
  double answer_loss() const { return answer_tokens ? answer_nll / static_cast<double>(answer_tokens) : 0.0; }
};

struct EvalOptions {
  int64_t batch_size = 64;
  int64_t max_frames = 400;        // a rollout or greedy trace stops after this many frames
  int64_t max_frame_tokens = 128;  // a markov frame longer than this is unparseable
  int64_t max_answer_tokens = 48;  // a direct answer longer than this is cut
};

ModelEval evaluate_model(LanguageModel& model, const TraceTokenizer& tok, TraceTask task, StateMode mode,
                         const std::vector<TraceExample>& examples, const EvalOptions& options);

}  // namespace beyond::wm
