// An experiment: reads its keys from the config, then runs in a run folder.
//
// `beyond run CONFIG` looks up [run] experiment in the registry, calls configure() (every key
// the experiment knows is read there, so unknown keys are caught before any work), writes the
// resolved config, and calls run(), whose metrics become summary.json.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/run.h"
#include "core/trainer.h"

namespace beyond {

struct RunContext {
  RunOptions options;
  RunDir* dir;
  std::string config_toml;  // resolved
  c10::Device device = c10::Device(c10::kCPU);
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  virtual void configure(Config& config) = 0;
  // Returns the final metrics; interrupted runs return what they have and set *interrupted.
  virtual Metrics run(RunContext& ctx, bool* interrupted) = 0;
  // `beyond eval RUN`: re-evaluates the run's latest checkpoint (the run folder is ctx.dir) with
  // `steps` test-time steps (0: the run's own setting). InputError when the experiment has none.
  virtual Metrics evaluate(RunContext& ctx, int64_t steps);
  // Markdown appended to the run's report.md (samples, tables); empty by default.
  virtual std::string report_markdown() const { return ""; }
};

using ExperimentFactory = std::function<std::unique_ptr<Experiment>()>;

// Registration happens in experiments/registry.cpp, one line per experiment.
std::unique_ptr<Experiment> make_experiment(const std::string& name);  // InputError with a hint
std::vector<std::string> experiment_names();

}  // namespace beyond
