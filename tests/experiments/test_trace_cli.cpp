// `beyond trace ...` end to end: the printed trace and result against real CPython, datasets from
// `trace generate`, and one-line errors with exit code 2 for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "experiments/worldmodel/trace_command.h"
#include "tests/experiments/run_beyond.h"
#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/generator.h"

namespace fs = std::filesystem;
using namespace beyond;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = fresh_temp_dir("trace_cli_" + name);
  fs::create_directories(dir);
  return dir;
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// What CPython prints for repr(call) after running the file, or the exception's class name.
std::string python_result(const std::string& dir, const std::string& file, const std::string& call) {
  const auto script = write(dir + "/reference.py", "exec(open('" + file + "').read())\n"
                                                   "try:\n    print(repr(" + call + "))\n"
                                                   "except Exception as error:\n    print(type(error).__name__)\n");
  std::FILE* pipe = ::popen((wm::testing::python_executable() + " " + script).c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  ::pclose(pipe);
  return out;
}

const char* kProgram =
    "def g(n):\n"
    "    return n * 2 - 7 // 2\n"
    "\n"
    "def f(n, xs):\n"
    "    a = 0\n"
    "    for x in xs:\n"
    "        a += g(x)\n"
    "    if a > n:\n"
    "        xs.append(a % -4)\n"
    "    return xs\n";

}  // namespace

TEST(TraceCli, EveryHelpHasAnExample) {
  CLI::App app;
  TraceCli cli(app);
  auto* trace = app.get_subcommand("trace");
  EXPECT_NE(trace->help().find("Example: beyond trace prog.py --call"), std::string::npos) << trace->help();
  for (auto* sub : trace->get_subcommands([](CLI::App*) { return true; }))
    EXPECT_NE(sub->help().find("Example: beyond trace " + sub->get_name()), std::string::npos) << sub->help();
}

TEST(TraceCli, PrintsCPythonsTraceWithCallsIndented) {
  const auto dir = temp_dir("print");
  const auto file = write(dir + "/prog.py", kProgram);
  const auto r = run_beyond("trace " + file + " --call \"f(3, [1, -2])\"");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto python = wm::testing::cpython_traces({{kProgram, "f(3, [1, -2])"}}).at(0);
  std::string expected;
  int open = 0;
  for (const auto& e : python.events) {
    const int depth = e.kind == wm::EventKind::Call ? open : open - 1;
    expected += std::string(2 * depth, ' ') + wm::format_event(e) + "\n";
    open += e.kind == wm::EventKind::Call ? 1 : e.kind == wm::EventKind::Return ? -1 : 0;
  }
  expected += "result: " + python.result + "\n";
  EXPECT_EQ(r.output, expected);
  EXPECT_TRUE(output_has(r, "\n  call      g:1")) << r.output;
}

TEST(TraceCli, ResultOnlyIsCPythonsRepr) {
  const auto dir = temp_dir("result");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kProgram, "f(3, [1, -2, 5])"},
      {"def f(n, m):\n    a = n // m\n    b = n % m\n    return a * 10 + b\n", "f(-17, 5)"},
      {"def f(n):\n    if n <= 1:\n        return n\n    return f(n - 1) + f(n - 2)\n", "f(9)"},
      {"def f(xs):\n    ys = xs\n    ys.append(len(xs))\n    return max(xs) > 3 and min(ys) < 0\n", "f([-1, 4])"},
      {"def f(xs, i):\n    return xs[i]\n", "f([1, 2], 2)"},
      {"def f(n):\n    # a comment\n\n    return 10 // (n - 3)\n", "f(3)"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto file = write(dir + "/p" + std::to_string(i) + ".py", cases[i].first);
    const auto r = run_beyond("trace " + file + " --result-only --call \"" + cases[i].second + "\"");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output, python_result(dir, file, cases[i].second)) << cases[i].first << cases[i].second;
  }
}

TEST(TraceCli, JsonIsTheTraceSchema) {
  const auto dir = temp_dir("json");
  const auto file = write(dir + "/prog.py", kProgram);
  const auto r = run_beyond("trace " + file + " --json --call \"f(-1, [])\"");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ours = wm::trace_from_json(nlohmann::json::parse(r.output));
  const auto python = wm::testing::cpython_traces({{kProgram, "f(-1, [])"}}).at(0);
  EXPECT_EQ(wm::testing::first_difference(kProgram, "f(-1, [])", ours, python), std::nullopt);
}

TEST(TraceCli, StepLimitStopsTheRunWithExitCode1) {
  const auto dir = temp_dir("steps");
  const auto file = write(dir + "/loop.py", "def f(n):\n    while n > 0:\n        n += 1\n    return n\n");
  const auto r = run_beyond("trace " + file + " --call \"f(1)\" --max-steps 20");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(output_has(r, "stopped: StepLimitExceeded")) << r.output;
}

TEST(TraceCli, GenerateWritesDistinctExamplesThatReadBack) {
  const auto dir = temp_dir("generate");
  const std::string args = "trace generate --count 30 --seed 5 --statements 5 --depth 1 --calls --no-lists";
  auto r = run_beyond(args + " --out " + dir + "/a.jsonl");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "generated 30 programs")) << r.output;
  const auto examples = wm::read_jsonl(dir + "/a.jsonl");
  ASSERT_EQ(examples.size(), 30u);
  std::set<std::pair<std::string, std::string>> distinct;
  for (const auto& ex : examples) {
    distinct.emplace(ex.source, ex.call);
    EXPECT_NE(ex.source.find("def g("), std::string::npos) << ex.source;
    EXPECT_EQ(ex.source.find('['), std::string::npos) << ex.source;
  }
  EXPECT_EQ(distinct.size(), 30u);
  // The same seed writes the same file; without --out the lines go to stdout.
  r = run_beyond(args + " --out " + dir + "/b.jsonl");
  EXPECT_EQ(read_text(dir + "/a.jsonl"), read_text(dir + "/b.jsonl"));
  r = run_beyond(args);
  const auto file = read_text(dir + "/a.jsonl");
  EXPECT_TRUE(r.output.rfind(file, 0) == 0) << "stdout differs from the --out file";
}

TEST(TraceCli, GenerateReadsKnobsFromAConfigSection) {
  const auto dir = temp_dir("config");
  const auto config = write(dir + "/gen.toml", "[model]\nd_model = 64\n\n[gen]\nn_statements = 2\nallow_lists = false\nmax_depth = 0\n");
  auto r = run_beyond("trace generate --count 10 --seed 1 --config " + config + " --section gen --out " + dir + "/d.jsonl");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& ex : wm::read_jsonl(dir + "/d.jsonl")) {
    EXPECT_EQ(ex.source.find('['), std::string::npos) << ex.source;
    EXPECT_LE(ex.n_statements, 2) << ex.source;
  }
  const auto misspelt = write(dir + "/bad.toml", "[gen]\nn_statement = 2\n");
  r = run_beyond("trace generate --count 1 --config " + misspelt + " --section gen");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(output_has(r, "bad.toml:2")) << r.output;
  EXPECT_TRUE(output_has(r, "unknown key 'gen.n_statement'; did you mean 'gen.n_statements'")) << r.output;
}

TEST(TraceCli, BadInputExitsWith2NamingWhatAndWhere) {
  const auto dir = temp_dir("bad");
  const auto good = write(dir + "/good.py", kProgram);
  const auto bad = write(dir + "/bad.py", "def f(n):\n    a = 1\n    while a < n\n        a += 1\n    return a\n");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"trace " + dir + "/missing.py --call \"f(1)\"", {"missing.py", "cannot open"}},
      {"trace " + bad + " --call \"f(1)\"", {"bad.py", "line 3"}},
      {"trace " + good + " --call \"h(1)\"", {"good.py", "'h'"}},
      {"trace " + good + " --call \"f(1, [2\"", {"good.py", "f(1, [2"}},
      {"trace " + good + " --call \"f(1)\"", {"good.py", "argument"}},
      {"trace " + good, {"--call"}},
      {"trace generate --count 2 --depth 9", {"max_depth"}},
      {"trace check " + dir + "/no_run " + good + " --call \"f(1, [2])\"", {"no_run"}},
  };
  for (const auto& [args, words] : cases) {
    const auto r = run_beyond(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one line: " << r.output;
    for (const auto& w : words) EXPECT_TRUE(output_has(r, w)) << args << ": no '" << w << "' in " << r.output;
  }
}
