#include "experiments/sweep.h"

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/run.h"
#include "experiments/runner.h"
#include "experiments/variants.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

struct Sweep {
  std::string base, dir, metric, description, name;
  int64_t jobs = 1, test_time_steps = 0;
  std::vector<Variant> variants;
  std::vector<double> paper;  // per variant, percent (NaN: none)
};

Sweep read_sweep(const std::string& path, const std::vector<std::string>& overrides) {
  Config c = Config::load(path, overrides);
  Sweep s;
  s.name = fs::path(path).stem().string();
  s.base = c.get_string("sweep.base", "");
  if (s.base.empty() || !fs::is_regular_file(s.base)) throw c.error("sweep.base", "base config '" + s.base + "' not found");
  s.dir = c.get_string("sweep.dir", "runs/" + s.name);
  s.metric = c.get_string("sweep.metric", "exact_accuracy");
  s.description = c.get_string("sweep.description", "");
  s.jobs = c.get_int("sweep.jobs", 1, 1, 16);
  s.test_time_steps = c.get_int("sweep.test_time_steps", 0, 0, 1024);
  s.variants = read_variants(c, "sweep.order");
  for (const auto& v : s.variants) {
    const std::string k = "variants." + v.name + ".paper";
    s.paper.push_back(c.has(k) ? c.get_float(k, 0.0, 0.0, 100.0) : std::nan(""));
  }
  c.check_all_used();
  return s;
}

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

// One variant as a child `beyond run`, its output in dir/<variant>.out; returns the exit code.
int run_variant(const Sweep& s, const Variant& v) {
  const std::string run_dir = s.dir + "/" + v.name;
  std::vector<std::string> args = {self_exe(), "run", s.base};
  args.insert(args.end(), v.overrides.begin(), v.overrides.end());
  args.push_back("run.dir=" + run_dir);
  args.push_back("run.name=" + s.name + "/" + v.name);
  std::string cmd;
  for (const auto& a : args) cmd.append(shell_quote(a)).append(" ");
  cmd.append("> ").append(shell_quote(s.dir + "/" + v.name + ".out")).append(" 2>&1");
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::string pct(double x) {
  if (std::isnan(x)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

// Whether a variant moves the metric the same way as in the paper, relative to the reference
// (first) variant; changes within `tie` points count as "no change".
std::string direction(double ours, double ours_ref, double paper, double paper_ref) {
  if (std::isnan(paper) || std::isnan(paper_ref) || std::isnan(ours)) return "–";
  const double tie = 1.0;
  const auto sign = [&](double d) { return d > tie ? 1 : d < -tie ? -1 : 0; };
  const int a = sign(ours - ours_ref), b = sign(paper - paper_ref);
  if (a == b) return "yes";
  return a == 0 ? "no (no change here)" : "no";
}

void write_report(const Sweep& s) {
  std::string md = "# " + s.name + "\n\n";
  if (!s.description.empty()) md += "What it should show: " + s.description + "\n\n";
  md += "Base config `" + s.base + "`; every variant trains with the same budget (its `[train]`), each in `" + s.dir +
        "/<variant>/`. `" + s.metric + "` on the held-out set, in percent; the paper's numbers are TRM's Sudoku-Extreme table "
        "(full scale), so only the direction of each change relative to the first row can be compared. \"Reproduces\" "
        "counts a change within 1 point as no change.\n\n";
  md += "| variant | ours | cell | train s | paper | ours − ref | paper − ref | direction reproduces |\n|---|---|---|---|---|---|---|---|\n";
  const auto& ref = s.variants.front();
  const double paper_ref = s.paper.front();
  const auto ref_summary = read_json(s.dir + "/" + ref.name + "/summary.json");
  const double ours_ref = ref_summary.is_object() ? 100.0 * ref_summary.value(s.metric, std::nan("")) : std::nan("");
  for (size_t i = 0; i < s.variants.size(); ++i) {
    const Variant& v = s.variants[i];
    const double paper = s.paper[i];
    const bool is_ref = i == 0;
    const auto j = read_json(s.dir + "/" + v.name + "/summary.json");
    const bool ok = j.is_object() && j.value("status", "") == "completed";
    const double ours = ok ? 100.0 * j.value(s.metric, std::nan("")) : std::nan("");
    const double cell = ok ? 100.0 * j.value("cell_accuracy", std::nan("")) : std::nan("");
    const double secs = ok ? j.value("train_seconds", std::nan("")) : std::nan("");
    char secs_s[32];
    std::snprintf(secs_s, sizeof secs_s, "%.0f", secs);
    md += "| " + v.label + " | " + (ok ? pct(ours) : "not finished") + " | " + pct(cell) + " | " + (ok ? secs_s : "–") + " | " +
          pct(paper) + " | " + (is_ref ? "–" : pct(ours - ours_ref)) + " | " + (is_ref ? "–" : pct(paper - paper_ref)) +
          " | " + (is_ref ? "reference" : direction(ours, ours_ref, paper, paper_ref)) +
          " |\n";
  }
  if (s.test_time_steps > 0) {
    const auto e = read_json(s.dir + "/" + ref.name + "/eval_steps_" + std::to_string(s.test_time_steps) + ".json");
    if (e.is_object() && e.contains("exact_by_step")) {
      md += "\n## " + ref.label + ": accuracy against test-time supervision steps\n\n| steps | exact | cell |\n|---|---|---|\n";
      const auto& ex = e["exact_by_step"];
      const auto& ce = e["cell_by_step"];
      for (size_t i = 0; i < ex.size(); ++i)
        md += "| " + std::to_string(i + 1) + " | " + pct(100.0 * ex[i].get<double>()) + " | " + pct(100.0 * ce[i].get<double>()) + " |\n";
    }
  }
  write_file_atomic(s.dir + "/report.md", md);
  std::printf("%s", md.c_str());
}

}  // namespace

int run_sweep(const std::string& path, const std::vector<std::string>& overrides) {
  const Sweep s = read_sweep(path, overrides);
  fs::create_directories(s.dir);
  std::vector<const Variant*> todo;
  for (const auto& v : s.variants) {
    if (run_finished(s.dir + "/" + v.name)) log::info("sweep: " + v.name + " already finished");
    else todo.push_back(&v);
  }
  std::mutex mu;
  size_t next = 0;
  std::vector<std::string> failed;
  const auto worker = [&] {
    for (;;) {
      const Variant* v;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= todo.size()) return;
        v = todo[next++];
        log::info("sweep: training " + v->name + " (log in " + s.dir + "/" + v->name + ".out)");
      }
      const int rc = run_variant(s, *v);
      std::lock_guard<std::mutex> lock(mu);
      if (rc != 0 || !run_finished(s.dir + "/" + v->name)) failed.push_back(v->name + " (exit " + std::to_string(rc) + ")");
      else log::info("sweep: " + v->name + " finished");
    }
  };
  std::vector<std::thread> threads;
  for (int64_t j = 0; j < std::min<int64_t>(s.jobs, static_cast<int64_t>(todo.size())); ++j) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const std::string ref_dir = s.dir + "/" + s.variants.front().name;
  if (s.test_time_steps > 0 && run_finished(ref_dir) &&
      !fs::exists(ref_dir + "/eval_steps_" + std::to_string(s.test_time_steps) + ".json")) {
    const std::string cmd = shell_quote(self_exe()) + " eval " + shell_quote(ref_dir) + " --steps " +
                            std::to_string(s.test_time_steps) + " > " + shell_quote(ref_dir + ".eval.out") + " 2>&1";
    if (std::system(cmd.c_str()) != 0) failed.push_back(s.variants.front().name + " test-time evaluation");
  }
  write_report(s);
  if (!failed.empty()) {
    std::string msg = "sweep: failed:";
    for (const auto& f : failed) msg += " " + f;
    throw RunError(msg + "; see the .out files in " + s.dir);
  }
  return 0;
}

}  // namespace beyond
