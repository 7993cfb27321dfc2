#include "experiments/worldmodel/trace_command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "experiments/worldmodel/trace_check.h"
#include "worldmodel/interpreter.h"

namespace beyond {

namespace {

std::string read_program(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file + ": cannot open the program");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A syntax error's message with its line and column, whether or not what() already has them.
std::string describe(const wm::SyntaxError& e) {
  const std::string what = e.what();
  if (what.find("line " + std::to_string(e.line)) != std::string::npos) return what;
  return "line " + std::to_string(e.line) + ", col " + std::to_string(e.column) + ": " + what;
}

wm::Program parse_program(const std::string& file) {
  try {
    return wm::Program::parse(read_program(file));
  } catch (const wm::SyntaxError& e) {
    throw InputError(file + ": syntax error: " + describe(e));
  }
}

wm::Trace run_traced(const wm::Program& program, const std::string& file, const std::string& call, int64_t max_steps) {
  wm::InterpreterLimits limits;
  limits.max_steps = max_steps;
  const std::string where = file + ": --call \"" + call + "\": ";
  try {
    return wm::run_call(program, call, limits);
  } catch (const wm::SyntaxError& e) {
    throw InputError(where + "syntax error: " + describe(e));
  } catch (const InputError& e) {
    throw InputError(where + e.what());
  }
}

// The events one per line, a nested call's events indented under the line that made it.
void print_trace(const wm::Trace& trace) {
  int active = 0;  // frames open before the event
  for (const auto& e : trace.events) {
    const int depth = e.kind == wm::EventKind::Call ? active : std::max(0, active - 1);
    std::cout << std::string(2 * depth, ' ') << wm::format_event(e) << "\n";
    if (e.kind == wm::EventKind::Call) ++active;
    if (e.kind == wm::EventKind::Return) --active;
  }
}

std::string outcome_line(const wm::Trace& trace, int64_t max_steps) {
  switch (trace.outcome) {
    case wm::Outcome::Returned: return "result: " + trace.result;
    case wm::Outcome::Raised: return "raised: " + trace.result;
    case wm::Outcome::StepLimit:
      return "stopped: " + trace.result + " (more than " + std::to_string(max_steps) + " steps or a list too long; see --max-steps)";
    case wm::Outcome::Overflow: return "stopped: " + trace.result + " (an int left int64; CPython would go on with a big int)";
    case wm::Outcome::DepthLimit: return "stopped: " + trace.result + " (calls nested too deep)";
  }
  return "";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TraceCli::TraceCli(CLI::App& app) {
  auto& a = args_;
  trace_ = app.add_subcommand("trace", "Run a PyLite program (a Python subset) and print its line-by-line trace as CPython 3.11's "
                                       "sys.settrace sees it; or generate random programs with their traces");
  trace_->require_subcommand(0, 1);
  trace_->add_option("file", a.file, "the program (.py)");
  trace_->add_option("--call", a.call, "the call to trace, e.g. \"f(3, [1, 2])\"");
  trace_->add_flag("--result-only", a.result_only, "print only the result's repr (or the exception's class name)");
  trace_->add_flag("--json", a.json, "print the trace as JSON (worldmodel/trace.h's schema)");
  trace_->add_option("--max-steps", a.max_steps, "line events before the run is stopped")->capture_default_str()->check(CLI::PositiveNumber);
  trace_->footer("Example: beyond trace prog.py --call \"f(3, [1, 2])\"\n"
                 "         beyond trace generate --count 1000 --seed 1 --out traces.jsonl --statements 8 --depth 2\n"
                 "         beyond trace check runs/trace_worldmodel prog.py --call \"f(3, [1, 2])\"");

  auto& k = a.knobs;
  generate_ = trace_->add_subcommand("generate", "Random programs with an input each, their traces and results, as JSON Lines "
                                                 "(source, call, trace, result, features), distinct on program and call");
  generate_->add_option("--count", a.count, "programs")->capture_default_str()->check(CLI::PositiveNumber);
  generate_->add_option("--seed", a.seed, "the same seed and knobs give the same file")->capture_default_str();
  generate_->add_option("--out", a.out, "output file (default: stdout)");
  generate_->add_option("--config", a.config, "TOML file whose [--section] table sets any generator knob by its field name");
  generate_->add_option("--section", a.section, "the table of --config to read")->capture_default_str();
  generate_->add_option("--statements", k.n_statements, "simple statements in f (at most; at least half)")->capture_default_str();
  generate_->add_option("--depth", k.max_depth, "deepest block nesting (0-4)")->capture_default_str();
  generate_->add_option("--loop-iters", k.max_loop_iters, "iterations of any one loop, at most")->capture_default_str();
  generate_->add_option("--digits", k.digits, "digits of literals and inputs, at most")->capture_default_str();
  generate_->add_flag("--lists,!--no-lists", k.allow_lists, "list parameters and locals");
  generate_->add_flag("--calls,!--no-calls", k.allow_calls, "a helper g that f calls");
  generate_->add_flag("--recursion,!--no-recursion", k.allow_recursion, "f calls itself on a smaller argument");
  generate_->add_flag("--errors,!--no-errors", k.allow_errors, "keep programs that raise ZeroDivisionError or IndexError");
  generate_->footer("Example: beyond trace generate --count 1000 --seed 1 --out traces.jsonl --statements 8 --depth 2 --calls\n"
                    "         beyond trace generate --config experiments/configs/trace_worldmodel_tiny.toml --section data.generator --count 100");

  check_ = trace_->add_subcommand("check", "Roll a trained world model out on a program beside the interpreter and print both "
                                           "traces frame by frame up to the first divergence (exit 1 when they diverge)");
  check_->add_option("run", a.run, "a trace world model run folder (full trace), or its markov sub-run")->required();
  check_->add_option("file", a.check_file, "the program (.py)")->required();
  check_->add_option("--call", a.call, "the call to trace, e.g. \"f(3, [1, 2])\"")->required();
  check_->add_option("--max-frames", a.max_frames, "frames to roll out at most (0: the run's own limit)")->capture_default_str()->check(CLI::NonNegativeNumber);
  check_->footer("Example: beyond trace check runs/trace_worldmodel prog.py --call \"f(3, [1, 2])\" --max-frames 100");
}

bool TraceCli::selected() const { return trace_->parsed(); }

int TraceCli::run() const {
  if (generate_->parsed()) return generate();
  if (check_->parsed()) return trace_check_command(args_.run, args_.check_file, args_.call, args_.max_frames);
  return run_program();
}

int TraceCli::run_program() const {
  const auto& a = args_;
  if (a.file.empty()) throw InputError("trace: give a program, e.g. beyond trace prog.py --call \"f(3)\", or a subcommand (generate)");
  if (a.call.empty()) throw InputError("trace: --call is required, e.g. --call \"f(3, [1, 2])\"");
  if (a.result_only && a.json) throw InputError("trace: --result-only and --json exclude each other");
  const auto program = parse_program(a.file);
  const auto trace = run_traced(program, a.file, a.call, a.max_steps);
  const int code = trace.matches_python_semantics() ? 0 : 1;
  if (a.result_only) {
    std::cout << trace.result << "\n";
  } else if (a.json) {
    std::cout << wm::to_json(trace).dump() << "\n";
  } else {
    print_trace(trace);
    std::cout << outcome_line(trace, a.max_steps) << "\n";
  }
  return code;
}

wm::GeneratorOptions TraceCli::generator_options() const {
  wm::GeneratorOptions o;
  if (!args_.config.empty()) {
    auto config = Config::load(args_.config);
    if (!config.has(args_.section)) throw InputError(config.source() + ": no [" + args_.section + "] table (see --section)");
    o = wm::GeneratorOptions::from_config(config, args_.section);
    config.check_all_used(args_.section);  // the file may be a whole experiment's config
  }
  const auto& k = args_.knobs;
  const auto given = [&](const char* flag) { return generate_->count(flag) > 0; };
  if (given("--statements")) o.n_statements = k.n_statements;
  if (given("--depth")) o.max_depth = k.max_depth;
  if (given("--loop-iters")) o.max_loop_iters = k.max_loop_iters;
  if (given("--digits")) o.digits = k.digits;
  if (given("--lists")) o.allow_lists = k.allow_lists;
  if (given("--calls")) o.allow_calls = k.allow_calls;
  if (given("--recursion")) o.allow_recursion = k.allow_recursion;
  if (given("--errors")) o.allow_errors = k.allow_errors;
  return o;
}

int TraceCli::generate() const {
  const auto& a = args_;
  const auto options = generator_options();
  const auto t0 = std::chrono::steady_clock::now();
  const auto examples = wm::generate_examples(options, a.count, a.seed);
  const double secs = seconds_since(t0);
  if (a.out.empty()) {
    for (const auto& ex : examples) std::cout << wm::to_json(ex).dump() << "\n";
  } else {
    wm::write_jsonl(a.out, examples);
  }
  double events = 0, lines = 0;
  for (const auto& ex : examples) events += ex.n_events, lines += ex.n_lines;
  const auto n = static_cast<double>(examples.size());
  std::ostringstream report;
  report.setf(std::ios::fixed);
  report.precision(1);
  report << "generated " << examples.size() << " programs in " << secs << " s; mean " << lines / n << " lines, " << events / n
         << " trace events" << (a.out.empty() ? "" : "; wrote " + a.out);
  std::cerr << report.str() << "\n";
  return 0;
}

}  // namespace beyond
