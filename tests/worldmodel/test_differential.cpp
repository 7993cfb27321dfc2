// The central check of the interpreter: generated programs across every knob setting, traced by
// the interpreter (inside the generator) and by real CPython 3.11 under sys.settrace, must agree
// event by event, and on the result. One CPython process runs the whole batch.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/generator.h"
#include "worldmodel/interpreter.h"

using namespace beyond;
using namespace beyond::wm;

namespace {

struct Cell {
  GeneratorOptions options;
  std::string name;
};

// A grid over every knob: length, nesting, loops, lists, helper calls, recursion, errors, digits.
std::vector<Cell> knob_grid() {
  std::vector<Cell> cells;
  int index = 0;
  for (int statements : {3, 10})
    for (int depth : {1, 2, 3})
      for (bool loops : {false, true})
        for (bool lists : {false, true})
          for (bool calls : {false, true})
            for (bool recursion : {false, true})
              for (bool errors : {false, true}) {
                GeneratorOptions o;
                o.n_statements = statements;
                o.max_depth = depth;
                o.p_loop = loops ? 0.3 : 0.0;
                o.p_if = 0.3;
                o.max_loop_iters = loops && index % 2 ? 6 : 3;
                o.allow_lists = lists;
                o.allow_calls = calls;
                o.allow_recursion = recursion;
                o.allow_errors = errors;
                o.digits = 1 + index % 3;
                o.value_digits = std::max(4, o.digits + 1);
                o.n_params = 3;
                std::ostringstream name;
                name << "statements=" << statements << " depth=" << depth << " loops=" << loops << " lists=" << lists
                     << " calls=" << calls << " recursion=" << recursion << " errors=" << errors << " digits=" << o.digits;
                cells.push_back({o, name.str()});
                ++index;
              }
  return cells;
}

// Compares the interpreter's traces with CPython's; prints each mismatch with the program.
int count_mismatches(const std::vector<TraceExample>& examples, const std::vector<std::string>& where) {
  std::vector<std::pair<std::string, std::string>> batch;
  for (const auto& ex : examples) batch.emplace_back(ex.source, ex.call);
  const auto python = wm::testing::cpython_traces(batch);
  int mismatches = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& ours = examples[i].trace;
    auto diff = wm::testing::first_difference(examples[i].source, examples[i].call, ours, python[i]);
    if (!diff && (ours.outcome != python[i].outcome || ours.result != python[i].result))
      diff = "result: ours " + ours.result + ", cpython " + python[i].result;
    if (diff) {
      if (++mismatches <= 5) ADD_FAILURE() << where[i] << "\n" << *diff;
    }
  }
  return mismatches;
}

}  // namespace

TEST(Differential, GeneratedProgramsAcrossAllKnobsTraceAsInCPython) {
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kPerCell = 24;
  std::vector<TraceExample> examples;
  std::vector<std::string> where;
  int raised = 0, recursive = 0, with_lists = 0, with_helper = 0, looping = 0;
  uint64_t seed = 1000;
  for (const auto& cell : knob_grid()) {
    for (auto& ex : generate_examples(cell.options, kPerCell, seed++)) {
      raised += ex.trace.outcome == Outcome::Raised;
      int f_calls = 0, g_calls = 0;
      for (const auto& e : ex.trace.events) {
        f_calls += e.kind == EventKind::Call && e.function == "f";
        g_calls += e.kind == EventKind::Call && e.function == "g";
      }
      recursive += f_calls > 1;
      with_helper += g_calls > 0;
      with_lists += ex.source.find('[') != std::string::npos || ex.call.find('[') != std::string::npos;
      looping += ex.loop_iters > 0;
      examples.push_back(std::move(ex));
      where.push_back(cell.name);
    }
  }
  ASSERT_EQ(examples.size(), 192u * kPerCell);
  // The grid really exercises each feature.
  EXPECT_GT(raised, 150);
  EXPECT_GT(recursive, 700);
  EXPECT_GT(with_lists, 1000);
  EXPECT_GT(with_helper, 1000);
  EXPECT_GT(looping, 700);

  const int mismatches = count_mismatches(examples, where);
  EXPECT_EQ(mismatches, 0) << "of " << examples.size() << " programs";
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << examples.size() << " programs, " << mismatches << " mismatches, " << secs << " s\n";
}

// Cases the differential run found once; kept small so a regression names itself.
TEST(Differential, HandWrittenRepros) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      // floor division and modulo of negatives, by negative divisors too
      {"def f(n, m):\n    a = n // -3\n    b = n % -3\n    c = -n // 4 % 3\n    return a + b - c\n", "f(-7, 2)"},
      // a while counter moving down, a guarded index, an element loop that writes into the list
      {"def f(xs):\n    i = min(len(xs), 3)\n    while i > 0:\n        i -= 1\n        if len(xs) > 0:\n"
       "            xs[i % len(xs)] = i\n    for x in xs:\n        xs[0] = x\n    return xs\n",
       "f([5, 6, 7, 8])"},
      // recursion on n // 2 with a list passed down and appended to by every frame
      {"def f(n, xs):\n    if n < 1:\n        return len(xs)\n    xs.append(n)\n    return f(n // 2, xs) + n\n", "f(9, [])"},
  };
  std::vector<TraceExample> examples;
  for (const auto& [source, call] : cases) {
    TraceExample ex;
    ex.source = source;
    ex.call = call;
    ex.trace = run_call(Program::parse(source), call);
    examples.push_back(ex);
  }
  EXPECT_EQ(count_mismatches(examples, std::vector<std::string>(cases.size(), "hand-written")), 0);
}
