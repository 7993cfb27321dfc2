// The no-recursion baseline for the recursive reasoners ("direct prediction" in the HRM and TRM
// papers): embedding (sqrt(D) scale) -> a Stack of TRM's block kind -> lm_head, in one pass.
// With the default 2 layers it has exactly TRM's parameters (same embedding, blocks, lm_head and
// halting head), so a comparison isolates what the recursion buys.
//
// It halts after one supervision step: halting.max_steps defaults to 1. A config may raise
// model.halt_max_steps; each further step then simply re-runs the same pass, because the carry
// is ignored (initial_carry is zeros; step returns its last hidden states, detached, as y and z
// only so that the carry keeps its [B, L, D] shape: nothing reads them). Its q_halt comes from a
// halting head like TRM's (D -> 1, bias -5), trained by the same halt loss.
//
// Shapes: B batch, L sequence length (cells), D d_model, V vocabulary.
#pragma once
#include "core/model.h"
#include "recursive/reasoner.h"

namespace beyond {

class Config;

struct TransformerBaselineConfig {
  TransformerConfig net;               // TRM's block kind, 2 layers
  HaltingConfig halting{1, 0.0, false};  // one step; no continue head
  PuzzlePrefixConfig puzzle;               // none by default; net.max_seq_len counts cells only

  // [model] with the baseline's defaults for a task of `seq_len` cells over `vocab_size` tokens
  // and num_puzzle_ids puzzle ids (0: none).
  static TransformerBaselineConfig from_config(Config& config, int64_t seq_len, int64_t vocab_size,
                                               int64_t num_puzzle_ids = 0);
};

struct TransformerBaselineImpl : ReasonerImpl {
  explicit TransformerBaselineImpl(const TransformerBaselineConfig& cfg);
  // Zeros [B, P + L, D] twice: the baseline has no state between steps.
  std::pair<at::Tensor, at::Tensor> initial_carry(int64_t batch) const override;
  // One pass over tokens [B, L] (and puzzle_ids [B] with a prefix); y and z are ignored.
  ReasonerStep step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y,
                    const at::Tensor& z) override;
  std::string describe() const override;

  TransformerBaselineConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr};
  Stack net{nullptr};  // its blocks are registered as "blocks", as in TRM
  torch::nn::Linear lm_head{nullptr}, q_head{nullptr};
};
TORCH_MODULE(TransformerBaseline);

}  // namespace beyond
