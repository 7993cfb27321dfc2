#include "diffusion/elbo.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "diffusion/masking.h"

namespace beyond {
namespace {

// sum_{i masked} -log p(x_i | x with `masked` set to MASK), per row, in float64 on the CPU.
// clean [R, T] int64 and masked [R, T] bool on the same device.
at::Tensor masked_nll(const DenoiseFn& denoise, const at::Tensor& clean, const at::Tensor& masked, int64_t mask_id) {
  const auto logits = denoise(clean.masked_fill(masked, mask_id));
  const auto logp = subs_log_probs(logits, mask_id).gather(-1, clean.unsqueeze(-1)).squeeze(-1);
  return at::where(masked, -logp.to(at::kDouble), 0.0).sum(1).cpu();
}

// [R, P + L] masks from [R, L] masks of the answer: the prompt is never masked.
at::Tensor with_prompt(const at::Tensor& answer_masked, int64_t prompt_length) {
  return at::cat({at::zeros({answer_masked.size(0), prompt_length}, answer_masked.options()), answer_masked}, 1);
}

}  // namespace

// For sequence n with K samples, the l of sample j is
//   l_{n,j} = 1 + (k_n + floor(j L / K)) mod L,   k_n ~ U{0..L-1},
// so each l_{n,j} alone is uniform on 1..L (the estimator stays unbiased) while the K samples of a
// sequence spread evenly over 1..L (each l exactly K/L times when L divides K). Sample j then masks
// the l answer positions with the smallest of L uniforms: a uniform l-subset. All draws are made
// on the CPU, sequence by sequence, so the estimate depends on the seed but not on batch_size or
// the device. The copies are fed to `denoise` in sequence-major order, batch_size at a time.
NelboEstimate estimate_nelbo(const DenoiseFn& denoise, const at::Tensor& sequences, int64_t mask_id, int64_t samples,
                             int64_t batch_size, uint64_t seed, int64_t prompt_length) {
  TORCH_CHECK(sequences.dim() == 2, "estimate_nelbo: sequences must be [N, P + L], got ", sequences.sizes());
  const int64_t N = sequences.size(0), P = prompt_length, L = sequences.size(1) - prompt_length, K = samples;
  TORCH_CHECK(P >= 0 && L >= 1, "estimate_nelbo: prompt length ", P, " leaves no answer in ", sequences.size(1));
  TORCH_CHECK(K >= 1 && batch_size >= 1, "estimate_nelbo: samples and batch_size must be >= 1");
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);

  const auto stride = at::arange(K, at::kLong).mul(L).div(K, "floor");  // floor(j L / K)
  std::vector<at::Tensor> masks, ls;
  for (int64_t n = 0; n < N; ++n) {
    const auto k = at::randint(0, L, {1}, gen, at::kLong);
    const auto l = (stride + k).remainder(L).add(1);  // [K]
    // rank[j, i] < l_j: position i is among the l_j smallest of L uniforms.
    const auto rank = at::rand({K, L}, gen, at::kDouble).argsort(int64_t{1}).argsort(int64_t{1});
    masks.push_back(rank < l.unsqueeze(1));
    ls.push_back(l);
  }
  const auto masked = with_prompt(at::cat(masks), P).to(sequences.device());  // [N K, P + L]
  const auto l = at::cat(ls).to(at::kDouble);                                 // [N K]

  // Z_{n,j} = (L / l) * sum_{i masked} -log p(x_i | x_t): one unbiased estimate of sequence n's NELBO.
  auto z = at::empty({N * K}, at::kDouble);
  NelboEstimate out;
  for (int64_t r = 0; r < N * K; r += batch_size) {
    const int64_t b = std::min(batch_size, N * K - r);
    const auto rows = at::arange(r, r + b, at::kLong).div(K, "floor").to(sequences.device());
    z.narrow(0, r, b).copy_(masked_nll(denoise, sequences.index_select(0, rows), masked.narrow(0, r, b), mask_id));
    ++out.forward_passes;
  }
  z.mul_(static_cast<double>(L) / l);
  const auto per_seq = z.view({N, K});

  // The standard error treats a sequence's K samples as independent: stratifying l only lowers the
  // true variance, so this errs on the safe side. One sample has no within-sequence variance: NaN.
  const double total = static_cast<double>(N * L);
  out.nats_per_token = per_seq.mean(1).sum().item<double>() / total;
  out.mc_stderr = K > 1 ? std::sqrt(per_seq.var(1).sum().item<double>() / static_cast<double>(K)) / total
                        : std::numeric_limits<double>::quiet_NaN();
  out.sequences = N;
  out.samples = K;
  return out;
}

// E_l E_S[(L/l) sum_{i in S} nll_i(S)] with l ~ U{1..L} and S uniform over the C(L, l) subsets:
// subset S of size l has weight (1/L) (1/C(L,l)) (L/l) = 1 / (l C(L,l)).
double exact_nelbo(const DenoiseFn& denoise, const at::Tensor& sequence, int64_t mask_id, int64_t prompt_length) {
  TORCH_CHECK(sequence.dim() == 1, "exact_nelbo: sequence must be [P + L]");
  const int64_t P = prompt_length, L = sequence.size(0) - prompt_length;
  TORCH_CHECK(P >= 0 && L >= 1 && L <= 20, "exact_nelbo: answer length ", L, " must be in 1..20");
  at::NoGradGuard no_grad;
  const int64_t subsets = (int64_t{1} << L) - 1;
  constexpr int64_t kBatch = 256;

  // bit i of s set: answer position i masked.
  const auto s = at::arange(1, subsets + 1, at::kLong);
  const auto bit = at::pow(2, at::arange(L, at::kLong));
  const auto answer_masked = s.unsqueeze(1).bitwise_and(bit.unsqueeze(0)).ne(0);  // [2^L - 1, L]
  const auto l = answer_masked.sum(1);
  std::vector<double> binom(static_cast<size_t>(L + 1), 1.0);  // C(L, l)
  for (int64_t j = 1; j <= L; ++j) binom[static_cast<size_t>(j)] = binom[static_cast<size_t>(j - 1)] * static_cast<double>(L - j + 1) / static_cast<double>(j);
  const auto weight = 1.0 / (l.to(at::kDouble) * at::tensor(binom, at::kDouble).index_select(0, l));

  const auto masked = with_prompt(answer_masked, P).to(sequence.device());
  double total = 0.0;
  for (int64_t r = 0; r < subsets; r += kBatch) {
    const int64_t b = std::min(kBatch, subsets - r);
    const auto nll = masked_nll(denoise, sequence.unsqueeze(0).expand({b, P + L}), masked.narrow(0, r, b), mask_id);
    total += (nll * weight.narrow(0, r, b)).sum().item<double>();
  }
  return total;
}

}  // namespace beyond
