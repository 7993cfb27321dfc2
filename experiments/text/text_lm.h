#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
// Autoregressive language modelling on a text file (char or byte-level BPE tokens).
std::unique_ptr<Experiment> make_text_lm();
// Masked-diffusion language modelling on the same data and backbone (bidirectional), with the
// negative ELBO in bits per character beside the AR model's validation bits per character.
std::unique_ptr<Experiment> make_text_diffusion();
}
