// Multi-head attention (MHA, GQA, MQA) through at::scaled_dot_product_attention, with RoPE,
// optional QK-norm, sliding windows and a KV cache for decoding.
//
// Shapes: B batch, T new tokens, S keys (cached + new), D d_model, H query heads,
// Hkv key/value heads, hd head dim.
#pragma once
#include <vector>

#include "core/layers.h"

namespace beyond {

// Cached keys and values of one layer, in preallocated buffers [B, Hkv, capacity, hd] of which
// the first length() positions are filled. Buffers are allocated on the first append and double
// when full, so decoding n tokens copies O(n) values, not O(n^2) as concatenation would.
struct LayerCache {
  at::Tensor k, v;
  int64_t len = 0;
  int64_t capacity_hint = 0;
  int64_t length() const { return len; }
  // Appends keys/values [B, Hkv, T, hd]; returns all cached keys and values so far (views).
  std::pair<at::Tensor, at::Tensor> append(const at::Tensor& k_new, const at::Tensor& v_new);
};

// One LayerCache per layer. Positions of new tokens start at length(). `capacity` preallocates
// that many positions per layer (0: grow as needed).
struct KVCache {
  std::vector<LayerCache> layers;
  explicit KVCache(int64_t n_layers = 0, int64_t capacity = 0) : layers(static_cast<size_t>(n_layers)) {
    for (auto& l : layers) l.capacity_hint = capacity;
  }
  int64_t length() const { return layers.empty() ? 0 : layers[0].length(); }
  void clear() {
    for (auto& l : layers) l.len = 0;  // keeps the buffers for the next sequence
  }
};

// Which keys a query may see. Query i sits at absolute position q_offset + i, key j at j.
// Causal: j <= pos(i). Window w > 0: |pos(i) - j| < w (only j <= pos(i) when causal).
// Returns a bool mask [T, S] (true = attend), or an undefined tensor when every key is visible.
at::Tensor attention_mask(int64_t q_len, int64_t k_len, int64_t q_offset, bool causal, int64_t window,
                          const at::Device& device);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const TransformerConfig& cfg, int64_t window);
  // x: [B, T, D]. With a cache, new keys/values are appended and the queries sit after them.
  at::Tensor forward(const at::Tensor& x, bool causal, LayerCache* cache = nullptr);

  int64_t n_heads, n_kv_heads, head_dim, rot_dims, window;
  double rope_theta, dropout;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Norm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace beyond
