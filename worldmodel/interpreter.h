// An interpreter for PyLite, a strict subset of Python 3 that CPython runs with the same meaning,
// tracing each call line by line exactly as CPython 3.11's sys.settrace would.
//
// The language: top-level `def`s only (calls and recursion between them); ints (int64: leaving
// it is an error, never a wrap), bools, None as a return value, lists of ints and bools;
// `x = e`, `x += / -= / *= e`, `xs[i] = e`, `xs.append(e)`, `return [e]`, `if/elif/else`,
// `while`, `for x in range(a[, b[, c]])`, `for x in xs`, `break`, `continue`, `pass`; expressions
// with literals, names, list displays, indexing (negative too), calls, `len/min/max/abs`,
// `+ - * // %` (Python's floor semantics), unary `-` and `+`, comparisons (chained too),
// `and/or/not` with short-circuit, parentheses. Comments and blank lines anywhere.
// One statement per physical line (no `;`, no line continuations, 4-space or any consistent
// indentation, as Python's tokenizer allows).
//
// Nothing crashes or hangs on any input: a malformed program is a SyntaxError naming line and
// column; a runtime error is an exception event in the trace; the step budget bounds the run.
// A run stopped by one of the interpreter's own limits (steps, int64 overflow, call depth) ends
// like an uncaught exception: an exception event named StepLimitExceeded / OverflowError /
// RecursionError, then `return None` events up the stack.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "worldmodel/trace.h"

namespace beyond::wm {

// A lexer or parser error: "line 3, col 7: expected ':' after the while condition".
struct SyntaxError : std::runtime_error {
  SyntaxError(int line, int column, const std::string& message);
  int line, column;  // 1-based
};

struct Module;  // the parsed program (ast.h)

// A parsed, checked program. Cheap to copy (shares the syntax tree).
class Program {
 public:
  static Program parse(const std::string& source);  // throws SyntaxError
  const std::string& source() const { return source_; }
  std::vector<std::string> function_names() const;   // in definition order
  const Module& module() const { return *module_; }

 private:
  std::string source_;
  std::shared_ptr<const Module> module_;
};

struct InterpreterLimits {
  int64_t max_steps = 100000;  // line events in the whole run; then Outcome::StepLimit
  int max_call_depth = 200;    // nested calls; then Outcome::DepthLimit
  int64_t max_list_length = 100000;  // a list growing past this ends the run as Outcome::StepLimit
  // Work and memory beyond the step count, in units of about a byte: each list element
  // created costs 16, each element compared 1, each local in a trace event 64 plus its name's
  // and repr's characters. Spent, the run ends as Outcome::StepLimit. Bounds lines like
  // `ys = xs * 50000` in a loop, and traces of functions with thousands of locals.
  int64_t max_work = 64000000;
};

// Runs one call such as "f(3, [1, -2], True)": the callee must be a function of the program and
// the arguments literals (ints, bools, lists of them). Throws SyntaxError for a malformed call
// and InputError for an unknown function or a wrong number of arguments; everything that goes
// wrong while running is in the returned trace.
Trace run_call(const Program& program, const std::string& call, const InterpreterLimits& limits = {});

// Python's repr of a call's argument list as the tracer sees it, e.g. canonical_call("f( 3,[1,2])")
// == "f(3, [1, 2])". Throws like run_call.
std::string canonical_call(const Program& program, const std::string& call);

}  // namespace beyond::wm
