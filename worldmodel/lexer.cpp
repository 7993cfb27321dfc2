#include "worldmodel/lexer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <string_view>

#include "worldmodel/interpreter.h"

namespace beyond::wm {

namespace {

constexpr std::array<std::string_view, 35> kPythonKeywords = {
    "False", "None",   "True",     "and",   "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",    "del",   "elif", "else",   "except", "finally",  "for",
    "from",  "global", "if",       "import", "in",  "is",     "lambda", "nonlocal", "not",
    "or",    "pass",   "raise",    "return", "try", "while",  "with",   "yield"};

// The operators PyLite has.
constexpr std::array<std::string_view, 22> kOperators = {"+=", "-=", "*=", "//", "==", "!=", "<=", ">=",
                                                         "+",  "-",  "*",  "%",  "<",  ">",  "=",  "(",
                                                         ")",  "[",  "]",  ",",  ":",  "."};

// Python operators (and a few characters) outside the subset, with what to say about them.
struct Unsupported {
  std::string_view text;
  const char* why;
};
constexpr std::array<Unsupported, 30> kUnsupported = {{
    {"//=", "only += -= *= are supported"}, {"**=", "only += -= *= are supported"}, {">>=", "only += -= *= are supported"},
    {"<<=", "only += -= *= are supported"}, {"...", "no Ellipsis"},       {"/=", "only += -= *= are supported"},
    {"%=", "only += -= *= are supported"},  {"@=", "only += -= *= are supported"},  {"&=", "only += -= *= are supported"},
    {"|=", "only += -= *= are supported"},  {"^=", "only += -= *= are supported"},  {"**", "no powers"},
    {"->", "no annotations"},     {":=", "no assignment expressions"}, {"<<", "no bit operations"},
    {">>", "no bit operations"},  {"/", "only // is"},          {"&", "no bit operations"},
    {"|", "no bit operations"},   {"^", "no bit operations"},   {"~", "no bit operations"},
    {"@", "no decorators or matrix products"}, {"{", "no dicts or sets"}, {"}", "no dicts or sets"},
    {";", "one statement per line"}, {"!", "not Python"},       {"$", "not Python"},
    {"?", "not Python"},          {"`", "not Python"},          {"\\", "no line continuations"},
}};

std::string quoted(std::string_view text) {
  std::string out = "'";
  out += text;
  out += "'";
  return out;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Splits on "\n", "\r\n" and "\r", as Python reads source text.
std::vector<std::string> split_lines(const std::string& source) {
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < source.size(); ++i) {
    const char c = source[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < source.size() && source[i + 1] == '\n') ++i;
      lines.emplace_back();
    } else {
      lines.back() += c;
    }
  }
  return lines;
}

class LineLexer {
 public:
  LineLexer(const std::string& text, int line, std::vector<Token>& out) : s_(text), line_(line), out_(out) {}

  void run(size_t start) {
    size_t p = start;
    while (p < s_.size()) {
      const char c = s_[p];
      if (c == ' ' || c == '\t' || c == '\f') {
        ++p;
      } else if (c == '#') {
        break;
      } else if (is_name_start(c)) {
        p = name(p);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = number(p);
      } else {
        p = op(p);
      }
    }
    if (!open_.empty()) {
      const Token& b = open_.back();
      throw SyntaxError(b.line, b.column,
                        "'" + b.text + "' was never closed (a PyLite statement must fit on one line)");
    }
    out_.push_back({TokenKind::Newline, "", line_, static_cast<int>(s_.size()) + 1});
  }

 private:
  [[noreturn]] void fail(size_t p, const std::string& message) const {
    throw SyntaxError(line_, static_cast<int>(p) + 1, message);
  }

  size_t name(size_t p) {
    size_t e = p;
    while (e < s_.size() && is_name_char(s_[e])) ++e;
    if (e < s_.size() && (s_[e] == '\'' || s_[e] == '"')) fail(e, "strings are not supported in PyLite");
    const std::string text = s_.substr(p, e - p);
    out_.push_back({is_python_keyword(text) ? TokenKind::Keyword : TokenKind::Name, text, line_, static_cast<int>(p) + 1});
    return e;
  }

  size_t number(size_t p) {
    size_t e = p;
    while (e < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e]))) ++e;
    if (e < s_.size() && s_[e] == '.') fail(p, "floats are not supported in PyLite (only int)");
    if (e < s_.size() && is_name_char(s_[e]))
      fail(p, "invalid or unsupported number literal (PyLite has decimal ints only, without '_')");
    const std::string digits = s_.substr(p, e - p);
    if (digits.size() > 1 && digits[0] == '0' && digits.find_first_not_of('0') != std::string::npos)
      fail(p, "leading zeros in decimal integer literals are not permitted");
    int64_t value = 0;
    for (char d : digits) {
      if (value > (std::numeric_limits<int64_t>::max() - (d - '0')) / 10)
        fail(p, "integer literal " + digits + " is too large for PyLite (int64)");
      value = value * 10 + (d - '0');
    }
    out_.push_back({TokenKind::Number, digits, line_, static_cast<int>(p) + 1, value});
    return e;
  }

  size_t op(size_t p) {
    const std::string_view rest(s_.data() + p, s_.size() - p);
    const char c = s_[p];
    if (c == '\'' || c == '"') fail(p, "strings are not supported in PyLite");
    if (c == '.' && p + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p + 1])))
      fail(p, "floats are not supported in PyLite (only int)");
    for (size_t length : {3, 2, 1}) {  // the longest operator wins: "//" over "/"
      for (const auto& u : kUnsupported)
        if (u.text.size() == length && rest.substr(0, length) == u.text)
          fail(p, quoted(u.text) + " is not supported in PyLite (" + u.why + ")");
      for (const auto& o : kOperators) {
        if (o.size() != length || rest.substr(0, length) != o) continue;
        Token t{TokenKind::Op, std::string(o), line_, static_cast<int>(p) + 1};
        brackets(t);
        out_.push_back(t);
        return p + length;
      }
    }
    if (static_cast<unsigned char>(c) >= 0x80) fail(p, "non-ASCII characters are not supported in PyLite");
    if (std::isprint(static_cast<unsigned char>(c))) fail(p, quoted(std::string_view(&s_[p], 1)) + " is not supported in PyLite");
    fail(p, "unsupported control character (byte " + std::to_string(static_cast<unsigned char>(c)) + ")");
  }

  void brackets(const Token& t) {
    if (t.text == "(" || t.text == "[") open_.push_back(t);
    if (t.text != ")" && t.text != "]") return;
    if (open_.empty()) throw SyntaxError(t.line, t.column, "unmatched '" + t.text + "'");
    const std::string expected = open_.back().text == "(" ? ")" : "]";
    if (t.text != expected)
      throw SyntaxError(t.line, t.column,
                        "closing parenthesis '" + t.text + "' does not match opening parenthesis '" + open_.back().text +
                            "' on line " + std::to_string(open_.back().line));
    open_.pop_back();
  }

  const std::string& s_;
  int line_;
  std::vector<Token>& out_;
  std::vector<Token> open_;  // brackets not yet closed
};

}  // namespace

bool is_python_keyword(const std::string& name) {
  for (auto k : kPythonKeywords)
    if (name == k) return true;
  return false;
}

std::vector<Token> tokenize(const std::string& source) {
  if (const size_t nul = source.find('\0'); nul != std::string::npos) {  // CPython refuses them even in comments
    const auto before = source.substr(0, nul);
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    const auto line_start = before.rfind('\n');
    const auto column = line_start == std::string::npos ? nul + 1 : nul - line_start;
    throw SyntaxError(static_cast<int>(line), static_cast<int>(column), "source code cannot contain null bytes");
  }
  std::vector<Token> out;
  std::vector<size_t> indents = {0};
  const auto lines = split_lines(source);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& s = lines[i];
    const int line = static_cast<int>(i) + 1;
    size_t p = s.find_first_not_of(" \t\f");
    if (p == std::string::npos || s[p] == '#') continue;  // blank or comment-only: no tokens
    const size_t odd = s.find_first_not_of(' ');
    if (odd < p)
      throw SyntaxError(line, static_cast<int>(odd) + 1, "PyLite indents with spaces only (found a tab or form feed)");
    if (p > indents.back()) {
      indents.push_back(p);
      out.push_back({TokenKind::Indent, "", line, static_cast<int>(p) + 1});
    }
    while (p < indents.back()) {
      indents.pop_back();
      if (p > indents.back())
        throw SyntaxError(line, static_cast<int>(p) + 1, "unindent does not match any outer indentation level");
      out.push_back({TokenKind::Dedent, "", line, static_cast<int>(p) + 1});
    }
    LineLexer(s, line, out).run(p);
  }
  const int end_line = static_cast<int>(lines.size()) + (lines.back().empty() ? 0 : 1);
  for (size_t k = 1; k < indents.size(); ++k) out.push_back({TokenKind::Dedent, "", end_line, 1});
  out.push_back({TokenKind::End, "", end_line, 1});
  return out;
}

}  // namespace beyond::wm
