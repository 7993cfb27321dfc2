// Stable-max cross-entropy (HRM/TRM): softmax's exp replaced by
//   s(x) = 1 / (1 - x) for x < 0,   s(x) = x + 1 for x >= 0,
// so p_i = s(x_i) / sum_j s(x_j). It grows linearly instead of exponentially, which the TRM
// report credits with stabilising training on small data. Computed in float64, as the reference.
#pragma once
#include <ATen/core/Tensor.h>

namespace beyond {

// log p_i along the last dimension, float64.
at::Tensor log_stablemax(const at::Tensor& logits);

// Per-position loss -log p_label for logits [..., V] and labels [...] (int64); positions whose
// label equals `ignore_index` get 0. Returns float64 with the labels' shape.
at::Tensor stablemax_cross_entropy(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index = -100);

}  // namespace beyond
