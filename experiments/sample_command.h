// `beyond sample RUN_OR_CHECKPOINT`: text from a trained language model, streamed to stdout.
#pragma once
#include <string>
#include <vector>

#include "autoregressive/generate.h"

namespace beyond {

struct SampleArgs {
  std::string source;                  // a run folder or a checkpoint file
  std::vector<std::string> prompts;    // batched; default one "\n"
  GenerateOptions generate;
  int64_t num_samples = 1;             // samples per prompt
  bool use_ema = true;                 // the EMA weights when the checkpoint has them
};

int sample_command(const SampleArgs& args);

}  // namespace beyond
