// The "parallel_decoding" experiment: one tiny bidirectional transformer (~1M parameters) trained
// with the masked-diffusion objective on a mixture of the synthetic tasks of parallel_tasks.h, then
// decoded with k = 1, 2, 4, 8 tokens per step and with Fast-dLLM's confidence threshold; accuracy
// and the rate of invalid mixtures per task beside the closed forms of a perfect model.
#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
std::unique_ptr<Experiment> make_parallel_decoding();  // "parallel_decoding"
}
