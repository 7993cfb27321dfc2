// `beyond sudoku show PUZZLE --model RUN`: the trained model's answer after each supervision step,
// with the cells that changed since the previous step and the cells that disagree with the
// solver's solution marked.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/errors.h"
#include "experiments/recursive/puzzle_experiment.h"
#include "recursive/deep_supervision.h"
#include "recursive/puzzles/sudoku.h"

namespace beyond {

int sudoku_show_model(const std::string& run_dir, const SudokuGrid& puzzle, int64_t steps) {
  const TrainedReasoner t = load_trained_reasoner(run_dir);
  if (t.experiment != "sudoku") throw InputError("--model " + run_dir + " is a '" + t.experiment + "' run, not a sudoku one");
  if (t.task->seq_len() != puzzle.shape.cells())
    throw InputError("--model " + run_dir + " was trained on " + std::to_string(t.task->seq_len()) + "-cell puzzles; this puzzle has " +
                     std::to_string(puzzle.shape.cells()));
  const int64_t n = steps > 0 ? steps : t.eval_steps;
  const auto solved = solve_sudoku(puzzle, 2);
  const bool has_answer = solved.solutions == 1;
  const auto tokens = at::tensor(sudoku_tokens(puzzle), at::kLong);
  const ReasonerTrace trace = trace_reasoner(*t.model, tokens, n);
  const bool color = isatty(STDOUT_FILENO);

  std::cout << "model " << run_dir << " (checkpoint step " << t.step << "), " << n << " supervision steps; "
            << (has_answer ? "marks: changed since the last step " : "the puzzle has no unique solution; marks: changed ")
            << (color ? "yellow" : "'*'") << (has_answer ? std::string(", wrong ") + (color ? "red" : "'!'") : "") << "\n"
            << pretty_sudoku(puzzle);
  std::vector<int64_t> previous = sudoku_tokens(puzzle);
  for (int64_t s = 0; s < n; ++s) {
    SudokuGrid g(puzzle.shape);
    std::vector<uint8_t> marks(static_cast<size_t>(g.shape.cells()), kMarkNone);
    int changed = 0, wrong = 0;
    for (int i = 0; i < g.shape.cells(); ++i) {
      const int64_t tok = trace.predictions[s][i].item<int64_t>();
      g.cells[i] = static_cast<uint8_t>(std::max<int64_t>(0, tok - 1));  // PAD 0 / blank 1 draw as '.'
      if (tok != previous[static_cast<size_t>(i)]) marks[i] |= kMarkChanged, ++changed;
      if (has_answer && g.cells[i] != solved.solution.cells[i]) marks[i] |= kMarkWrong, ++wrong;
      previous[static_cast<size_t>(i)] = tok;
    }
    const double q = trace.q_halt[s].item<double>();
    char line[160];
    std::snprintf(line, sizeof line, "step %lld: %d cells changed, %s, halt logit %+.2f%s\n", static_cast<long long>(s + 1), changed,
                  has_answer ? (wrong == 0 ? "solved" : (std::to_string(wrong) + " wrong").c_str()) : "unchecked", q,
                  q > 0 ? " (would halt)" : "");
    std::cout << line << pretty_sudoku(g, marks, color);
  }
  return 0;
}

}  // namespace beyond
