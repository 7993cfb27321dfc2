// Deep supervision for any recursive reasoner (TRM, HRM, the transformer baseline) as a trainer
// objective. Each optimizer step is one supervision step for every batch slot; the carry (y, z,
// step count) persists across optimizer steps, and a slot that halted takes the next batch's
// example for that slot (state reset), as in the reference.
//
// Loss = stable-max CE (mean over a puzzle's supervised cells, mean over the batch)
//      + 0.5 * (BCE(q_halt, puzzle exactly right) + BCE(q_continue, target))
// The continue term exists only for a model with a continue head (ACT, HRM's Q-learning): its
// target comes from one extra no-grad step on the new carry, with no replay buffer or target
// network (PQN-style, as HRM does it):
//   target = sigmoid(next q_halt)                           on a slot's last step (steps >= max)
//          = sigmoid(max(next q_halt, next q_continue))     otherwise
// A slot halts when it has run halting.max_steps steps, or, after its exploration minimum, when
// q_halt > 0 (no continue head) or q_halt > q_continue (ACT).
//
// A model with puzzle embeddings takes each slot's puzzle id along with its example; its table is
// trained by sparse SignSGD after each AdamW step (attach_puzzle_sign_sgd).
#pragma once
#include <random>

#include "core/trainer.h"
#include "recursive/reasoner.h"

namespace beyond {

class DeepSupervisionObjective : public Objective {
 public:
  explicit DeepSupervisionObjective(Reasoner model) : model_(std::move(model)) {}
  // batch: "inputs" [B, L], "labels" [B, L] (int64), "min_steps" [B] (exploration draw per slot),
  // and "puzzle_ids" [B] (int64) for a model with puzzle embeddings.
  LossOutput loss(const Batch& batch) override;
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;

 private:
  void refill(const Batch& batch);
  Reasoner model_;
  // The carry: current examples (and their puzzle ids, undefined without), latent states, steps
  // run, exploration minimum, halted flags.
  at::Tensor inputs_, labels_, puzzle_ids_, y_, z_, steps_, min_steps_, halted_;
};

// After every AdamW step of `trainer`, one sparse SignSGD step on model.puzzle_emb with
// lr * (the schedule's factor, warm-up included) and decoupled weight_decay (report §1.5).
// Does nothing for a model without puzzle embeddings. `model` must outlive the trainer's fit().
void attach_puzzle_sign_sgd(Trainer& trainer, ReasonerImpl& model, double lr, double weight_decay);

// Labels equal to kIgnoreLabel are not supervised (ARC leaves the PAD around a grid out); Sudoku
// and maze supervise every cell.
inline constexpr int64_t kIgnoreLabel = -100;

// Per puzzle, from argmax predictions and labels [B, L]: exact (every supervised cell right, and
// at least one supervised cell) and cell accuracy (the share of supervised cells right, float64).
struct CellScores {
  at::Tensor exact, cell;  // [B] bool, [B] double
};
CellScores score_cells(const at::Tensor& predictions, const at::Tensor& labels);

// Exploration (report §1.3): with probability h.exploration a fresh slot must run a minimum step
// count drawn from U{2..max_steps} before it may halt; 0 means no minimum. The batch's "min_steps".
int64_t exploration_min_steps(const HaltingConfig& h, std::mt19937_64& rng);

// The continue head's target for steps that have just run `steps` [B] of `max_steps`, from the
// Q logits of the next step [B] (HRM's bootstrapped Q-learning target, in [0, 1]).
at::Tensor continue_target(const at::Tensor& steps, int64_t max_steps, const at::Tensor& next_q_halt,
                           const at::Tensor& next_q_continue);
// True where a step's halting head says "stop": q_halt > q_continue with a continue head, else q_halt > 0.
at::Tensor q_says_halt(const ReasonerStep& out);

struct ReasonerEvaluation {
  double exact = 0, cell = 0;              // after all steps
  std::vector<double> exact_by_step;       // exact accuracy after supervision step 1..N
  std::vector<double> cell_by_step;        // cell accuracy after supervision step 1..N
  std::vector<int64_t> correct_by_puzzle;  // 1 if the puzzle is exactly right at the end
  double mean_halt_step = 0;               // first step whose head says halt (N when never)
  at::Tensor predictions;                  // [P, L] at the end
  at::Tensor final_q_halt;                 // [P] halt logits after the last step
};

// Runs every puzzle for `steps` supervision steps (no early halting, as the reference evaluates).
// puzzle_ids: [P] int64 for a model with puzzle embeddings, undefined otherwise.
ReasonerEvaluation evaluate_reasoner(ReasonerImpl& model, const at::Tensor& inputs, const at::Tensor& labels,
                                     int64_t steps, int64_t batch_size, const at::Tensor& puzzle_ids = {});

// One puzzle through `steps` supervision steps, for `sudoku show --model`.
struct ReasonerTrace {
  at::Tensor predictions;  // [steps, L] argmax tokens after each step
  at::Tensor q_halt;       // [steps] halt logits
  at::Tensor q_continue;   // [steps] continue logits; undefined without a continue head
};
// tokens: [L]; puzzle_id: one int64 (any shape of one element) for a model with puzzle embeddings.
ReasonerTrace trace_reasoner(ReasonerImpl& model, const at::Tensor& tokens, int64_t steps, const at::Tensor& puzzle_id = {});

}  // namespace beyond
