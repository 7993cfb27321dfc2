// `beyond trace FILE.py --call "f(3, [1, 2])"`: runs a PyLite program under the interpreter and
// prints its line-level trace (or only the result, or the trace as JSON);
// `beyond trace generate`: random programs with their traces as a JSON Lines dataset;
// `beyond trace check RUN FILE.py --call ...`: a trained world model's trace beside the interpreter's.
// main() creates one TraceCli before parsing and calls run() when selected() after.
#pragma once
#include <cstdint>
#include <string>

#include "worldmodel/generator.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace beyond {

struct TraceArgs {
  // beyond trace FILE --call CALL
  std::string file;
  std::string call;
  bool result_only = false;
  bool json = false;
  int64_t max_steps = 100000;
  // beyond trace generate
  int64_t count = 100;
  uint64_t seed = 0;
  std::string out;                   // "" = stdout
  std::string config;                // a TOML file whose [section] sets the generator's knobs
  std::string section = "generator";
  wm::GeneratorOptions knobs;        // the flags' values (applied over the config when given)
  // beyond trace check RUN FILE --call CALL
  std::string run;
  std::string check_file;
  int64_t max_frames = 0;            // 0: the run's own limit
};

class TraceCli {
 public:
  explicit TraceCli(CLI::App& app);  // adds the `trace` command and its `generate` and `check` subcommands
  TraceCli(const TraceCli&) = delete;  // the options point into args_
  TraceCli& operator=(const TraceCli&) = delete;
  bool selected() const;
  int run() const;  // InputError for bad input (exit 2)

 private:
  int run_program() const;
  int generate() const;
  wm::GeneratorOptions generator_options() const;

  TraceArgs args_;
  CLI::App *trace_, *generate_, *check_;
};

}  // namespace beyond
