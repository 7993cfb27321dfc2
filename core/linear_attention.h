// Linear-attention token mixers for the L layers of a schedule: Gated DeltaNet (Qwen3-Next) and
// Kimi delta attention (Kimi Linear). Both read q, k, v through a short causal depthwise
// convolution + SiLU, L2-normalise q and k, run the gated delta rule (core/delta_rule.h) and
// gate the normalised output before the output projection.
//
//   Gated DeltaNet: g = -exp(A_log) * softplus(W_a x + dt_bias) per value head (scalar decay),
//                   beta = sigmoid(W_b x), out = W_o(RMSNorm(o) * silu(W_g x))
//   KDA:            g = -exp(A_log) * softplus(f_up(f_down x) + dt_bias) per key channel (low-rank
//                   projection), beta = sigmoid(W_b x), out = W_o(RMSNorm(o) * sigmoid(g_up(g_down x)))
//
// A_log starts at log U(1, 16) and dt_bias at softplus^-1 of a log-uniform dt in [1e-3, 0.1]; the
// RMSNorm over dv has one weight per channel shared by all heads.
#pragma once
#include <torch/nn/modules/conv.h>

#include "core/attention.h"

namespace beyond {

// Causal depthwise conv1d over time followed by SiLU. x: [B, T, C]. With a cache the last
// kernel-1 inputs of the previous call are read from and written to *conv_state [B, C, kernel-1].
struct ShortConvImpl : torch::nn::Module {
  ShortConvImpl(int64_t channels, int64_t kernel);
  at::Tensor forward(const at::Tensor& x, at::Tensor* conv_state = nullptr);

  int64_t channels, kernel;
  at::Tensor weight;  // [C, 1, kernel], as torch's Conv1d with groups = C
};
TORCH_MODULE(ShortConv);

struct LinearAttentionImpl : torch::nn::Module {
  explicit LinearAttentionImpl(const TransformerConfig& cfg);
  // x: [B, T, D] -> [B, T, D]. Without a cache: cfg.linear_form over the whole sequence from a zero
  // state. With a cache: continues from cache->state and cache->conv_state and stores the new
  // ones (one token: delta_rule_step; more: the chunked or recurrent form with that initial state).
  at::Tensor forward(const at::Tensor& x, LayerCache* cache = nullptr);

  bool channel_decay;  // KDA
  int64_t k_heads, v_heads, k_dim, v_dim, chunk;
  std::string form;
  double norm_eps;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, b_proj{nullptr}, o_proj{nullptr};
  torch::nn::Linear a_proj{nullptr};                        // GDN: decay input per value head
  torch::nn::Linear f_down{nullptr}, f_up{nullptr};         // KDA: low-rank decay input per key channel
  torch::nn::Linear g_proj{nullptr};                        // GDN: output gate (silu)
  torch::nn::Linear g_down{nullptr}, g_up{nullptr};         // KDA: low-rank output gate (sigmoid), g_up with bias
  ShortConv q_conv{nullptr}, k_conv{nullptr}, v_conv{nullptr};  // absent when linear_conv = 0
  at::Tensor A_log, dt_bias;  // [Hv]; dt_bias [Hv] (GDN) or [Hv * dk] (KDA); no weight decay
  Norm o_norm{nullptr};       // RMSNorm over dv
};
TORCH_MODULE(LinearAttention);

}  // namespace beyond
