// Random PyLite programs with difficulty knobs, for training and testing execution models.
//
// A program is an entry function `f` (1-3 parameters), optionally a helper `g` that f calls,
// optionally recursive. The body is built top-down while tracking which variables are definitely
// assigned, so nothing is read before it is bound. Each candidate is run by the interpreter on
// inputs drawn within bounds; it is rejected when the run leaves the value bound, exceeds the
// fuel, the frame or length caps, or (unless allow_errors) raises. What survives has a trace
// CPython agrees with (the differential test checks exactly that).
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "worldmodel/trace.h"

namespace beyond {
class Config;
}

namespace beyond::wm {

struct GeneratorOptions {
  int n_statements = 6;        // simple statements in f's body (at most; at least half of it)
  int max_depth = 2;           // block nesting (if/while/for inside each other)
  int max_loop_iters = 5;      // range bounds and while counters keep every loop at most this long
  int n_vars = 3;              // local int variables besides the parameters (names a b c d e ...)
  int n_params = 2;            // parameters of f (at most; at least 1)
  int digits = 1;              // literals have at most this many digits
  int value_digits = 4;        // every int stays below 10^value_digits in magnitude, else reject
  double p_if = 0.25;          // statement mix: chance that a statement opens an if/elif/else
  double p_loop = 0.25;        // ... a for/while loop
  bool allow_lists = true;     // list parameters and locals, append, indexing, for x in xs, len
  int max_list_len = 6;        // literal and runtime lists stay at most this long
  bool allow_calls = false;    // a helper function g called from f's expressions
  bool allow_recursion = false;  // f calls itself on a smaller argument (a base case guards it)
  bool allow_errors = false;   // keep programs that raise ZeroDivisionError / IndexError
  int64_t fuel = 2000;         // interpreter step budget for a candidate
  int max_trace_events = 300;  // reject longer traces
  int max_attempts = 200;      // candidates tried per program before giving up (RunError)

  // Reads [prefix] keys (n_statements, max_depth, ...): every field above, by the same name.
  static GeneratorOptions from_config(Config& config, const std::string& prefix);
};

// A generated program with its input and its trace.
struct TraceExample {
  std::string source;  // the program text (ends with a newline)
  std::string call;    // e.g. "f(3, [1, 2])", canonical spacing
  Trace trace;
  // Difficulty features, for accuracy-against-length plots.
  int n_statements = 0;  // simple and compound statements in the whole program
  int n_lines = 0;       // lines of source
  int depth = 0;         // deepest block nesting
  int loop_iters = 0;    // the most iterations any single loop header saw in this run
  int n_events = 0;      // events in the trace
};

// One program from the generator's stream. Throws RunError after max_attempts rejections.
TraceExample generate_example(const GeneratorOptions& options, std::mt19937_64& rng);

// `count` distinct programs (deduplicated on source + call) from `seed`.
std::vector<TraceExample> generate_examples(const GeneratorOptions& options, int64_t count, uint64_t seed);

// The train/test split of Learning to Execute: a stable hash of the source text decides, so the
// same program lands in the same split whatever else was generated. Returns a value in [0, 1).
double split_hash(const std::string& source);

// Features recomputed from a source and its trace (what generate_example fills in).
void fill_features(TraceExample& example);

// JSON Lines: one {"source", "call", "trace": {...}, "result", "features": {...}} per line.
nlohmann::json to_json(const TraceExample& example);
TraceExample example_from_json(const nlohmann::json& j);  // InputError naming the field
void write_jsonl(const std::string& path, const std::vector<TraceExample>& examples);  // atomic
std::vector<TraceExample> read_jsonl(const std::string& path);  // InputError names file and line

}  // namespace beyond::wm
