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
  std::string mlp = "swiglu";       // swiglu | gelu | none
  double mlp_ratio = 4.0;           // hidden width = mlp_ratio * d_model (rounded to a multiple of 8 for swiglu)
  std::string norm = "rmsnorm";     // rmsnorm | layernorm
  bool norm_scale = true;           // learnable scale in the norms (TRM uses none)
  double norm_eps = 1e-5;
  std::string norm_placement = "pre";  // pre | post | sandwich
  bool qk_norm = false;                // RMSNorm of q and k per head
  std::string positional = "rope";     // rope | partial_rope | nope | learned | none
  double rope_theta = 10000.0;
  double rope_fraction = 1.0;          // partial_rope: share of head_dim that rotates
  bool causal = true;
  int64_t sliding_window = 0;          // 0: none; else a key is seen when |query - key| < window
  // Per-layer attention kind, repeated over the layers: G = global, S = sliding window
  // ("SSSSSG" is 5 local : 1 global). Empty: all S when sliding_window > 0, else all G.
  std::string layer_pattern;
  bool bias = false;                   // biases in linear layers and layernorm
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
  // Sliding window for a layer (0 for a global layer).
  int64_t window_for_layer(int64_t layer) const;
};

}  // namespace beyond
