// Runs programs through real CPython 3.11 (tests/worldmodel/cpython_trace.py) and compares its
// traces with the interpreter's, event by event.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "worldmodel/trace.h"

namespace beyond::wm::testing {

inline std::string python_executable() {
  const std::string configured = BEYOND_PYTHON;
  return configured.empty() ? "python3" : configured;
}

// One CPython process for the whole batch: {source, call} pairs in, traces out, in order.
inline std::vector<Trace> cpython_traces(const std::vector<std::pair<std::string, std::string>>& programs) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path();
  const auto stem = "beyond_cpython_" + std::to_string(::getpid()) + "_" + std::to_string(reinterpret_cast<uintptr_t>(&programs));
  const auto in_path = (dir / (stem + ".in.jsonl")).string(), out_path = (dir / (stem + ".out.jsonl")).string();
  {
    std::ofstream in(in_path);
    for (const auto& [source, call] : programs) in << nlohmann::json{{"source", source}, {"call", call}}.dump() << "\n";
  }
  const std::string script = std::string(BEYOND_SOURCE_DIR) + "/tests/worldmodel/cpython_trace.py";
  const std::string cmd = python_executable() + " " + script + " < " + in_path + " > " + out_path;
  const int status = std::system(cmd.c_str());
  std::vector<Trace> traces;
  std::ifstream out(out_path);
  for (std::string line; std::getline(out, line);) traces.push_back(trace_from_json(nlohmann::json::parse(line)));
  fs::remove(in_path);
  fs::remove(out_path);
  if (status != 0 || traces.size() != programs.size())
    throw std::runtime_error("cpython_trace.py failed (exit " + std::to_string(status) + ", " + std::to_string(traces.size()) +
                             " of " + std::to_string(programs.size()) + " traces): " + cmd);
  return traces;
}

// nullopt when the traces agree; otherwise the program, the call and the first differing event.
inline std::optional<std::string> first_difference(const std::string& source, const std::string& call, const Trace& ours,
                                                   const Trace& python) {
  std::string where;
  const size_t n = std::min(ours.events.size(), python.events.size());
  for (size_t i = 0; i < n && where.empty(); ++i)
    if (!(ours.events[i] == python.events[i]))
      where = "event " + std::to_string(i) + ":\n  ours:    " + to_json(ours.events[i]).dump() +
              "\n  cpython: " + to_json(python.events[i]).dump();
  if (where.empty() && ours.events.size() != python.events.size())
    where = "event " + std::to_string(n) + ": ours has " + std::to_string(ours.events.size()) + " events, cpython " +
            std::to_string(python.events.size()) + "\n  next: " +
            to_json((ours.events.size() > n ? ours : python).events[n]).dump();
  if (where.empty() && (ours.outcome != python.outcome || ours.result != python.result))
    where = "result: ours " + to_json(ours).value("outcome", "") + " " + ours.result + ", cpython " +
            to_json(python).value("outcome", "") + " " + python.result;
  if (where.empty()) return std::nullopt;
  return "call " + call + " on\n" + source + "first difference at " + where;
}

}  // namespace beyond::wm::testing
