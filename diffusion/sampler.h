// Reverse processes of masked diffusion: fill the MASK positions of a sequence in some number of
// steps, each step one forward pass that predicts every masked position, of which some are
// committed (never changed again).
//
//   llada:     LLaDA's sampler. The generation region is cut into blocks filled left to right;
//              each block gets steps / blocks steps and commits transfer_schedule(masked, steps)
//              positions per step: those with the highest score under `remasking`.
//   mdlm:      MDLM's ancestral sampler on t = linspace(1, eps, steps + 1): at each step every masked
//              position is committed with probability (t - s) / t, drawn from p_theta; the
//              prediction is reused (no forward) while nothing changes; a final argmax fills the rest.
//   threshold: Fast-dLLM's parallel decoding: per block, commit every masked position whose top
//              probability is >= threshold, and at least the most confident one, until the block is full.
//
// Predictions: x0 = argmax(logits / temperature + Gumbel) in float64 (temperature 0: argmax),
// MASK excluded (SUBS). Scores (higher commits first): low-confidence = p(x0), margin = p1 - p2,
// entropy = sum p log p, random = U(0,1), left-to-right = -position.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/denoiser.h"

namespace beyond {

class Config;

struct DiffusionSamplerOptions {
  std::string method = "llada";              // llada | mdlm | threshold
  int64_t steps = 64;                        // llada, mdlm: forward passes (mdlm: at most); threshold: ignored
  int64_t block_length = 0;                  // llada, threshold: 0 = the whole region is one block
  std::string remasking = "low-confidence";  // llada: random | low-confidence | margin | entropy | left-to-right
  double temperature = 0.0;                  // Gumbel-max temperature; 0: argmax
  double threshold = 0.9;                    // threshold: confidence needed to commit
  bool prefix_cache = false;                 // llada, threshold: Fast-dLLM's block-wise approximate cache
  double eps = 1e-5;                         // mdlm: the last time on the grid
  uint64_t seed = 0;

  // Reads [<table>] method, steps, block_length, remasking, temperature, threshold, prefix_cache, seed.
  static DiffusionSamplerOptions from_config(Config& config, const std::string& table);
  void validate() const;  // InputError naming the bad option
};

inline const std::vector<std::string> kDiffusionMethods = {"llada", "mdlm", "threshold"};
inline const std::vector<std::string> kRemaskingOrders = {"random", "low-confidence", "margin", "entropy",
                                                          "left-to-right"};

// Called after every step with the tokens so far and the positions committed by that step.
struct DiffusionStep {
  int64_t step = 0;      // 0-based over the whole generation
  int64_t block = 0;
  at::Tensor tokens;     // [B, T]
  at::Tensor committed;  // [B, T] bool
  bool forward = true;   // false when the step reused the cached prediction (mdlm)
};

struct DiffusionResult {
  at::Tensor tokens;                     // [B, T], no MASK left in the region
  int64_t steps = 0;                     // reverse steps taken
  int64_t forward_passes = 0;            // model calls (NFE)
  int64_t forward_tokens = 0;            // positions fed through the model
  std::vector<int64_t> committed_per_step;  // summed over the batch
};

// tokens [B, T] int64: MASK at every position to fill; positions before `region_start` are the
// prompt (never changed) and non-MASK positions inside the region are pre-filled (kept). Blocks
// split [region_start, T) from the left; llada needs steps divisible by the number of blocks.
// Deterministic in options.seed.
DiffusionResult diffusion_generate(Denoiser& denoiser, const at::Tensor& tokens, int64_t region_start, int64_t mask_id,
                                   const DiffusionSamplerOptions& options,
                                   const std::function<void(const DiffusionStep&)>& on_step = nullptr);

// prompt [B, P] followed by gen_length MASKs; the common case.
DiffusionResult diffusion_sample(Denoiser& denoiser, const at::Tensor& prompt, int64_t gen_length, int64_t mask_id,
                                 const DiffusionSamplerOptions& options,
                                 const std::function<void(const DiffusionStep&)>& on_step = nullptr);

}  // namespace beyond
