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
  m.mlp = c.get_choice(k("mlp"), m.mlp, {"swiglu", "geglu", "clamped_swiglu", "gelu", "none"});
  m.mlp_ratio = c.get_float(k("mlp_ratio"), m.mlp_ratio, 0.0, 64.0);
  m.norm = c.get_choice(k("norm"), m.norm, {"rmsnorm", "layernorm"});
  m.norm_scale = c.get_bool(k("norm_scale"), m.norm_scale);
  m.norm_eps = c.get_float(k("norm_eps"), m.norm_eps, 0.0, 1.0);
  m.norm_offset = c.get_bool(k("norm_offset"), m.norm_offset);
  m.norm_placement = c.get_choice(k("norm_placement"), m.norm_placement, {"pre", "post", "sandwich", "reordered"});
  m.qk_norm = c.get_bool(k("qk_norm"), m.qk_norm);
  m.qk_norm_scope = c.get_choice(k("qk_norm_scope"), m.qk_norm_scope, {"head", "projection"});
  m.positional = c.get_choice(k("positional"), m.positional, {"rope", "partial_rope", "nope", "learned", "none"});
  m.rope_theta = c.get_float(k("rope_theta"), m.rope_theta, 1.0, 1e12);
  m.rope_theta_local = c.get_float(k("rope_theta_local"), m.rope_theta_local, 0.0, 1e12);
  m.rope_fraction = c.get_float(k("rope_fraction"), m.rope_fraction, 0.0, 1.0);
  m.causal = c.get_bool(k("causal"), m.causal);
  m.sliding_window = c.get_int(k("sliding_window"), m.sliding_window, 0, 1 << 24);
  m.attention_chunk = c.get_int(k("attention_chunk"), m.attention_chunk, 0, 1 << 24);
  m.layer_pattern = c.get_string(k("layer_pattern"), m.layer_pattern);
  m.bias = c.get_bool(k("bias"), m.bias);
  m.attention = c.get_choice(k("attention"), m.attention, {"mha", "mla"});
  m.qkv_bias = c.get_bool(k("qkv_bias"), m.qkv_bias);
  m.o_bias = c.get_bool(k("o_bias"), m.o_bias);
  m.attn_output_gate = c.get_bool(k("attn_output_gate"), m.attn_output_gate);
  m.attn_sinks = c.get_bool(k("attn_sinks"), m.attn_sinks);
  m.attn_softcap = c.get_float(k("attn_softcap"), m.attn_softcap, 0.0, 1e6);
  m.mla_q_lora_rank = c.get_int(k("mla_q_lora_rank"), m.mla_q_lora_rank, 0, 1 << 16);
  m.mla_kv_lora_rank = c.get_int(k("mla_kv_lora_rank"), m.mla_kv_lora_rank, 1, 1 << 16);
  m.mla_qk_nope_dim = c.get_int(k("mla_qk_nope_dim"), m.mla_qk_nope_dim, 0, 4096);
  m.mla_qk_rope_dim = c.get_int(k("mla_qk_rope_dim"), m.mla_qk_rope_dim, 0, 4096);
  m.mla_v_dim = c.get_int(k("mla_v_dim"), m.mla_v_dim, 0, 4096);
  m.linear_mixer = c.get_choice(k("linear_mixer"), m.linear_mixer, {"gated_deltanet", "kda"});
  m.linear_heads = c.get_int(k("linear_heads"), m.linear_heads, 0, 1024);
  m.linear_k_heads = c.get_int(k("linear_k_heads"), m.linear_k_heads, 0, 1024);
  m.linear_head_dim = c.get_int(k("linear_head_dim"), m.linear_head_dim, 0, 4096);
  m.linear_v_head_dim = c.get_int(k("linear_v_head_dim"), m.linear_v_head_dim, 0, 4096);
  m.linear_conv = c.get_int(k("linear_conv"), m.linear_conv, 0, 64);
  m.linear_chunk = c.get_int(k("linear_chunk"), m.linear_chunk, 1, 4096);
  m.linear_form = c.get_choice(k("linear_form"), m.linear_form, {"chunked", "recurrent"});
  m.moe_experts = c.get_int(k("moe_experts"), m.moe_experts, 0, 4096);
  m.moe_top_k = c.get_int(k("moe_top_k"), m.moe_top_k, 1, 4096);
  m.moe_shared_experts = c.get_int(k("moe_shared_experts"), m.moe_shared_experts, 0, 64);
  m.moe_expert_ratio = c.get_float(k("moe_expert_ratio"), m.moe_expert_ratio, 0.0, 64.0);
  m.moe_router = c.get_choice(k("moe_router"), m.moe_router, {"softmax", "sigmoid_bias"});
  m.moe_renormalize = c.get_bool(k("moe_renormalize"), m.moe_renormalize);
  m.moe_router_bias = c.get_bool(k("moe_router_bias"), m.moe_router_bias);
  m.moe_shared_gate = c.get_bool(k("moe_shared_gate"), m.moe_shared_gate);
  m.moe_routed_scale = c.get_float(k("moe_routed_scale"), m.moe_routed_scale, 0.0, 1e3);
  m.moe_bias_rate = c.get_float(k("moe_bias_rate"), m.moe_bias_rate, 0.0, 1.0);
  m.moe_dense_layers = c.get_int(k("moe_dense_layers"), m.moe_dense_layers, 0, 1024);
  m.moe_every = c.get_int(k("moe_every"), m.moe_every, 1, 1024);
  m.logit_softcap = c.get_float(k("logit_softcap"), m.logit_softcap, 0.0, 1e6);
  m.mtp_depth = c.get_int(k("mtp_depth"), m.mtp_depth, 0, 1);
  m.mtp_weight = c.get_float(k("mtp_weight"), m.mtp_weight, 0.0, 10.0);
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
    if (std::string("GFSCNL").find(ch) == std::string::npos)
      throw InputError("layer_pattern '" + layer_pattern + "' may only hold G or F (full attention), S (sliding), "
                       "C (chunked local), N (full attention without positions) and L (linear attention)");
  if (layer_pattern.find('S') != std::string::npos && sliding_window == 0)
    throw InputError("layer_pattern has sliding layers (S) but sliding_window is 0");
  if (layer_pattern.find('C') != std::string::npos && attention_chunk == 0)
    throw InputError("layer_pattern has chunked local layers (C) but attention_chunk is 0");
  if (has_linear_layers()) {
    if (!causal) throw InputError("linear-attention layers (L) are causal; set causal = true or drop L from layer_pattern");
    if (mixer != "attention") throw InputError("layer_pattern with L layers needs mixer = \"attention\"");
    if (linear_v_heads() % linear_qk_heads() != 0)
      throw InputError("linear_heads " + std::to_string(linear_v_heads()) + " is not divisible by linear_k_heads " +
                       std::to_string(linear_qk_heads()));
  }
  if (attention == "mla" && mla_qk_rope_dim % 2 != 0)
    throw InputError("mla_qk_rope_dim must be even, got " + std::to_string(mla_qk_rope_dim));
  if (attention == "mla" && (attn_sinks || attn_output_gate || qk_norm))
    throw InputError("attention = \"mla\" does not take attn_sinks, attn_output_gate or qk_norm");
  if (moe_experts > 0 && moe_top_k > moe_experts)
    throw InputError("moe_top_k " + std::to_string(moe_top_k) + " exceeds moe_experts " + std::to_string(moe_experts));
  if (moe_experts > 0 && mlp == "none") throw InputError("moe_experts needs an mlp kind for its experts, not \"none\"");
  if (moe_shared_gate && moe_shared_experts == 0)
    throw InputError("moe_shared_gate gates the shared experts, but moe_shared_experts is 0");
  if (norm_offset && norm != "rmsnorm") throw InputError("norm_offset applies to norm = \"rmsnorm\" only");
  if (mtp_depth > 0 && mixer != "attention") throw InputError("mtp_depth needs mixer = \"attention\"");
}

int64_t TransformerConfig::mlp_hidden() const {
  auto hidden = static_cast<int64_t>(std::llround(mlp_ratio * static_cast<double>(d_model)));
  if (mlp != "gelu") hidden = (hidden + 7) / 8 * 8;
  return std::max<int64_t>(hidden, 1);
}

int64_t TransformerConfig::rope_dims() const {
  const int64_t hd = dim_per_head();
  if (positional == "rope") return hd;
  if (positional == "partial_rope") return static_cast<int64_t>(std::floor(rope_fraction * static_cast<double>(hd) / 2.0)) * 2;
  return 0;
}

char TransformerConfig::layer_kind(int64_t layer) const {
  if (layer_pattern.empty()) return sliding_window > 0 ? 'S' : 'G';
  const char kind = layer_pattern[static_cast<size_t>(layer) % layer_pattern.size()];
  return kind == 'F' ? 'G' : kind;
}

bool TransformerConfig::has_linear_layers() const {
  return layer_pattern.find('L') != std::string::npos && n_layers > 0;
}

int64_t TransformerConfig::window_for_layer(int64_t layer) const {
  return layer_kind(layer) == 'S' ? sliding_window : 0;
}

int64_t TransformerConfig::chunk_for_layer(int64_t layer) const {
  return layer_kind(layer) == 'C' ? attention_chunk : 0;
}

int64_t TransformerConfig::rope_dims_for_layer(int64_t layer) const {
  const char kind = layer_kind(layer);
  return kind == 'N' || kind == 'L' ? 0 : rope_dims();
}

double TransformerConfig::rope_theta_for_layer(int64_t layer) const {
  const char kind = layer_kind(layer);
  return (kind == 'S' || kind == 'C') && rope_theta_local > 0 ? rope_theta_local : rope_theta;
}

bool TransformerConfig::is_moe_layer(int64_t layer) const {
  if (moe_experts == 0 || layer < moe_dense_layers) return false;
  return (layer - moe_dense_layers) % moe_every == moe_every - 1;
}

int64_t TransformerConfig::moe_hidden() const {
  const double ratio = moe_expert_ratio > 0 ? moe_expert_ratio : mlp_ratio;
  auto hidden = static_cast<int64_t>(std::llround(ratio * static_cast<double>(d_model)));
  if (mlp != "gelu") hidden = (hidden + 7) / 8 * 8;
  return std::max<int64_t>(hidden, 1);
}

}  // namespace beyond
