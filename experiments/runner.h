// `beyond run` and `beyond config show`: config -> experiment -> run folder.
#pragma once
#include <string>
#include <vector>

namespace beyond {

// Runs (or resumes) the experiment of a config; returns the process exit code.
int run_experiment(const std::string& config_path, const std::vector<std::string>& overrides);

// `beyond eval RUN`: rebuilds the experiment from RUN/config.toml and re-evaluates its latest
// checkpoint with `steps` test-time steps (0: the run's own); returns the exit code.
int eval_run(const std::string& run_dir, int64_t steps);

// The fully resolved config of an experiment, as TOML (every key with its value).
std::string resolve_config(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace beyond
