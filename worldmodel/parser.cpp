#include "worldmodel/parser.h"

#include <algorithm>
#include <array>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <string_view>

#include "worldmodel/interpreter.h"
#include "worldmodel/lexer.h"

namespace beyond::wm {

SyntaxError::SyntaxError(int line, int column, const std::string& message)
    : std::runtime_error("line " + std::to_string(line) + ", col " + std::to_string(column) + ": " + message),
      line(line),
      column(column) {}

namespace {

// Python 3.11's builtins other than the five PyLite has: a program naming one would run in CPython
// and fail here, so naming one is a SyntaxError.
constexpr std::string_view kOtherPythonBuiltins[] = {
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "BaseExceptionGroup",
    "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning", "ChildProcessError",
    "ConnectionAbortedError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "DeprecationWarning", "EOFError", "Ellipsis", "EncodingWarning", "EnvironmentError", "Exception",
    "ExceptionGroup", "FileExistsError", "FileNotFoundError", "FloatingPointError", "FutureWarning",
    "GeneratorExit", "IOError", "ImportError", "ImportWarning", "IndentationError", "IndexError",
    "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError",
    "ModuleNotFoundError", "NameError", "NotADirectoryError", "NotImplemented", "NotImplementedError",
    "OSError", "OverflowError", "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
    "RecursionError", "ReferenceError", "ResourceWarning", "RuntimeError", "RuntimeWarning",
    "StopAsyncIteration", "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError", "SystemExit",
    "TabError", "TimeoutError", "TypeError", "UnboundLocalError", "UnicodeDecodeError",
    "UnicodeEncodeError", "UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning",
    "ValueError", "Warning", "ZeroDivisionError", "aiter", "all", "anext", "any", "ascii", "bin", "bool",
    "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod", "compile", "complex",
    "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval", "exec", "exit",
    "filter", "float", "format", "frozenset", "getattr", "globals", "hasattr", "hash", "help", "hex", "id",
    "input", "int", "isinstance", "issubclass", "iter", "license", "list", "locals", "map", "memoryview",
    "next", "object", "oct", "open", "ord", "pow", "print", "property", "quit", "repr", "reversed",
    "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type",
    "vars", "zip"};

bool is_pylite_builtin(const std::string& name, Builtin* builtin = nullptr) {
  static const std::pair<const char*, Builtin> kBuiltins[] = {
      {"len", Builtin::Len}, {"min", Builtin::Min}, {"max", Builtin::Max}, {"abs", Builtin::Abs}, {"range", Builtin::Range}};
  for (const auto& [n, b] : kBuiltins)
    if (name == n) {
      if (builtin) *builtin = b;
      return true;
    }
  return false;
}

bool is_python_builtin(const std::string& name) {
  return std::find(std::begin(kOtherPythonBuiltins), std::end(kOtherPythonBuiltins), name) != std::end(kOtherPythonBuiltins);
}

bool is_dunder(const std::string& name) {
  return name.size() > 4 && name.compare(0, 2, "__") == 0 && name.compare(name.size() - 2, 2, "__") == 0;
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::Newline: return "end of line";
    case TokenKind::Indent: return "indent";
    case TokenKind::Dedent: return "dedent";
    case TokenKind::End: return "end of program";
    default: return "'" + t.text + "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Token-level parsing

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Module module() {
    Module m;
    while (peek().kind != TokenKind::End) {
      const Token& t = peek();
      if (t.is_keyword("def")) {
        add(m, function());
      } else if (t.kind == TokenKind::Indent) {
        fail(t, "unexpected indent");
      } else if (t.kind == TokenKind::Newline) {
        next();
      } else {
        fail(t, "a PyLite program is function definitions only (found " + describe(t) + " at the top level)");
      }
    }
    return m;
  }

  // Call strings: NAME '(' literals ')'
  CallSpec call() {
    CallSpec spec;
    if (peek().kind == TokenKind::Indent) next();  // " f(1)": leading spaces, as eval() allows
    const Token name = next();
    if (name.kind != TokenKind::Name) fail(name, "a call must start with a function name, found " + describe(name));
    spec.function = name.text;
    expect_op("(", "after the function name");
    while (!peek().is_op(")")) {
      spec.args.push_back(literal(1));
      if (!peek().is_op(")")) expect_op(",", "or ')' between the arguments");
    }
    next();
    if (peek().kind != TokenKind::Newline) fail(peek(), "unexpected " + describe(peek()) + " after the call");
    next();
    while (peek().kind == TokenKind::Dedent) next();
    if (peek().kind != TokenKind::End) fail(peek(), "a call is one line");
    return spec;
  }

 private:
  // ---- tokens
  const Token& peek(size_t k = 0) const { return tokens_[std::min(pos_ + k, tokens_.size() - 1)]; }
  Token next() {
    Token t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  [[noreturn]] static void fail(const Token& t, const std::string& message) { throw SyntaxError(t.line, t.column, message); }
  Token expect_op(const char* op, const std::string& context) {
    if (!peek().is_op(op)) unexpected(std::string("expected '") + op + "' " + context);
    return next();
  }
  void expect_newline(const std::string& after) {
    if (peek().kind != TokenKind::Newline) {
      if (peek().is_op(":")) fail(peek(), "unexpected ':' after " + after + " (annotations are not supported in PyLite)");
      unexpected("expected the end of the line after " + after);
    }
    next();
  }

  // The next token does not fit. Where Python would go on with a construct PyLite leaves out
  // (x if c else y, a tuple, a comprehension, a match statement), the message says so: a
  // message without "PyLite" claims that CPython refuses the text too.
  [[noreturn]] void unexpected(const std::string& expected) const {
    const Token& t = peek();
    if (t.is_keyword("if")) fail(t, "conditional expressions (x if c else y) are not supported in PyLite");
    if (t.is_keyword("for")) fail(t, "comprehensions are not supported in PyLite");
    if (t.is_op(",")) fail(t, "tuples are not supported in PyLite");
    // `match x:` is Python's match statement; `match = 1` an assignment.
    const bool match_statement = statement_head_.kind == TokenKind::Name &&
                                 (statement_head_.text == "match" || statement_head_.text == "case");
    fail(t, expected + ", found " + describe(t) + (match_statement ? " (match statements are not supported in PyLite)" : ""));
  }

  // ---- definitions
  Function function() {
    const Token def = next();
    Function f;
    f.line = def.line;
    const Token name = next();
    if (name.kind != TokenKind::Name) fail(name, "expected a function name after 'def', found " + describe(name));
    check_name(name);
    f.name = name.text;
    expect_op("(", "after the function name");
    while (!peek().is_op(")")) {
      const Token p = next();
      if (p.is_op("*")) fail(p, "'*' parameters are not supported in PyLite");
      if (p.kind != TokenKind::Name) fail(p, "expected a parameter name, found " + describe(p));
      check_name(p);
      if (std::find(f.locals.begin(), f.locals.end(), p.text) != f.locals.end())
        fail(p, "duplicate argument '" + p.text + "' in function definition");
      f.locals.push_back(p.text);
      if (peek().is_op("=")) fail(peek(), "default parameter values are not supported in PyLite");
      if (peek().is_op(":")) fail(peek(), "annotations are not supported in PyLite");
      if (!peek().is_op(")")) expect_op(",", "or ')' between the parameters");
    }
    next();
    f.n_params = static_cast<int>(f.locals.size());
    f.body = block(def, "function definition");
    return f;
  }

  static void add(Module& m, Function f) {
    const Token where{TokenKind::Name, f.name, f.line, 5};
    if (is_pylite_builtin(f.name) || is_python_builtin(f.name))
      fail(where, "PyLite does not let a function shadow the builtin '" + f.name + "'");
    if (!m.index.emplace(f.name, static_cast<int>(m.functions.size())).second)
      fail(where, "function '" + f.name + "' is defined twice (PyLite needs distinct names)");
    m.functions.push_back(std::move(f));
  }

  static std::string too_deep() {
    return "blocks too deeply nested (PyLite allows " + std::to_string(kMaxBlockDepth) + " levels, an elif counting as one)";
  }

  static void check_name(const Token& t) {
    if (is_dunder(t.text)) fail(t, "names like '" + t.text + "' are not supported in PyLite");
  }

  // ':' NEWLINE INDENT statements DEDENT, after a compound statement's header.
  std::vector<Stmt> block(const Token& header, const std::string& what) {
    expect_op(":", "at the end of the " + what + " header");
    if (peek().kind != TokenKind::Newline)
      fail(peek(), "in PyLite the body of the " + what + " starts on its own line");
    next();
    if (peek().kind != TokenKind::Indent)
      fail(peek(), "expected an indented block after the " + what + " on line " + std::to_string(header.line));
    next();
    if (++block_depth_ > kMaxBlockDepth) fail(header, too_deep());
    std::vector<Stmt> body;
    while (peek().kind != TokenKind::Dedent && peek().kind != TokenKind::End) body.push_back(statement());
    if (peek().kind == TokenKind::Dedent) next();
    --block_depth_;
    return body;
  }

  // ---- statements
  Stmt statement() {
    const Token& t = peek();
    statement_head_ = t;
    if (t.kind == TokenKind::Indent) fail(t, "unexpected indent");
    if (t.kind == TokenKind::Keyword) {
      const std::string& k = t.text;
      if (k == "if") return if_statement(false);
      if (k == "while") return while_statement();
      if (k == "for") return for_statement();
      if (k == "return") return return_statement();
      if (k == "pass" || k == "break" || k == "continue") return jump_statement();
      if (k == "def") fail(t, "nested functions are not supported in PyLite (define it at the top level)");
      if (k == "elif" || k == "else") fail(t, "'" + k + "' without a matching 'if', 'for' or 'while'");
      if (k != "True" && k != "False" && k != "None" && k != "not")
        fail(t, "'" + k + "' is not supported in PyLite");
    }
    return simple_statement();
  }

  Stmt make(StmtKind kind, const Token& t) {
    Stmt s;
    s.kind = kind;
    s.line = t.line;
    s.column = t.column;
    return s;
  }

  Stmt if_statement(bool is_elif) {
    const Token head = next();
    Stmt s = make(StmtKind::If, head);
    s.is_elif = is_elif;
    s.value = expression();
    s.body = block(head, is_elif ? "'elif' statement" : "'if' statement");
    if (peek().is_keyword("elif")) {  // CPython nests each elif in the orelse: it counts as a level
      if (++block_depth_ > kMaxBlockDepth) fail(peek(), too_deep());
      s.orelse.push_back(if_statement(true));
      --block_depth_;
    } else if (peek().is_keyword("else")) {
      const Token e = next();
      s.orelse = block(e, "'else'");
    }
    return s;
  }

  Stmt while_statement() {
    const Token head = next();
    Stmt s = make(StmtKind::While, head);
    s.value = expression();
    loop_body(s, head, "'while' statement");
    return s;
  }

  Stmt for_statement() {
    const Token head = next();
    Stmt s = make(StmtKind::For, head);
    const Token target = next();
    if (target.kind != TokenKind::Name) fail(target, "a PyLite for loop's target is a single name, found " + describe(target));
    check_name(target);
    s.targets.push_back(name_expr(target));
    if (peek().is_op(",")) fail(peek(), "tuple targets are not supported in PyLite");
    if (peek().is_op("[") || peek().is_op("."))
      fail(peek(), "a PyLite for loop's target is a single name");
    if (!peek().is_keyword("in")) unexpected("expected 'in' after the for loop's variable");
    next();
    s.value = expression();
    loop_body(s, head, "'for' statement");
    return s;
  }

  // The body counts as a loop for break/continue and CPython's nesting limit; the else does not.
  void loop_body(Stmt& s, const Token& head, const std::string& what) {
    if (++loop_depth_ > kMaxLoopDepth) fail(head, "too many statically nested blocks");
    s.body = block(head, what);
    --loop_depth_;
    if (peek().is_keyword("else")) {
      const Token e = next();
      s.orelse = block(e, "'else'");
    }
  }

  Stmt return_statement() {
    const Token head = next();
    Stmt s = make(StmtKind::Return, head);
    if (peek().kind != TokenKind::Newline) s.value = expression();
    expect_newline("the return value");
    return s;
  }

  Stmt jump_statement() {
    const Token head = next();
    const StmtKind kind = head.text == "pass" ? StmtKind::Pass : head.text == "break" ? StmtKind::Break : StmtKind::Continue;
    if (kind != StmtKind::Pass && loop_depth_ == 0) fail(head, "'" + head.text + "' outside loop");
    expect_newline("'" + head.text + "'");
    return make(kind, head);
  }

  Stmt simple_statement() {
    const Token head = peek();
    Expr first = expression();
    const Token& t = peek();
    if (t.is_op("=")) {
      Stmt s = make(StmtKind::Assign, head);
      Expr value = std::move(first);
      while (peek().is_op("=")) {
        const Token eq = next();
        check_target(value, eq);
        s.targets.push_back(std::move(value));
        value = expression();
      }
      s.value = std::move(value);
      expect_newline("the assignment");
      return s;
    }
    if (t.is_op("+=") || t.is_op("-=") || t.is_op("*=")) {
      const Token op = next();
      Stmt s = make(StmtKind::AugAssign, head);
      check_target(first, op);
      s.op = op.text == "+=" ? BinaryOp::Add : op.text == "-=" ? BinaryOp::Sub : BinaryOp::Mul;
      s.targets.push_back(std::move(first));
      s.value = expression();
      expect_newline("the assignment");
      return s;
    }
    Stmt s = make(StmtKind::Expression, head);
    s.value = std::move(first);
    expect_newline("the expression");
    return s;
  }

  static void check_target(const Expr& target, const Token& op) {
    if (target.kind == ExprKind::Name || target.kind == ExprKind::Index) return;
    if (target.kind == ExprKind::List && op.text == "=")
      throw SyntaxError(target.line, target.column, "unpacking into a list is not supported in PyLite");
    throw SyntaxError(target.line, target.column, "cannot assign to this expression with '" + op.text + "'");
  }

  // ---- expressions
  // Counts one level of nesting for as long as it lives; past the cap the program is refused.
  class Nesting {
   public:
    Nesting(Parser& p, const Token& at) : p_(p) {
      if (++p_.expression_depth_ > kMaxExpressionDepth)
        fail(at, "expression too deeply nested (PyLite allows " + std::to_string(kMaxExpressionDepth) + " levels)");
    }
    ~Nesting() { --p_.expression_depth_; }

   private:
    Parser& p_;
  };

  static Expr node(ExprKind kind, const Token& t) {
    Expr e;
    e.kind = kind;
    e.line = t.line;
    e.column = t.column;
    return e;
  }

  static Expr name_expr(const Token& t) {
    Expr e = node(ExprKind::Name, t);
    e.name = t.text;
    return e;
  }

  Expr expression() {
    const Token head = peek();
    Nesting nesting(*this, head);
    Expr e = boolean(true);
    if (expression_depth_ == 1 && python_ast_depth(e) > kMaxPythonAstDepth)
      fail(head, "expression too long for PyLite (its syntax tree in CPython would be deeper than " +
                     std::to_string(kMaxPythonAstDepth) + " levels)");
    return e;
  }

  // The depth of CPython's syntax tree for e, where a + b + c is a left-deep chain of BinOps
  // (CPython's compiler gives up near 3000 levels; PyLite stays well below).
  static int python_ast_depth(const Expr& e) {
    int deepest = 0;
    const int n = static_cast<int>(e.operands.size());
    for (int i = 0; i < n; ++i) {
      const int below = e.kind == ExprKind::Arithmetic ? n - std::max(i, 1) : 0;
      deepest = std::max(deepest, python_ast_depth(e.operands[i]) + below);
    }
    return e.kind == ExprKind::Arithmetic ? deepest : deepest + 1;
  }

  // or_test / and_test, flattened: a or b or c is one node.
  Expr boolean(bool is_or) {
    const Token head = peek();
    Expr first = is_or ? boolean(false) : not_test();
    const char* word = is_or ? "or" : "and";
    if (!peek().is_keyword(word)) return first;
    Expr e = node(is_or ? ExprKind::Or : ExprKind::And, head);
    e.operands.push_back(std::move(first));
    while (peek().is_keyword(word)) {
      next();
      e.operands.push_back(is_or ? boolean(false) : not_test());
    }
    return e;
  }

  Expr not_test() {
    if (!peek().is_keyword("not")) return comparison();
    const Token head = next();
    Nesting nesting(*this, head);
    Expr e = node(ExprKind::Not, head);
    e.operands.push_back(not_test());
    return e;
  }

  static bool compare_op(const Token& t, CompareOp* op) {
    static const std::pair<const char*, CompareOp> kOps[] = {{"<", CompareOp::Lt},  {"<=", CompareOp::Le},
                                                             {">", CompareOp::Gt},  {">=", CompareOp::Ge},
                                                             {"==", CompareOp::Eq}, {"!=", CompareOp::Ne}};
    for (const auto& [text, o] : kOps)
      if (t.is_op(text)) {
        *op = o;
        return true;
      }
    return false;
  }

  void refuse_membership_and_identity() const {
    const Token& t = peek();
    if (t.is_keyword("in") || t.is_keyword("is") || (t.is_keyword("not") && peek(1).is_keyword("in")))
      fail(t, "'" + t.text + "' comparisons are not supported in PyLite");
  }

  Expr comparison() {
    const Token head = peek();
    Expr first = arithmetic(false);
    refuse_membership_and_identity();
    CompareOp op;
    if (!compare_op(peek(), &op)) return first;
    Expr e = node(ExprKind::Compare, head);
    e.operands.push_back(std::move(first));
    while (compare_op(peek(), &op)) {
      next();
      e.compare_ops.push_back(op);
      e.operands.push_back(arithmetic(false));
      refuse_membership_and_identity();
    }
    return e;
  }

  // sum (+ -) when !is_term, term (* // %) when is_term; flattened left to right.
  Expr arithmetic(bool is_term) {
    const Token head = peek();
    auto operand = [&] { return is_term ? factor() : arithmetic(true); };
    auto match = [&](BinaryOp* op) {
      const Token& t = peek();
      if (t.kind != TokenKind::Op) return false;
      if (!is_term && (t.text == "+" || t.text == "-")) return *op = t.text == "+" ? BinaryOp::Add : BinaryOp::Sub, true;
      if (is_term && t.text == "*") return *op = BinaryOp::Mul, true;
      if (is_term && t.text == "//") return *op = BinaryOp::FloorDiv, true;
      if (is_term && t.text == "%") return *op = BinaryOp::Mod, true;
      return false;
    };
    Expr first = operand();
    BinaryOp op;
    if (!match(&op)) return first;
    Expr e = node(ExprKind::Arithmetic, head);
    e.operands.push_back(std::move(first));
    while (match(&op)) {
      next();
      e.binary_ops.push_back(op);
      e.operands.push_back(operand());
    }
    return e;
  }

  Expr factor() {
    const Token& t = peek();
    if (!t.is_op("-") && !t.is_op("+")) return primary();
    const Token head = next();
    Nesting nesting(*this, head);
    Expr e = node(head.text == "-" ? ExprKind::Negate : ExprKind::Plus, head);
    e.operands.push_back(factor());
    return e;
  }

  Expr primary() {
    const Token head = peek();
    Expr e = atom();
    std::vector<std::unique_ptr<Nesting>> trailers;  // a chain xs[0][1](...) nests like brackets
    while (true) {
      const Token& t = peek();
      if (t.is_op("[")) {
        trailers.push_back(std::make_unique<Nesting>(*this, t));
        e = index(std::move(e));
      } else if (t.is_op("(")) {
        if (e.kind != ExprKind::Name || !trailers.empty())
          fail(t, "PyLite calls only functions by name and .append(...)");
        trailers.push_back(std::make_unique<Nesting>(*this, t));
        Expr call = node(ExprKind::CallName, head);
        call.name = e.name;
        call.operands = arguments();
        e = std::move(call);
      } else if (t.is_op(".")) {
        trailers.push_back(std::make_unique<Nesting>(*this, t));
        e = method(std::move(e));
      } else {
        return e;
      }
    }
  }

  Expr index(Expr container) {
    const Token open = next();
    Expr e = node(ExprKind::Index, open);
    e.line = container.line;
    e.column = container.column;
    e.operands.push_back(std::move(container));
    if (peek().is_op("]")) fail(peek(), "expected an index inside []");
    if (peek().is_op(":")) fail(peek(), "slices are not supported in PyLite");
    e.operands.push_back(expression());
    if (peek().is_op(":")) fail(peek(), "slices are not supported in PyLite");
    if (peek().is_op(",")) fail(peek(), "tuple indices are not supported in PyLite");
    expect_op("]", "after the index");
    return e;
  }

  Expr method(Expr receiver) {
    next();  // '.'
    const Token name = next();
    if (name.kind != TokenKind::Name) fail(name, "expected a method name after '.', found " + describe(name));
    if (name.text != "append") fail(name, "'." + name.text + "' is not supported in PyLite (only .append(...))");
    if (!peek().is_op("(")) fail(peek(), "PyLite only calls .append, as xs.append(e)");
    Expr e = node(ExprKind::Append, name);
    e.line = receiver.line;
    e.column = receiver.column;
    e.operands.push_back(std::move(receiver));
    for (auto& a : arguments()) e.operands.push_back(std::move(a));
    return e;
  }

  std::vector<Expr> arguments() {
    next();  // '('
    std::vector<Expr> args;
    while (!peek().is_op(")")) {
      const Token& t = peek();
      if (t.is_op("*")) fail(t, "argument unpacking is not supported in PyLite");
      if (t.kind == TokenKind::Name && peek(1).is_op("=")) fail(t, "keyword arguments are not supported in PyLite");
      args.push_back(expression());
      if (peek().is_keyword("for")) fail(peek(), "generator expressions are not supported in PyLite");
      if (!peek().is_op(")")) expect_op(",", "or ')' between the arguments");
    }
    next();
    return args;
  }

  Expr atom() {
    if (peek().is_op("*")) fail(peek(), "unpacking is not supported in PyLite");
    const Token t = next();
    switch (t.kind) {
      case TokenKind::Name: check_name(t); return name_expr(t);
      case TokenKind::Number: {
        Expr e = node(ExprKind::Int, t);
        e.number = t.number;
        return e;
      }
      case TokenKind::Keyword:
        if (t.text == "True" || t.text == "False") {
          Expr e = node(ExprKind::Bool, t);
          e.number = t.text == "True";
          return e;
        }
        if (t.text == "None") return node(ExprKind::None, t);
        if (t.text == "lambda" || t.text == "yield" || t.text == "await")
          fail(t, "'" + t.text + "' is not supported in PyLite");
        fail(t, "expected an expression, found " + describe(t));
      case TokenKind::Op:
        if (t.text == "(") return parenthesized(t);
        if (t.text == "[") return list_display(t);
        fail(t, "expected an expression, found " + describe(t));
      default: fail(t, "expected an expression, found " + describe(t));
    }
  }

  Expr parenthesized(const Token& open) {
    if (peek().is_op(")")) fail(open, "tuples are not supported in PyLite");
    Expr e = expression();
    if (peek().is_op(",")) fail(peek(), "tuples are not supported in PyLite");
    if (peek().is_keyword("for")) fail(peek(), "generator expressions are not supported in PyLite");
    expect_op(")", "to close the parenthesis");
    return e;
  }

  Expr list_display(const Token& open) {
    Expr e = node(ExprKind::List, open);
    while (!peek().is_op("]")) {
      if (peek().is_op("*")) fail(peek(), "unpacking is not supported in PyLite");
      e.operands.push_back(expression());
      if (peek().is_keyword("for")) fail(peek(), "list comprehensions are not supported in PyLite");
      if (!peek().is_op("]")) expect_op(",", "or ']' between the list's items");
    }
    next();
    return e;
  }

  // ---- call-string literals
  Literal literal(int depth) {
    const Token t = next();
    if (depth > kMaxExpressionDepth) fail(t, "argument too deeply nested");
    Literal l;
    if (t.is_op("-") && peek().kind == TokenKind::Number) {
      l.number = -next().number;
    } else if (t.kind == TokenKind::Number) {
      l.number = t.number;
    } else if (t.is_keyword("True") || t.is_keyword("False")) {
      l.type = Value::Type::Bool;
      l.number = t.text == "True";
    } else if (t.is_op("[")) {
      l.type = Value::Type::List;
      while (!peek().is_op("]")) {
        l.items.push_back(literal(depth + 1));
        if (!peek().is_op("]")) expect_op(",", "or ']' between the list's items");
      }
      next();
    } else {
      fail(t, "a call's arguments are int, bool or list literals, found " + describe(t));
    }
    return l;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int block_depth_ = 0;
  int loop_depth_ = 0;
  int expression_depth_ = 0;
  Token statement_head_;  // the first token of the statement being parsed
};

// ---------------------------------------------------------------------------------------------
// Name resolution: which names are local (assigned anywhere in the function, as CPython's
// symbol table decides), their co_varnames order, and what every other name refers to.

class Resolver {
 public:
  Resolver(const Module& module, Function& f) : module_(module), f_(f) {}

  void run() {
    for (const auto& s : f_.body) collect_assigned(s);
    for (const auto& p : f_.locals) {
      assigned_.insert(p);
      slots_.emplace(p, static_cast<int>(slots_.size()));
    }
    for (const auto& s : f_.body) order(s);
    for (auto& s : f_.body) resolve(s);
  }

 private:
  void collect_assigned(const Stmt& s) {
    for (const auto& t : s.targets)
      if (t.kind == ExprKind::Name) assigned_.insert(t.name);
    for (const auto& b : s.body) collect_assigned(b);
    for (const auto& b : s.orelse) collect_assigned(b);
  }

  void see(const std::string& name) {
    if (assigned_.count(name) && slots_.emplace(name, static_cast<int>(slots_.size())).second) f_.locals.push_back(name);
  }

  // The order in which CPython's code generator first emits each name: a value before the
  // target it is stored to, an augmented target before its value, a loop's iterable before its
  // variable, a callee before its arguments. Dead code counts (CPython compiles it, then drops it).
  void order(const Expr& e) {
    if (e.kind == ExprKind::Name || e.kind == ExprKind::CallName) see(e.name);
    for (const auto& o : e.operands) order(o);
  }

  void order(const Stmt& s) {
    switch (s.kind) {
      case StmtKind::Assign:
        order(*s.value);
        for (const auto& t : s.targets) order(t);
        break;
      case StmtKind::AugAssign:
      case StmtKind::For:
        if (s.kind == StmtKind::AugAssign) order(s.targets[0]);
        order(*s.value);
        if (s.kind == StmtKind::For) order(s.targets[0]);
        break;
      default:
        if (s.value) order(*s.value);
    }
    for (const auto& b : s.body) order(b);
    for (const auto& b : s.orelse) order(b);
  }

  int slot(const std::string& name) const { return slots_.at(name); }

  [[noreturn]] static void fail(const Expr& e, const std::string& message) { throw SyntaxError(e.line, e.column, message); }

  void resolve(Stmt& s) {
    for (auto& t : s.targets) resolve(t, false);
    if (s.value) resolve(*s.value, s.kind == StmtKind::For);
    for (auto& b : s.body) resolve(b);
    for (auto& b : s.orelse) resolve(b);
  }

  void resolve(Expr& e, bool is_loop_iterable) {
    for (auto& o : e.operands) resolve(o, false);
    if (e.kind == ExprKind::Name) {
      if (assigned_.count(e.name)) {
        e.kind = ExprKind::Local;
        e.slot = slot(e.name);
      } else if (module_.find(e.name) >= 0) {
        fail(e, "functions are not values in PyLite: call '" + e.name + "(...)'");
      } else if (is_pylite_builtin(e.name)) {
        fail(e, "PyLite only calls the builtin '" + e.name + "'");
      } else if (is_python_builtin(e.name)) {
        fail(e, "the builtin '" + e.name + "' is not supported in PyLite");
      } else {
        e.kind = ExprKind::Global;
      }
    } else if (e.kind == ExprKind::CallName) {
      Builtin builtin;
      if (assigned_.count(e.name)) {
        e.kind = ExprKind::CallLocal;
        e.slot = slot(e.name);
      } else if (module_.find(e.name) >= 0) {
        e.kind = ExprKind::CallFunction;
        e.slot = module_.find(e.name);
      } else if (is_pylite_builtin(e.name, &builtin)) {
        if (builtin == Builtin::Range && !is_loop_iterable)
          fail(e, "PyLite supports range() only as a for loop's iterable");
        e.kind = ExprKind::CallBuiltin;
        e.builtin = builtin;
      } else if (is_python_builtin(e.name)) {
        fail(e, "the builtin '" + e.name + "' is not supported in PyLite");
      } else {
        e.kind = ExprKind::CallGlobal;
      }
    }
  }

  const Module& module_;
  Function& f_;
  std::unordered_set<std::string> assigned_;
  std::unordered_map<std::string, int> slots_;  // co_varnames positions so far
};

}  // namespace

Module parse_module(const std::string& source) {
  Module module = Parser(tokenize(source)).module();
  for (auto& f : module.functions) Resolver(module, f).run();
  return module;
}

CallSpec parse_call(const std::string& call) { return Parser(tokenize(call)).call(); }

std::string literal_repr(const Literal& literal) {
  switch (literal.type) {
    case Value::Type::Bool: return literal.number ? "True" : "False";
    case Value::Type::List: {
      std::string out = "[";
      for (size_t i = 0; i < literal.items.size(); ++i) out += (i ? ", " : "") + literal_repr(literal.items[i]);
      return out + "]";
    }
    default: return std::to_string(literal.number);
  }
}

// ---------------------------------------------------------------------------------------------
// Program

Program Program::parse(const std::string& source) {
  Program p;
  p.source_ = source;
  p.module_ = std::make_shared<const Module>(parse_module(source));
  return p;
}

std::vector<std::string> Program::function_names() const {
  std::vector<std::string> names;
  for (const auto& f : module_->functions) names.push_back(f.name);
  return names;
}

}  // namespace beyond::wm
