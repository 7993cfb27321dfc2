#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
std::unique_ptr<Experiment> make_digit_sort();
}
