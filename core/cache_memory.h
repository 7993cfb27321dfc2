// What a model keeps per sequence while decoding, worked out from its config alone: keys and
// values of attention layers grow with the context (capped at the window on sliding layers), MLA
// caches one latent and one rope key per token, linear-attention layers hold a fixed-size state.
// `beyond kv-memory` prints these; tests check them against the bytes a real cache allocates.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/transformer_config.h"

namespace beyond {

struct LayerMemory {
  char kind = 'G';                // the layer's letter: G, S, C, N (attention), M (MLA), L (linear)
  int64_t bytes_per_token = 0;    // grows with every cached token
  int64_t window = 0;             // > 0: at most this many tokens are kept (sliding and chunked layers)
  int64_t state_bytes = 0;        // fixed: the delta-rule state
  int64_t conv_bytes = 0;         // fixed: the short convolution's last kernel-1 inputs
  int64_t bytes(int64_t context) const;  // one sequence at this context length
};

// Per layer, for one sequence; `element_bytes` for keys/values/latents, `state_element_bytes`
// for the linear layers' states (Qwen3-Next keeps them in fp32 beside a bf16 cache).
std::vector<LayerMemory> cache_memory(const TransformerConfig& cfg, int64_t element_bytes, int64_t state_element_bytes);

int64_t total_cache_bytes(const std::vector<LayerMemory>& layers, int64_t context);

// Bytes per element of a dtype name: fp32/float32 4, bf16/fp16/float16/bfloat16 2, fp8 1.
// Throws InputError on other names.
int64_t dtype_bytes(const std::string& name);

}  // namespace beyond
