// PyLite's syntax tree, as the parser leaves it: names already resolved to frame slots, functions
// and builtins, so the interpreter never looks a name up by string.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "worldmodel/value.h"

namespace beyond::wm {

enum class Builtin { Len, Min, Max, Abs, Range };

enum class ExprKind {
  Int,           // number
  Bool,          // number (0 or 1)
  None,
  Local,         // slot: a name assigned somewhere in the function (UnboundLocalError if unset)
  Global,        // a name bound nowhere in the program: NameError when evaluated
  List,          // operands: the elements
  Index,         // operands: container, index
  Negate,        // operands[0]
  Plus,          // operands[0]
  Not,           // operands[0]
  Arithmetic,    // operands[0] binary_ops[0] operands[1] ..., left to right (one precedence level)
  Compare,       // operands[0] compare_ops[0] operands[1] ..., a chain (a < b < c)
  And,           // operands, short-circuit, yields the deciding operand
  Or,
  CallFunction,  // slot: index of the program's function; operands: the arguments
  CallBuiltin,   // builtin; operands: the arguments (Range only as a for loop's iterable)
  CallLocal,     // slot: a local called like a function (TypeError: no local value is callable)
  CallGlobal,    // a call of a name bound nowhere: NameError before the arguments are evaluated
  Append,        // operands: receiver, then the arguments of .append(...)
  // Only while parsing, before names are resolved:
  Name,
  CallName,
};

struct Expr {
  ExprKind kind = ExprKind::None;
  int line = 0, column = 0;
  int64_t number = 0;
  int slot = -1;
  Builtin builtin = Builtin::Len;
  std::string name;  // Local, Global and calls: the name as written
  std::vector<BinaryOp> binary_ops;
  std::vector<CompareOp> compare_ops;
  std::vector<Expr> operands;
};

enum class StmtKind { Assign, AugAssign, Expression, Return, Pass, Break, Continue, If, While, For };

struct Stmt {
  StmtKind kind = StmtKind::Pass;
  int line = 0, column = 0;
  // Assign: the targets, left to right (`a = b = e`); AugAssign: one; For: the loop variable.
  // A target is a Local or an Index expression.
  std::vector<Expr> targets;
  // Assign / AugAssign / Expression: the value; Return: the value if any; If / While: the
  // condition; For: the iterable.
  std::optional<Expr> value;
  BinaryOp op = BinaryOp::Add;  // AugAssign
  std::vector<Stmt> body, orelse;
  bool is_elif = false;  // an If that is the single statement of its parent If's orelse, written `elif`
};

struct Function {
  std::string name;
  int line = 0;   // the `def` line: where CPython reports the call event
  int n_params = 0;
  std::vector<std::string> locals;  // co_varnames: parameters, then locals in compile order
  std::vector<Stmt> body;
};

struct Module {
  std::vector<Function> functions;            // in definition order; names are unique
  std::unordered_map<std::string, int> index;  // name -> position in functions

  int find(const std::string& name) const {
    const auto it = index.find(name);
    return it == index.end() ? -1 : it->second;
  }
};

}  // namespace beyond::wm
