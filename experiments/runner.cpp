#include "experiments/runner.h"

#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/log/log.h"
#include "experiments/experiment.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

struct Resolved {
  Config config;
  RunOptions options;
  std::unique_ptr<Experiment> experiment;
};

Resolved resolve(const std::string& path, const std::vector<std::string>& overrides) {
  Resolved r{Config::load(path, overrides), {}, nullptr};
  r.options = RunOptions::from_config(r.config);
  try {
    r.experiment = make_experiment(r.options.experiment);
  } catch (const InputError& e) {
    throw r.config.error("run.experiment", e.what());
  }
  r.experiment->configure(r.config);
  r.config.check_all_used();
  return r;
}

// Threads and the seed as [run] asks, then the context an experiment runs or evaluates in.
RunContext start_context(const Resolved& r, RunDir& dir, const std::string& resolved_toml) {
  if (r.options.threads > 0) at::set_num_threads(static_cast<int>(r.options.threads));
  torch::manual_seed(static_cast<uint64_t>(r.options.seed));
  return RunContext{r.options, &dir, resolved_toml, resolve_device(r.options.device)};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_report(const RunDir& dir, const RunOptions& opt, const nlohmann::json& summary, const std::string& extra) {
  std::string md = "# " + opt.name + "\n\n";
  if (!opt.description.empty()) md += "What it should show: " + opt.description + "\n\n";
  md += "Experiment `" + opt.experiment + "`; config in `config.toml`, curves in `metrics.jsonl`.\n\n";
  md += "| metric | value |\n|---|---|\n";
  for (const auto& [k, v] : summary.items()) md += "| " + k + " | " + v.dump() + " |\n";
  if (run_plot_script("plot_metrics.py", dir.path(), "curves.png")) md += "\n![training and evaluation curves](curves.png)\n";
  if (!extra.empty()) md += "\n" + extra;
  write_file_atomic(dir.file("report.md"), md);
}

}  // namespace

std::string fixed(double x, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

bool run_finished(const std::string& run_dir) {
  const auto j = read_json(run_dir + "/summary.json");
  return j.is_object() && j.value("status", "") == "completed";
}

bool run_plot_script(const std::string& script, const std::string& dir, const std::string& output) {
  const std::string python = BEYOND_PYTHON, path = std::string(BEYOND_SOURCE_DIR) + "/scripts/" + script;
  if (python.empty() || !fs::exists(python) || !fs::exists(path)) return false;
  const std::string cmd = shell_quote(python) + " " + shell_quote(path) + " " + shell_quote(dir) + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 && fs::exists(dir + "/" + output);
}

Metrics Experiment::evaluate(RunContext&, int64_t) {
  throw InputError("this experiment has no separate evaluation; its `beyond run` reports the metrics");
}

int eval_run(const std::string& run_dir, int64_t steps) {
  const std::string config_path = run_dir + "/config.toml";
  if (!fs::is_regular_file(config_path)) throw InputError("'" + run_dir + "' is not a run folder (no config.toml)");
  Resolved r = resolve(config_path, {"run.dir=" + run_dir});
  RunDir dir(r.options.dir);
  RunContext ctx = start_context(r, dir, r.config.resolved_toml());
  const Metrics m = r.experiment->evaluate(ctx, steps);
  std::string line = "eval:";
  for (const auto& [k, v] : m) line += " " + k + "=" + c10::str(v);
  log::info(line);
  return 0;
}

std::string resolve_config(const std::string& path, const std::vector<std::string>& overrides) {
  return resolve(path, overrides).config.resolved_toml();
}

int run_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  Resolved r = resolve(path, overrides);
  const std::string resolved = r.config.resolved_toml();
  RunDir dir(r.options.dir);
  log::add_file(dir.file("log.txt"));
  if (fs::exists(dir.file("config.toml")) && read_file(dir.file("config.toml")) != resolved)
    log::warn("the config differs from the one this run folder was started with; the new one is saved");
  dir.write_config(resolved);

  RunContext ctx = start_context(r, dir, resolved);
  log::info("run " + r.options.name + " (" + r.options.experiment + ") in " + dir.path() + " on " +
            ctx.device.str() + ", " + std::to_string(at::get_num_threads()) + " threads");

  bool interrupted = false;
  const Metrics metrics = r.experiment->run(ctx, &interrupted);
  nlohmann::json summary{{"experiment", r.options.experiment}, {"status", interrupted ? "interrupted" : "completed"}};
  for (const auto& [k, v] : metrics) summary[k] = v;
  if (!interrupted) {
    dir.write_summary(summary);
    write_report(dir, r.options, summary, r.experiment->report_markdown());
    std::string line = "done:";
    for (const auto& [k, v] : metrics) line += " " + k + "=" + c10::str(v);
    log::info(line);
  }
  log::remove_file();
  return 0;  // an early stop (stop_at_step, Ctrl-C) is not a failure: the same command resumes
}

}  // namespace beyond
