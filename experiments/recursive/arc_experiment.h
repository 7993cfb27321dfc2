// TRM/HRM on ARC-AGI ([run] experiment = "arc"), the reference's pipeline end to end: tasks read
// from ARC JSON folders, every task augmented (dihedral x colour permutation) with one puzzle
// embedding per variant trained by sparse SignSGD, deep supervision on the variants' pairs, and
// evaluation by voting over every variant of each held-out test input: pass@1, pass@2, ... in
// summary.json, the top-2 answers in submission.json, a per-task table in report.md.
// `beyond eval RUN [--steps N]` re-evaluates the latest checkpoint.
#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {

std::unique_ptr<Experiment> make_arc_experiment();  // "arc"

}  // namespace beyond
