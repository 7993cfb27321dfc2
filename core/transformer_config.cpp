#include "core/transformer_config.h"

#include <algorithm>
#include <cmath>

#include "core/config.h"

namespace beyond {

TransformerConfig TransformerConfig::from_config(Config& c, const std::string& t, const TransformerConfig& defaults) {
  TransformerConfig m = defaults;
  const auto k = [&](const char* name) { return t + "." + name; };
  m.vocab_size = c.get_int(k("vocab_size"), m.vocab_size, 2, 1 << 24);
  m.max_seq_len = c.get_int(k("max_seq_len"), m.max_seq_len, 1, 1 << 20);
  m.d_model = c.get_int(k("d_model"), m.d_model, 1, 1 << 16);
  m.n_layers = c.get_int(k("n_layers"), m.n_layers, 0, 1024);
  m.n_heads = c.get_int(k("n_heads"), m.n_heads, 1, 1024);
  m.n_kv_heads = c.get_int(k("n_kv_heads"), m.n_kv_heads, 0, 1024);
  m.head_dim = c.get_int(k("head_dim"), m.head_dim, 0, 4096);
  m.mixer = c.get_choice(k("mixer"), m.mixer, {"attention", "mlp_t"});
  m.mlp = c.get_choice(k("mlp"), m.mlp, {"swiglu", "gelu", "none"});
  m.mlp_ratio = c.get_float(k("mlp_ratio"), m.mlp_ratio, 0.0, 64.0);
  m.norm = c.get_choice(k("norm"), m.norm, {"rmsnorm", "layernorm"});
  m.norm_scale = c.get_bool(k("norm_scale"), m.norm_scale);
  m.norm_eps = c.get_float(k("norm_eps"), m.norm_eps, 0.0, 1.0);
  m.norm_placement = c.get_choice(k("norm_placement"), m.norm_placement, {"pre", "post", "sandwich"});
  m.qk_norm = c.get_bool(k("qk_norm"), m.qk_norm);
  m.positional = c.get_choice(k("positional"), m.positional, {"rope", "partial_rope", "nope", "learned", "none"});
  m.rope_theta = c.get_float(k("rope_theta"), m.rope_theta, 1.0, 1e12);
  m.rope_fraction = c.get_float(k("rope_fraction"), m.rope_fraction, 0.0, 1.0);
  m.causal = c.get_bool(k("causal"), m.causal);
  m.sliding_window = c.get_int(k("sliding_window"), m.sliding_window, 0, 1 << 24);
  m.layer_pattern = c.get_string(k("layer_pattern"), m.layer_pattern);
  m.bias = c.get_bool(k("bias"), m.bias);
  m.dropout = c.get_float(k("dropout"), m.dropout, 0.0, 1.0);
  m.tie_embeddings = c.get_bool(k("tie_embeddings"), m.tie_embeddings);
  m.init = c.get_choice(k("init"), m.init, {"normal", "lecun"});
  m.init_std = c.get_float(k("init_std"), m.init_std, 0.0, 10.0);
  m.embedding_scale = c.get_bool(k("embedding_scale"), m.embedding_scale);
  try {
    m.validate();
  } catch (const InputError& e) {
    throw InputError(c.source() + ": [" + t + "] " + e.what());
  }
  return m;
}

TransformerConfig TransformerConfig::from_config(Config& c, const std::string& t) {
  return from_config(c, t, TransformerConfig());
}

void TransformerConfig::validate() const {
  if (head_dim == 0 && d_model % n_heads != 0)
    throw InputError("d_model " + std::to_string(d_model) + " is not divisible by n_heads " +
                     std::to_string(n_heads) + " (or set head_dim)");
  if (n_heads % kv_heads() != 0)
    throw InputError("n_heads " + std::to_string(n_heads) + " is not divisible by n_kv_heads " +
                     std::to_string(kv_heads()));
  if ((positional == "rope" || positional == "partial_rope") && dim_per_head() % 2 != 0)
    throw InputError("RoPE needs an even head dimension, got " + std::to_string(dim_per_head()));
  if (positional == "partial_rope" && rope_dims() == 0)
    throw InputError("rope_fraction " + std::to_string(rope_fraction) + " rotates no dimension");
  for (char ch : layer_pattern)
    if (ch != 'G' && ch != 'S')
      throw InputError("layer_pattern '" + layer_pattern + "' may only hold G (global) and S (sliding)");
  if (layer_pattern.find('S') != std::string::npos && sliding_window == 0)
    throw InputError("layer_pattern has sliding layers (S) but sliding_window is 0");
}

int64_t TransformerConfig::mlp_hidden() const {
  auto hidden = static_cast<int64_t>(std::llround(mlp_ratio * static_cast<double>(d_model)));
  if (mlp == "swiglu") hidden = (hidden + 7) / 8 * 8;
  return std::max<int64_t>(hidden, 1);
}

int64_t TransformerConfig::rope_dims() const {
  const int64_t hd = dim_per_head();
  if (positional == "rope") return hd;
  if (positional == "partial_rope") return static_cast<int64_t>(std::floor(rope_fraction * static_cast<double>(hd) / 2.0)) * 2;
  return 0;
}

int64_t TransformerConfig::window_for_layer(int64_t layer) const {
  if (sliding_window == 0) return 0;
  if (layer_pattern.empty()) return sliding_window;
  const char kind = layer_pattern[static_cast<size_t>(layer) % layer_pattern.size()];
  return kind == 'S' ? sliding_window : 0;
}

}  // namespace beyond
