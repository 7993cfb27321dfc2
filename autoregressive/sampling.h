// Next-token sampling from logits: repetition penalty, temperature, top-k, top-p (nucleus),
// min-p, then a draw from a seeded generator. Each filter is a pure function on [B, V] logits
// that sets excluded tokens to -inf, so they compose and can be tested one by one.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace beyond {

struct SamplingOptions {
  double temperature = 1.0;         // 0: greedy (argmax)
  int64_t top_k = 0;                // 0: off; else keep the k most likely tokens
  double top_p = 1.0;               // 1: off; else keep the smallest set whose mass is >= top_p
  double min_p = 0.0;               // 0: off; else keep tokens with p >= min_p * p_max
  double repetition_penalty = 1.0;  // 1: off; CTRL-style: seen tokens' logits / penalty if > 0, * penalty if < 0
};

// logits [B, V]; history [B, S] int64 of tokens seen so far (prompt and output; may be undefined).
at::Tensor apply_repetition_penalty(const at::Tensor& logits, const at::Tensor& history, double penalty);
at::Tensor filter_top_k(const at::Tensor& logits, int64_t k);
// Sorts by probability and keeps tokens until the cumulative mass first reaches p (at least one).
at::Tensor filter_top_p(const at::Tensor& logits, double p);
at::Tensor filter_min_p(const at::Tensor& logits, double min_p);

// Applies the options in the order above and draws one token per row: [B] int64.
// The draw uses only `generator`, so a seed reproduces the same tokens.
at::Tensor sample_next(const at::Tensor& logits, const SamplingOptions& options, const at::Tensor& history,
                       at::Generator generator);

}  // namespace beyond
