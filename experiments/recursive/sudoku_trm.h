#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
// TRM on generated Sudoku puzzles (4x4, 6x6 or 9x9), with deep supervision and halting.
std::unique_ptr<Experiment> make_sudoku_trm();
}
