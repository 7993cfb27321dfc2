#include "recursive/stablemax.h"

#include <ATen/ATen.h>

namespace beyond {

at::Tensor log_stablemax(const at::Tensor& logits) {
  const auto x = logits.to(at::kDouble);
  // Each branch sees only its own side of 0, so the branch at::where discards never produces an
  // inf whose zero-weighted gradient would turn into NaN (1 / (1 - x) at x = 1).
  const auto s = at::where(x < 0, 1.0 / (1.0 - x.clamp_max(0.0)), x.clamp_min(0.0) + 1.0);
  return at::log(s) - at::log(s.sum(-1, /*keepdim=*/true));
}

at::Tensor stablemax_cross_entropy(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index) {
  const auto valid = labels != ignore_index;
  const auto safe = at::where(valid, labels, at::zeros_like(labels));
  const auto picked = log_stablemax(logits).gather(-1, safe.unsqueeze(-1)).squeeze(-1);
  return at::where(valid, -picked, at::zeros_like(picked));
}

}  // namespace beyond
