// `beyond sweep CONFIG`: runs one base config under several named variants (lists of overrides),
// each in its own run folder, then writes a report comparing them, optionally beside published
// numbers. A sweep resumes: finished variants are skipped, interrupted ones resume from their
// last checkpoint.
//
//   [sweep]
//   base = "experiments/configs/sudoku4_trm.toml"   # the config every variant starts from
//   dir = "runs/sudoku_ablations"                      # variants run in dir/<variant>
//   order = ["trm", "no_ema"]                          # variants, in report order (the first is the reference)
//   jobs = 2                                           # variants trained at once (one process each)
//   metric = "exact_accuracy"                          # the summary key compared
//   test_time_steps = 32                               # also evaluate the reference with this many steps (0: no)
//   description = "..."
//   [variants.no_ema]
//   label = "no EMA"
//   overrides = ["train.ema=0"]
//   paper = 79.9                                       # the published number, in percent (optional)
#pragma once
#include <string>
#include <vector>

namespace beyond {

int run_sweep(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace beyond
