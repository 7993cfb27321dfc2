// Trace datasets: difficulty features, the hash split and JSON Lines files of generated examples.
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/errors.h"
#include "core/run.h"
#include "worldmodel/generator.h"

namespace beyond::wm {

namespace {

struct CodeLine {
  int number = 0;  // 1-based
  int level = 0;   // indentation level: 0 for a def, 1 for its body, ...
  std::string text;  // without the indentation
};

// The lines that hold code (no blank or comment-only lines), with their indentation levels as
// Python's tokenizer counts them: a stack of the widths seen so far, whatever the unit.
std::vector<CodeLine> code_lines(const std::string& source) {
  std::vector<CodeLine> out;
  std::vector<size_t> widths = {0};
  size_t start = 0;
  for (int number = 1; start < source.size(); ++number) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    const std::string line = source.substr(start, end - start);
    start = end + 1;
    const size_t width = line.find_first_not_of(" \t");
    if (width == std::string::npos || line[width] == '#') continue;
    while (widths.size() > 1 && width < widths.back()) widths.pop_back();
    if (width > widths.back()) widths.push_back(width);
    out.push_back({number, static_cast<int>(widths.size()) - 1, line.substr(width)});
  }
  return out;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool is_statement(const CodeLine& line) {
  return line.level > 0 && !starts_with(line.text, "def ") && !starts_with(line.text, "else:");
}

// Loop header line -> the last line of its body.
std::map<int, int> loop_bodies(const std::vector<CodeLine>& lines) {
  std::map<int, int> bodies;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!starts_with(lines[i].text, "for ") && !starts_with(lines[i].text, "while ")) continue;
    int last = lines[i].number;
    for (size_t j = i + 1; j < lines.size() && lines[j].level > lines[i].level; ++j) last = lines[j].number;
    bodies[lines[i].number] = last;
  }
  return bodies;
}

// The most times one execution of a loop entered its body. A frame's line event at a body line
// right after the header's event is an iteration; a header event coming from outside the body
// starts a new execution of the loop.
int most_loop_iterations(const Trace& trace, const std::map<int, int>& bodies) {
  struct Frame {
    int last_line = 0;
    std::map<int, int> iterations;  // header -> iterations of its current execution
  };
  std::vector<Frame> stack;
  int most = 0;
  for (const auto& e : trace.events) {
    if (e.kind == EventKind::Call) stack.push_back({e.line, {}});
    if (stack.empty()) continue;
    if (e.kind == EventKind::Return) {
      stack.pop_back();
      continue;
    }
    if (e.kind != EventKind::Line) continue;
    Frame& frame = stack.back();
    if (auto loop = bodies.find(e.line); loop != bodies.end()) {
      const bool from_body = frame.last_line > loop->first && frame.last_line <= loop->second;
      if (!from_body) frame.iterations[e.line] = 0;
    }
    if (auto loop = bodies.find(frame.last_line); loop != bodies.end() && e.line > loop->first && e.line <= loop->second)
      most = std::max(most, ++frame.iterations[loop->first]);
    frame.last_line = e.line;
  }
  return most;
}

template <typename T>
T example_field(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) throw InputError(std::string("trace example: missing field '") + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(std::string("trace example: field '") + key + "' has the wrong type: " + j.at(key).dump().substr(0, 80));
  }
}

}  // namespace

double split_hash(const std::string& source) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : source) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

void fill_features(TraceExample& ex) {
  const auto lines = code_lines(ex.source);
  ex.n_statements = 0;
  ex.depth = 0;
  for (const auto& line : lines) {
    if (!is_statement(line)) continue;
    ex.n_statements += 1;
    ex.depth = std::max(ex.depth, line.level - 1);
  }
  ex.n_lines = static_cast<int>(std::count(ex.source.begin(), ex.source.end(), '\n'));
  if (!ex.source.empty() && ex.source.back() != '\n') ex.n_lines += 1;
  ex.loop_iters = most_loop_iterations(ex.trace, loop_bodies(lines));
  ex.n_events = static_cast<int>(ex.trace.events.size());
}

nlohmann::json to_json(const TraceExample& ex) {
  return {{"source", ex.source},
          {"call", ex.call},
          {"trace", to_json(ex.trace)},
          {"result", ex.trace.result},
          {"features",
           {{"n_statements", ex.n_statements},
            {"n_lines", ex.n_lines},
            {"depth", ex.depth},
            {"loop_iters", ex.loop_iters},
            {"n_events", ex.n_events}}}};
}

TraceExample example_from_json(const nlohmann::json& j) {
  TraceExample ex;
  ex.source = example_field<std::string>(j, "source");
  ex.call = example_field<std::string>(j, "call");
  ex.trace = trace_from_json(example_field<nlohmann::json>(j, "trace"));
  const auto result = example_field<std::string>(j, "result");
  if (result != ex.trace.result)
    throw InputError("trace example: 'result' " + result + " differs from the trace's result " + ex.trace.result);
  const auto features = example_field<nlohmann::json>(j, "features");
  ex.n_statements = example_field<int>(features, "n_statements");
  ex.n_lines = example_field<int>(features, "n_lines");
  ex.depth = example_field<int>(features, "depth");
  ex.loop_iters = example_field<int>(features, "loop_iters");
  ex.n_events = example_field<int>(features, "n_events");
  return ex;
}

void write_jsonl(const std::string& path, const std::vector<TraceExample>& examples) {
  std::string text;
  for (const auto& ex : examples) text += to_json(ex).dump() + "\n";
  write_file_atomic(path, text);
}

std::vector<TraceExample> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the trace dataset");
  std::vector<TraceExample> out;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(example_from_json(nlohmann::json::parse(line)));
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(path + ":" + std::to_string(number) + ": not JSON (" + e.what() + ")");
    } catch (const InputError& e) {
      throw InputError(path + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return out;
}

}  // namespace beyond::wm
