// `beyond run` and `beyond config show`: config -> experiment -> run folder.
#pragma once
#include <nlohmann/json.hpp>
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

// For commands that drive run folders (sweep, compare-decoding, comparison sub-runs):
std::string shell_quote(const std::string& s);      // one argument of a std::system command line
nlohmann::json read_json(const std::string& path);  // null when missing or malformed
bool run_finished(const std::string& run_dir);      // its summary.json says "completed"
// Runs scripts/<script> DIR with the project's Python (matplotlib); true when DIR/<output> exists
// afterwards. Plots are optional: false without that Python.
bool run_plot_script(const std::string& script, const std::string& dir, const std::string& output);
// x with `digits` decimals, for reports ("%.*f").
std::string fixed(double x, int digits = 3);

}  // namespace beyond
