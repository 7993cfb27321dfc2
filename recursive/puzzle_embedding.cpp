#include "recursive/puzzle_embedding.h"

#include <ATen/ATen.h>

namespace beyond {

PuzzleEmbeddingImpl::PuzzleEmbeddingImpl(int64_t num_ids, int64_t dim, int64_t prefix_len) : prefix_len_(prefix_len) {
  TORCH_CHECK(num_ids > 0 && dim > 0, "a puzzle embedding needs ids and a dimension, got ", num_ids, " x ", dim);
  TORCH_CHECK(prefix_len >= 1, "a puzzle prefix needs at least one position, got ", prefix_len);
  weights = register_buffer("weights", at::zeros({num_ids, dim}));
}

at::Tensor PuzzleEmbeddingImpl::forward(const at::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 1 && ids.scalar_type() == at::kLong, "puzzle ids must be [B] int64, got ", ids.sizes(), " ",
              ids.scalar_type());
  auto rows = weights.index_select(0, ids);  // (B, D)
  if (is_training() && at::GradMode::is_enabled()) {
    // A leaf of its own: its gradient is this gather's, which the sparse step sums per id.
    rows = rows.detach().requires_grad_(true);
    pending.emplace_back(ids, rows);
  }
  const int64_t B = ids.size(0), D = weights.size(1);
  const auto registers = at::zeros({B, prefix_len_ - 1, D}, rows.options().requires_grad(false));
  return at::cat({rows.unsqueeze(1), registers}, 1);  // (B, prefix_len, D)
}

int64_t sparse_sign_sgd_step(PuzzleEmbeddingImpl& embedding, double lr, double weight_decay) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> ids, grads;
  for (const auto& [gather_ids, rows] : embedding.pending) {
    if (!rows.grad().defined()) continue;  // gathered but not in the loss (or no backward ran)
    ids.push_back(gather_ids);
    grads.push_back(rows.grad());
  }
  embedding.pending.clear();
  if (ids.empty()) return 0;
  const auto all_ids = at::cat(ids);
  const auto [unique_ids, slot] = at::_unique(all_ids, /*sorted=*/true, /*return_inverse=*/true);
  auto& w = embedding.weights;
  const auto summed = at::zeros({unique_ids.size(0), w.size(1)}, w.options()).index_add_(0, slot, at::cat(grads).to(w.dtype()));
  const auto rows = w.index_select(0, unique_ids).mul_(1.0 - lr * weight_decay).sub_(summed.sign().mul_(lr));
  w.index_copy_(0, unique_ids, rows);
  return unique_ids.size(0);
}

}  // namespace beyond
