// Mixture of experts in place of a block's channel MLP.
//
// A router scores every token against E experts; the token goes to its top k and its output is
// the weighted sum of theirs (plus the shared experts, which see every token):
//   softmax:       p = softmax(W_r x); top-k of p; weights renormalised to sum to 1
//   sigmoid_bias:  s = sigmoid(W_r x); top-k chosen by s + b (b a non-learned per-expert bias);
//                  weights = the chosen s renormalised (DeepSeek V3's auxiliary-loss-free
//                  balancing: after each training step b_e += rate * sign(mean load - load_e))
//   y = routed_scale * sum_k w_k expert_k(x) + gate(x) * sum_s shared_s(x)
// With moe_renormalize off the chosen scores are used as they are (Llama 4). The router's logits
// may carry a learned bias (gpt-oss); gate(x) = sigmoid(w_g . x) with moe_shared_gate (Qwen3-Next),
// else 1.
// Experts are cfg.mlp MLPs of width cfg.moe_hidden(). Tokens are grouped per expert, so the
// compute is that of k dense MLPs on the routed tokens, not E.
#pragma once
#include <torch/nn/modules/container/modulelist.h>

#include "core/layers.h"

namespace beyond {

struct MoEImpl : torch::nn::Module {
  explicit MoEImpl(const TransformerConfig& cfg);
  // x: [..., D] -> [..., D]. In training mode records the tokens routed to each expert.
  at::Tensor forward(const at::Tensor& x);
  // The same output by looping over every expert on every token and masking (for tests).
  at::Tensor forward_dense_reference(const at::Tensor& x);

  // Share of the routed (token, slot) pairs each expert received in the last training forward [E]
  // (sums to 1); undefined before the first one.
  at::Tensor last_load() const { return load_; }
  // max load / mean load of the last training forward: 1 is perfectly balanced, E is collapse.
  double load_imbalance() const;
  // sigmoid_bias: moves the selection bias towards balance from the last load (call once per
  // optimizer step); a no-op for the softmax router.
  void update_router_bias();

  int64_t n_experts, top_k;
  std::string router_kind;
  bool renormalize;
  double routed_scale, bias_rate;
  torch::nn::Linear router{nullptr};       // D -> E, no bias
  at::Tensor selection_bias;               // [E] buffer (sigmoid_bias)
  torch::nn::ModuleList experts{nullptr};  // E MLPs
  torch::nn::ModuleList shared{nullptr};   // shared MLPs
  torch::nn::Linear shared_gate{nullptr};  // D -> 1, no bias (moe_shared_gate)
 private:
  at::Tensor load_;
  // The shared experts' sum on flattened tokens [N, D], gated when shared_gate is set.
  at::Tensor shared_output(const at::Tensor& flat);
  // Routing weights [N, E] (zero off the top k) of flattened tokens x [N, D].
  at::Tensor route(const at::Tensor& x);
};
TORCH_MODULE(MoE);

}  // namespace beyond
