#include "core/mla.h"

#include <ATen/ATen.h>

#include <cmath>

namespace beyond {

MultiHeadLatentAttentionImpl::MultiHeadLatentAttentionImpl(const TransformerConfig& cfg, int64_t layer)
    : n_heads(cfg.n_heads),
      q_lora_rank(cfg.mla_q_lora_rank),
      kv_lora_rank(cfg.mla_kv_lora_rank),
      nope_dim(cfg.mla_nope_dim()),
      // A layer without positions (an N layer, or positional = nope) has no decoupled rope part.
      rope_dim(cfg.rope_dims_for_layer(layer) > 0 ? cfg.mla_qk_rope_dim : 0),
      v_dim(cfg.mla_value_dim()),
      window(cfg.window_for_layer(layer)),
      chunk(cfg.chunk_for_layer(layer)),
      rope_theta(cfg.rope_theta_for_layer(layer)),
      softcap(cfg.attn_softcap),
      dropout(cfg.dropout) {
  const auto lin = [&](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(cfg.bias));
  };
  const auto latent_norm = [&](int64_t dim) {
    return Norm("rmsnorm", dim, cfg.norm_eps, cfg.norm_scale, false, cfg.norm_offset);
  };
  const int64_t qk_dim = nope_dim + rope_dim;
  if (q_lora_rank > 0) {
    q_down = register_module("q_down", lin(cfg.d_model, q_lora_rank));
    q_latent_norm = register_module("q_latent_norm", latent_norm(q_lora_rank));
    q_up = register_module("q_up", lin(q_lora_rank, n_heads * qk_dim));
  } else {
    q_proj = register_module("q_proj", lin(cfg.d_model, n_heads * qk_dim));
  }
  kv_down = register_module("kv_down", lin(cfg.d_model, kv_lora_rank + rope_dim));
  kv_latent_norm = register_module("kv_latent_norm", latent_norm(kv_lora_rank));
  kv_up = register_module("kv_up", lin(kv_lora_rank, n_heads * (nope_dim + v_dim)));
  o_proj = register_module("o_proj", lin(n_heads * v_dim, cfg.d_model));
}

at::Tensor MultiHeadLatentAttentionImpl::forward(const at::Tensor& x, bool causal, LayerCache* cache) {
  const int64_t B = x.size(0), T = x.size(1), past = cache ? cache->length() : 0;

  // Queries (B,T,H*(nope+rope)) -> (B,H,T,nope+rope), the rope part turned at its positions.
  auto q = q_lora_rank > 0 ? q_up(q_latent_norm(q_down(x))) : q_proj(x);
  q = q.view({B, T, n_heads, nope_dim + rope_dim}).transpose(1, 2);
  q = at::cat({q.narrow(-1, 0, nope_dim), apply_rope(q.narrow(-1, nope_dim, rope_dim), past, rope_dim, rope_theta)}, -1);

  // The new tokens' latents (B,1,T,r) and shared rope keys (B,1,T,dr): all that is cached.
  const auto kv = kv_down(x);
  auto latent = kv_latent_norm(kv.narrow(-1, 0, kv_lora_rank)).unsqueeze(1);
  auto rope_key = apply_rope(kv.narrow(-1, kv_lora_rank, rope_dim).unsqueeze(1), past, rope_dim, rope_theta);
  int64_t first_key = 0;  // absolute position of the first cached latent attended to
  if (cache) {
    const auto cached = append_to_cache(*cache, latent, rope_key, causal, window, chunk);
    latent = cached.k;
    rope_key = cached.v;
    first_key = cached.first;
  }

  // Keys and values of every visible position, rebuilt from the latents: (B,S,r) -> (B,H,S,nope+v).
  const int64_t S = latent.size(2);
  const auto kv_heads = kv_up(latent.squeeze(1)).view({B, S, n_heads, nope_dim + v_dim}).transpose(1, 2);
  const auto k = at::cat({kv_heads.narrow(-1, 0, nope_dim), rope_key.expand({B, n_heads, S, rope_dim})}, -1);
  const auto v = kv_heads.narrow(-1, nope_dim, v_dim);

  AttendOptions options;
  options.scale = 1.0 / std::sqrt(static_cast<double>(nope_dim + rope_dim));
  options.softcap = softcap;
  options.dropout = is_training() ? dropout : 0.0;
  options.chunk = chunk;
  auto y = attend(q, k, v, causal, past - first_key, window, options);
  // (B,H,T,v) -> (B,T,H*v)
  return o_proj(y.transpose(1, 2).reshape({B, T, n_heads * v_dim}));
}

}  // namespace beyond
