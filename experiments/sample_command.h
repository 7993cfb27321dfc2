// `beyond sample RUN_OR_CHECKPOINT`: text from a trained language model. An autoregressive run
// streams its tokens to stdout; a masked-diffusion run fills a masked canvas and, with
// --show-steps, shows the masks filling in step by step.
#pragma once
#include <string>
#include <vector>

#include "autoregressive/generate.h"
#include "diffusion/sampler.h"

namespace beyond {

struct SampleArgs {
  std::string source;                  // a run folder or a checkpoint file
  std::vector<std::string> prompts;    // batched; default one "\n"
  GenerateOptions generate;
  int64_t num_samples = 1;             // samples per prompt
  bool use_ema = true;                 // the EMA weights when the checkpoint has them
  // Diffusion runs (model.causal = false): max_new_tokens is the generation length, the
  // temperature and seed come from `generate`, the rest from here.
  DiffusionSamplerOptions diffusion;
  bool show_steps = false;             // redraw the sequence after every denoising step
  bool length_given = false;           // --max-new-tokens was set; else a diffusion canvas fills the window
};

int sample_command(const SampleArgs& args);

}  // namespace beyond
