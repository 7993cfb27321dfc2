#include "core/config.h"
#include "experiments/diffusion/parallel_decoding.h"
#include "experiments/experiment.h"
#include "experiments/quickstart/digit_sort.h"
#include "experiments/recursive/arc_experiment.h"
#include "experiments/recursive/puzzle_experiment.h"
#include "experiments/text/arch_compare.h"
#include "experiments/text/text_lm.h"
#include "experiments/worldmodel/trace_worldmodel.h"

namespace beyond {

static const std::vector<std::pair<std::string, ExperimentFactory>>& registry() {
  static const std::vector<std::pair<std::string, ExperimentFactory>> r = {
      {"digit_sort", [] { return make_digit_sort(); }},
      {"text_lm", [] { return make_text_lm(); }},
      {"text_diffusion", [] { return make_text_diffusion(); }},
      {"arch_compare", [] { return make_arch_compare(); }},
      {"sudoku", [] { return make_sudoku_experiment(); }},
      {"maze", [] { return make_maze_experiment(); }},
      {"arc", [] { return make_arc_experiment(); }},
      {"parallel_decoding", [] { return make_parallel_decoding(); }},
      {"trace_worldmodel", [] { return make_trace_worldmodel(); }},
  };
  return r;
}

std::vector<std::string> experiment_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Experiment> make_experiment(const std::string& name) {
  for (const auto& [n, factory] : registry()) {
    if (n == name) return factory();
  }
  std::string msg = "unknown experiment '" + name + "'";
  const std::string hint = closest_spelling(name, experiment_names());
  if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
  msg += " (known:";
  for (const auto& n : experiment_names()) msg += " " + n;
  throw InputError(msg + ")");
}

}  // namespace beyond
