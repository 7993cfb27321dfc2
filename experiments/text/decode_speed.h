// Single-sequence decoding speed and cache memory of a causal LanguageModel at a given context:
// the cache is filled by prefilling `context` tokens, then `new_tokens` single-token forward
// passes through the cache are timed (greedy: each step feeds the argmax of the last logits).
// Every repeat starts again from a copy of the prefilled cache, so all repeats see the same
// context; the reported time is the median repeat. Runs at the caller's thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "core/model.h"

namespace beyond {

struct DecodeSpeedOptions {
  int64_t prefill_chunk = 512;  // tokens per prefill call (bounds the [chunk, context] attention scores)
  uint64_t seed = 1;            // the random prompt's tokens
};

struct DecodeSpeed {
  int64_t context = 0, new_tokens = 0;
  double tokens_per_second = 0.0;  // new_tokens / median repeat time
  double ms_per_token = 0.0;
  double prefill_seconds = 0.0;    // the one prefill of `context` tokens
  int64_t cache_bytes = 0;         // KVCache::bytes() after the prefill (filled positions and states)
  int64_t formula_bytes = 0;       // core/cache_memory.h's total at `context` (sliding layers capped at their window)
  std::vector<double> repeat_ms;   // ms per token of each repeat
};

// `prompt`: the context's tokens (at least `context` of them are used; empty: uniform random
// tokens from options.seed). Throws InputError when context + new_tokens exceeds the model's
// max_seq_len, or for a bidirectional model (no cache to decode with).
DecodeSpeed measure_decoding(LanguageModel& model, int64_t context, int64_t new_tokens, int repeats,
                             const std::vector<int64_t>& prompt = {}, const DecodeSpeedOptions& options = {});

// The pieces of measure_decoding, for callers that interleave the timing of several models and
// contexts (so that a slow spell of a shared machine hits them all alike).
struct PrefilledContext {
  KVCache cache;      // after the prefill; every timing decodes from a copy of it
  int64_t first = 0;  // the greedy token after the context
  DecodeSpeed speed;  // context, new_tokens, prefill_seconds, cache_bytes, formula_bytes so far
};
// Checks as measure_decoding does, prefills and runs a short warm-up from a copy of the cache.
PrefilledContext prefill_context(LanguageModel& model, int64_t context, int64_t new_tokens,
                                 const std::vector<int64_t>& prompt = {}, const DecodeSpeedOptions& options = {});
// One repeat: milliseconds per token of p.speed.new_tokens greedy steps from a copy of p.cache;
// also appended to p.speed.repeat_ms.
double time_decoding_repeat(LanguageModel& model, PrefilledContext& p);
// ms_per_token (the median repeat) and tokens_per_second from d.repeat_ms.
void summarise_repeats(DecodeSpeed& d);

// A deep copy of a cache (buffers with their spare capacity, states), so decoding from the copy
// leaves the original as it was.
KVCache copy_cache(const KVCache& cache);

}  // namespace beyond
