// PyLite's parser: tokens to a checked, name-resolved syntax tree (ast.h). Everything CPython
// would refuse to compile, and everything outside the subset, is a SyntaxError naming line and
// column. Program::parse (interpreter.h) is parse_module behind a shared pointer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "worldmodel/ast.h"

namespace beyond::wm {

// Nesting caps, below CPython's own (100 indentation levels, 200 brackets, 20 nested loops, a
// syntax tree about 3000 deep), so that everything PyLite accepts CPython compiles, and no input
// overflows the C++ stack.
constexpr int kMaxBlockDepth = 50;       // if/while/for blocks inside each other
constexpr int kMaxLoopDepth = 20;        // CPython's "too many statically nested blocks"
constexpr int kMaxExpressionDepth = 100; // brackets, calls, indexing and unary operators inside each other
constexpr int kMaxPythonAstDepth = 1000; // an expression's depth in CPython's syntax tree (a + b + c nests)

Module parse_module(const std::string& source);  // throws SyntaxError

// An argument of the call that starts a run: an int, a bool or a list of them (nested too).
struct Literal {
  Value::Type type = Value::Type::Int;
  int64_t number = 0;
  std::vector<Literal> items;
};

struct CallSpec {
  std::string function;
  std::vector<Literal> args;
};

// "f(3, [1, -2], True)"; throws SyntaxError for anything else.
CallSpec parse_call(const std::string& call);
std::string literal_repr(const Literal& literal);  // Python's repr: "[1, -2]", "True"

}  // namespace beyond::wm
