// `beyond run` and `beyond config show`: config -> experiment -> run folder.
#pragma once
#include <string>
#include <vector>

namespace beyond {

// Runs (or resumes) the experiment of a config; returns the process exit code.
int run_experiment(const std::string& config_path, const std::vector<std::string>& overrides);

// The fully resolved config of an experiment, as TOML (every key with its value).
std::string resolve_config(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace beyond
