// TRM's deep supervision as a trainer objective. Each optimizer step is one supervision step for
// every batch slot; the carry (y, z, step count) persists across optimizer steps, and a slot that
// halted takes the next batch's example for that slot (state reset), as in the reference.
//
// Loss = stable-max CE (mean over a puzzle's cells, mean over the batch)
//      + 0.5 * BCE(q_halt, puzzle exactly right)  (halt-only: no continue loss)
// A slot halts when it has run halt_max_steps steps, or q_halt > 0 after its exploration minimum
// (with probability halt_exploration a minimum drawn from U{2..halt_max_steps}).
#pragma once
#include "core/trainer.h"
#include "recursive/trm.h"

namespace beyond {

class TRMObjective : public Objective {
 public:
  explicit TRMObjective(TRM model) : model_(std::move(model)) {}
  // batch: "inputs" [B, L], "labels" [B, L] (int64), "min_steps" [B] (exploration draw per slot).
  LossOutput loss(const Batch& batch) override;
  std::map<std::string, at::Tensor> state() const override;
  void load_state(const std::map<std::string, at::Tensor>& state) override;

 private:
  TRM model_;
  // The carry: current examples, latent states, steps run, exploration minimum, halted flags.
  at::Tensor inputs_, labels_, y_, z_, steps_, min_steps_, halted_;
};

struct TRMEvaluation {
  double exact = 0, cell = 0;              // after all steps
  std::vector<double> exact_by_step;       // exact accuracy after supervision step 1..N
  std::vector<int64_t> correct_by_puzzle;  // 1 if the puzzle is exactly right at the end
  double mean_halt_step = 0;               // first step whose q_halt > 0 (N when never)
  at::Tensor predictions;                  // [P, L] at the end
};

// Runs every puzzle for `steps` supervision steps (no early halting, as the reference evaluates).
TRMEvaluation evaluate_trm(TRM& model, const at::Tensor& inputs, const at::Tensor& labels, int64_t steps,
                           int64_t batch_size);

}  // namespace beyond
