// A line-level execution trace, in the schema of CPython 3.11's sys.settrace.
//
// The interpreter (interpreter.h) produces it; tests/worldmodel/cpython_trace.py produces the same
// JSON from real CPython, which is how the interpreter is checked; trace_tokenizer.h turns it into
// model tokens and back. Locals are Python repr strings, so a trace compares by text.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace beyond::wm {

enum class EventKind { Call, Line, Return, Exception };

const char* event_name(EventKind kind);          // "call" | "line" | "return" | "exception"
EventKind event_from_name(const std::string& s);  // InputError on anything else

using Locals = std::vector<std::pair<std::string, std::string>>;  // name -> repr, canonical order

struct TraceEvent {
  EventKind kind = EventKind::Line;
  std::string function;  // the frame's function name
  int line = 0;          // 1-based line of the program source
  // call / line: the frame's bound locals when the event fires, in co_varnames order (parameters
  // first, then other locals in the order CPython's compiler first meets them). Unbound names are
  // absent. Empty for return / exception events (not compared there).
  Locals locals;
  // return: repr of the returned value ("None" when an exception unwinds the frame).
  // exception: the exception's class name ("ZeroDivisionError", "IndexError", ...).
  std::string value;

  bool operator==(const TraceEvent&) const = default;
};

// How the traced call ended.
enum class Outcome {
  Returned,    // result = repr of the return value
  Raised,      // result = the exception class name (a Python exception, CPython agrees)
  StepLimit,   // the interpreter's step budget ran out; result = "StepLimitExceeded"
  Overflow,    // an int left int64 (CPython would go on with big ints); result = "OverflowError"
  DepthLimit,  // calls nested deeper than the interpreter's limit; result = "RecursionError"
};

struct Trace {
  std::vector<TraceEvent> events;
  Outcome outcome = Outcome::Returned;
  std::string result;

  // True when CPython would produce exactly this trace: the run ended by a return or by a Python
  // exception (ZeroDivisionError, IndexError), not by one of the interpreter's own limits.
  bool matches_python_semantics() const { return outcome == Outcome::Returned || outcome == Outcome::Raised; }
};

// JSON, one object per event, the schema the CPython tracer prints:
// {"event": "line", "func": "f", "line": 3, "locals": [["a", "1"], ["xs", "[1, 2]"]], "value": null}
// ("locals" is null for return/exception events; "value" is null for call/line events.)
nlohmann::json to_json(const TraceEvent& event);
TraceEvent event_from_json(const nlohmann::json& j);  // InputError naming the bad field
nlohmann::json to_json(const Trace& trace);           // {"events": [...], "outcome": "...", "result": "..."}
Trace trace_from_json(const nlohmann::json& j);

// One readable line per event, for `beyond trace`, e.g. "line    f:3   a=1 xs=[1, 2]".
std::string format_event(const TraceEvent& event);

}  // namespace beyond::wm
