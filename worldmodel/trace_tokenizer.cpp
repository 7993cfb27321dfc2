#include "worldmodel/trace_tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string_view>

#include "core/errors.h"
#include "worldmodel/ast.h"
#include "worldmodel/interpreter.h"

namespace beyond::wm {

namespace {

// ---- The vocabulary, in id order (174 tokens). A trained model depends on these ids: append only.
//   0..12    specials
//   13..76   line tokens <L1>..<L64>
//   77..99   keywords and builtins
//   100..123 punctuation ("..." is the self-reference in a list repr such as [[...]])
//   124..133 digits
//   134..163 names: a..z, xs ys zs ws
//   164..173 exception names
constexpr std::array<const char*, 13> kSpecials = {"<pad>",    "<bos>",  "<eos>",  "<input>", "<trace>",     "<output>", "<stack>",
                                                   "<next>",   "<call>", "<line>", "<return>", "<exception>", "<indent>"};
constexpr int kMaxLines = 64;
constexpr std::array<const char*, 23> kKeywords = {"def", "return", "if",  "elif",  "else", "while", "for",  "in",
                                                   "range", "break", "continue", "pass", "and", "or", "not",
                                                   "True", "False", "None", "len", "min", "max", "abs", "append"};
constexpr std::array<const char*, 24> kPunctuation = {"(", ")", "[", "]", ",",  ":",  ".",  "=",  "+=", "-=", "*=", "+",
                                                      "-", "*", "//", "%", "<", "<=", ">", ">=", "==", "!=", ";", "..."};
constexpr std::array<const char*, 10> kDigits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
constexpr std::array<const char*, 30> kNames = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j",  "k",  "l",  "m",  "n",  "o",
                                                "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "xs", "ys", "zs", "ws"};
constexpr std::array<const char*, 10> kExceptions = {"ZeroDivisionError", "IndexError",     "TypeError",         "ValueError",
                                                     "NameError",         "UnboundLocalError", "AttributeError", "StepLimitExceeded",
                                                     "OverflowError",     "RecursionError"};

constexpr int64_t kBos = 1, kEos = 2, kInput = 3, kTrace = 4, kOutput = 5, kStack = 6, kNext = 7, kCall = 8, kLine = 9,
                  kReturn = 10, kException = 11, kIndent = 12;
constexpr int64_t kFirstLine = kSpecials.size();
constexpr int64_t kFirstKeyword = kFirstLine + kMaxLines;
constexpr int64_t kFirstPunctuation = kFirstKeyword + kKeywords.size();
constexpr int64_t kFirstDigit = kFirstPunctuation + kPunctuation.size();
constexpr int64_t kFirstName = kFirstDigit + kDigits.size();
constexpr int64_t kFirstException = kFirstName + kNames.size();
constexpr int64_t kVocabSize = kFirstException + kExceptions.size();

// Ids the value and frame grammars test for, by their position in the groups above.
constexpr int64_t kTrue = kFirstKeyword + 15, kFalse = kFirstKeyword + 16, kNone = kFirstKeyword + 17;
constexpr int64_t kOpen = kFirstPunctuation + 2, kClose = kFirstPunctuation + 3, kComma = kFirstPunctuation + 4,
                  kAssign = kFirstPunctuation + 7, kMinus = kFirstPunctuation + 12, kSemicolon = kFirstPunctuation + 22,
                  kEllipsis = kFirstPunctuation + 23;

bool in_group(int64_t id, int64_t first, size_t count) { return id >= first && id < first + static_cast<int64_t>(count); }
bool is_line_token(int64_t id) { return in_group(id, kFirstLine, kMaxLines); }
bool is_digit(int64_t id) { return in_group(id, kFirstDigit, kDigits.size()); }
bool is_name(int64_t id) { return in_group(id, kFirstName, kNames.size()); }
bool is_exception_name(int64_t id) { return in_group(id, kFirstException, kExceptions.size()); }
bool is_event_token(int64_t id) { return id >= kCall && id <= kException; }

// ---- Words: a small Python-like splitter (no strings in PyLite, so no quoting rules).

// Python's operators, longest first, so that "//=" is one (out-of-vocabulary) word, never "//" "=".
constexpr std::array<std::string_view, 24> kOperators = {"//=", "**=", ">>=", "<<=", "...", "//", "**", "+=",
                                                         "-=",  "*=",  "/=",  "%=",  "&=",  "|=", "^=", "@=",
                                                         "<=",  ">=",  "==",  "!=",  "->",  "<<", ">>", ":="};

size_t operator_length(std::string_view rest) {
  for (auto op : kOperators)
    if (rest.substr(0, op.size()) == op) return op.size();
  return 1;
}

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Identifiers whole, numbers digit by digit (a numeric word that is not all digits, such as 1.5 or
// 0x1f, stays whole so that it is reported), operators by longest match, any other character alone.
std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    size_t end = i + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      i = end;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (end < text.size() && (is_identifier_char(text[end]) || text[end] == '.')) ++end;
      const auto number = text.substr(i, end - i);
      if (std::all_of(number.begin(), number.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); }))
        for (char d : number) words.emplace_back(1, d);
      else
        words.emplace_back(number);
    } else if (is_identifier_char(c)) {
      while (end < text.size() && is_identifier_char(text[end])) ++end;
      words.emplace_back(text.substr(i, end - i));
    } else {
      end = i + operator_length(text.substr(i));
      words.emplace_back(text.substr(i, end - i));
    }
    i = end;
  }
  return words;
}

bool opens_bracket(const std::string& w) { return w == "(" || w == "[" || w == "{"; }
bool closes_bracket(const std::string& w) { return w == ")" || w == "]" || w == "}"; }

// ---- Source lines.

// A physical line with code. Blank and comment-only lines have none; a line inside brackets opened
// on an earlier line continues that statement and has no indentation of its own (as in Python).
struct CodeLine {
  int number = 0;
  int level = 0;
  bool continuation = false;
  std::vector<std::string> words;
};

// The indentation level of a line that starts a statement, from Python's stack of indentation widths.
int indentation_level(std::string_view code, std::vector<int>& widths, int number) {
  int width = 0;
  for (char c : code) {
    if (c == ' ') ++width;
    else if (c == '\t') width = (width / 8 + 1) * 8;
    else if (c == '\f') width = 0;
    else break;
  }
  if (width > widths.back()) widths.push_back(width);
  while (width < widths.back()) widths.pop_back();
  if (width != widths.back())
    throw InputError("line " + std::to_string(number) + ": unindent does not match any outer indentation level");
  return static_cast<int>(widths.size()) - 1;
}

std::vector<CodeLine> code_lines(const std::string& source) {
  std::vector<CodeLine> lines;
  std::vector<int> widths = {0};
  int depth = 0, number = 0;
  for (size_t start = 0; start < source.size();) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    std::string_view code(source.data() + start, end - start);
    start = end + 1;
    ++number;
    code = code.substr(0, code.find('#'));  // a trailing comment (PyLite has no strings)
    auto words = split_words(code);
    if (words.empty()) continue;
    CodeLine line{number, 0, depth > 0, std::move(words)};
    if (!line.continuation) line.level = indentation_level(code, widths, number);
    for (const auto& w : line.words) depth = opens_bracket(w) ? depth + 1 : closes_bracket(w) ? std::max(0, depth - 1) : depth;
    lines.push_back(std::move(line));
  }
  return lines;
}

using Words = std::vector<std::string>;

// The function an event at `line` belongs to: the innermost def around it. A def line belongs to
// its function for the call event (and for a body on the same line), else to the enclosing one.
const SourceFunction* function_at(const std::vector<SourceFunction>& functions, EventKind kind, int line) {
  const SourceFunction* found = nullptr;
  for (const auto& f : functions) {
    const bool inside = f.def_line <= line && line <= f.last_line;
    const bool own_def_line = f.def_line != line || kind == EventKind::Call || f.body_on_def_line;
    if (inside && own_def_line && (!found || f.def_line > found->def_line)) found = &f;
  }
  return found;
}

// ---- The value grammar: an int (no leading zeros, no -0), True, False, None, or a list of them
// ([[...]]: a list inside itself, as Python writes it). Reads one value from ids[pos] on, without
// recursion (model output can nest arbitrarily deep), and gives back its repr text.
std::optional<std::string> read_value(const std::vector<int64_t>& ids, size_t& pos, const TraceTokenizer& tok) {
  std::string text;
  int depth = 0;
  bool after_open = false;  // right after '[': ']' may close an empty list
  while (pos < ids.size()) {
    const int64_t id = ids[pos];
    if (id == kOpen) {
      text += '[';
      ++depth, ++pos;
      after_open = true;
      continue;
    }
    if (after_open && id == kClose) {  // []: closed below like any finished element
    } else if (id == kMinus || is_digit(id)) {
      if (id == kMinus) {
        text += '-';
        ++pos;
      }
      const size_t first = pos;
      while (pos < ids.size() && is_digit(ids[pos])) text += tok.token(ids[pos++]);
      const size_t n_digits = pos - first;
      if (n_digits == 0 || (ids[first] == kFirstDigit && (n_digits > 1 || id == kMinus))) return std::nullopt;
    } else if (id == kTrue || id == kFalse || id == kNone || (id == kEllipsis && depth > 1)) {  // [[...]]
      text += tok.token(id);
      ++pos;
    } else {
      return std::nullopt;
    }
    after_open = false;
    // A value ended: close lists, or go on after a comma, until the outermost value ends.
    while (depth > 0 && pos < ids.size() && ids[pos] == kClose) {
      text += ']';
      --depth, ++pos;
    }
    if (depth == 0) return text;
    if (pos >= ids.size() || ids[pos] != kComma) return std::nullopt;
    text += ", ";
    ++pos;
  }
  return std::nullopt;
}

// ---- Frames.

struct RawFrame {
  EventKind kind = EventKind::Line;
  int line = 0;
  Locals listed;      // call / line
  std::string value;  // return / exception
};

std::optional<Locals> read_locals(const std::vector<int64_t>& ids, size_t& pos, const TraceTokenizer& tok) {
  Locals locals;
  if (pos < ids.size() && is_line_token(ids[pos])) return locals;
  while (true) {
    if (pos + 1 >= ids.size() || !is_name(ids[pos]) || ids[pos + 1] != kAssign) return std::nullopt;
    const std::string& name = tok.token(ids[pos]);
    pos += 2;
    auto value = read_value(ids, pos, tok);
    if (!value) return std::nullopt;
    for (const auto& [seen, repr] : locals)
      if (seen == name) return std::nullopt;
    locals.emplace_back(name, std::move(*value));
    if (pos >= ids.size() || ids[pos] != kSemicolon) return locals;
    ++pos;
  }
}

std::optional<RawFrame> read_frame(const std::vector<int64_t>& ids, size_t& pos, const TraceTokenizer& tok) {
  if (pos >= ids.size() || !is_event_token(ids[pos])) return std::nullopt;
  RawFrame frame;
  frame.kind = ids[pos] == kCall ? EventKind::Call : ids[pos] == kLine ? EventKind::Line
               : ids[pos] == kReturn ? EventKind::Return : EventKind::Exception;
  ++pos;
  if (frame.kind == EventKind::Call || frame.kind == EventKind::Line) {
    auto locals = read_locals(ids, pos, tok);
    if (!locals) return std::nullopt;
    frame.listed = std::move(*locals);
  }
  if (pos >= ids.size() || !is_line_token(ids[pos])) return std::nullopt;
  frame.line = tok.line_of(ids[pos++]);
  if (frame.kind == EventKind::Return) {
    auto value = read_value(ids, pos, tok);
    if (!value) return std::nullopt;
    frame.value = std::move(*value);
  } else if (frame.kind == EventKind::Exception) {
    if (pos >= ids.size() || !is_exception_name(ids[pos])) return std::nullopt;
    frame.value = tok.token(ids[pos++]);
  }
  return frame;
}

bool ids_in_vocabulary(const std::vector<int64_t>& ids) {
  return std::all_of(ids.begin(), ids.end(), [](int64_t id) { return id >= 0 && id < kVocabSize; });
}

TraceEvent event_of(const RawFrame& frame, const std::vector<SourceFunction>& functions) {
  TraceEvent event;
  event.kind = frame.kind;
  const auto* function = function_at(functions, frame.kind, frame.line);
  event.function = function ? function->name : "<module>";
  event.line = frame.line;
  event.value = frame.value;
  return event;
}

Locals::const_iterator find_local(const Locals& locals, const std::string& name) {
  return std::find_if(locals.begin(), locals.end(), [&](const auto& local) { return local.first == name; });
}

// A diff frame applied to its scope's previous state. A frame listing every previous local is the
// full state in its own order; otherwise a newly bound name goes to its co_varnames position.
Locals apply_diff(const Locals& previous, const Locals& listed, const SourceFunction* function) {
  const bool lists_all = std::all_of(previous.begin(), previous.end(),
                                     [&](const auto& local) { return find_local(listed, local.first) != listed.end(); });
  if (lists_all) return listed;
  const auto rank = [&](const std::string& name) -> size_t {
    if (!function) return SIZE_MAX;
    const auto& names = function->varnames;
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());  // size() when absent
  };
  const size_t unknown = function ? function->varnames.size() : SIZE_MAX;
  Locals state = previous;
  for (const auto& [name, repr] : listed) {
    const auto found = find_local(state, name);
    if (found != state.end()) {
      state[found - state.begin()].second = repr;
      continue;
    }
    const size_t r = rank(name);
    auto at = state.end();
    if (r != unknown)
      at = std::find_if(state.begin(), state.end(), [&](const auto& local) {
        const size_t other = rank(local.first);
        return other != unknown && other > r;
      });
    state.insert(at, {name, repr});
  }
  return state;
}

// Per-scope bookkeeping shared by the encoder and the decoder: a call opens a scope whose first
// frame is full; a return closes it and makes the caller's next frame full again.
struct Scope {
  Locals state;
  bool fresh = true;
};

}  // namespace

// ---- TraceTokenizer

TraceTokenizer::TraceTokenizer() {
  for (auto s : kSpecials) tokens_.emplace_back(s);
  for (int line = 1; line <= kMaxLines; ++line) tokens_.push_back("<L" + std::to_string(line) + ">");
  for (const auto& group : {std::vector<const char*>(kKeywords.begin(), kKeywords.end()),
                            std::vector<const char*>(kPunctuation.begin(), kPunctuation.end()),
                            std::vector<const char*>(kDigits.begin(), kDigits.end()),
                            std::vector<const char*>(kNames.begin(), kNames.end()),
                            std::vector<const char*>(kExceptions.begin(), kExceptions.end())})
    for (auto s : group) tokens_.emplace_back(s);
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int64_t>(i));
}

int64_t TraceTokenizer::id(const std::string& token) const {
  const auto found = ids_.find(token);
  if (found == ids_.end()) throw InputError("'" + token + "' is not in the trace vocabulary");
  return found->second;
}

const std::string& TraceTokenizer::token(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw InputError("token id " + std::to_string(id) + " is outside the trace vocabulary (" + std::to_string(vocab_size()) +
                     " tokens)");
  return tokens_[static_cast<size_t>(id)];
}

std::string TraceTokenizer::to_text(const std::vector<int64_t>& ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) text += (i ? " " : "") + token(ids[i]);
  return text;
}

int64_t TraceTokenizer::pad() const { return 0; }
int64_t TraceTokenizer::bos() const { return kBos; }
int64_t TraceTokenizer::eos() const { return kEos; }
int64_t TraceTokenizer::input() const { return kInput; }
int64_t TraceTokenizer::trace() const { return kTrace; }
int64_t TraceTokenizer::output() const { return kOutput; }
int64_t TraceTokenizer::stack() const { return kStack; }
int64_t TraceTokenizer::next() const { return kNext; }
bool TraceTokenizer::is_event(int64_t id) const { return is_event_token(id); }
int TraceTokenizer::line_of(int64_t id) const { return is_line_token(id) ? static_cast<int>(id - kFirstLine) + 1 : 0; }

namespace {

int64_t line_token(int line) {
  if (line < 1 || line > kMaxLines)
    throw InputError("line " + std::to_string(line) + ": programs may have at most " + std::to_string(kMaxLines) +
                     " lines (<L1>..<L64>)");
  return kFirstLine + line - 1;
}

// The words' ids; `where` names the place in the error ("line 3", "call").
void append_words(const TraceTokenizer& tok, const Words& words, const std::string& where, std::vector<int64_t>& out) {
  for (const auto& w : words) {
    if (!tok.is_token(w)) throw InputError(where + ": '" + w + "' is not in the trace vocabulary");
    out.push_back(tok.id(w));
  }
}

}  // namespace

bool TraceTokenizer::is_token(const std::string& token) const { return ids_.count(token) > 0; }

std::vector<int64_t> TraceTokenizer::encode_program(const std::string& source) const {
  std::vector<int64_t> out;
  for (const auto& line : code_lines(source)) {
    out.push_back(line_token(line.number));
    out.insert(out.end(), line.level, kIndent);
    append_words(*this, line.words, "line " + std::to_string(line.number), out);
  }
  return out;
}

std::vector<int64_t> TraceTokenizer::encode_call(const std::string& call) const {
  std::vector<int64_t> out;
  append_words(*this, split_words(call), "call '" + call + "'", out);
  return out;
}

std::vector<int64_t> TraceTokenizer::encode_value(const std::string& repr) const {
  std::vector<int64_t> out;
  append_words(*this, split_words(repr), "value '" + repr + "'", out);
  size_t pos = 0;
  const bool exception = out.size() == 1 && is_exception_name(out[0]);
  if (!exception && (!read_value(out, pos, *this) || pos != out.size()))
    throw InputError("value '" + repr + "' is not a PyLite value (an int, True, False, None, a list of them, or an exception name)");
  // Spacing is not encoded, so only Python's own form ("[1, -2]") comes back exactly.
  if (decode_value(out) != repr) throw InputError("value '" + repr + "' is not written as Python's repr writes it");
  return out;
}

std::string TraceTokenizer::decode_value(const std::vector<int64_t>& ids) const {
  std::string text;
  for (auto id : ids) text += id == kComma ? ", " : token(id);
  return text;
}

namespace {

void append_locals(const TraceTokenizer& tok, const Locals& locals, int line, std::vector<int64_t>& out) {
  for (size_t i = 0; i < locals.size(); ++i) {
    const auto& [name, repr] = locals[i];
    const int64_t id = tok.is_token(name) ? tok.id(name) : -1;
    if (!is_name(id))
      throw InputError("trace line " + std::to_string(line) + ": local '" + name + "' is not a name of the trace vocabulary");
    if (i) out.push_back(kSemicolon);
    out.push_back(id);
    out.push_back(kAssign);
    const auto value = tok.encode_value(repr);
    out.insert(out.end(), value.begin(), value.end());
  }
}

// One frame showing `shown` (call / line) or the event's value (return / exception).
void append_frame(const TraceTokenizer& tok, const TraceEvent& event, const Locals& shown, std::vector<int64_t>& out) {
  switch (event.kind) {
    case EventKind::Call:
    case EventKind::Line:
      out.push_back(event.kind == EventKind::Call ? kCall : kLine);
      append_locals(tok, shown, event.line, out);
      out.push_back(line_token(event.line));
      return;
    case EventKind::Return: {
      out.push_back(kReturn);
      out.push_back(line_token(event.line));
      const auto value = tok.encode_value(event.value);
      if (value.size() == 1 && is_exception_name(value[0]))
        throw InputError("trace line " + std::to_string(event.line) + ": a return value cannot be '" + event.value + "'");
      out.insert(out.end(), value.begin(), value.end());
      return;
    }
    case EventKind::Exception:
      out.push_back(kException);
      out.push_back(line_token(event.line));
      if (!tok.is_token(event.value) || !is_exception_name(tok.id(event.value)))
        throw InputError("trace line " + std::to_string(event.line) + ": exception '" + event.value +
                         "' is not in the trace vocabulary");
      out.push_back(tok.id(event.value));
      return;
  }
}

// The locals whose repr changed or that were bound since `previous` (in the event's order).
Locals changed_locals(const Locals& previous, const Locals& current) {
  Locals changed;
  for (const auto& local : current) {
    const auto before = find_local(previous, local.first);
    if (before == previous.end() || before->second != local.second) changed.push_back(local);
  }
  return changed;
}

// Neither format can say that a name became unbound (PyLite has no del): refuse such a trace.
void check_still_bound(const Locals& previous, const TraceEvent& event) {
  for (const auto& [name, repr] : previous)
    if (find_local(event.locals, name) == event.locals.end())
      throw InputError("trace line " + std::to_string(event.line) + ": local '" + name +
                       "' became unbound, which the trace format cannot express");
}

}  // namespace

std::vector<int64_t> TraceTokenizer::encode_frames(const Trace& trace, StateMode mode) const {
  std::vector<int64_t> out;
  std::vector<Scope> scopes;
  for (const auto& event : trace.events) {
    Locals shown;
    if (event.kind == EventKind::Call) scopes.push_back({});
    if (event.kind == EventKind::Line && scopes.empty()) scopes.push_back({});  // a trace cut at its start
    if (event.kind == EventKind::Call || event.kind == EventKind::Line) {
      auto& scope = scopes.back();
      check_still_bound(scope.state, event);
      shown = mode == StateMode::Full || scope.fresh ? event.locals : changed_locals(scope.state, event.locals);
      scope = {event.locals, false};
    }
    append_frame(*this, event, shown, out);
    if (event.kind == EventKind::Return && !scopes.empty()) {
      scopes.pop_back();
      if (!scopes.empty()) scopes.back().fresh = true;
    }
  }
  return out;
}

std::optional<std::vector<TraceEvent>> TraceTokenizer::decode_frames(const std::vector<int64_t>& ids,
                                                                     const std::string& source) const {
  try {
    if (!ids_in_vocabulary(ids)) return std::nullopt;
    const auto functions = source_functions(source);
    std::vector<TraceEvent> events;
    std::vector<Scope> scopes;
    for (size_t pos = 0; pos < ids.size();) {
      const auto frame = read_frame(ids, pos, *this);
      if (!frame) return std::nullopt;
      auto event = event_of(*frame, functions);
      if (frame->kind == EventKind::Call) scopes.push_back({});
      if (frame->kind == EventKind::Line && scopes.empty()) scopes.push_back({});
      if (frame->kind == EventKind::Call || frame->kind == EventKind::Line) {
        auto& scope = scopes.back();
        const auto* function = function_at(functions, frame->kind, frame->line);
        scope = {scope.fresh ? frame->listed : apply_diff(scope.state, frame->listed, function), false};
        event.locals = scope.state;
      }
      if (frame->kind == EventKind::Return && !scopes.empty()) {
        scopes.pop_back();
        if (!scopes.empty()) scopes.back().fresh = true;
      }
      events.push_back(std::move(event));
    }
    return events;
  } catch (const std::exception&) {  // an unreadable source: nothing to decode against
    return std::nullopt;
  }
}

std::vector<int64_t> TraceTokenizer::encode_full_frame(const TraceEvent& event) const {
  std::vector<int64_t> out;
  append_frame(*this, event, event.locals, out);
  return out;
}

std::optional<TraceEvent> TraceTokenizer::decode_full_frame(const std::vector<int64_t>& ids, const std::string& source) const {
  try {
    if (!ids_in_vocabulary(ids)) return std::nullopt;
    size_t pos = 0;
    const auto frame = read_frame(ids, pos, *this);
    if (!frame) return std::nullopt;
    if (pos < ids.size() && ids[pos] == kEos) ++pos;
    if (pos != ids.size()) return std::nullopt;
    auto event = event_of(*frame, source_functions(source));
    event.locals = frame->listed;
    return event;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// ---- Source functions

// The last line of a block, its nested blocks included (one statement per line in PyLite).
int last_line(const std::vector<Stmt>& body) {
  int last = 0;
  for (const auto& stmt : body) last = std::max({last, stmt.line, last_line(stmt.body), last_line(stmt.orelse)});
  return last;
}

std::vector<SourceFunction> source_functions(const std::string& source) {
  Program program;
  try {
    program = Program::parse(source);
  } catch (const SyntaxError& e) {
    throw InputError(e.what());
  }
  std::vector<SourceFunction> functions;
  for (const auto& f : program.module().functions) {
    const int last = std::max(f.line, last_line(f.body));
    functions.push_back({f.name, f.line, last, !f.body.empty() && f.body.front().line == f.line, f.locals});
  }
  return functions;
}

// ---- Sequences

namespace {

std::vector<int64_t> prompt_of(const TraceTokenizer& tok, const std::string& source, const std::string& call) {
  std::vector<int64_t> out = {kBos};
  const auto program = tok.encode_program(source), call_ids = tok.encode_call(call);
  out.insert(out.end(), program.begin(), program.end());
  out.push_back(kInput);
  out.insert(out.end(), call_ids.begin(), call_ids.end());
  return out;
}

void append_output(const TraceTokenizer& tok, const Trace& trace, std::vector<int64_t>& out) {
  out.push_back(kOutput);
  const auto value = tok.encode_value(trace.result);
  out.insert(out.end(), value.begin(), value.end());
  out.push_back(kEos);
}

}  // namespace

EncodedSequence encode_full_trace(const TraceTokenizer& tok, const TraceExample& ex, StateMode mode) {
  EncodedSequence seq{prompt_of(tok, ex.source, ex.call), 0};
  seq.tokens.push_back(kTrace);
  seq.answer_start = static_cast<int64_t>(seq.tokens.size());
  const auto frames = tok.encode_frames(ex.trace, mode);
  seq.tokens.insert(seq.tokens.end(), frames.begin(), frames.end());
  append_output(tok, ex.trace, seq.tokens);
  return seq;
}

EncodedSequence encode_direct(const TraceTokenizer& tok, const TraceExample& ex) {
  EncodedSequence seq{prompt_of(tok, ex.source, ex.call), 0};
  seq.answer_start = static_cast<int64_t>(seq.tokens.size()) + 1;  // right after <output>
  append_output(tok, ex.trace, seq.tokens);
  return seq;
}

std::vector<int64_t> markov_prompt(const TraceTokenizer& tok, const std::string& source, const std::string& call,
                                   const std::vector<TraceEvent>& stack) {
  auto out = prompt_of(tok, source, call);
  out.push_back(kStack);
  for (const auto& entry : stack) {
    const auto frame = tok.encode_full_frame(entry);
    out.insert(out.end(), frame.begin(), frame.end());
  }
  out.push_back(kNext);
  return out;
}

std::vector<TraceEvent> advance_stack(std::vector<TraceEvent> stack, const TraceEvent& event) {
  if (!stack.empty() && stack.back().kind == EventKind::Return) {
    stack.pop_back();
    if (!stack.empty()) stack.pop_back();
  }
  switch (event.kind) {
    case EventKind::Call:
    case EventKind::Return:
      stack.push_back(event);
      break;
    case EventKind::Line:
      if (stack.empty()) stack.push_back(event);
      else stack.back() = event;
      break;
    case EventKind::Exception: {
      auto entry = event;
      if (!stack.empty()) entry.locals = stack.back().locals;
      if (stack.empty()) stack.push_back(entry);
      else stack.back() = entry;
      break;
    }
  }
  return stack;
}

std::vector<EncodedSequence> encode_markov_steps(const TraceTokenizer& tok, const TraceExample& ex) {
  std::vector<EncodedSequence> steps;
  const auto& events = ex.trace.events;
  std::vector<TraceEvent> stack;
  for (size_t k = 0; k + 1 < events.size(); ++k) {
    stack = advance_stack(std::move(stack), events[k]);
    EncodedSequence step{markov_prompt(tok, ex.source, ex.call, stack), 0};
    step.answer_start = static_cast<int64_t>(step.tokens.size());
    const auto target = tok.encode_full_frame(events[k + 1]);
    step.tokens.insert(step.tokens.end(), target.begin(), target.end());
    step.tokens.push_back(kEos);
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace beyond::wm
