// Multi-head latent attention (DeepSeek V2/V3, Kimi K2, Kimi Linear's full layers).
//
// Keys and values are rebuilt from a small latent c = RMSNorm(W_dkv x) of kv_lora_rank channels,
// so only c (and a rope key shared by all heads) is cached per token:
//   q      = W_uq RMSNorm(W_dq x)   (or W_q x when mla_q_lora_rank = 0)   -> per head [nope | rope]
//   c, kr  = split(W_dkv x)                                             -> latent [r], rope key [dr]
//   k_h    = [W_uk_h RMSNorm(c) | rope(kr)],  v_h = W_uv_h RMSNorm(c)
//   out    = W_o attend(q, k, v)     with scale 1/sqrt(nope + rope dims)
// RoPE turns only the decoupled rope dims of q and the shared key; mla_qk_rope_dim = 0 gives MLA
// without positions (Kimi Linear). The cache holds RMSNorm(c) and the rotated rope key.
#pragma once
#include "core/attention.h"

namespace beyond {

struct MultiHeadLatentAttentionImpl : torch::nn::Module {
  MultiHeadLatentAttentionImpl(const TransformerConfig& cfg, int64_t layer);
  // x: [B, T, D] -> [B, T, D]. With a cache, the new latents are appended (LayerCache's k holds
  // the latents [B, 1, S, r], v the rope keys [B, 1, S, dr]) and keys/values are rebuilt from all.
  at::Tensor forward(const at::Tensor& x, bool causal, LayerCache* cache = nullptr);

  int64_t n_heads, q_lora_rank, kv_lora_rank, nope_dim, rope_dim, v_dim, window, chunk;
  double rope_theta, softcap, dropout;
  torch::nn::Linear q_proj{nullptr};                      // q_lora_rank = 0
  torch::nn::Linear q_down{nullptr}, q_up{nullptr};       // q_lora_rank > 0
  Norm q_latent_norm{nullptr};
  torch::nn::Linear kv_down{nullptr};                     // D -> r + dr
  Norm kv_latent_norm{nullptr};
  torch::nn::Linear kv_up{nullptr};                       // r -> H * (nope + v)
  torch::nn::Linear o_proj{nullptr};
};
TORCH_MODULE(MultiHeadLatentAttention);

}  // namespace beyond
