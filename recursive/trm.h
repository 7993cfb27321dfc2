// Tiny Recursive Model (TRM, arXiv 2510.04871): one small net, used both to refine a latent z and
// to update an answer y, recursively, with deep supervision across optimizer steps.
//
// One supervision step (deep recursion):
//   latent_recursion: n times z <- net(z + y + x); then y <- net(y + z)   (no x: that is how the
//                     single net knows which update it is doing)
//   T-1 latent recursions without gradient, then one with gradient; logits = lm_head(y),
//   halt logit = q_head(y at position 0); the carry (y, z) leaves detached.
// With act_continue (the paper's "w/ ACT" ablation) the Q-head also gives q_continue and halting
// follows HRM's Q-learning instead of q_halt > 0.
//
// Shapes: B batch, L sequence length (cells), D d_model, V vocabulary.
#pragma once
#include "core/model.h"
#include "recursive/reasoner.h"

namespace beyond {

class Config;

struct TRMConfig {
  TransformerConfig net;      // the 2-block net: post-norm, scale-free RMSNorm, bidirectional, lecun init;
                              // max_seq_len is the task's cells (the Stack adds the puzzle prefix)
  int64_t h_cycles = 3;       // T: latent recursions per supervision step (the last one under gradient)
  int64_t l_cycles = 6;       // n: z updates per latent recursion
  int64_t halt_max_steps = 16;  // N_sup
  double halt_exploration = 0.1;
  bool act_continue = false;       // "w/ ACT" ablation: Q-head D -> 2, halt on q_halt > q_continue
  bool one_step_gradient = false;  // HRM-style ablation: gradient through the last net calls only
  PuzzlePrefixConfig puzzle;       // none by default

  // [model] with TRM's defaults for a task of `seq_len` cells over `vocab_size` tokens and
  // num_puzzle_ids puzzle ids (0: none).
  static TRMConfig from_config(Config& config, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids = 0);
};

using TRMStep = ReasonerStep;

// `halting` (ReasonerImpl) is taken from cfg's halt_max_steps, halt_exploration and act_continue.
struct TRMImpl : ReasonerImpl {
  explicit TRMImpl(const TRMConfig& cfg);
  // Initial carry: the fixed H_init / L_init vectors broadcast over [B, P + L].
  std::pair<at::Tensor, at::Tensor> initial_carry(int64_t batch) const override;
  // One supervision step on tokens [B, L] (and puzzle_ids [B] with a prefix) from the carry (y, z).
  ReasonerStep step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y,
                    const at::Tensor& z) override;
  std::string describe() const override;

  TRMConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr};
  Stack net{nullptr};
  torch::nn::Linear lm_head{nullptr}, q_head{nullptr};
  at::Tensor h_init, l_init;  // buffers [D]

 private:
  at::Tensor latent_recursion(const at::Tensor& x, at::Tensor& y, at::Tensor& z);
};
TORCH_MODULE(TRM);

}  // namespace beyond
