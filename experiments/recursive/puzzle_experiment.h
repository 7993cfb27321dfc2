// Recursive reasoners (TRM, HRM, the one-pass baseline; [model] kind) on a grid-puzzle task.
// `beyond run` trains with deep supervision and reports exact and cell accuracy on the held-out set
// (by test-time supervision step and by difficulty); `beyond eval RUN --steps N` re-evaluates a run
// with another number of supervision steps; `beyond sudoku show --model RUN` traces one puzzle.
#pragma once
#include <memory>
#include <string>

#include "experiments/experiment.h"
#include "experiments/recursive/puzzle_task.h"
#include "recursive/puzzles/sudoku.h"
#include "recursive/reasoner.h"

namespace beyond {

std::unique_ptr<Experiment> make_sudoku_experiment();  // "sudoku"
std::unique_ptr<Experiment> make_maze_experiment();    // "maze"

// The model's weights from the newest checkpoint in `checkpoint_dir`: "model." tensors (buffers,
// the puzzle table included), with the EMA average laid over the parameters when the run kept one,
// since evaluation uses it. InputError when there is no checkpoint. Returns its step.
int64_t load_latest_weights(ReasonerImpl& model, const std::string& checkpoint_dir);

// A trained reasoner read back from a run folder: its config.toml rebuilds the task and the model,
// and the latest checkpoint's weights are loaded (the EMA average when the run kept one).
struct TrainedReasoner {
  std::string experiment;  // "sudoku" | "maze"
  std::unique_ptr<PuzzleTask> task;  // configured, not prepared
  Reasoner model;
  int64_t step = 0;        // of the checkpoint
  int64_t eval_steps = 16; // the run's test-time supervision steps
};
TrainedReasoner load_trained_reasoner(const std::string& run_dir);

// `beyond sudoku show PUZZLE --model RUN [--steps N]`: prints the answer after every supervision step.
int sudoku_show_model(const std::string& run_dir, const SudokuGrid& puzzle, int64_t steps);

}  // namespace beyond
