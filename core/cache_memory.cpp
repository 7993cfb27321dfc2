#include "core/cache_memory.h"

#include <algorithm>

#include "core/errors.h"

namespace beyond {

int64_t LayerMemory::bytes(int64_t context) const {
  const int64_t tokens = window > 0 ? std::min(context, window) : context;
  return bytes_per_token * tokens + state_bytes + conv_bytes;
}

std::vector<LayerMemory> cache_memory(const TransformerConfig& cfg, int64_t element_bytes, int64_t state_element_bytes) {
  std::vector<LayerMemory> layers;
  for (int64_t i = 0; i < cfg.n_layers; ++i) {
    LayerMemory m;
    m.kind = cfg.layer_kind(i);
    if (m.kind == 'L') {
      // State [Hv, dk, dv]; the conv keeps kernel-1 inputs of the q, k and v channels.
      const int64_t k_channels = cfg.linear_qk_heads() * cfg.linear_k_dim();
      const int64_t v_channels = cfg.linear_v_heads() * cfg.linear_v_dim();
      m.state_bytes = cfg.linear_v_heads() * cfg.linear_k_dim() * cfg.linear_v_dim() * state_element_bytes;
      m.conv_bytes = cfg.linear_conv > 0 ? (cfg.linear_conv - 1) * (2 * k_channels + v_channels) * element_bytes : 0;
    } else if (cfg.attention == "mla") {
      m.kind = 'M';
      // Layers without positions (N, or positional = nope) keep no rope key.
      const int64_t rope = cfg.rope_dims_for_layer(i) > 0 ? cfg.mla_qk_rope_dim : 0;
      m.bytes_per_token = (cfg.mla_kv_lora_rank + rope) * element_bytes;
      m.window = cfg.window_for_layer(i) > 0 ? cfg.window_for_layer(i) : cfg.chunk_for_layer(i);
    } else {
      m.bytes_per_token = 2 * cfg.kv_heads() * cfg.dim_per_head() * element_bytes;  // K and V
      m.window = cfg.window_for_layer(i) > 0 ? cfg.window_for_layer(i) : cfg.chunk_for_layer(i);
    }
    layers.push_back(m);
  }
  return layers;
}

int64_t total_cache_bytes(const std::vector<LayerMemory>& layers, int64_t context) {
  int64_t total = 0;
  for (const auto& l : layers) total += l.bytes(context);
  return total;
}

int64_t dtype_bytes(const std::string& name) {
  if (name == "fp32" || name == "float32") return 4;
  if (name == "bf16" || name == "bfloat16" || name == "fp16" || name == "float16") return 2;
  if (name == "fp8") return 1;
  throw InputError("unknown dtype '" + name + "' (expected fp32, bf16, fp16 or fp8)");
}

}  // namespace beyond
