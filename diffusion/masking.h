// The forward (masking) process of masked diffusion (LLaDA, MDLM): every token of a sequence is
// replaced by MASK independently with the sequence's mask rate p = (1 - eps) t + eps, t ~ U(0, 1).
// MASK absorbs: a masked token stays masked until the reverse process commits it.
//
// Shapes: B batch, T sequence length, V vocabulary (MASK included).
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace beyond {

// One mask rate per sequence, [n] float32. Stratified (MDLM's antithetic sampling): the i-th
// t lies in [i/n, (i+1)/n), t_i = (u_i + i) / n, so a batch covers (0, 1) evenly; otherwise
// t_i ~ U(0, 1). Then p = (1 - eps) t + eps keeps every rate away from 0.
at::Tensor sample_mask_rates(int64_t n, bool stratified, double eps, at::Generator generator);

struct NoisedTokens {
  at::Tensor noisy;   // [B, T] int64: the tokens with MASK where masked
  at::Tensor masked;  // [B, T] bool
};

// Masks tokens [B, T] where a uniform draw is below the row's rate [B]. Positions where
// `maskable` [B, T] bool is false (a prompt) are never masked; undefined means all maskable.
NoisedTokens mask_tokens(const at::Tensor& tokens, const at::Tensor& rates, int64_t mask_id, at::Generator generator,
                         const at::Tensor& maskable = {});

// Masks exactly counts[b] [B] int64 positions of row b, a uniform random subset of its maskable
// positions (all of them when counts[b] exceeds their number). The draws are made on the CPU.
NoisedTokens mask_exact_counts(const at::Tensor& tokens, const at::Tensor& counts, int64_t mask_id,
                               at::Generator generator, const at::Tensor& maskable = {});

// The SUBS parameterisation's zero-masking step: log-probabilities [.., V] in float32 in which
// MASK has probability 0, so the model never predicts MASK. (Carry-over of unmasked tokens is
// the caller's: the loss skips them and samplers never change them.)
at::Tensor subs_log_probs(const at::Tensor& logits, int64_t mask_id);

// LLaDA's transfer schedule: `masked` tokens committed over `steps` steps, as evenly as possible,
// the remainder going to the first steps: k_j = floor(M / S) + (j < M mod S ? 1 : 0).
std::vector<int64_t> transfer_schedule(int64_t masked, int64_t steps);

}  // namespace beyond
