// Multi-head attention (MHA, GQA, MQA) through at::scaled_dot_product_attention, with RoPE,
// optional QK-norm, sliding windows and a KV cache for decoding.
//
// Shapes: B batch, T new tokens, S keys (cached + new), D d_model, H query heads,
// Hkv key/value heads, hd head dim.
#pragma once
#include <vector>

#include "core/layers.h"

namespace beyond {

// What one layer keeps between decoding calls.
// Attention layers: keys and values in preallocated buffers [B, Hkv, capacity, hd] that hold the
// positions start..len-1 (all of them, from 0, unless a window forgot some). Buffers are allocated on the first append and double
// when full, so decoding n tokens copies O(n) values, not O(n^2) as concatenation would.
// MLA layers use the same buffers for their latent ([B, 1, capacity, kv_lora_rank], in k) and
// their shared rope key ([B, 1, capacity, qk_rope_dim], in v).
// Causal local layers forget what no later query can see: a sliding window keeps the last
// window - 1 positions, chunked attention the positions of the current chunk. The kept positions
// start..len-1 are held from slot start - base; the forgotten front of the buffers is reused, so
// they stay near the bound + the longest call.
// Linear-attention layers keep a fixed-size `state` [B, Hv, dk, dv] and `conv_state`, the last
// kernel-1 inputs of the short convolution [B, channels, kernel-1]; len counts the tokens seen.
struct LayerCache {
  at::Tensor k, v;
  at::Tensor state, conv_state;
  int64_t len = 0;    // tokens seen: the absolute position of the next one
  int64_t start = 0;  // first position kept (0 unless a window forgot some)
  int64_t base = 0;   // position held in slot 0 of k and v
  int64_t capacity_hint = 0;
  int64_t length() const { return len; }
  // Bytes held for the kept positions and states (not the spare capacity of the buffers).
  int64_t bytes() const;
  // Appends keys/values [B, Hkv, T, hd]; returns the keys and values of positions start..len-1
  // (views, valid until the next append). bound > 0: the layer keeps at most `bound` positions
  // between calls, so its buffers hold bound + T and never double.
  std::pair<at::Tensor, at::Tensor> append(const at::Tensor& k_new, const at::Tensor& v_new, int64_t bound = 0);
  // Forgets the positions before `position`; their slots are reused by a later append.
  void forget_before(int64_t position) { start = std::max(start, std::min(position, len)); }
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
    for (auto& l : layers) {
      l.len = l.start = l.base = 0;  // keeps the buffers for the next sequence
      l.state = at::Tensor();
      l.conv_state = at::Tensor();
    }
  }
  int64_t bytes() const;
};

// Which keys a query may see. Query i sits at absolute position q_offset + i, key j at j.
// Causal: j <= pos(i). Window w > 0: |pos(i) - j| < w (only j <= pos(i) when causal). Chunk
// c > 0: pos(i) / c == j / c (Llama 4's chunked local attention; key 0 starts a chunk).
// Returns a bool mask [T, S] (true = attend), or an undefined tensor when every key is visible.
at::Tensor attention_mask(int64_t q_len, int64_t k_len, int64_t q_offset, bool causal, int64_t window,
                          const at::Device& device, int64_t chunk = 0);

// How queries attend to keys beyond the mask. Defaults give plain softmax attention.
struct AttendOptions {
  double scale = 0.0;    // 0: 1/sqrt(q.size(-1))
  double softcap = 0.0;  // > 0: logits -> softcap * tanh(logits / softcap), before the mask
  at::Tensor sinks;      // [H] learned logits: each head's softmax also runs over exp(sink), which takes mass
                         // and is then dropped (the outputs' weights sum to less than one)
  double dropout = 0.0;
  int64_t chunk = 0;     // > 0: each query sees only the keys of its own chunk (attention_mask)
};

// softmax(mask(q k^T * scale)) v with the options above; through SDPA when no softcap or sinks
// ask for the explicit form. q: [B, H, T, dqk], k: [B, Hkv, S, dqk], v: [B, Hkv, S, dv] with H a
// multiple of Hkv (each key head serves H/Hkv query heads); queries sit at positions
// past..past+T-1, keys at 0..S-1. Returns [B, H, T, dv].
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal, int64_t past,
                  int64_t window, const AttendOptions& options = {});

// Appends a layer's new keys and values to its cache and forgets what a causal local layer
// (window or chunk) no longer needs. Returns the keys and values to attend to and the absolute
// position of the first of them (a multiple of the chunk on chunked layers).
struct CachedKeys {
  at::Tensor k, v;
  int64_t first = 0;
};
CachedKeys append_to_cache(LayerCache& cache, const at::Tensor& k, const at::Tensor& v, bool causal, int64_t window,
                           int64_t chunk);

// Multi-head attention of layer `layer` of cfg: its window or chunk, RoPE dims and base, QK-norm (per head
// or over the whole projection), q/k/v/o biases, sigmoid output gate, sinks and soft-capping.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const TransformerConfig& cfg, int64_t layer);
  // x: [B, T, D]. With a cache, new keys/values are appended and the queries sit after them.
  at::Tensor forward(const at::Tensor& x, bool causal, LayerCache* cache = nullptr);

  int64_t n_heads, n_kv_heads, head_dim, rot_dims, window, chunk;
  double rope_theta, dropout, softcap;
  bool norm_whole_projection;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  torch::nn::Linear gate_proj{nullptr};  // attn_output_gate
  Norm q_norm{nullptr}, k_norm{nullptr};
  at::Tensor sinks;  // [H], attn_sinks
};
TORCH_MODULE(Attention);

}  // namespace beyond
