// What a diffusion sampler asks of a model: logits for whole sequences, and optionally
// Fast-dLLM's block-wise approximate prefix cache. A bidirectional model's keys and values of a
// prefix change whenever a later token changes, so the cache is exact only right after
// refresh_prefix; samplers refresh it once per block, fused with that block's first step.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/model.h"

namespace beyond {

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  // tokens [B, T] int64 -> logits [B, T, V] float32. One forward pass.
  virtual at::Tensor logits(const at::Tensor& tokens) = 0;
  // A full forward over tokens that also keeps the keys/values of positions < start; returns
  // the full logits [B, T, V]. Without a cache (the default) it is logits().
  virtual at::Tensor refresh_prefix(const at::Tensor& tokens, int64_t start) { return logits(tokens); }
  // Logits [B, T - start, V] of tokens[:, start:], whose queries see the prefix kept by the last
  // refresh_prefix (same start) and each other. Without a cache: a full forward, sliced.
  virtual at::Tensor logits_from(const at::Tensor& tokens, int64_t start);

  int64_t forward_passes = 0;   // calls of any of the three above
  int64_t forward_tokens = 0;   // positions fed through the model (B * T per full forward)
};

// The core LanguageModel (built with causal = false) as a denoiser, in eval mode, no grad.
class ModelDenoiser : public Denoiser {
 public:
  explicit ModelDenoiser(LanguageModel model, bool prefix_cache = true);
  at::Tensor logits(const at::Tensor& tokens) override;
  at::Tensor refresh_prefix(const at::Tensor& tokens, int64_t start) override;
  at::Tensor logits_from(const at::Tensor& tokens, int64_t start) override;

 private:
  LanguageModel model_;
  bool prefix_cache_;
  KVCache cache_;
  int64_t cached_start_ = -1;
};

}  // namespace beyond
