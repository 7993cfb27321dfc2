// PyLite on inputs nobody meant to write: random bytes, soups of PyLite's own tokens and random
// mutations of valid programs. Each must end in a parsed Program and a well-formed trace, or a
// SyntaxError / InputError: no crash, no hang. Then CPython judges: mutants that ran to a return
// or a Python exception must trace identically, and every text PyLite rejects as plain Python
// syntax (a message not mentioning PyLite) must be rejected by CPython's compile() too, while
// every text PyLite accepts must compile.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/ast.h"
#include "worldmodel/interpreter.h"

namespace beyond::wm {
namespace {

InterpreterLimits fuzz_limits() {
  InterpreterLimits limits;
  limits.max_steps = 2000;
  limits.max_call_depth = 60;
  limits.max_list_length = 2000;
  limits.max_work = 2000000;
  return limits;
}

// Valid programs to mutate: between them every statement and expression kind of PyLite.
const std::vector<std::string>& seed_programs() {
  static const std::vector<std::string> seeds = {
      R"(def f(n, xs):
    s = 0
    for i in range(n):
        if i % 2 == 0:
            s += i
        elif i > 3:
            continue
        else:
            s -= 1
    while s > 10:
        s = s // 2
    xs.append(s)
    return xs
)",
      R"(def g(a):
    return a * 2
def f(a, b):
    c = g(a) + g(b)
    if a < b < c and not b == 0:
        c -= 1
    ys = [a, b, c]
    ys[0] = -ys[-1]
    return max(ys) + min(a, b) + len(ys) + abs(c)
)",
      R"(def f(n, xs):
    total = 0
    for x in xs:
        if x < 0:
            break
        total += x
    else:
        total = total * 10
    k = n
    while k > 0:
        k -= 1
        if k == 2:
            pass
    return [total, k, xs + [n], xs * 2]
)",
      R"(def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
def f(n, m):
    a = fib(n % 8)
    b = a or m
    c = [] and a
    return [a, b, c, a // (m + 1), a % 3]
)",
      R"(def f(a, xs):
    b = xs
    b.append(a)
    for y in xs:
        if len(xs) < 5:
            xs.append(y + 1)
    xs[0] += 7
    xs += [True]
    return xs == b
)",
  };
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Inputs

std::string random_bytes(std::mt19937_64& rng) {
  const std::string common = "def f(x):\n    return ()[],:=+-*/%<>!#'\"\\.;\t 0123456789abcdefghijklmnopqrstuvwxyz";
  std::uniform_int_distribution<int> length(0, 120), byte(0, 255), pick(0, static_cast<int>(common.size()) - 1), coin(0, 3);
  std::string s;
  for (int n = length(rng); n > 0; --n)
    s += coin(rng) == 0 ? static_cast<char>(byte(rng)) : common[static_cast<size_t>(pick(rng))];
  return s;
}

std::string token_soup(std::mt19937_64& rng) {
  static const std::vector<std::string> tokens = {
      "def", "return", "if", "elif", "else", "while", "for", "in", "break", "continue", "pass", "and", "or",
      "not", "True", "False", "None", "f", "g", "x", "y", "xs", "n", "len", "min", "max", "abs", "range",
      "0", "1", "2", "10", "+", "-", "*", "//", "%", "<", "<=", ">", ">=", "==", "!=", "=", "+=", "-=", "*=",
      "(", ")", "[", "]", ",", ":", ".append", "\n", "\n    ", "\n        ", "\n            ", " ", " ", " "};
  std::uniform_int_distribution<int> length(1, 40), pick(0, static_cast<int>(tokens.size()) - 1), coin(0, 1);
  std::string s = coin(rng) ? "def f(x):\n    " : "";
  for (int n = length(rng); n > 0; --n) s += tokens[static_cast<size_t>(pick(rng))];
  return s + "\n";
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = s.find('\n', start)) != std::string::npos; start = end + 1) lines.push_back(s.substr(start, end - start));
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

std::string mutate(const std::string& source, std::mt19937_64& rng) {
  static const std::string alphabet = " \n()[]:,=+-*%<>.0123456789abfgnxy";
  auto uniform = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  std::string s = source;
  for (size_t rounds = 1 + uniform(3); rounds > 0; --rounds) {
    auto lines = split_lines(s);
    const size_t kind = uniform(8);
    if (kind < 4 && lines.size() > 1) {  // line-level: delete, duplicate, swap, re-indent
      const size_t i = uniform(lines.size()), j = uniform(lines.size());
      if (kind == 0) lines.erase(lines.begin() + static_cast<long>(i));
      if (kind == 1) lines.insert(lines.begin() + static_cast<long>(i), lines[i]);
      if (kind == 2) std::swap(lines[i], lines[j]);
      if (kind == 3) lines[i] = uniform(2) ? "    " + lines[i] : lines[i].substr(std::min<size_t>(4, lines[i].size()));
      s.clear();
      for (const auto& l : lines) s += l + "\n";
    } else if (!s.empty()) {  // character-level: delete, duplicate, swap, insert
      const size_t i = uniform(s.size());
      if (kind == 4) s.erase(i, 1);
      if (kind == 5) s.insert(i, 1, s[i]);
      if (kind == 6 && i + 1 < s.size()) std::swap(s[i], s[i + 1]);
      if (kind == 7) s.insert(i, 1, alphabet[uniform(alphabet.size())]);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Running

std::string random_argument(std::mt19937_64& rng) {
  static const std::vector<std::string> args = {"0", "1", "2", "3", "5", "-1", "-4", "True", "False", "[]", "[1, 2]", "[3, -1, 4]", "[0]"};
  return args[std::uniform_int_distribution<size_t>(0, args.size() - 1)(rng)];
}

// A call of the program's last function (the seeds define helpers first), with random arguments.
std::string random_call(const Program& program, std::mt19937_64& rng) {
  const auto& f = program.module().functions.back();
  std::string call = f.name + "(";
  for (int i = 0; i < f.n_params; ++i) call += (i ? ", " : "") + random_argument(rng);
  return call + ")";
}

// Calls and returns nest; the run's result is the entry's return value or the exception's name.
void expect_well_formed(const Trace& t, const std::string& source, const std::string& call) {
  int open = 0;
  for (const auto& e : t.events) {
    if (e.kind == EventKind::Call) ++open;
    if (e.kind == EventKind::Return) --open;
    ASSERT_GE(open, 0) << call << " on\n" << source;
    ASSERT_GT(e.line, 0) << call << " on\n" << source;
  }
  EXPECT_EQ(open, 0) << call << " on\n" << source;
  if (t.events.empty()) {
    EXPECT_EQ(t.outcome, Outcome::DepthLimit);
    return;
  }
  EXPECT_EQ(t.events.front().kind, EventKind::Call);
  EXPECT_EQ(t.events.back().kind, EventKind::Return);
  if (t.outcome == Outcome::Returned) {
    EXPECT_EQ(t.result, t.events.back().value);
  } else {
    EXPECT_EQ(t.events.back().value, "None");
  }
}

struct Verdict {
  std::string source;
  bool accepted = false;
  std::string error;  // the SyntaxError's message when rejected
};

// Parses and, if it parses, runs the program once; `ran` collects the runs CPython can check.
Verdict judge(const std::string& source, std::mt19937_64& rng, std::vector<std::pair<std::string, std::string>>* ran) {
  Verdict v{source, false, ""};
  Program program;
  try {
    program = Program::parse(source);
  } catch (const SyntaxError& e) {
    v.error = e.what();
    return v;
  }
  v.accepted = true;
  if (program.function_names().empty()) return v;
  const std::string call = random_call(program, rng);
  const Trace t = run_call(program, call, fuzz_limits());
  expect_well_formed(t, source, call);
  EXPECT_EQ(canonical_call(program, call), call);
  if (ran && t.matches_python_semantics()) ran->emplace_back(source, call);
  return v;
}

// CPython's verdict on each text: "" when compile() accepts it, else the error. One process.
std::vector<std::string> cpython_compile_errors(const std::vector<std::string>& sources) {
  namespace fs = std::filesystem;
  const auto stem = fs::temp_directory_path() / ("beyond_fuzz_" + std::to_string(::getpid()));
  const std::string script = stem.string() + ".py", in = stem.string() + ".in", out = stem.string() + ".out";
  std::ofstream(script) << "import sys, warnings\n"
                           "warnings.simplefilter('ignore')  # SyntaxWarnings: compiled is compiled\n"
                           "for line in open(sys.argv[1]):\n"
                           "    try:\n"
                           "        compile(bytes.fromhex(line.strip()), '<pylite>', 'exec')\n"
                           "        print('', flush=True)\n"
                           "    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:\n"
                           "        print(type(e).__name__ + ': ' + str(e).replace('\\n', ' ') or '?', flush=True)\n";
  {
    std::ofstream f(in);
    for (const auto& s : sources) {
      static const char* hex = "0123456789abcdef";
      std::string line;
      for (unsigned char c : s) line += {hex[c >> 4], hex[c & 15]};
      f << line << "\n";
    }
  }
  const std::string cmd = testing::python_executable() + " " + script + " " + in + " > " + out;
  const int status = std::system(cmd.c_str());
  std::vector<std::string> errors;
  std::ifstream result(out);
  for (std::string line; std::getline(result, line);) errors.push_back(line);
  for (const auto& p : {script, in, out}) fs::remove(p);
  if (status != 0 || errors.size() != sources.size())
    throw std::runtime_error("cpython compile check failed (exit " + std::to_string(status) + "): " + cmd);
  return errors;
}

bool outside_the_subset(const std::string& message) { return message.find("PyLite") != std::string::npos; }

// ---------------------------------------------------------------------------------------------

// Valid Python that PyLite leaves out: each must be refused with a message saying so.
TEST(PyLiteFuzz, PythonOutsideTheSubsetIsRefusedAsSuch) {
  const std::vector<std::string> bodies = {
      "return x / 2", "return x ** 2", "return 'a'", "return 1.5", "return (x, 1)", "return x, 1",
      "return x if x else 0", "return [y for y in x]", "return lambda: 1", "return x[1:2]", "return x[::2]",
      "return x.pop()", "return 1 in x", "return x is None", "x = 1; y = 2", "y = x + \\\n        1",
      "y = (x +\n        1)", "print(x)", "y = range(3)", "return f", "global z", "del x", "import os",
      "class C:\n        pass", "def g():\n        pass", "y: int = 1", "for a, b in x:\n        pass",
      "for x[0] in x:\n        pass", "a, b = 1, 2", "[a, b] = x", "return f(*x)", "return f(y=1)", "x //= 2",
      "x %= 2", "return ~x", "return x << 1", "return {1: 2}", "return ...", "return x.real", "if x: return 1",
      "while x: pass", "match x:\n        case 1:\n            pass", "return 0x10", "return 1_000", "return 1e3",
      "assert x", "return abs", "return __name__", "y = *x, 1", "return x @ x", "return (y := 1)",
      "try:\n        pass\n    except:\n        pass", "\treturn x", "return 1j", "xs = [\n        1]",
      "while x if x else 0:\n        pass", "return [x if x else 0]", "return f(x for x in x)", "return [*x]",
      "with x:\n        pass", "raise x", "return b'a'", "return x.append", "return (yield)", "x[0], x[1] = 1, 2",
      "for (y) in x:\n        pass", "return x[0:]", "return x[0, 1]", "return sorted(x)", "return x(1)(2)",
      "return [1][0](2)"};
  std::vector<std::string> sources;
  for (const auto& b : bodies) sources.push_back("def f(x):\n    " + b + "\n");
  for (const std::string top : {"x = 1\ndef f(x):\n    return x\n", "if True:\n    def f(x):\n        return x\n",
                                "@dec\ndef f(x):\n    return x\n", "def f(x, y=1):\n    return x\n",
                                "def f(*a):\n    return a\n", "def f(a: int):\n    return a\n",
                                "def f() -> int:\n    return 1\n", "def len(x):\n    return x\n",
                                "def f(x):\n    return x\ndef f(y):\n    return y\n", "def f(\xc3\xa9):\n    return 1\n",
                                "\xef\xbb\xbf" "def f(x):\n    return x\n", "def f(x):\n\x0c    return x\n"})
    sources.push_back(top);
  const auto python_errors = cpython_compile_errors(sources);
  for (size_t i = 0; i < sources.size(); ++i) {
    EXPECT_EQ(python_errors[i], "") << "CPython refuses (so this case is wrong):\n" << sources[i];
    try {
      Program::parse(sources[i]);
      ADD_FAILURE() << "PyLite accepts:\n" << sources[i];
    } catch (const SyntaxError& e) {
      EXPECT_TRUE(outside_the_subset(e.what())) << e.what() << "\n" << sources[i];
    }
  }
}

TEST(PyLiteFuzz, RandomBytesAndTokenSoupsNeverCrash) {
  std::mt19937_64 rng(20240611);
  int accepted = 0;
  for (int i = 0; i < 1500; ++i) accepted += judge(random_bytes(rng), rng, nullptr).accepted;
  for (int i = 0; i < 1500; ++i) accepted += judge(token_soup(rng), rng, nullptr).accepted;
  std::cout << "[fuzz] " << accepted << " of 3000 random texts parsed\n";
}

TEST(PyLiteFuzz, MutantsRunLikeCPythonAndAreRejectedOnlyWhenCPythonAgrees) {
  std::mt19937_64 rng(7);
  std::vector<Verdict> verdicts;
  std::vector<std::pair<std::string, std::string>> ran;
  for (const auto& seed : seed_programs()) verdicts.push_back(judge(seed, rng, &ran));
  for (const auto& seed : seed_programs()) ASSERT_TRUE(judge(seed, rng, nullptr).accepted) << seed;
  for (int i = 0; i < 2000; ++i) {
    const auto& seed = seed_programs()[static_cast<size_t>(i) % seed_programs().size()];
    verdicts.push_back(judge(mutate(seed, rng), rng, &ran));
  }
  // A few texts CPython refuses or accepts for reasons of its own: the direction must hold too.
  for (int i = 0; i < 500; ++i) verdicts.push_back(judge(token_soup(rng), rng, nullptr));

  std::vector<std::string> sources;
  for (const auto& v : verdicts) sources.push_back(v.source);
  const auto python_errors = cpython_compile_errors(sources);
  std::map<std::string, int> outside;  // what CPython compiles and PyLite leaves out, by reason
  int agreed_rejections = 0;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const auto& v = verdicts[i];
    const bool python_accepts = python_errors[i].empty();
    if (v.accepted) {
      EXPECT_TRUE(python_accepts) << "PyLite accepts what CPython rejects (" << python_errors[i] << "):\n" << v.source;
    } else if (python_accepts) {
      EXPECT_TRUE(outside_the_subset(v.error)) << "CPython compiles what PyLite calls a syntax error (" << v.error
                                               << "):\n" << v.source;
      const std::string reason = v.error.substr(v.error.find(": ") + 2);
      outside[reason.substr(0, reason.find(" ("))] += 1;
    } else {
      ++agreed_rejections;
    }
  }
  std::cout << "[fuzz] " << verdicts.size() << " texts: " << agreed_rejections << " rejected by both, "
            << ran.size() << " ran to a Python outcome; outside the subset but valid Python:\n";
  for (const auto& [reason, n] : outside) std::cout << "[fuzz]   " << n << "  " << reason << "\n";

  // Traces of a sample of the runs against CPython (one process).
  std::vector<std::pair<std::string, std::string>> sample;
  for (size_t i = 0; i < ran.size() && sample.size() < 300; i += std::max<size_t>(1, ran.size() / 300)) sample.push_back(ran[i]);
  const auto python = testing::cpython_traces(sample);
  for (size_t i = 0; i < sample.size(); ++i) {
    const auto& [source, call] = sample[i];
    const Trace ours = run_call(Program::parse(source), call, fuzz_limits());
    if (auto diff = testing::first_difference(source, call, ours, python[i])) ADD_FAILURE() << *diff;
  }
}

}  // namespace
}  // namespace beyond::wm
