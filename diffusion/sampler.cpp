#include "diffusion/sampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/config.h"
#include "core/errors.h"
#include "diffusion/masking.h"

// Conventions shared by the samplers:
// - Work happens on the tokens' device; random numbers are drawn on the CPU from one generator
//   seeded with options.seed and then moved, so a seed gives the same draws on every device.
// - Predictions and scores are float64 (LLaDA: low-precision Gumbel noise changes the samples).
// - A block is a slice [bs, be) of the region; only its masked positions can commit, which is
//   the same as giving every other position a score of -inf.
// - Every step is reported, also one that commits nothing. Such a step does no forward when its
//   tokens are those of the last forward: an llada step whose schedule is 0 for every row (the
//   block was pre-filled), an mdlm step after one that committed nothing (DiffusionStep.forward).
// - mdlm ignores block_length and prefix_cache; its final argmax fill is a step of its own.

namespace beyond {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Everything one call of diffusion_generate shares.
struct Run {
  Denoiser& denoiser;
  const DiffusionSamplerOptions& o;
  int64_t mask_id;
  const std::function<void(const DiffusionStep&)>& on_step;
  at::Generator gen;
  at::Tensor x;  // [B, T], filled in place
  DiffusionResult result;

  at::Tensor uniform(at::IntArrayRef sizes) {
    return at::rand(sizes, gen, at::TensorOptions().dtype(at::kDouble)).to(x.device());
  }
};

std::string choices_text(const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : " | ") + c;
  return list;
}

void check_choice(const char* option, const std::string& value, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return;
  const auto hint = closest_spelling(value, choices);
  throw InputError(std::string("diffusion sampler: ") + option + " '" + value + "' is not one of " +
                   choices_text(choices) + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

// The SUBS parameterisation on logits [B, n, V]: float64 with MASK at -inf, so MASK is never
// predicted. A copy: the denoiser may hand back a tensor it still holds.
at::Tensor subs_logits(const at::Tensor& logits, int64_t mask_id) {
  TORCH_CHECK(mask_id < logits.size(-1), "mask id ", mask_id, " is outside the vocabulary of ", logits.size(-1));
  auto l = logits.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true);
  l.select(-1, mask_id).fill_(kNegInf);
  // A row with no finite logit besides MASK would "predict" MASK and never finish.
  TORCH_CHECK(at::isfinite(l.amax(-1)).all().item<bool>(),
              "diffusion sampler: every position needs a finite maximum logit besides MASK (no NaN or +inf)");
  return l;
}

// x0 = argmax(logits / temperature + Gumbel); temperature 0 is the plain argmax. Gumbel-max
// draws x0 ~ softmax(logits / temperature) exactly.
at::Tensor predict(Run& r, const at::Tensor& logits, double temperature) {
  if (temperature == 0.0) return logits.argmax(-1);
  // u = 0 would give an infinite Gumbel draw; the clamp changes nothing else in float64.
  const auto u = r.uniform(logits.sizes()).clamp_min_(std::numeric_limits<double>::min());
  return (logits / temperature - at::log(-at::log(u))).argmax(-1);
}

// Scores [B, n] of the predictions x0 [B, n] of positions first .. first + n - 1: higher commits first.
at::Tensor score(Run& r, const at::Tensor& logits, const at::Tensor& x0, const std::string& order, int64_t first) {
  const int64_t B = x0.size(0), n = x0.size(1);
  if (order == "random") return r.uniform({B, n});
  if (order == "left-to-right") {
    return -at::arange(first, first + n, logits.options()).unsqueeze(0).expand({B, n});
  }
  const auto log_p = at::log_softmax(logits, -1);
  const auto p = log_p.exp();
  if (order == "low-confidence") return p.gather(-1, x0.unsqueeze(-1)).squeeze(-1);
  if (order == "margin") {
    const auto top2 = std::get<0>(p.topk(2, -1));
    return top2.select(-1, 0) - top2.select(-1, 1);
  }
  TORCH_CHECK(order == "entropy", "unknown remasking order '", order, "'");
  // MASK has p = 0 and log p = -inf; its term is 0, not NaN.
  return at::where(p > 0, p * log_p, at::zeros_like(p)).sum(-1);
}

// Per row, the k [B] highest scores [B, n]; ties go to the lower position (stable sort).
at::Tensor top_k_mask(const at::Tensor& scores, const at::Tensor& k) {
  const auto order = std::get<1>(at::sort(scores, /*stable=*/std::optional<bool>(true), /*dim=*/-1, /*descending=*/true));
  const auto ranks = at::arange(scores.size(1), k.options()).unsqueeze(0);
  const auto keep_sorted = ranks < k.unsqueeze(1);
  return at::zeros_like(keep_sorted).scatter_(1, order, keep_sorted);
}

// Logits of positions [bs, be) out of a denoiser's answer `out` that starts at position `from`,
// SUBS applied, on the tokens' device.
at::Tensor slice_logits(Run& r, const at::Tensor& out, int64_t from, int64_t bs, int64_t be) {
  TORCH_CHECK(out.dim() == 3 && out.size(0) == r.x.size(0) && out.size(1) == r.x.size(1) - from,
              "denoiser returned logits of shape ", out.sizes(), " for tokens ", r.x.sizes(), " from position ", from);
  return subs_logits(out.narrow(1, bs - from, be - bs).to(r.x.device()), r.mask_id);
}

// Logits of block [bs, be). With the prefix cache, the block's first forward refreshes it (a
// full pass) and later ones feed only x[:, bs:] against it.
at::Tensor block_logits(Run& r, int64_t bs, int64_t be, bool first_in_block) {
  if (!r.o.prefix_cache) return slice_logits(r, r.denoiser.logits(r.x), 0, bs, be);
  if (first_in_block) return slice_logits(r, r.denoiser.refresh_prefix(r.x, bs), 0, bs, be);
  return slice_logits(r, r.denoiser.logits_from(r.x, bs), bs, bs, be);
}

// Writes x0 where `commit` [B, n] holds in x[:, bs:bs+n] and reports the step.
void commit_and_report(Run& r, int64_t bs, const at::Tensor& commit, const at::Tensor& x0, int64_t block, bool forward) {
  auto slice = r.x.narrow(1, bs, commit.size(1));
  if (x0.defined()) slice.copy_(at::where(commit, x0, slice));
  r.result.committed_per_step.push_back(commit.sum().item<int64_t>());
  if (!r.on_step) return;
  auto committed = at::zeros(r.x.sizes(), r.x.options().dtype(at::kBool));
  committed.narrow(1, bs, commit.size(1)).copy_(commit);
  DiffusionStep step;
  step.step = static_cast<int64_t>(r.result.committed_per_step.size()) - 1;
  step.block = block;
  step.tokens = r.x.clone();  // the caller may keep it; x changes in place
  step.committed = committed;
  step.forward = forward;
  r.on_step(step);
}

struct Blocks {
  int64_t length, count;
};

// Blocks of block_length from the region's left end, the last one possibly shorter.
Blocks split_region(int64_t region_length, int64_t block_length) {
  const int64_t len = block_length > 0 ? std::min(block_length, region_length) : region_length;
  return {len, (region_length + len - 1) / len};
}

// [B, steps] on the tokens' device: row b's transfer_schedule for its masked count.
at::Tensor schedule_rows(const at::Tensor& masked_per_row, int64_t steps) {
  const auto counts = masked_per_row.cpu();
  const int64_t B = counts.size(0);
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(B * steps));
  for (int64_t b = 0; b < B; ++b) {
    const auto row = transfer_schedule(counts[b].item<int64_t>(), steps);
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return at::tensor(flat, at::kLong).view({B, steps}).to(masked_per_row.device());
}

void run_llada(Run& r, int64_t start) {
  const int64_t T = r.x.size(1);
  const auto blocks = split_region(T - start, r.o.block_length);
  const int64_t per_block = r.o.steps / blocks.count;
  for (int64_t b = 0; b < blocks.count; ++b) {
    const int64_t bs = start + b * blocks.length, be = std::min(bs + blocks.length, T), n = be - bs;
    const auto k = schedule_rows((r.x.narrow(1, bs, n) == r.mask_id).sum(1), per_block);
    bool refreshed = false;
    for (int64_t j = 0; j < per_block; ++j) {
      const auto kj = k.select(1, j);
      if (!(kj > 0).any().item<bool>()) {  // pre-filled positions left nothing for this step
        commit_and_report(r, bs, at::zeros({r.x.size(0), n}, r.x.options().dtype(at::kBool)), {}, b, false);
        continue;
      }
      const auto logits = block_logits(r, bs, be, !refreshed);
      refreshed = true;
      const auto x0 = predict(r, logits, r.o.temperature);
      const auto masked = r.x.narrow(1, bs, n) == r.mask_id;
      const auto s = score(r, logits, x0, r.o.remasking, bs).masked_fill(masked.logical_not(), kNegInf);
      commit_and_report(r, bs, top_k_mask(s, kj) & masked, x0, b, true);
    }
  }
}

void run_threshold(Run& r, int64_t start) {
  const int64_t T = r.x.size(1);
  const auto blocks = split_region(T - start, r.o.block_length);
  for (int64_t b = 0; b < blocks.count; ++b) {
    const int64_t bs = start + b * blocks.length, be = std::min(bs + blocks.length, T), n = be - bs;
    // Each pass commits at least one position of every unfinished row, so at most n passes.
    for (bool first = true;; first = false) {
      const auto masked = r.x.narrow(1, bs, n) == r.mask_id;
      if (!masked.any().item<bool>()) break;
      const auto logits = block_logits(r, bs, be, first);
      const auto x0 = predict(r, logits, r.o.temperature);
      const auto conf = score(r, logits, x0, "low-confidence", bs).masked_fill(masked.logical_not(), kNegInf);
      const auto best = at::zeros_like(masked).scatter_(1, conf.argmax(1, /*keepdim=*/true), true);
      commit_and_report(r, bs, masked & ((conf >= r.o.threshold) | best), x0, b, true);
    }
  }
}

void run_mdlm(Run& r, int64_t start) {
  const int64_t n = r.x.size(1) - start;
  // No prefix cache here: every position of the region may change at any step.
  const auto region_logits = [&] { return slice_logits(r, r.denoiser.logits(r.x), 0, start, start + n); };
  // p_theta depends on x only (no time input), so its logits stay valid until a step commits.
  at::Tensor logits;
  const auto dt = (1.0 - r.o.eps) / static_cast<double>(r.o.steps);
  for (int64_t i = 0; i < r.o.steps; ++i) {
    const auto masked = r.x.narrow(1, start, n) == r.mask_id;
    if (!masked.any().item<bool>()) break;
    const double t = 1.0 - static_cast<double>(i) * dt, s = 1.0 - static_cast<double>(i + 1) * dt;
    const bool forward = !logits.defined();
    if (forward) logits = region_logits();
    const auto x0 = predict(r, logits, r.o.temperature);
    const auto commit = masked & (r.uniform({r.x.size(0), n}) < (t - s) / t);
    commit_and_report(r, start, commit, x0, 0, forward);
    if (r.result.committed_per_step.back() > 0) logits = at::Tensor();
  }
  // Noise removal at t = eps: whatever is still masked takes the most likely token.
  const auto masked = r.x.narrow(1, start, n) == r.mask_id;
  if (!masked.any().item<bool>()) return;
  const bool forward = !logits.defined();
  if (forward) logits = region_logits();
  commit_and_report(r, start, masked, logits.argmax(-1), 0, forward);
}

}  // namespace

DiffusionSamplerOptions DiffusionSamplerOptions::from_config(Config& config, const std::string& table) {
  DiffusionSamplerOptions o;
  const auto key = [&](const char* name) { return table + "." + name; };
  o.method = config.get_choice(key("method"), o.method, kDiffusionMethods);
  o.steps = config.get_int(key("steps"), o.steps, 1);
  o.block_length = config.get_int(key("block_length"), o.block_length, 0);
  o.remasking = config.get_choice(key("remasking"), o.remasking, kRemaskingOrders);
  o.temperature = config.get_float(key("temperature"), o.temperature, 0.0);
  o.threshold = config.get_float(key("threshold"), o.threshold, 0.0, 1.0);
  o.prefix_cache = config.get_bool(key("prefix_cache"), o.prefix_cache);
  o.seed = static_cast<uint64_t>(config.get_int(key("seed"), static_cast<int64_t>(o.seed), 0));
  o.validate();
  return o;
}

void DiffusionSamplerOptions::validate() const {
  check_choice("method", method, kDiffusionMethods);
  check_choice("remasking", remasking, kRemaskingOrders);
  const auto fail = [](const std::string& what) { throw InputError("diffusion sampler: " + what); };
  if (steps < 1) fail("steps must be >= 1, got " + std::to_string(steps));
  if (block_length < 0) fail("block_length must be >= 0, got " + std::to_string(block_length));
  if (!std::isfinite(temperature) || temperature < 0.0) fail("temperature must be >= 0, got " + std::to_string(temperature));
  if (!(threshold >= 0.0 && threshold <= 1.0)) fail("threshold must be in [0, 1], got " + std::to_string(threshold));
  if (!(eps > 0.0 && eps < 1.0)) fail("eps must be in (0, 1), got " + std::to_string(eps));
}

DiffusionResult diffusion_generate(Denoiser& denoiser, const at::Tensor& tokens, int64_t region_start, int64_t mask_id,
                                   const DiffusionSamplerOptions& options,
                                   const std::function<void(const DiffusionStep&)>& on_step) {
  at::NoGradGuard no_grad;
  options.validate();
  TORCH_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.scalar_type() == at::kLong,
              "diffusion_generate: tokens must be [B, T] int64");
  const int64_t T = tokens.size(1);
  TORCH_CHECK(region_start >= 0 && region_start <= T, "diffusion_generate: region_start ", region_start,
              " outside [0, ", T, "]");
  TORCH_CHECK(mask_id >= 0, "diffusion_generate: mask id must be >= 0, got ", mask_id);
  if (options.method == "llada" && T > region_start) {
    const auto blocks = split_region(T - region_start, options.block_length);
    if (options.steps % blocks.count != 0) {
      throw InputError("diffusion sampler: steps = " + std::to_string(options.steps) + " must be divisible by the " +
                       std::to_string(blocks.count) + " blocks of length " + std::to_string(blocks.length) +
                       " in a region of " + std::to_string(T - region_start) + " positions");
    }
  }

  Run r{denoiser, options, mask_id, on_step, at::make_generator<at::CPUGeneratorImpl>(options.seed), tokens.clone(), {}};
  const int64_t passes_before = denoiser.forward_passes, tokens_before = denoiser.forward_tokens;
  if (T > region_start && tokens.size(0) > 0) {
    if (options.method == "llada") run_llada(r, region_start);
    else if (options.method == "mdlm") run_mdlm(r, region_start);
    else run_threshold(r, region_start);
  }
  r.result.tokens = r.x;
  r.result.steps = static_cast<int64_t>(r.result.committed_per_step.size());
  r.result.forward_passes = denoiser.forward_passes - passes_before;
  r.result.forward_tokens = denoiser.forward_tokens - tokens_before;
  return std::move(r.result);
}

DiffusionResult diffusion_sample(Denoiser& denoiser, const at::Tensor& prompt, int64_t gen_length, int64_t mask_id,
                                 const DiffusionSamplerOptions& options,
                                 const std::function<void(const DiffusionStep&)>& on_step) {
  TORCH_CHECK(prompt.defined() && prompt.dim() == 2, "diffusion_sample: prompt must be [B, P]");
  TORCH_CHECK(gen_length >= 0, "diffusion_sample: gen_length must be >= 0, got ", gen_length);
  const auto canvas = at::full({prompt.size(0), gen_length}, mask_id, prompt.options().dtype(at::kLong));
  return diffusion_generate(denoiser, at::cat({prompt.to(at::kLong), canvas}, 1), prompt.size(1), mask_id, options,
                            on_step);
}

}  // namespace beyond
