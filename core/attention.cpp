#include "core/attention.h"

#include <ATen/ATen.h>

namespace beyond {

std::pair<at::Tensor, at::Tensor> LayerCache::append(const at::Tensor& k_new, const at::Tensor& v_new) {
  const int64_t T = k_new.size(2), needed = len + T;
  const bool fits = k.defined() && k.size(0) == k_new.size(0) && k.size(2) >= needed &&
                    k.scalar_type() == k_new.scalar_type() && k.device() == k_new.device();
  if (!fits) {
    const int64_t cap = std::max({needed, capacity_hint, k.defined() ? 2 * k.size(2) : int64_t{0}});
    auto sizes = k_new.sizes().vec();
    sizes[2] = cap;
    auto k_buf = at::empty(sizes, k_new.options()), v_buf = at::empty(sizes, v_new.options());
    if (len > 0) {
      k_buf.narrow(2, 0, len).copy_(k.narrow(2, 0, len));
      v_buf.narrow(2, 0, len).copy_(v.narrow(2, 0, len));
    }
    k = k_buf;
    v = v_buf;
  }
  k.narrow(2, len, T).copy_(k_new);
  v.narrow(2, len, T).copy_(v_new);
  len = needed;
  return {k.narrow(2, 0, len), v.narrow(2, 0, len)};
}

at::Tensor attention_mask(int64_t q_len, int64_t k_len, int64_t q_offset, bool causal, int64_t window,
                          const at::Device& device) {
  if (!causal && (window == 0 || window >= q_offset + q_len + k_len)) return {};
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  const auto q_pos = at::arange(q_offset, q_offset + q_len, opts).unsqueeze(1);  // (T, 1)
  const auto k_pos = at::arange(0, k_len, opts).unsqueeze(0);                    // (1, S)
  auto mask = at::ones({q_len, k_len}, opts.dtype(at::kBool));
  if (causal) mask = mask & (k_pos <= q_pos);
  if (window > 0) mask = mask & ((q_pos - k_pos).abs() < window);
  return mask;
}

AttentionImpl::AttentionImpl(const TransformerConfig& cfg, int64_t window_)
    : n_heads(cfg.n_heads),
      n_kv_heads(cfg.kv_heads()),
      head_dim(cfg.dim_per_head()),
      rot_dims(cfg.rope_dims()),
      window(window_),
      rope_theta(cfg.rope_theta),
      dropout(cfg.dropout) {
  const auto lin = [&](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(cfg.bias));
  };
  q_proj = register_module("q_proj", lin(cfg.d_model, n_heads * head_dim));
  k_proj = register_module("k_proj", lin(cfg.d_model, n_kv_heads * head_dim));
  v_proj = register_module("v_proj", lin(cfg.d_model, n_kv_heads * head_dim));
  o_proj = register_module("o_proj", lin(n_heads * head_dim, cfg.d_model));
  if (cfg.qk_norm) {
    q_norm = register_module("q_norm", Norm("rmsnorm", head_dim, cfg.norm_eps, cfg.norm_scale, false));
    k_norm = register_module("k_norm", Norm("rmsnorm", head_dim, cfg.norm_eps, cfg.norm_scale, false));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, bool causal, LayerCache* cache) {
  const int64_t B = x.size(0), T = x.size(1);
  // (B,T,D) -> (B,T,H,hd) -> (B,H,T,hd)
  auto q = q_proj(x).view({B, T, n_heads, head_dim}).transpose(1, 2);
  auto k = k_proj(x).view({B, T, n_kv_heads, head_dim}).transpose(1, 2);
  auto v = v_proj(x).view({B, T, n_kv_heads, head_dim}).transpose(1, 2);
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  const int64_t past = cache ? cache->length() : 0;
  q = apply_rope(q, past, rot_dims, rope_theta);
  k = apply_rope(k, past, rot_dims, rope_theta);
  if (cache) std::tie(k, v) = cache->append(k, v);
  const int64_t S = k.size(2);
  const double p = is_training() ? dropout : 0.0;
  at::Tensor y;
  if (causal && window == 0 && past == 0) {
    // T == S here, where SDPA's upper-left causal triangle is the right one.
    y = at::scaled_dot_product_attention(q, k, v, {}, p, /*is_causal=*/true, std::nullopt,
                                         /*enable_gqa=*/n_kv_heads != n_heads);
  } else {
    const auto mask = attention_mask(T, S, past, causal, window, x.device());
    y = at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
                                         p, /*is_causal=*/false, std::nullopt,
                                         /*enable_gqa=*/n_kv_heads != n_heads);
  }
  // (B,H,T,hd) -> (B,T,H*hd)
  y = y.transpose(1, 2).reshape({B, T, n_heads * head_dim});
  return o_proj(y);
}

}  // namespace beyond
