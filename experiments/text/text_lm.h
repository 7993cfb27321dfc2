#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
// Autoregressive language modelling on a text file (char or byte-level BPE tokens).
std::unique_ptr<Experiment> make_text_lm();
}
