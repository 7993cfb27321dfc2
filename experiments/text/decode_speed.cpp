#include "experiments/text/decode_speed.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/cache_memory.h"
#include "core/errors.h"

namespace beyond {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Waits for queued GPU work so that wall time covers it.
void synchronize(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

std::vector<int64_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = pick(rng);
  return out;
}

int64_t greedy_next(const at::Tensor& logits) { return logits[0][-1].argmax().item<int64_t>(); }

// Feeds the context through the cache in chunks; returns the first token to decode.
int64_t prefill(LanguageModel& model, const std::vector<int64_t>& tokens, int64_t chunk, KVCache& cache,
                const at::Device& device) {
  const auto all = at::tensor(tokens, at::kLong).view({1, -1}).to(device);
  at::Tensor logits;
  for (int64_t start = 0; start < all.size(1); start += chunk)
    logits = model->forward(all.narrow(1, start, std::min(chunk, all.size(1) - start)), &cache);
  return greedy_next(logits);
}

// Seconds for `n` single-token steps from `first`, on a copy of the prefilled cache.
double time_steps(LanguageModel& model, const KVCache& prefilled, int64_t first, int64_t n, const at::Device& device) {
  KVCache cache = copy_cache(prefilled);
  auto token = at::full({1, 1}, first, at::TensorOptions().dtype(at::kLong).device(device));
  synchronize(device);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) token.fill_(greedy_next(model->forward(token, &cache)));
  synchronize(device);
  return seconds_since(t0);
}

}  // namespace

KVCache copy_cache(const KVCache& cache) {
  KVCache out = cache;  // the positions and hints; the tensors still shared
  const auto own = [](at::Tensor& t) {
    if (t.defined()) t = t.clone();
  };
  for (auto& l : out.layers) {
    own(l.k);
    own(l.v);
    own(l.state);
    own(l.conv_state);
  }
  return out;
}

PrefilledContext prefill_context(LanguageModel& model, int64_t context, int64_t new_tokens,
                                 const std::vector<int64_t>& prompt, const DecodeSpeedOptions& options) {
  const TransformerConfig& cfg = model->cfg;
  if (!cfg.causal) throw InputError("decoding speed needs a causal model (this one is bidirectional)");
  if (context < 1 || new_tokens < 1) throw InputError("decoding speed: context and new tokens must be at least 1");
  if (context + new_tokens > cfg.max_seq_len)
    throw InputError("decoding speed: context " + std::to_string(context) + " + " + std::to_string(new_tokens) +
                     " new tokens exceed the model's max_seq_len " + std::to_string(cfg.max_seq_len));
  if (!prompt.empty() && static_cast<int64_t>(prompt.size()) < context)
    throw InputError("decoding speed: the prompt has " + std::to_string(prompt.size()) + " tokens, fewer than the context " +
                     std::to_string(context));
  c10::InferenceMode guard;
  const at::Device device = model->embed_tokens->weight.device();
  const int64_t element_bytes = model->embed_tokens->weight.element_size();
  const auto tokens = prompt.empty() ? random_tokens(context, cfg.vocab_size, options.seed)
                                     : std::vector<int64_t>(prompt.begin(), prompt.begin() + context);

  // Room for the new tokens from the start: no buffer doubling (a copy of the whole cache) inside the timing.
  PrefilledContext p{model->make_cache(context + new_tokens), 0, {}};
  p.speed.context = context;
  p.speed.new_tokens = new_tokens;
  const auto t0 = Clock::now();
  p.first = prefill(model, tokens, std::max<int64_t>(1, options.prefill_chunk), p.cache, device);
  synchronize(device);
  p.speed.prefill_seconds = seconds_since(t0);
  p.speed.cache_bytes = p.cache.bytes();
  p.speed.formula_bytes = total_cache_bytes(cache_memory(cfg, element_bytes, element_bytes), context);
  time_steps(model, p.cache, p.first, std::min<int64_t>(8, new_tokens), device);  // warm-up: first-call allocations
  return p;
}

double time_decoding_repeat(LanguageModel& model, PrefilledContext& p) {
  c10::InferenceMode guard;
  const at::Device device = model->embed_tokens->weight.device();
  const double ms = 1e3 * time_steps(model, p.cache, p.first, p.speed.new_tokens, device) /
                    static_cast<double>(p.speed.new_tokens);
  p.speed.repeat_ms.push_back(ms);
  return ms;
}

void summarise_repeats(DecodeSpeed& d) {
  auto sorted = d.repeat_ms;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  d.ms_per_token = n == 0 ? 0.0 : n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  d.tokens_per_second = n == 0 ? 0.0 : 1e3 / std::max(d.ms_per_token, 1e-12);
}

DecodeSpeed measure_decoding(LanguageModel& model, int64_t context, int64_t new_tokens, int repeats,
                             const std::vector<int64_t>& prompt, const DecodeSpeedOptions& options) {
  if (repeats < 1) throw InputError("decoding speed: repeats must be at least 1");
  auto p = prefill_context(model, context, new_tokens, prompt, options);
  for (int i = 0; i < repeats; ++i) time_decoding_repeat(model, p);
  summarise_repeats(p.speed);
  return p.speed;
}

}  // namespace beyond
