#include "diffusion/denoiser.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "core/errors.h"

namespace beyond {
namespace {

void check_tokens(const at::Tensor& tokens, int64_t start, const char* who) {
  TORCH_CHECK(tokens.defined() && tokens.dim() == 2, who, ": tokens must be [B, T]");
  TORCH_CHECK(start >= 0 && start <= tokens.size(1), who, ": start ", start, " outside [0, ", tokens.size(1), "]");
}

// Half and bfloat16 logits are widened so that the samplers' softmax sees float32 at least; a
// float64 model's logits stay float64 (tests compare argmaxes with hand loops in float64).
at::Tensor widen(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
}

// Forgets every cached position from `len` on; the buffers stay for the next append.
void truncate(KVCache& cache, int64_t len) {
  for (auto& layer : cache.layers) {
    TORCH_CHECK(layer.start <= len, "truncate: a sliding window already dropped position ", len);  // causal only
    layer.len = std::min(layer.len, len);
  }
}

}  // namespace

at::Tensor Denoiser::logits_from(const at::Tensor& tokens, int64_t start) {
  check_tokens(tokens, start, "logits_from");
  return logits(tokens).narrow(1, start, tokens.size(1) - start);
}

ModelDenoiser::ModelDenoiser(LanguageModel model, bool prefix_cache)
    : model_(std::move(model)),
      // mlp_t mixes along a fixed-length sequence axis and keeps no keys or values to cache.
      prefix_cache_(prefix_cache && model_->cfg.mixer == "attention"),
      cache_(model_->make_cache()) {
  if (model_->cfg.causal) {
    throw InputError("a diffusion denoiser needs a bidirectional model (model.causal = false)");
  }
  model_->eval();
}

at::Tensor ModelDenoiser::logits(const at::Tensor& tokens) {
  check_tokens(tokens, 0, "logits");
  at::NoGradGuard no_grad;
  ++forward_passes;
  forward_tokens += tokens.numel();
  return widen(model_(tokens));
}

at::Tensor ModelDenoiser::refresh_prefix(const at::Tensor& tokens, int64_t start) {
  if (!prefix_cache_) return logits(tokens);
  check_tokens(tokens, start, "refresh_prefix");
  at::NoGradGuard no_grad;
  ++forward_passes;
  forward_tokens += tokens.numel();
  // One full forward both answers this step and leaves every position's keys/values in the
  // cache; only the prefix is kept, since the block and what follows change from step to step.
  cache_.clear();
  auto out = widen(model_(tokens, &cache_));
  truncate(cache_, start);
  cached_start_ = start;
  return out;
}

at::Tensor ModelDenoiser::logits_from(const at::Tensor& tokens, int64_t start) {
  if (!prefix_cache_) return Denoiser::logits_from(tokens, start);
  check_tokens(tokens, start, "logits_from");
  TORCH_CHECK(cached_start_ == start && cache_.length() == start,
              "logits_from(start = ", start, ") needs a refresh_prefix at that start first (cached: ", cached_start_, ")");
  TORCH_CHECK(start == 0 || cache_.layers[0].k.size(0) == tokens.size(0), "logits_from: batch of ", tokens.size(0),
              " differs from the cached prefix's ", cache_.layers[0].k.size(0));
  at::NoGradGuard no_grad;
  ++forward_passes;
  const int64_t fed = tokens.size(1) - start;
  forward_tokens += tokens.size(0) * fed;
  // The suffix's keys/values are appended behind the prefix for this pass only; cutting them off
  // again leaves the cache as refresh_prefix left it for the block's next step.
  auto out = widen(model_(tokens.narrow(1, start, fed), &cache_));
  truncate(cache_, start);
  return out;
}

}  // namespace beyond
