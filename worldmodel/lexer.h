// PyLite's tokenizer: Python's, restricted. Each non-blank line is one logical line (no `\`, no
// statement spanning lines inside brackets), indentation by spaces becomes Indent/Dedent tokens,
// and everything outside the subset (strings, floats, `/`, `**`, `;`, ...) is a SyntaxError here
// with a message saying what PyLite does not support.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beyond::wm {

enum class TokenKind { Name, Keyword, Number, Op, Newline, Indent, Dedent, End };

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;  // the name, keyword, digits or operator as written
  int line = 0, column = 0;  // 1-based
  int64_t number = 0;        // Number

  bool is(TokenKind k, const char* t) const { return kind == k && text == t; }
  bool is_op(const char* t) const { return is(TokenKind::Op, t); }
  bool is_keyword(const char* t) const { return is(TokenKind::Keyword, t); }
};

// Throws SyntaxError (interpreter.h). The result always ends with Newline (if any token came
// before it), the Dedents that close open blocks, and End.
std::vector<Token> tokenize(const std::string& source);

bool is_python_keyword(const std::string& name);

}  // namespace beyond::wm
