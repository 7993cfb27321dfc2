// Monte Carlo estimate of the negative ELBO of a masked diffusion model, LLaDA's low-variance
// form (its Eq. 6): for a sequence x of L tokens (after an optional prompt of P tokens that is
// never masked),
//
//   -log p(x) <= E_{l ~ U{1..L}} E_{S ~ l-subsets of L} [ (L / l) * sum_{i in S} -log p_theta(x_i | x with S masked) ]
//
// with the l values of one sequence's samples stratified over 1..L. Reported per token, so
// nats/token / ln 2 * tokens/char gives bits per character, comparable with an AR model's.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

namespace beyond {

// tokens [B, T] int64 -> logits [B, T, V]; any bidirectional model (or a test's exact one).
using DenoiseFn = std::function<at::Tensor(const at::Tensor& tokens)>;

struct NelboEstimate {
  double nats_per_token = 0.0;   // sum over sequences of their NELBO estimates / (N * L)
  double mc_stderr = 0.0;        // Monte Carlo standard error of nats_per_token (within-sequence sample variance)
  int64_t sequences = 0;
  int64_t samples = 0;           // per sequence
  int64_t forward_passes = 0;
};

// sequences [N, P + L] int64. `samples` masked copies per sequence, `batch_size` copies per
// forward. Deterministic in `seed`. SUBS: MASK gets probability 0 before the log-softmax.
NelboEstimate estimate_nelbo(const DenoiseFn& denoise, const at::Tensor& sequences, int64_t mask_id, int64_t samples,
                             int64_t batch_size, uint64_t seed, int64_t prompt_length = 0);

// The exact expectation above by enumerating every l and every l-subset (2^L - 1 forwards in
// batches): for tests on tiny L. sequence [P + L] int64; returns the sequence's NELBO in nats (not per token).
double exact_nelbo(const DenoiseFn& denoise, const at::Tensor& sequence, int64_t mask_id, int64_t prompt_length = 0);

}  // namespace beyond
