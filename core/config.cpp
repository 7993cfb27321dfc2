#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <regex>
#include <sstream>
#include <tuple>

namespace beyond {
namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// main() prints errors on one line, so no message may carry a newline.
InputError input_error(std::string message) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  return InputError(message);
}

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Shortest round-trip form; toml++ itself prints 17 digits (0.10000000000000001).
std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + "\"";
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// "a string ("abc")"; tables are not shown and long values are cut.
std::string describe(const toml::node& n) {
  std::string shown;
  if (auto s = n.as_string()) shown = quote(s->get());
  else if (auto d = n.as_floating_point()) shown = format_double(d->get());
  else if (!n.is_table()) {
    std::ostringstream os;
    n.visit([&](const auto& v) { os << v; });
    shown = os.str();
  }
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  return shown.empty() ? type_name(n) : std::string(type_name(n)) + " (" + shown + ")";
}

std::string position(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

// Ranges print as "[1, 64]", or ">= 1" / "<= 64" when one side is the type's limit.
template <typename T>
std::string range_text(T min, T max, bool has_min, bool has_max, std::string (*fmt)(T)) {
  if (has_min && has_max) return "[" + fmt(min) + ", " + fmt(max) + "]";
  if (has_min) return ">= " + fmt(min);
  if (has_max) return "<= " + fmt(max);
  return "";
}
std::string format_int(int64_t v) { return std::to_string(v); }

}  // namespace

struct Config::State {
  struct Origin {
    std::string where;        // the key: "q.toml:3:1" or "override 'a.b=1'"
    std::string value_where;  // the value, for type errors
    std::tuple<int, uint64_t, uint64_t> order;  // file keys by position, then overrides in order
  };

  std::string source;
  toml::table root;
  std::map<std::string, Origin> origins;
  std::set<std::string> used;
  std::vector<std::string> allowed;
  toml::table resolved;

  const Origin* origin(const std::string& key) const {
    auto it = origins.find(key);
    return it == origins.end() ? nullptr : &it->second;
  }
  std::string where(const std::string& key) const {
    auto o = origin(key);
    return o ? o->where : source;
  }
  std::string value_where(const std::string& key) const {
    auto o = origin(key);
    return o ? o->value_where : source;
  }

  void record_file_origins(const toml::table& table, const std::string& prefix) {
    for (auto&& [k, v] : table) {
      std::string path = join(prefix, std::string(k.str()));
      // Implicit tables (the "a" of [a.b]) may have no key position.
      const auto& ks = k.source().begin.line ? k.source() : v.source();
      origins[path] = {position(source, ks), position(source, v.source()),
                       {0, ks.begin.line, ks.begin.column}};
      if (auto sub = v.as_table()) record_file_origins(*sub, path);
    }
  }
  void record_override_origins(const toml::node& node, const std::string& path,
                               const std::string& label, size_t index) {
    origins[path] = {label, label, {1, index, 0}};
    if (auto sub = node.as_table())
      for (auto&& [k, v] : *sub)
        record_override_origins(v, join(path, std::string(k.str())), label, index);
  }

  void apply_override(const std::string& text, size_t index) {
    const std::string label = "override '" + text + "'";
    size_t eq = text.find('=');
    if (eq == std::string::npos) throw input_error(label + " is not of the form key=value");
    std::string key = trim(text.substr(0, eq)), raw = trim(text.substr(eq + 1));
    auto parts = split_key(key);
    if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); }))
      throw input_error(label + " has an empty key");

    toml::table* table = &root;
    std::string path;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      path = join(path, parts[i]);
      toml::node* n = table->get(parts[i]);
      if (!n) {
        n = &table->insert_or_assign(parts[i], toml::table{}).first->second;
        origins[path] = {label, label, {1, index, 0}};
      } else if (!n->is_table()) {
        throw input_error(label + ": '" + path + "' is " + describe(*n) + " (set at " +
                          where(path) + "), not a table");
      }
      table = n->as_table();
    }

    // A TOML literal when it parses as exactly one value, else the raw text as a string.
    toml::table doc;
    try {
      doc = toml::parse("v = " + raw);
    } catch (const toml::parse_error&) {
      doc.clear();
    }
    if (doc.size() != 1 || !doc.get("v")) {
      doc.clear();
      doc.insert_or_assign("v", raw);
    }
    // The replaced value's nested keys are gone.
    auto it = origins.lower_bound(key + ".");
    while (it != origins.end() && it->first.rfind(key + ".", 0) == 0) it = origins.erase(it);
    doc.get("v")->visit([&](auto& v) { table->insert_or_assign(parts.back(), std::move(v)); });
    record_override_origins(*table->get(parts.back()), key, label, index);
  }

  // The node for a dotted key, or null when unset. A value where a table is expected on the
  // path is a type error when `strict`, else "unset".
  const toml::node* find(const std::string& key, bool strict) const {
    const toml::node* node = &root;
    std::string path;
    for (const auto& part : split_key(key)) {
      auto table = node->as_table();
      if (!table) {
        if (!strict) return nullptr;
        throw input_error(value_where(path) + ": " + key + ": expected '" + path +
                          "' to be a table, got " + describe(*node));
      }
      node = table->get(part);
      if (!node) return nullptr;
      path = join(path, part);
    }
    return node;
  }
  const toml::node* read(const std::string& key) {
    used.insert(key);
    return find(key, true);
  }

  InputError type_error(const std::string& key, const std::string& expected,
                        const toml::node& n) const {
    return input_error(value_where(key) + ": " + key + ": expected " + expected + ", got " +
                       describe(n));
  }
  // Array elements from the file have their own position; override values do not.
  std::string element_where(const std::string& key, const toml::node& n) const {
    return n.source().path ? position(source, n.source()) : value_where(key);
  }

  template <typename T>
  void record(const std::string& key, T&& value) {
    auto parts = split_key(key);
    toml::table* table = &resolved;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto sub = table->get_as<toml::table>(parts[i]);
      if (!sub) sub = table->insert_or_assign(parts[i], toml::table{}).first->second.as_table();
      table = sub;
    }
    table->insert_or_assign(parts.back(), std::forward<T>(value));
  }

  void check_int(const std::string& at, const std::string& name, int64_t v, int64_t min,
                 int64_t max) const {
    if (v >= min && v <= max) return;
    auto range = range_text<int64_t>(min, max, min != std::numeric_limits<int64_t>::min(),
                                     max != std::numeric_limits<int64_t>::max(), format_int);
    throw input_error(at + ": " + name + " = " + std::to_string(v) + " is out of range " + range);
  }

  bool is_allowed(const std::string& key) const {
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& t) {
      return key == t || key.rfind(t + ".", 0) == 0;
    });
  }
  bool used_below(const std::string& table) const {
    auto it = used.lower_bound(table + ".");
    return it != used.end() && it->rfind(table + ".", 0) == 0;
  }
  // Leaves are values, arrays and empty tables that no read reached.
  void collect_unused(const toml::table& table, const std::string& prefix,
                      std::vector<std::string>& out) const {
    for (auto&& [k, v] : table) {
      std::string path = join(prefix, std::string(k.str()));
      if (is_allowed(path)) continue;
      auto sub = v.as_table();
      if (sub && !sub->empty()) collect_unused(*sub, path, out);
      else if (!used.count(path) && !(sub && used_below(path))) out.push_back(path);
    }
  }
};

Config::Config() : state_(std::make_unique<State>()) {}
Config::~Config() = default;
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;
Config::Config(const Config& other)
    : state_(other.state_ ? std::make_unique<State>(*other.state_) : std::make_unique<State>()) {}
Config& Config::operator=(const Config& other) {
  if (this != &other) *this = Config(other);
  return *this;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw input_error("config file '" + path + "' not found");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (std::filesystem::is_directory(path, ec) || !in || !(text << in.rdbuf()))
    throw input_error("cannot read config file '" + path + "'");
  return parse(text.str(), path, overrides);
}

Config Config::parse(const std::string& toml_text, const std::string& source_name,
                     const std::vector<std::string>& overrides) {
  Config config;
  State& s = *config.state_;
  s.source = source_name;
  try {
    s.root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw input_error(position(source_name, e.source()) + ": " + std::string(e.description()));
  }
  s.record_file_origins(s.root, "");
  for (size_t i = 0; i < overrides.size(); ++i) s.apply_override(overrides[i], i);
  return config;
}

int64_t Config::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  State& s = *state_;
  int64_t v = def;
  if (auto n = s.read(key)) {
    auto i = n->as_integer();
    if (!i) throw s.type_error(key, "an integer", *n);
    v = i->get();
    s.check_int(s.where(key), key, v, min, max);
  }
  s.record(key, v);
  return v;
}

double Config::get_float(const std::string& key, double def, double min, double max) {
  State& s = *state_;
  double v = def;
  if (auto n = s.read(key)) {
    if (auto f = n->as_floating_point()) v = f->get();
    else if (auto i = n->as_integer()) v = static_cast<double>(i->get());
    else throw s.type_error(key, "a float", *n);
    // Written so that nan fails every range, bounded or not.
    if (!(v >= min && v <= max)) {
      auto range =
          range_text<double>(min, max, std::isfinite(min), std::isfinite(max), format_double);
      throw input_error(s.where(key) + ": " + key + " = " + format_double(v) +
                        (range.empty() ? " is not a number" : " is out of range " + range));
    }
  }
  s.record(key, v);
  return v;
}

bool Config::get_bool(const std::string& key, bool def) {
  State& s = *state_;
  bool v = def;
  if (auto n = s.read(key)) {
    auto b = n->as_boolean();
    if (!b) throw s.type_error(key, "a boolean", *n);
    v = b->get();
  }
  s.record(key, v);
  return v;
}

std::string Config::get_string(const std::string& key, const std::string& def) {
  State& s = *state_;
  std::string v = def;
  if (auto n = s.read(key)) {
    auto str = n->as_string();
    if (!str) throw s.type_error(key, "a string", *n);
    v = str->get();
  }
  s.record(key, v);
  return v;
}

std::string Config::get_choice(const std::string& key, const std::string& def,
                               const std::vector<std::string>& choices) {
  std::string v = get_string(key, def);
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  std::string hint = closest_spelling(v, choices);
  throw input_error(state_->value_where(key) + ": " + key + ": '" + v + "' is not one of " + list +
                    (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

std::vector<int64_t> Config::get_int_list(const std::string& key, const std::vector<int64_t>& def,
                                          int64_t min, int64_t max) {
  State& s = *state_;
  std::vector<int64_t> v = def;
  if (auto n = s.read(key)) {
    auto array = n->as_array();
    if (!array) throw s.type_error(key, "an array of integers", *n);
    v.clear();
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& e = *array->get(i);
      std::string name = key + "[" + std::to_string(i) + "]";
      auto x = e.as_integer();
      if (!x)
        throw input_error(s.element_where(key, e) + ": " + name + ": expected an integer, got " +
                          describe(e));
      s.check_int(s.element_where(key, e), name, x->get(), min, max);
      v.push_back(x->get());
    }
  }
  toml::array recorded;
  for (int64_t x : v) recorded.push_back(x);
  s.record(key, std::move(recorded));
  return v;
}

std::vector<std::string> Config::get_string_list(const std::string& key, const std::vector<std::string>& def) {
  State& s = *state_;
  std::vector<std::string> v = def;
  if (auto n = s.read(key)) {
    auto array = n->as_array();
    if (!array) throw s.type_error(key, "an array of strings", *n);
    v.clear();
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& e = *array->get(i);
      auto x = e.as_string();
      if (!x)
        throw input_error(s.element_where(key, e) + ": " + key + "[" + std::to_string(i) +
                          "]: expected a string, got " + describe(e));
      v.push_back(x->get());
    }
  }
  toml::array recorded;
  for (const auto& x : v) recorded.push_back(x);
  s.record(key, std::move(recorded));
  return v;
}

std::vector<std::string> Config::keys(const std::string& table) const {
  std::vector<std::string> out;
  const toml::node* n = state_->find(table, false);
  if (!n || !n->as_table()) return out;
  for (const auto& [k, v] : *n->as_table()) out.emplace_back(k.str());
  return out;
}

bool Config::has(const std::string& key) const { return state_->find(key, false) != nullptr; }

void Config::allow_table(const std::string& table) { state_->allowed.push_back(table); }

void Config::check_all_used(const std::string& table) const {
  const State& s = *state_;
  std::vector<std::string> unused;
  s.collect_unused(s.root, "", unused);
  if (!table.empty())
    std::erase_if(unused, [&](const std::string& k) { return k.rfind(table + ".", 0) != 0; });
  if (unused.empty()) return;
  auto order = [&](const std::string& k) {
    auto o = s.origin(k);
    return o ? o->order : std::tuple<int, uint64_t, uint64_t>{2, 0, 0};
  };
  const std::string& key = *std::min_element(
      unused.begin(), unused.end(), [&](const auto& a, const auto& b) {
        return order(a) < order(b);
      });

  // Hint the closest known key; failing that, a misspelt top-level section ([modle] -> model).
  std::vector<std::string> known(s.used.begin(), s.used.end());
  std::string hint = closest_spelling(key, known);
  if (hint.empty()) {
    std::set<std::string> sections;
    for (const auto& k : known)
      if (size_t dot = k.find('.'); dot != std::string::npos) sections.insert(k.substr(0, dot));
    std::string top = key.substr(0, key.find('.'));
    if (!sections.count(top)) hint = closest_spelling(top, {sections.begin(), sections.end()});
  }
  throw input_error(s.where(key) + ": unknown key '" + key + "'" +
                    (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

// toml++ prints floats with 17 significant digits (lr = 0.10000000000000001); reprint each
// float value in its shortest round-trip form so the resolved config reads as written.
static std::string shorten_floats(const std::string& text) {
  static const std::regex float_line(R"(^(\s*[A-Za-z0-9_\-]+ = )(-?[0-9]+\.[0-9]+(?:e[+-]?[0-9]+)?)$)");
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, float_line)) {
      char buf[64];
      const double v = std::strtod(m[2].str().c_str(), nullptr);
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      std::string shortest(buf, end);
      if (ec == std::errc() && std::strtod(shortest.c_str(), nullptr) == v) {
        if (shortest.find_first_of(".e") == std::string::npos) shortest += ".0";
        line = m[1].str() + shortest;
      }
    }
    out += line + "\n";
  }
  return out;
}

std::string Config::resolved_toml() const {
  std::ostringstream os;
  // Basic strings only: toml++ would otherwise write "\n" as a literal string holding a raw
  // newline, which no TOML reader takes back (and a multi-line one drops its first newline).
  constexpr auto flags = toml::toml_formatter::default_flags & ~toml::format_flags::allow_multi_line_strings &
                         ~toml::format_flags::allow_literal_strings;
  os << toml::toml_formatter{state_->resolved, flags} << "\n";
  return shorten_floats(os.str());
}

const std::string& Config::source() const { return state_->source; }

InputError Config::error(const std::string& key, const std::string& message) const {
  return input_error(state_->where(key) + ": " + key + ": " + message);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Close means within max(1, (len + 1) / 3) edits: one typo in a word of up to 4 letters, two
// from 5 letters (a swap like "modle" costs 2 without transpositions), and about one per
// three letters beyond, so unrelated short names are not suggested.
std::string closest_spelling(const std::string& word, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(1, (word.size() + 1) / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_distance) best = c, best_distance = d;
  }
  return best;
}

}  // namespace beyond
