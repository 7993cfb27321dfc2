// Puzzle-identifier embeddings (TRM/HRM `CastedSparseEmbedding`): one learned vector per puzzle id
// (for ARC, one per task x augmentation), prepended to the token embeddings as a prefix of
// prefix_len positions. Position 0 of the prefix carries the id's vector and the others are zero
// "registers"; the halting head reads position 0 and the logits leave the prefix out.
//
// The table is a buffer, not a parameter: AdamW and the EMA never see it. It starts at zero and is
// trained by sparse SignSGD with decoupled weight decay on the rows a step used:
//   g_i = sum of the gradients of row i over the step's gathers
//   w_i <- w_i * (1 - lr * wd) - lr * sign(g_i)        (rows not used in the step are untouched)
// SignSGD suits a table this sparse: each row sees few gradients, so Adam's moments would be noise.
#pragma once
#include <torch/nn/module.h>

#include <utility>
#include <vector>

namespace beyond {

class PuzzleEmbeddingImpl : public torch::nn::Module {
 public:
  PuzzleEmbeddingImpl(int64_t num_ids, int64_t dim, int64_t prefix_len);

  // ids [B] int64 -> [B, prefix_len, dim]: row 0 is the id's vector, the rest zero. In training
  // mode with gradients on, the gathered rows are a fresh leaf that requires grad, remembered with
  // its ids until sparse_sign_sgd_step consumes it; otherwise a plain gather.
  at::Tensor forward(const at::Tensor& ids);

  int64_t num_ids() const { return weights.size(0); }
  int64_t prefix_len() const { return prefix_len_; }

  at::Tensor weights;  // buffer [num_ids, dim], "weights" in checkpoints
  std::vector<std::pair<at::Tensor, at::Tensor>> pending;  // (ids [B], gathered rows [B, dim] with grad)

 private:
  int64_t prefix_len_;
};
TORCH_MODULE(PuzzleEmbedding);

// The SignSGD update above over every pending gather (then cleared). Gathers whose rows got no
// gradient are dropped. Returns the number of distinct rows updated.
int64_t sparse_sign_sgd_step(PuzzleEmbeddingImpl& embedding, double lr, double weight_decay);

}  // namespace beyond
