// Hierarchical Reasoning Model (HRM, arXiv 2506.21734): a slow high-level module H and a fast
// low-level module L, each a stack of post-norm blocks, trained with a one-step gradient and
// ACT halting by Q-learning (report §2).
//
// One supervision step (segment), x = sqrt(D) * embed(tokens), carry (y, z) = (z_H, z_L):
//   h_cycles times { l_cycles times z_L <- L(z_L + z_H + x);  z_H <- H(z_H + z_L) },
//   all under no_grad except the final L call and the final H call (the 1-step gradient, which
//   treats the recursion as a fixed point with (I - J)^-1 ~ I, so memory does not grow with depth);
//   logits = lm_head(z_H), (q_halt, q_continue) = q_head(z_H at position 0); carry detached.
//
// Shapes: B batch, L sequence length (cells), D d_model, V vocabulary.
#pragma once
#include "core/model.h"
#include "recursive/reasoner.h"

namespace beyond {

class Config;

struct HRMConfig {
  TransformerConfig net;   // one module's blocks (n_layers each for H and L): TRM's block kind, 4 layers
  int64_t h_cycles = 2;    // H updates per segment
  int64_t l_cycles = 2;    // L updates per H update
  HaltingConfig halting{16, 0.1, true};  // ACT with a continue head by default (report §2.2)
  PuzzlePrefixConfig puzzle;             // none by default; net.max_seq_len counts cells only

  // [model] with HRM's defaults for a task of `seq_len` cells over `vocab_size` tokens and
  // num_puzzle_ids puzzle ids (0: none).
  static HRMConfig from_config(Config& config, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids = 0);
};

struct HRMImpl : ReasonerImpl {
  explicit HRMImpl(const HRMConfig& cfg);
  // The fixed H_init / L_init vectors broadcast over [B, P + L], as (z_H, z_L).
  std::pair<at::Tensor, at::Tensor> initial_carry(int64_t batch) const override;
  // One segment on tokens [B, L] (and puzzle_ids [B] with a prefix) from the carry (y, z) = (z_H, z_L).
  ReasonerStep step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y,
                    const at::Tensor& z) override;
  std::string describe() const override;

  HRMConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr};
  Stack h_level{nullptr}, l_level{nullptr};  // parameters "h_level.blocks.*", "l_level.blocks.*"
  torch::nn::Linear lm_head{nullptr}, q_head{nullptr};
  at::Tensor h_init, l_init;  // buffers [D], not trained
};
TORCH_MODULE(HRM);

}  // namespace beyond
