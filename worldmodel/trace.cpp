#include "worldmodel/trace.h"

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace beyond::wm {

const char* event_name(EventKind kind) {
  switch (kind) {
    case EventKind::Call: return "call";
    case EventKind::Line: return "line";
    case EventKind::Return: return "return";
    case EventKind::Exception: return "exception";
  }
  return "?";
}

EventKind event_from_name(const std::string& s) {
  for (auto kind : {EventKind::Call, EventKind::Line, EventKind::Return, EventKind::Exception})
    if (s == event_name(kind)) return kind;
  throw InputError("unknown trace event '" + s + "' (expected call, line, return or exception)");
}

static const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Returned: return "Returned";
    case Outcome::Raised: return "Raised";
    case Outcome::StepLimit: return "StepLimit";
    case Outcome::Overflow: return "Overflow";
    case Outcome::DepthLimit: return "DepthLimit";
  }
  return "?";
}

static bool has_state(EventKind kind) { return kind == EventKind::Call || kind == EventKind::Line; }

nlohmann::json to_json(const TraceEvent& e) {
  nlohmann::json j = {{"event", event_name(e.kind)}, {"func", e.function}, {"line", e.line}};
  j["locals"] = nullptr;
  j["value"] = nullptr;
  if (has_state(e.kind)) {
    j["locals"] = nlohmann::json::array();
    for (const auto& [name, repr] : e.locals) j["locals"].push_back({name, repr});
  } else {
    j["value"] = e.value;
  }
  return j;
}

// Reads field `key` of a trace event, naming it when it is missing or of the wrong type.
template <typename T>
static T field(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) throw InputError(std::string("trace event: missing field '") + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(std::string("trace event: field '") + key + "' has the wrong type: " + j.at(key).dump());
  }
}

TraceEvent event_from_json(const nlohmann::json& j) {
  TraceEvent e;
  e.kind = event_from_name(field<std::string>(j, "event"));
  e.function = field<std::string>(j, "func");
  e.line = field<int>(j, "line");
  if (has_state(e.kind)) {
    for (const auto& pair : field<nlohmann::json>(j, "locals")) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
        throw InputError("trace event: each local must be a [name, repr] pair of strings, got " + pair.dump());
      e.locals.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  } else {
    e.value = field<std::string>(j, "value");
  }
  return e;
}

nlohmann::json to_json(const Trace& trace) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : trace.events) events.push_back(to_json(e));
  return {{"events", events}, {"outcome", outcome_name(trace.outcome)}, {"result", trace.result}};
}

Trace trace_from_json(const nlohmann::json& j) {
  Trace trace;
  for (const auto& e : field<nlohmann::json>(j, "events")) trace.events.push_back(event_from_json(e));
  const auto outcome = field<std::string>(j, "outcome");
  bool known = false;
  for (auto o : {Outcome::Returned, Outcome::Raised, Outcome::StepLimit, Outcome::Overflow, Outcome::DepthLimit})
    if (outcome == outcome_name(o)) trace.outcome = o, known = true;
  if (!known) throw InputError("trace: unknown outcome '" + outcome + "'");
  trace.result = field<std::string>(j, "result");
  return trace;
}

std::string format_event(const TraceEvent& e) {
  std::string head = event_name(e.kind);
  head.resize(10, ' ');
  std::string where = e.function + ":" + std::to_string(e.line);
  if (where.size() < 6) where.resize(6, ' ');
  std::string out = head + where;
  if (has_state(e.kind)) {
    for (const auto& [name, repr] : e.locals) out += "  " + name + "=" + repr;
  } else {
    out += e.kind == EventKind::Return ? "  -> " + e.value : "  !! " + e.value;
  }
  return out;
}

}  // namespace beyond::wm
