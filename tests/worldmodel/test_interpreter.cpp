// The PyLite interpreter against real CPython 3.11: hand-written programs traced by both and
// compared event by event (one Python process for the whole batch), then the interpreter's own
// contract checked by hand: SyntaxError positions, the limits and their outcomes, call strings.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/interpreter.h"

namespace beyond::wm {
namespace {

struct Case {
  const char* what;
  std::string source;
  std::vector<std::string> calls;
};

// Each program runs under every call; the traces are CPython's to decide.
const std::vector<Case>& hand_written_cases() {
  static const std::vector<Case> cases = {
      {"negative // and %", R"(def f(a, b):
    q = a // b
    r = a % b
    return [q, r, -a // b, -a % b, a // -b, a % -b]
)",
       {"f(7, 2)", "f(-7, 2)", "f(7, -3)", "f(0, 5)", "f(5, 0)", "f(True, 2)", "f(-9223372036854775807, 1)"}},
      {"short-circuit returns the deciding operand; calls show what ran", R"(def t(x):
    return x
def f(a):
    b = t(a) and t(0) or t(5)
    c = t(a) or t(7)
    d = [] and t(3)
    e = 0 or [] or t(a)
    g = not t(a)
    return [b, c, d, e, g]
)",
       {"f(0)", "f(3)", "f([1])"}},
      {"loop exhaustion, while false at the first test", R"(def f(n):
    s = 0
    for i in range(n):
        s += i
    k = 10
    while k < n:
        k += 1
    return s
)",
       {"f(0)", "f(3)", "f(12)"}},
      {"break, continue and else on both loop kinds", R"(def f(xs):
    total = 0
    for x in xs:
        if x < 0:
            continue
        if x > 100:
            break
        total += x
    else:
        total = -total
    i = 0
    while i < len(xs):
        i += 1
        if xs[i - 1] == 7:
            break
        elif xs[i - 1] == 8:
            continue
        total *= 2
    else:
        total += 1000
    return total
)",
       {"f([])", "f([1, -2, 3])", "f([1, 200, 3])", "f([8, 7, 1])", "f([8, 8])"}},
      {"loop else clauses, a while with a break in an else, while True", R"(def f(n):
    while n > 0:
        n -= 1
        if n == 2:
            pass
    else:
        if n == 0:
            n = 100
        else:
            return -1
    return n
def g(n):
    while True:
        n += 1
        if n > 3:
            break
    else:
        n = 1000
    for i in range(n):
        if i == 2:
            break
    else:
        n = 50
    for i in range(2):
        n += i
    else:
        n = -n
    return n
def h(n):
    while n < 10:
        n += 1
    else:
        while n > 5:
            n -= 2
            if n == 7:
                break
        else:
            n = 0
)",
       {"f(3)", "f(0)", "g(0)", "g(5)", "h(0)", "h(12)"}},
      {"list aliasing and in-place += / *=", R"(def f(a):
    b = a
    b.append(1)
    c = [a, a]
    c[0].append(2)
    a += [3]
    a *= 2
    x = y = []
    y.append(len(c))
    m = [[0] * 2] * 2
    m[0][1] = 7
    return [c, x, m]
)",
       {"f([])", "f([5])"}},
      {"list operations", R"(def f(xs, n):
    ys = xs + [n]
    zs = xs * n
    ws = n * [True]
    xs += xs
    xs[-1] = 9
    xs[0] += 4
    vs = [1, 2]
    vs *= 0
    k = 2
    k *= [3]
    return [ys, zs, ws, xs, vs, k, [] + [], xs[-2]]
)",
       {"f([1, 2], 2)", "f([3], 0)", "f([3], -1)"}},
      {"self-reference", R"(def f(n):
    xs = [n]
    xs.append(xs)
    ys = [xs, xs]
    return [xs == xs, ys]
)",
       {"f(1)"}},
      {"a call inside += and -=", R"(def g(x):
    return x * 2
def f(n):
    s = 0
    for i in range(n):
        s += g(i)
    s -= g(s)
    g(1)
    return s
)",
       {"f(3)"}},
      {"recursion", R"(def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
)",
       {"fact(5)", "fact(20)", "fib(5)", "fact(0)"}},
      {"exceptions propagating through two frames", R"(def f(a, b):
    return g(a, b)
def g(a, b):
    return h(a) // b
def h(a):
    xs = [1, 2]
    return xs[a]
)",
       {"f(0, 0)", "f(5, 1)", "f(1, 2)", "f([1], 1)", "f(-2, True)"}},
      {"every exception kind", R"(def f(x):
    if x == 0:
        return len(x)
    elif x == 1:
        return 1 < [1]
    elif x == 2:
        return max([])
    elif x == 3:
        for i in range(1, 5, 0):
            pass
    elif x == 4:
        return undefined_name
    elif x == 5:
        y = z
        z = 1
    elif x == 6:
        x.append(1)
    elif x == 7:
        return min()
    elif x == 8:
        return g(1)
    elif x == 9:
        return [1] - [1]
    elif x == 10:
        return -[1]
    elif x == 11:
        return x[0]
    elif x == 12:
        for i in x:
            pass
    elif x == 13:
        return abs([1])
    elif x == 14:
        return min(1, [2])
    elif x == 15:
        return undefined_fn(g(1, 2))
    elif x == 16:
        x[0] = 1
    elif x == 17:
        x += [1]
    elif x == 18:
        w += 1
        w = 0
    elif x == 19:
        x(1)
    elif x == 20:
        return [1, 2][True] + [1][-2]
    elif x == 21:
        return None + 1
    elif x == 22:
        return len(1, 2)
    elif x == 23:
        return [1].append()
    elif x == 24:
        ys = [1]
        return ys[[0]]
    elif x == 25:
        for i in range(1, [2]):
            pass
    elif x == 26:
        return x.append(g(1))
    elif x == 27:
        return max(5)
    elif x == 28:
        return None < None
    else:
        return x % 0
def g(a, b):
    return a
)",
       {"f(0)",  "f(1)",  "f(2)",  "f(3)",  "f(4)",  "f(5)",  "f(6)",  "f(7)",  "f(8)",  "f(9)",
        "f(10)", "f(11)", "f(12)", "f(13)", "f(14)", "f(15)", "f(16)", "f(17)", "f(18)", "f(19)",
        "f(20)", "f(21)", "f(22)", "f(23)", "f(24)", "f(25)", "f(26)", "f(27)", "f(28)", "f(29)"}},
      {"UnboundLocalError after a branch not taken", R"(def f(n):
    if n > 0:
        y = 1
    return y
)",
       {"f(1)", "f(0)"}},
      {"elif chains", R"(def f(n):
    if n > 10:
        r = 1
    elif n > 5:
        r = 2
    elif n > 0:
        r = 3
    else:
        r = 4
    if n == 1:
        pass
    elif n == 2:
        pass
    return r
)",
       {"f(11)", "f(6)", "f(1)", "f(2)", "f(0)"}},
      {"nested loops", R"(def f(n):
    out = []
    for i in range(n):
        for j in range(i):
            if j == 2:
                break
            out.append(j)
        else:
            out.append(-i)
    k = 0
    while k < n:
        for x in out:
            k += 1
        k += 1
    return out
)",
       {"f(4)", "f(0)"}},
      {"for over a list that grows", R"(def f(xs):
    for x in xs:
        if len(xs) < 6:
            xs.append(x + 1)
    return xs
)",
       {"f([1, 2])", "f([])"}},
      {"chained and list comparisons", R"(def f(a, b, c):
    r = [a < b < c, a < b > c, a == b == c, a != b != c, 1 < 2 < 3 < 4, [1, 2] < [1, 3], [1] < [1, 0]]
    s = [[] == [], [1, [2]] == [1, [2]], 1 == [1], None == None, [True] == [1], a <= b >= c, [2] > [1, 5]]
    return r + s
)",
       {"f(1, 2, 3)", "f(3, 2, 1)", "f(2, 2, 2)", "f(True, 1, False)"}},
      {"bools are ints", R"(def f(a):
    return [True + 1, True * 3, False - 1, True // 1, -True, +False, True + True, abs(-True), a + True, True == 1]
)",
       {"f(True)", "f(5)"}},
      {"min and max forms", R"(def f(xs, a, b):
    r = [min(xs), max(xs), min(a, b), max(a, b, 0), min([[1], [0, 5]]), max(True, 1), max(1, True)]
    return r + [min(0, False), max([3, 3]), len(xs), max(xs, [0])]
)",
       {"f([3, 1, 2], 4, -4)", "f([5], True, 2)"}},
      {"falling off the end, return without a value", R"(def f(n):
    x = n + 1
    if x > 100:
        return x
def g(n):
    return
def h(n):
    for i in range(n):
        pass
def k(n):
    while n > 0:
        n -= 1
        if n == 5:
            return None
def m(n):
    if n:
        pass
    else:
        n = 2
def p(n):
    while True:
        break
def q(n):
    x = g(n)
    return [x, x == None, not x, [x]]
)",
       {"f(1)", "f(200)", "g(0)", "h(2)", "h(0)", "k(3)", "k(9)", "m(0)", "m(1)", "p(0)", "q(0)"}},
      {"locals in co_varnames order", R"(def f(n):
    a += b
    b = 1
def g(n):
    xs[i] += v
    v = i = xs = 1
def h(n):
    q = k(z)
    k = z = 0
def m(p, q):
    c = p
    for i in range(q):
        d = c + i
        c = d
    if 0:
        dead = 1
    return c
def r(n):
    for i in xs:
        pass
    xs = [n, e]
    e = 0
def s(n):
    t = [y, x]
    x = y = 1
    return t
)",
       {"f(1)", "g(1)", "h(1)", "r(1)", "s(1)"}},
      {"a def whose body is one return; nested calls in arguments; a call in a while condition", R"(def sq(x):
    return x * x
def f(a, b):
    return sq(sq(a) + sq(b)) - sq(a)
def cond(n):
    return n > 0
def w(n):
    c = 0
    while cond(n):
        n -= 1
        c += 1
    return c
def later(n):
    return defined_after(n) + 1
def defined_after(n):
    return n * 3
def two(a, b):
    return a - b
def both(n):
    return two(sq(n), sq(n + 1))
)",
       {"f(1, 2)", "w(3)", "w(0)", "later(4)", "both(2)"}},
      {"comments, blank lines, odd spacing and indentation", "# a comment\n\ndef f( a ,b ):  # header\n\n  # inside\n  if a<b :\n        x=[ 1,2 , ]\n        # deeper\n\n  else :\n     x = -(- a)\n  return x  \n\n# end",
       {"f(1, 2)", "f(3, 2)"}},
      {"int64 edges that stay inside", R"(def f(n):
    lo = -9223372036854775807 - 1
    s = 0
    for i in range(9223372036854775800, 9223372036854775807, 3):
        s += 1
    for i in range(lo + 2, lo, -1):
        s += 1
    return [lo % -1, lo // 1, n // -1, s, abs(lo + 1)]
)",
       {"f(9223372036854775807)"}},
      {"arguments of every literal kind", R"(def f(a, xs, b):
    return [a, xs, b, xs[1][0]]
)",
       {"f(-3, [1, [2, 3], []], True)", "f(0, [False, [-1]], False)"}},
  };
  return cases;
}

TEST(PyLiteInterpreter, TracesMatchCPythonOnHandWrittenPrograms) {
  std::vector<std::pair<std::string, std::string>> batch;
  std::vector<const char*> what;
  for (const auto& c : hand_written_cases())
    for (const auto& call : c.calls) {
      batch.emplace_back(c.source, call);
      what.push_back(c.what);
    }
  const auto python = testing::cpython_traces(batch);
  ASSERT_EQ(python.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& [source, call] = batch[i];
    const Trace ours = run_call(Program::parse(source), call);
    EXPECT_TRUE(ours.matches_python_semantics()) << what[i] << ": " << call;
    if (auto diff = testing::first_difference(source, call, ours, python[i])) ADD_FAILURE() << what[i] << ": " << *diff;
  }
}

// Spot checks of the semantics by hand, independent of CPython being installed.
TEST(PyLiteInterpreter, FloorDivisionAndModuloFollowPython) {
  const auto program = Program::parse("def f(a, b):\n    return [a // b, a % b]\n");
  EXPECT_EQ(run_call(program, "f(-7, 2)").result, "[-4, 1]");
  EXPECT_EQ(run_call(program, "f(7, -2)").result, "[-4, -1]");
  EXPECT_EQ(run_call(program, "f(-7, -2)").result, "[3, -1]");
  const Trace zero = run_call(program, "f(1, 0)");
  EXPECT_EQ(zero.outcome, Outcome::Raised);
  EXPECT_EQ(zero.result, "ZeroDivisionError");
}

TEST(PyLiteInterpreter, FallingOffTheEndReturnsAtTheLastLineRun) {
  const auto program = Program::parse("def f(n):\n    for i in range(n):\n        pass\n");
  const Trace t = run_call(program, "f(1)");
  // call 1, for 2, pass 3, for 2 (exhausted), return at 2
  ASSERT_EQ(t.events.size(), 5u);
  EXPECT_EQ(t.events[3].line, 2);
  EXPECT_EQ(t.events[4].kind, EventKind::Return);
  EXPECT_EQ(t.events[4].line, 2);
  EXPECT_EQ(t.events[4].value, "None");
  EXPECT_EQ(t.events[3].locals, (Locals{{"n", "1"}, {"i", "0"}}));
}

// ---------------------------------------------------------------------------------------------
// Syntax errors: line and column counted by hand.

struct BadProgram {
  std::string source;
  int line, column;
  std::string says;  // part of the message
};

TEST(PyLiteParser, SyntaxErrorsNameLineAndColumn) {
  const std::vector<BadProgram> bad = {
      {"def f(x):\n    y = x / 2\n    return y\n", 2, 11, "'/' is not supported in PyLite (only // is)"},
      {"def f(x)\n    return x\n", 1, 9, "expected ':'"},
      {"def f(x):\n    return (x + 1\n", 2, 12, "'(' was never closed"},
      {"def f(x):\n    return x + 1)\n", 2, 17, "unmatched ')'"},
      {"def f(x):\n    return [x + 1)\n", 2, 18, "does not match"},
      {"def f(x):\n    y = 1\n  return y\n", 3, 3, "unindent does not match"},
      {"def f(x):\n    y = 1\n        return y\n", 3, 9, "unexpected indent"},
      {"def f(x):\nreturn x\n", 2, 1, "expected an indented block"},
      {"x = 1\n", 1, 1, "function definitions only"},
      {"def f(x):\n    return 'a'\n", 2, 12, "strings are not supported"},
      {"def f(x):\n    break\n", 2, 5, "'break' outside loop"},
      {"def f(x):\n    for i in x:\n        pass\n    else:\n        continue\n", 5, 9, "'continue' outside loop"},
      {"def f(x):\n    return x ** 2\n", 2, 14, "'**' is not supported"},
      {"def f(x):\n    return 1.5\n", 2, 12, "floats are not supported"},
      {"def f(x):\n    x = 1; y = 2\n", 2, 10, "one statement per line"},
      {"def f(x):\n    return x + \\\n        1\n", 2, 16, "line continuations"},
      {"def f(x):\n    print(x)\n", 2, 5, "'print' is not supported"},
      {"def f(x):\n    return lambda: 1\n", 2, 12, "'lambda' is not supported"},
      {"def f(x, x):\n    return x\n", 1, 10, "duplicate argument"},
      {"def f(x):\n    return x\ndef f(y):\n    return y\n", 3, 5, "defined twice"},
      {"def f(x):\n    def g(y):\n        return y\n", 2, 5, "nested functions"},
      {"def f(x):\n    x + 1 = 2\n", 2, 5, "cannot assign"},
      {"def f(x):\n    if x: return 1\n", 2, 11, "starts on its own line"},
      {"def f(x):\n    return x.pop()\n", 2, 14, "only .append"},
      {"def f(x):\n    y = range(3)\n", 2, 9, "range() only as a for loop's iterable"},
      {"def f(x):\n    return f\n", 2, 12, "functions are not values"},
      {"def f(x):\n    return x[1:2]\n", 2, 15, "slices are not supported"},
      {"def f(x):\n    return (1, 2)\n", 2, 14, "tuples are not supported"},
      {"def f(x):\n    return x if x else 0\n", 2, 14, "conditional expressions"},
      {"def f(x):\n    return 1 in x\n", 2, 14, "'in' comparisons"},
      {"def f(x):\n\treturn x\n", 2, 1, "spaces only"},
      {"def f(x):\n    return 007\n", 2, 12, "leading zeros"},
      {"def f(x):\n    return 9223372036854775808\n", 2, 12, "too large"},
      {"def f(x):\n    else:\n        pass\n", 2, 5, "'else' without"},
  };
  for (const auto& b : bad) {
    try {
      Program::parse(b.source);
      ADD_FAILURE() << "accepted:\n" << b.source;
    } catch (const SyntaxError& e) {
      EXPECT_EQ(e.line, b.line) << e.what() << "\n" << b.source;
      EXPECT_EQ(e.column, b.column) << e.what() << "\n" << b.source;
      EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << e.what() << "\n" << b.source;
      const std::string prefix = "line " + std::to_string(e.line) + ", col " + std::to_string(e.column) + ": ";
      EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
    }
  }
}

std::string nested_ifs(int levels) {
  std::string s = "def f(x):\n";
  for (int i = 0; i < levels; ++i) s += std::string(4 * (i + 1), ' ') + "if x:\n";
  return s + std::string(4 * (levels + 1), ' ') + "x = 1\n";
}

std::string nested_loops(int levels) {
  std::string s = "def f(x):\n";
  for (int i = 0; i < levels; ++i) s += std::string(i + 1, ' ') + "while x:\n";
  return s + std::string(levels + 1, ' ') + "break\n";
}

TEST(PyLiteParser, DeepNestingIsASyntaxErrorNotACrash) {
  EXPECT_NO_THROW(Program::parse(nested_ifs(40)));
  EXPECT_THROW(Program::parse(nested_ifs(60)), SyntaxError);
  EXPECT_NO_THROW(Program::parse(nested_loops(20)));  // CPython's limit: 20 nested loops
  EXPECT_THROW(Program::parse(nested_loops(21)), SyntaxError);
  const auto parens = [](int n) {
    return "def f(x):\n    return " + std::string(n, '(') + "x" + std::string(n, ')') + "\n";
  };
  EXPECT_NO_THROW(Program::parse(parens(90)));
  EXPECT_THROW(Program::parse(parens(5000)), SyntaxError);
  EXPECT_THROW(Program::parse("def f(x):\n    return " + std::string(5000, '-') + "x\n"), SyntaxError);
  std::string nots = "def f(x):\n    return ";
  for (int i = 0; i < 3000; ++i) nots += "not ";
  EXPECT_THROW(Program::parse(nots + "x\n"), SyntaxError);
  std::string elifs = "def f(x):\n    if x == 0:\n        pass\n";
  for (int i = 1; i < 5000; ++i) elifs += "    elif x == " + std::to_string(i) + ":\n        pass\n";
  EXPECT_THROW(Program::parse(elifs), SyntaxError);
  // CPython's compiler gives up on a + chain of about 3000 terms; PyLite refuses earlier.
  std::string sum = "def f(x):\n    return x";
  for (int i = 0; i < 3000; ++i) sum += " + x";
  EXPECT_THROW(Program::parse(sum + "\n"), SyntaxError);
  std::string flat = "def f(x):\n    return x";
  for (int i = 0; i < 500; ++i) flat += " + x";
  EXPECT_NO_THROW(Program::parse(flat + "\n"));
}

// ---------------------------------------------------------------------------------------------
// Limits

int count(const Trace& t, EventKind kind) {
  int n = 0;
  for (const auto& e : t.events) n += e.kind == kind;
  return n;
}

TEST(PyLiteInterpreter, StepLimitEndsLikeAnUncaughtException) {
  const auto program = Program::parse("def g(n):\n    while True:\n        pass\ndef f(n):\n    return g(n)\n");
  InterpreterLimits limits;
  limits.max_steps = 50;
  const Trace t = run_call(program, "f(1)", limits);
  EXPECT_EQ(t.outcome, Outcome::StepLimit);
  EXPECT_EQ(t.result, "StepLimitExceeded");
  EXPECT_FALSE(t.matches_python_semantics());
  EXPECT_EQ(count(t, EventKind::Line), 50);
  ASSERT_GE(t.events.size(), 4u);
  const auto n = t.events.size();
  // g: exception, return None; then f: exception at its calling line, return None
  EXPECT_EQ(t.events[n - 4].kind, EventKind::Exception);
  EXPECT_EQ(t.events[n - 4].function, "g");
  EXPECT_EQ(t.events[n - 4].value, "StepLimitExceeded");
  EXPECT_EQ(t.events[n - 3].kind, EventKind::Return);
  EXPECT_EQ(t.events[n - 3].value, "None");
  EXPECT_EQ(t.events[n - 2].kind, EventKind::Exception);
  EXPECT_EQ(t.events[n - 2].function, "f");
  EXPECT_EQ(t.events[n - 2].line, 5);
  EXPECT_EQ(t.events[n - 1].line, 5);
}

TEST(PyLiteInterpreter, LeavingInt64IsOverflowNeverAWrap) {
  const auto program = Program::parse("def f(n):\n    return n * n\ndef g(n):\n    return -n - 1\ndef h(n):\n    return abs(n - 1)\n");
  EXPECT_EQ(run_call(program, "f(3037000499)").result, "9223372030926249001");  // floor(sqrt(2^63 - 1))^2
  const Trace t = run_call(program, "f(3037000500)");
  EXPECT_EQ(t.outcome, Outcome::Overflow);
  EXPECT_EQ(t.result, "OverflowError");
  EXPECT_EQ(run_call(program, "g(9223372036854775807)").result, "-9223372036854775808");
  EXPECT_EQ(run_call(program, "g(-9223372036854775807)").result, "9223372036854775806");
  EXPECT_EQ(run_call(program, "h(-9223372036854775807)").outcome, Outcome::Overflow);
  const auto div = Program::parse("def f(n):\n    m = n - 1\n    return [m % -1, m // -1]\n");
  EXPECT_EQ(run_call(div, "f(-9223372036854775807)").outcome, Outcome::Overflow);
}

TEST(PyLiteInterpreter, CallDepthLimitIsARecursionError) {
  const auto program = Program::parse("def f(n):\n    return f(n + 1)\n");
  InterpreterLimits limits;
  limits.max_call_depth = 10;
  const Trace t = run_call(program, "f(0)", limits);
  EXPECT_EQ(t.outcome, Outcome::DepthLimit);
  EXPECT_EQ(t.result, "RecursionError");
  EXPECT_EQ(count(t, EventKind::Call), 10);
  EXPECT_EQ(count(t, EventKind::Exception), 10);
  EXPECT_EQ(count(t, EventKind::Return), 10);
}

TEST(PyLiteInterpreter, ListLengthAndWorkLimitsBoundASingleLine) {
  InterpreterLimits limits;
  limits.max_list_length = 100;
  const auto repeat = Program::parse("def f(n):\n    xs = [0] * n\n    return len(xs)\n");
  EXPECT_EQ(run_call(repeat, "f(100)", limits).result, "100");
  EXPECT_EQ(run_call(repeat, "f(101)", limits).outcome, Outcome::StepLimit);
  EXPECT_EQ(run_call(repeat, "f(9223372036854775807)", limits).outcome, Outcome::StepLimit);
  const auto grow = Program::parse("def f(xs):\n    for x in xs:\n        xs.append(x)\n");
  EXPECT_EQ(run_call(grow, "f([1])", limits).outcome, Outcome::StepLimit);

  // Each line copies 2000 elements: the work budget stops it long before the step budget.
  const auto copy = Program::parse("def f(n):\n    xs = [0] * 1000\n    while True:\n        ys = xs + xs\n");
  InterpreterLimits work;
  work.max_work = 1000000;
  const Trace t = run_call(copy, "f(0)", work);
  EXPECT_EQ(t.outcome, Outcome::StepLimit);
  EXPECT_LT(count(t, EventKind::Line), 1000);
}

TEST(PyLiteInterpreter, WorkBudgetBoundsTheTraceOfManyLocals) {
  // 5000 locals bound one by one: event k lists k locals, so the trace would hold 12.5M pairs.
  std::string s = "def f(n):\n";
  for (int i = 0; i < 5000; ++i) s += "    v" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  const Trace t = run_call(Program::parse(s + "    return n\n"), "f(0)");
  EXPECT_EQ(t.outcome, Outcome::StepLimit);
  size_t pairs = 0;
  for (const auto& e : t.events) pairs += e.locals.size();
  EXPECT_LT(pairs, 64000000u / 64);  // each local in an event costs at least 64 of max_work
}

TEST(PyLiteInterpreter, DeepOrSelfReferentialListsEndTheRunWithoutCrashing) {
  InterpreterLimits limits;
  limits.max_steps = 5000;
  const auto nest = Program::parse("def f(n):\n    x = []\n    while True:\n        x = [x]\n");
  EXPECT_EQ(run_call(nest, "f(0)", limits).outcome, Outcome::DepthLimit);  // repr recursion, as CPython's
  const auto cycle = Program::parse(
      "def f(n):\n    a = []\n    a.append(a)\n    b = []\n    b.append(b)\n    return a == b\n");
  EXPECT_EQ(run_call(cycle, "f(0)").outcome, Outcome::DepthLimit);
}

TEST(PyLiteInterpreter, DeepRecursionWithDeepBlocksStaysOnTheStack) {
  std::string s = "def f(n):\n";
  for (int i = 0; i < 45; ++i) s += std::string(4 * (i + 1), ' ') + "if n >= 0:\n";
  s += std::string(4 * 46, ' ') + "return f(n + 1)\n";
  InterpreterLimits limits;
  limits.max_call_depth = 1000000;
  limits.max_steps = 10000000;
  const Trace t = run_call(Program::parse(s), "f(0)", limits);
  EXPECT_EQ(t.outcome, Outcome::DepthLimit);  // the stack guard, not a crash
}

// ---------------------------------------------------------------------------------------------
// Call strings

TEST(PyLiteInterpreter, CallStringsAreCheckedAndCanonical) {
  const auto program = Program::parse("def f(a, xs, b):\n    return a\ndef g():\n    return 1\n");
  EXPECT_EQ(canonical_call(program, "f( 3,[1,-2 ,[ ]] ,True)"), "f(3, [1, -2, []], True)");
  EXPECT_EQ(canonical_call(program, "g()"), "g()");
  EXPECT_EQ(run_call(program, "g( )").result, "1");
  EXPECT_EQ(program.function_names(), (std::vector<std::string>{"f", "g"}));
  EXPECT_THROW(run_call(program, "h(1)"), InputError);
  EXPECT_THROW(run_call(program, "f(1, [2])"), InputError);
  EXPECT_THROW(canonical_call(program, "g(1)"), InputError);
  for (const char* bad : {"f(1, [2], True", "f 1", "f(x, [], True)", "f(1 + 1, [], True)", "f(1, [2], True) 3",
                          "f(1, [2], 'a')", "f(-True, [], True)", "", "f(1, [2], True)\nf(1, [2], True)"})
    EXPECT_THROW(run_call(program, bad), SyntaxError) << bad;
}

}  // namespace
}  // namespace beyond::wm
