#include "core/attention.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace beyond {

std::pair<at::Tensor, at::Tensor> LayerCache::append(const at::Tensor& k_new, const at::Tensor& v_new, int64_t bound) {
  const int64_t T = k_new.size(2);
  const bool same_kind = k.defined() && k.size(0) == k_new.size(0) && k.scalar_type() == k_new.scalar_type() &&
                         k.device() == k_new.device();
  TORCH_CHECK(same_kind || len == start, "KV cache: ", len - start, " cached positions have another batch size, dtype ",
              "or device than the new keys; clear the cache first");
  const auto move_kept_to = [&](at::Tensor& k_to, at::Tensor& v_to) {
    const int64_t from = start - base, kept = len - start;
    if (kept > 0) {
      // Source and target overlap when the buffer is reused and the gap is shorter than what moves.
      const bool overlap = k_to.is_same(k) && from < kept;
      auto k_src = k.narrow(2, from, kept), v_src = v.narrow(2, from, kept);
      k_to.narrow(2, 0, kept).copy_(overlap ? k_src.clone() : k_src);
      v_to.narrow(2, 0, kept).copy_(overlap ? v_src.clone() : v_src);
    }
    base = start;
  };
  // Forgotten positions at the front of a buffer that is about to overflow: slide the kept ones down.
  if (same_kind && start > base && len - base + T > k.size(2)) move_kept_to(k, v);
  if (!same_kind || len - base + T > k.size(2)) {
    const int64_t needed = len - start + T;
    // A bounded layer never needs more than bound + T positions: no doubling, no hint. Twice the
    // bound lets single-token decoding slide its kept positions down once every `bound` steps.
    const int64_t cap = bound > 0 ? std::max(needed, 2 * bound)
                                 : std::max({needed, capacity_hint, k.defined() ? 2 * k.size(2) : int64_t{0}});
    // Keys and values may differ in width (MLA keeps its latent in k and its rope key in v).
    auto k_sizes = k_new.sizes().vec(), v_sizes = v_new.sizes().vec();
    k_sizes[2] = v_sizes[2] = cap;
    auto k_buf = at::empty(k_sizes, k_new.options()), v_buf = at::empty(v_sizes, v_new.options());
    if (same_kind) move_kept_to(k_buf, v_buf);
    else base = start;
    k = k_buf;
    v = v_buf;
  }
  k.narrow(2, len - base, T).copy_(k_new);
  v.narrow(2, len - base, T).copy_(v_new);
  len += T;
  // The views cover start..len-1; no data moves before the next append, so they stay valid.
  return {k.narrow(2, start - base, len - start), v.narrow(2, start - base, len - start)};
}

CachedKeys append_to_cache(LayerCache& cache, const at::Tensor& k, const at::Tensor& v, bool causal, int64_t window,
                           int64_t chunk) {
  // Only causal local layers may forget: no later query looks further back than window - 1, or
  // before the start of the chunk the next position falls in.
  const int64_t bound = !causal ? 0 : window > 0 ? window - 1 : chunk > 0 ? chunk - 1 : 0;
  CachedKeys out;
  out.first = cache.start;
  std::tie(out.k, out.v) = cache.append(k, v, bound);
  if (causal && window > 0) cache.forget_before(cache.len - (window - 1));
  if (causal && chunk > 0) cache.forget_before(cache.len / chunk * chunk);
  return out;
}

at::Tensor attention_mask(int64_t q_len, int64_t k_len, int64_t q_offset, bool causal, int64_t window,
                          const at::Device& device, int64_t chunk) {
  // No mask when every query sees every key: SDPA's fastest path, and the usual case of decoding
  // one token (a local layer's cache holds only what that token may see).
  const int64_t q_last = q_offset + q_len - 1, k_last = k_len - 1;
  const bool all_visible = (!causal || k_last <= q_offset) &&
                           (window == 0 || std::max(q_last, k_last - q_offset) < window) &&
                           (chunk == 0 || std::max(q_last, k_last) < chunk);
  if (all_visible) return {};
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  const auto q_pos = at::arange(q_offset, q_offset + q_len, opts).unsqueeze(1);  // (T, 1)
  const auto k_pos = at::arange(0, k_len, opts).unsqueeze(0);                    // (1, S)
  auto mask = at::ones({q_len, k_len}, opts.dtype(at::kBool));
  if (causal) mask = mask & (k_pos <= q_pos);
  if (window > 0) mask = mask & ((q_pos - k_pos).abs() < window);
  if (chunk > 0) mask = mask & (q_pos.div(chunk, "floor") == k_pos.div(chunk, "floor"));
  return mask;
}

int64_t LayerCache::bytes() const {
  const auto filled = [&](const at::Tensor& t) {
    return t.defined() ? t.numel() / t.size(2) * (len - start) * t.element_size() : 0;
  };
  const auto whole = [](const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : int64_t{0}; };
  return filled(k) + filled(v) + whole(state) + whole(conv_state);
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (const auto& l : layers) total += l.bytes();
  return total;
}

namespace {

// The explicit form of attention, for soft-capping and sinks that SDPA cannot express.
at::Tensor attend_explicit(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask,
                           const AttendOptions& o, double scale, bool training) {
  const int64_t group = q.size(1) / k.size(1);
  if (group > 1) {
    k = k.repeat_interleave(group, 1);
    v = v.repeat_interleave(group, 1);
  }
  auto logits = at::matmul(q, k.transpose(-2, -1)) * scale;  // (B,H,T,S)
  if (o.softcap > 0) logits = at::tanh(logits / o.softcap) * o.softcap;
  if (mask.defined()) logits = logits.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor weights;
  if (o.sinks.defined()) {
    // One extra column per head holding its sink logit; softmax over keys + sink, then drop it.
    const auto sink = o.sinks.to(logits.scalar_type()).view({1, -1, 1, 1}).expand({logits.size(0), -1, logits.size(2), 1});
    weights = at::softmax(at::cat({logits, sink}, -1), -1).narrow(-1, 0, logits.size(-1));
  } else {
    weights = at::softmax(logits, -1);
  }
  if (o.dropout > 0 && training) weights = at::dropout(weights, o.dropout, true);
  return at::matmul(weights, v);
}

}  // namespace

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal, int64_t past,
                  int64_t window, const AttendOptions& o) {
  const int64_t T = q.size(2), S = k.size(2);
  const double scale = o.scale > 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const bool gqa = q.size(1) != k.size(1);
  const bool training = o.dropout > 0;
  if (o.softcap > 0 || o.sinks.defined()) {
    return attend_explicit(q, k, v, attention_mask(T, S, past, causal, window, q.device(), o.chunk), o, scale, training);
  }
  if (causal && window == 0 && o.chunk == 0 && past == 0) {
    // T == S here, where SDPA's upper-left causal triangle is the right one.
    return at::scaled_dot_product_attention(q, k, v, {}, o.dropout, /*is_causal=*/true, scale, gqa);
  }
  const auto mask = attention_mask(T, S, past, causal, window, q.device(), o.chunk);
  return at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
                                          o.dropout, /*is_causal=*/false, scale, gqa);
}

AttentionImpl::AttentionImpl(const TransformerConfig& cfg, int64_t layer)
    : n_heads(cfg.n_heads),
      n_kv_heads(cfg.kv_heads()),
      head_dim(cfg.dim_per_head()),
      rot_dims(cfg.rope_dims_for_layer(layer)),
      window(cfg.window_for_layer(layer)),
      chunk(cfg.chunk_for_layer(layer)),
      rope_theta(cfg.rope_theta_for_layer(layer)),
      dropout(cfg.dropout),
      softcap(cfg.attn_softcap),
      norm_whole_projection(cfg.qk_norm_scope == "projection") {
  const auto lin = [&](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  const bool qkv_bias = cfg.bias || cfg.qkv_bias, o_bias = cfg.bias || cfg.o_bias;
  q_proj = register_module("q_proj", lin(cfg.d_model, n_heads * head_dim, qkv_bias));
  k_proj = register_module("k_proj", lin(cfg.d_model, n_kv_heads * head_dim, qkv_bias));
  v_proj = register_module("v_proj", lin(cfg.d_model, n_kv_heads * head_dim, qkv_bias));
  o_proj = register_module("o_proj", lin(n_heads * head_dim, cfg.d_model, o_bias));
  if (cfg.attn_output_gate) gate_proj = register_module("gate_proj", lin(cfg.d_model, n_heads * head_dim, false));
  if (cfg.qk_norm) {
    // Per head: one weight of head_dim shared by all heads. Over the projection: one weight per channel of all heads.
    const int64_t q_dim = norm_whole_projection ? n_heads * head_dim : head_dim;
    const int64_t k_dim = norm_whole_projection ? n_kv_heads * head_dim : head_dim;
    q_norm = register_module("q_norm", Norm("rmsnorm", q_dim, cfg.norm_eps, cfg.norm_scale, false, cfg.norm_offset));
    k_norm = register_module("k_norm", Norm("rmsnorm", k_dim, cfg.norm_eps, cfg.norm_scale, false, cfg.norm_offset));
  }
  if (cfg.attn_sinks) sinks = register_parameter("sinks", at::zeros({n_heads}));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, bool causal, LayerCache* cache) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x), k = k_proj(x), v = v_proj(x);
  if (q_norm && norm_whole_projection) {
    q = q_norm(q);
    k = k_norm(k);
  }
  // (B,T,D) -> (B,T,H,hd) -> (B,H,T,hd)
  q = q.view({B, T, n_heads, head_dim}).transpose(1, 2);
  k = k.view({B, T, n_kv_heads, head_dim}).transpose(1, 2);
  v = v.view({B, T, n_kv_heads, head_dim}).transpose(1, 2);
  if (q_norm && !norm_whole_projection) {
    q = q_norm(q);
    k = k_norm(k);
  }
  const int64_t past = cache ? cache->length() : 0;
  q = apply_rope(q, past, rot_dims, rope_theta);
  k = apply_rope(k, past, rot_dims, rope_theta);
  int64_t first_key = 0;  // absolute position of the first key attended to
  if (cache) {
    const auto cached = append_to_cache(*cache, k, v, causal, window, chunk);
    k = cached.k;
    v = cached.v;
    first_key = cached.first;
  }
  AttendOptions options;
  options.chunk = chunk;
  options.softcap = softcap;
  options.sinks = sinks;
  options.dropout = is_training() ? dropout : 0.0;
  auto y = attend(q, k, v, causal, past - first_key, window, options);
  // (B,H,T,hd) -> (B,T,H*hd)
  y = y.transpose(1, 2).reshape({B, T, n_heads * head_dim});
  if (gate_proj) y = y * at::sigmoid(gate_proj(x));
  return o_proj(y);
}

}  // namespace beyond
