// Autoregressive generation with the KV cache: batched prompts of any lengths, samplers, stop
// strings, EOS, and a callback per produced token for streaming.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autoregressive/sampling.h"
#include "core/model.h"
#include "core/tokenizer.h"

namespace beyond {

struct GenerateOptions {
  int64_t max_new_tokens = 200;
  SamplingOptions sampling;
  std::vector<std::string> stop;  // a row ends once its output ends with one of these
  uint64_t seed = 0;
  bool use_cache = true;          // false: recompute the whole context every step (for benchmarks)
};

struct Generation {
  std::vector<std::vector<int64_t>> tokens;  // new tokens per prompt (stop string included, EOS not)
  std::vector<std::string> texts;            // their decoded text (empty without a tokenizer)
  int64_t forward_passes = 0;
  int64_t tokens_generated = 0;
};

// Prompts of different lengths share positions: every row is prefilled to the shortest prompt,
// then rows still inside their prompt are fed their own next prompt token while the others are
// fed their last sample, so no padding or masking is needed. Contexts longer than the model's
// max_seq_len are cut to the last half of the window and re-encoded (then decoding continues).
// on_token(row, id) is called for each produced token in order.
Generation generate(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                    const GenerateOptions& options, const Tokenizer* tokenizer = nullptr,
                    const std::function<void(int64_t, int64_t)>& on_token = nullptr);

}  // namespace beyond
