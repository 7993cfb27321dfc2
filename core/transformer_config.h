// Every architectural knob of the shared transformer core, read from the [model] table.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beyond {

class Config;

struct TransformerConfig {
  int64_t vocab_size = 256;
  int64_t max_seq_len = 256;   // for learned positions, the RoPE table, and mlp_t's fixed length
  int64_t d_model = 128;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;      // 0: same as n_heads (MHA); 1: MQA; between: GQA
  int64_t head_dim = 0;        // 0: d_model / n_heads
  std::string mixer = "attention";  // attention | mlp_t (TRM's sequence-axis MLP; fixed length)
  std::string mlp = "swiglu";       // swiglu | geglu | clamped_swiglu (gpt-oss) | gelu | none
  double mlp_ratio = 4.0;           // hidden width = mlp_ratio * d_model (rounded to a multiple of 8 for swiglu)
  std::string norm = "rmsnorm";     // rmsnorm | layernorm
  bool norm_scale = true;           // learnable scale in the norms (TRM uses none)
  double norm_eps = 1e-5;
  bool norm_offset = false;            // RMSNorm scales by (1 + w) with w starting at 0 (Gemma 3, Qwen3-Next)
  std::string norm_placement = "pre";  // pre | post | sandwich | reordered (x + norm(f(x)), OLMo 2)
  bool qk_norm = false;                // RMSNorm of q and k (full attention layers)
  std::string qk_norm_scope = "head";  // head: per head, shared weight | projection: over all heads' q (or k) at once (OLMo 2, MiniMax-M2)
  std::string positional = "rope";     // rope | partial_rope | nope | learned | none
  double rope_theta = 10000.0;
  double rope_theta_local = 0.0;       // RoPE base of local (S, C) layers; 0: rope_theta (Gemma 3: 1e4 local, 1e6 global)
  double rope_fraction = 1.0;          // partial_rope: share of head_dim that rotates
  bool causal = true;
  int64_t sliding_window = 0;          // 0: none; else a key is seen when |query - key| < window
  int64_t attention_chunk = 0;         // C layers: a key is seen when query / chunk == key / chunk (Llama 4: 8192)
  // Per-layer token mixer, the pattern repeated over the layers:
  //   G (or F) full attention, S sliding-window attention, C chunked local attention, N full
  //   attention without positions (NoPE), L linear attention (linear_mixer: gated DeltaNet or
  //   Kimi delta attention).
  // "SSSSSG" is 5 local : 1 global (Gemma 3), "CCCN" 3 chunked RoPE : 1 NoPE (Llama 4), "LLLF"
  // 3 linear : 1 full (Qwen3-Next), "GGGN" NoPE every 4th layer (SmolLM3). Empty: all S when
  // sliding_window > 0, else all G.
  std::string layer_pattern;
  bool bias = false;                   // biases in linear layers and layernorm

  // Attention layers (G, F, S, N).
  std::string attention = "mha";       // mha (MHA, GQA, MQA by n_kv_heads) | mla (DeepSeek's latent attention)
  bool qkv_bias = false;               // biases on the q, k, v projections (Qwen2, GLM-4.5, gpt-oss); `bias` turns them on too
  bool o_bias = false;                 // bias on the output projection (gpt-oss); `bias` turns it on too
  bool attn_output_gate = false;       // o * sigmoid(W_g x), per element, before o_proj (Qwen3-Next)
  bool attn_sinks = false;             // a learned logit per head that joins every softmax and takes mass from it (gpt-oss)
  double attn_softcap = 0.0;           // 0: none; else attention logits -> c tanh(logits / c) (Gemma 2, Grok)
  // Multi-head latent attention: keys and values come from a cached latent of kv_lora_rank
  // channels; a rope part of qk_rope_dim channels per head is decoupled (its key is shared by
  // all heads and cached beside the latent); qk_rope_dim = 0 is MLA without positions (Kimi Linear).
  int64_t mla_q_lora_rank = 0;         // 0: queries projected directly from x
  int64_t mla_kv_lora_rank = 64;
  int64_t mla_qk_nope_dim = 0;         // 0: head_dim
  int64_t mla_qk_rope_dim = 16;
  int64_t mla_v_dim = 0;               // 0: head_dim

  // Linear-attention layers (L): the delta rule with a decaying fixed-size state per head.
  std::string linear_mixer = "gated_deltanet";  // gated_deltanet (scalar decay per head) | kda (per-channel decay, Kimi)
  int64_t linear_heads = 0;            // value heads; 0: n_heads
  int64_t linear_k_heads = 0;          // query/key heads; 0: linear_heads (fewer: each serves a group of value heads)
  int64_t linear_head_dim = 0;         // key dim per head; 0: head_dim
  int64_t linear_v_head_dim = 0;       // value dim per head; 0: linear_head_dim
  int64_t linear_conv = 4;             // short causal depthwise conv kernel on q, k, v; 0: none
  int64_t linear_chunk = 64;           // chunk length of the chunkwise-parallel form
  std::string linear_form = "chunked"; // chunked | recurrent: the form used in training and prefill

  // Mixture of experts in place of the channel MLP.
  int64_t moe_experts = 0;             // routed experts; 0: every layer dense
  int64_t moe_top_k = 2;
  int64_t moe_shared_experts = 0;      // always-on experts added to the routed output
  double moe_expert_ratio = 0.0;       // expert hidden width = ratio * d_model; 0: mlp_ratio
  std::string moe_router = "softmax";  // softmax: top-k of softmax, renormalised | sigmoid_bias: sigmoid scores, top-k chosen by score + bias, no auxiliary loss (DeepSeek V3)
  bool moe_renormalize = true;         // top-k weights divided by their sum (Llama 4 keeps the raw sigmoid scores)
  bool moe_router_bias = false;        // a learned bias on the router's logits (gpt-oss)
  bool moe_shared_gate = false;        // shared experts' output scaled by sigmoid(w . x), one gate per token (Qwen3-Next)
  double moe_routed_scale = 1.0;       // routed output multiplied by this (DeepSeek V3: 2.5)
  double moe_bias_rate = 1e-3;         // sigmoid_bias: bias step towards balance after every training step
  int64_t moe_dense_layers = 0;        // the first layers stay dense (DeepSeek V3: 3)
  int64_t moe_every = 1;               // MoE on every k-th layer after those (Llama 4 Maverick: 2)

  double logit_softcap = 0.0;          // 0: none; else final logits -> c tanh(logits / c) (Gemma 2, Grok)
  // Multi-token prediction: one extra module (DeepSeek V3) that predicts token t+2 from the
  // final hidden state at t and the embedding of token t+1; its loss is weighted by mtp_weight.
  int64_t mtp_depth = 0;               // 0 or 1
  double mtp_weight = 0.3;
  double dropout = 0.0;
  bool tie_embeddings = true;
  std::string init = "normal";         // normal (std init_std, GPT-2 residual scaling) | lecun (truncated normal)
  double init_std = 0.02;
  bool embedding_scale = false;        // multiply token embeddings by sqrt(d_model) (TRM, Gemma)

  // Reads [model] (or another table) from a config, starting from `defaults` (a task sets its
  // vocabulary and length there); throws InputError on bad values.
  static TransformerConfig from_config(Config& config, const std::string& table, const TransformerConfig& defaults);
  static TransformerConfig from_config(Config& config, const std::string& table = "model");
  // Checks that the knobs fit together (heads divide d_model, ...); throws InputError.
  void validate() const;

  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int64_t dim_per_head() const { return head_dim > 0 ? head_dim : d_model / n_heads; }
  int64_t mlp_hidden() const;
  int64_t rope_dims() const;  // rotating dims per head (even); 0 when there is no RoPE
  // The layer's letter in layer_pattern (G, S, N or L; F reads as G).
  char layer_kind(int64_t layer) const;
  bool is_linear_layer(int64_t layer) const { return layer_kind(layer) == 'L'; }
  bool has_linear_layers() const;
  // Sliding window for a layer (0 for a global layer).
  int64_t window_for_layer(int64_t layer) const;
  int64_t chunk_for_layer(int64_t layer) const;  // attention_chunk on C layers, else 0
  int64_t rope_dims_for_layer(int64_t layer) const;  // 0 on N (NoPE) and L layers
  double rope_theta_for_layer(int64_t layer) const;
  bool is_moe_layer(int64_t layer) const;
  int64_t moe_hidden() const;  // one expert's hidden width
  // Linear-attention geometry with the defaults resolved.
  int64_t linear_v_heads() const { return linear_heads > 0 ? linear_heads : n_heads; }
  int64_t linear_qk_heads() const { return linear_k_heads > 0 ? linear_k_heads : linear_v_heads(); }
  int64_t linear_k_dim() const { return linear_head_dim > 0 ? linear_head_dim : dim_per_head(); }
  int64_t linear_v_dim() const { return linear_v_head_dim > 0 ? linear_v_head_dim : linear_k_dim(); }
  // MLA geometry with the defaults resolved.
  int64_t mla_nope_dim() const { return mla_qk_nope_dim > 0 ? mla_qk_nope_dim : dim_per_head(); }
  int64_t mla_value_dim() const { return mla_v_dim > 0 ? mla_v_dim : dim_per_head(); }
};

}  // namespace beyond
