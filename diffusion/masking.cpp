#include "diffusion/masking.h"

#include <ATen/ATen.h>

namespace beyond {

at::Tensor sample_mask_rates(int64_t n, bool stratified, double eps, at::Generator generator) {
  TORCH_CHECK(n >= 0, "sample_mask_rates: n = ", n);
  TORCH_CHECK(eps >= 0.0 && eps < 1.0, "sample_mask_rates: eps = ", eps, " is outside [0, 1)");
  // Drawn in float64 so that (u + i) / n stays inside stratum i for any n; then float32.
  const auto u = at::rand({n}, generator, at::kDouble);
  const auto t = stratified ? (u + at::arange(n, at::kDouble)) / static_cast<double>(std::max<int64_t>(n, 1)) : u;
  return ((1.0 - eps) * t + eps).to(at::kFloat);
}

NoisedTokens mask_tokens(const at::Tensor& tokens, const at::Tensor& rates, int64_t mask_id, at::Generator generator,
                         const at::Tensor& maskable) {
  TORCH_CHECK(tokens.dim() == 2, "mask_tokens: tokens must be [B, T], got ", tokens.sizes());
  TORCH_CHECK(rates.dim() == 1 && rates.size(0) == tokens.size(0), "mask_tokens: rates must be [B]");
  // The draws are made on the CPU and moved, so a seed gives the same masks on every device.
  const auto u = at::rand(tokens.sizes(), generator, at::kFloat);
  auto masked = u < rates.to(at::kCPU, at::kFloat).unsqueeze(1);
  if (maskable.defined()) {
    TORCH_CHECK(maskable.sizes() == tokens.sizes(), "mask_tokens: maskable must match tokens");
    masked &= maskable.to(at::kCPU, at::kBool);
  }
  masked = masked.to(tokens.device());
  return {tokens.masked_fill(masked, mask_id), masked};
}

NoisedTokens mask_exact_counts(const at::Tensor& tokens, const at::Tensor& counts, int64_t mask_id,
                               at::Generator generator, const at::Tensor& maskable) {
  TORCH_CHECK(tokens.dim() == 2, "mask_exact_counts: tokens must be [B, T], got ", tokens.sizes());
  TORCH_CHECK(counts.dim() == 1 && counts.size(0) == tokens.size(0), "mask_exact_counts: counts must be [B]");
  // The l positions with the smallest uniforms form a uniform l-subset; non-maskable positions
  // get uniforms above 1 so they rank last and are cut off by the maskable mask below.
  auto u = at::rand(tokens.sizes(), generator, at::kFloat);
  if (maskable.defined()) {
    TORCH_CHECK(maskable.sizes() == tokens.sizes(), "mask_exact_counts: maskable must match tokens");
    u = at::where(maskable.to(at::kCPU, at::kBool), u, at::full_like(u, 2.0));
  }
  const auto rank = u.argsort(static_cast<int64_t>(1), false).argsort(static_cast<int64_t>(1), false);
  auto masked = rank < counts.to(at::kCPU, at::kLong).unsqueeze(1);
  if (maskable.defined()) masked &= maskable.to(at::kCPU, at::kBool);
  masked = masked.to(tokens.device());
  return {tokens.masked_fill(masked, mask_id), masked};
}

at::Tensor subs_log_probs(const at::Tensor& logits, int64_t mask_id) {
  TORCH_CHECK(mask_id >= 0 && mask_id < logits.size(-1), "subs_log_probs: mask id ", mask_id,
              " is outside the vocabulary of ", logits.size(-1));
  // At least float32 (bf16 logits are promoted; float64 ones, e.g. a test's exact model, kept).
  const auto x = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
  // A large finite value rather than -inf: MASK's probability underflows to exactly 0, and
  // p log p stays 0 (not NaN) for entropy scores.
  const auto mask_col = at::arange(x.size(-1), x.options().dtype(at::kLong)) == mask_id;
  return at::log_softmax(x.masked_fill(mask_col, -1e30), -1);
}

std::vector<int64_t> transfer_schedule(int64_t masked, int64_t steps) {
  TORCH_CHECK(masked >= 0 && steps >= 1, "transfer_schedule: masked = ", masked, ", steps = ", steps);
  std::vector<int64_t> k(static_cast<size_t>(steps), masked / steps);
  for (int64_t j = 0; j < masked % steps; ++j) ++k[static_cast<size_t>(j)];
  return k;
}

}  // namespace beyond
