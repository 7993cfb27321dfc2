// The program generator: each knob shows in the programs (checked by reading the source text here,
// not through the generator's own features), the bounds hold, the stream is a function of the
// seed, the split hash is FNV-1a, and datasets survive a JSON Lines round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/generator.h"
#include "worldmodel/trace_tokenizer.h"

using namespace beyond;
using namespace beyond::wm;

namespace {

std::vector<std::string> lines_of(const std::string& source) {
  std::vector<std::string> out;
  std::string line;
  for (char c : source) {
    if (c == '\n') {
      out.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  return out;
}

int indent_of(const std::string& line) { return static_cast<int>(line.find_first_not_of(' ')); }

std::string stripped(const std::string& line) { return line.substr(line.find_first_not_of(' ')); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The lines of function `name`'s body.
std::vector<std::string> body_of(const std::string& source, const std::string& name) {
  std::vector<std::string> out;
  bool inside = false;
  for (const auto& line : lines_of(source)) {
    if (line.empty()) continue;
    if (indent_of(line) == 0) inside = starts_with(line, "def " + name + "(");
    else if (inside) out.push_back(line);
  }
  return out;
}

bool is_header(const std::string& text) {
  for (const char* h : {"if ", "elif ", "else:", "for ", "while "})
    if (starts_with(text, h)) return true;
  return false;
}

int simple_statements(const std::string& source) {
  int n = 0;
  for (const auto& line : body_of(source, "f")) n += !is_header(stripped(line));
  return n;
}

// Blocks nested around the deepest statement of the program, from the 4-space indentation.
int nesting(const std::string& source) {
  int deepest = 0;
  for (const auto& line : lines_of(source))
    if (!line.empty()) deepest = std::max(deepest, indent_of(line) / 4 - 1);
  return deepest;
}

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& line : lines)
    if (line.find(what) != std::string::npos) return true;
  return false;
}

GeneratorOptions small() {
  GeneratorOptions o;
  o.n_statements = 6;
  o.max_depth = 2;
  return o;
}

// Every int written in a repr, and the item count of each list in it (flat lists only).
void scan_repr(const std::string& repr, int64_t& largest, int& longest) {
  static const std::regex number("-?[0-9]+");
  for (std::sregex_iterator it(repr.begin(), repr.end(), number), end; it != end; ++it)
    largest = std::max<int64_t>(largest, std::llabs(std::stoll(it->str())));
  if (!repr.empty() && repr[0] == '[')
    longest = std::max(longest, repr == "[]" ? 0 : static_cast<int>(std::count(repr.begin(), repr.end(), ',')) + 1);
}

}  // namespace

TEST(Generator, StatementCountIsBetweenHalfAndTheKnob) {
  for (int n : {1, 4, 12}) {
    auto o = small();
    o.n_statements = n;
    std::set<int> seen;
    for (const auto& ex : generate_examples(o, 40, 11 + n)) {
      const int count = simple_statements(ex.source);
      EXPECT_GE(count, (n + 1) / 2) << ex.source;
      EXPECT_LE(count, n) << ex.source;
      seen.insert(count);
    }
    if (n > 1) EXPECT_GT(seen.size(), 1u) << "n_statements " << n << " always gives the same length";
  }
}

TEST(Generator, DepthStaysWithinTheKnobAndReachesIt) {
  for (int depth : {0, 1, 3}) {
    auto o = small();
    o.n_statements = 12;
    o.max_depth = depth;
    o.p_if = 0.35;
    o.p_loop = 0.35;
    int deepest = 0;
    for (const auto& ex : generate_examples(o, 60, 3)) {
      EXPECT_LE(nesting(ex.source), depth) << ex.source;
      EXPECT_EQ(ex.depth, nesting(ex.source)) << ex.source;
      deepest = std::max(deepest, nesting(ex.source));
    }
    EXPECT_EQ(deepest, depth);
  }
}

TEST(Generator, NoLoopsWhenTheirChanceIsZero) {
  auto o = small();
  o.p_loop = 0;
  o.p_if = 0.4;
  for (const auto& ex : generate_examples(o, 50, 4)) {
    EXPECT_FALSE(mentions(lines_of(ex.source), "for ") || mentions(lines_of(ex.source), "while ")) << ex.source;
    EXPECT_EQ(ex.loop_iters, 0);
  }
}

TEST(Generator, ListsOnlyWhenAllowed) {
  auto o = small();
  o.allow_lists = false;
  for (const auto& ex : generate_examples(o, 60, 5)) {
    EXPECT_EQ(ex.source.find('['), std::string::npos) << ex.source;
    EXPECT_EQ(ex.call.find('['), std::string::npos) << ex.call;
  }
  o.allow_lists = true;
  int with_lists = 0;
  for (const auto& ex : generate_examples(o, 60, 5)) with_lists += ex.source.find('[') != std::string::npos;
  EXPECT_GT(with_lists, 10);
}

TEST(Generator, HelperOnlyWithCallsAndAlwaysCalledFromF) {
  auto o = small();
  for (const auto& ex : generate_examples(o, 40, 6)) {
    EXPECT_EQ(ex.source.find("def g("), std::string::npos) << ex.source;
    EXPECT_EQ(ex.source.find("g("), std::string::npos) << ex.source;
  }
  o.allow_calls = true;
  int traced_calls = 0;
  for (const auto& ex : generate_examples(o, 40, 6)) {
    EXPECT_NE(ex.source.find("def g("), std::string::npos) << ex.source;
    EXPECT_TRUE(mentions(body_of(ex.source, "f"), "g(")) << ex.source;
    for (const auto& e : ex.trace.events) traced_calls += e.kind == EventKind::Call && e.function == "g";
  }
  EXPECT_GT(traced_calls, 20);
}

TEST(Generator, RecursionOnlyWhenAllowedAndItRecurses) {
  auto o = small();
  for (const auto& ex : generate_examples(o, 40, 7)) EXPECT_FALSE(mentions(body_of(ex.source, "f"), "f(")) << ex.source;
  o.allow_recursion = true;
  int recursing = 0;
  for (const auto& ex : generate_examples(o, 40, 7)) {
    const auto body = body_of(ex.source, "f");
    EXPECT_TRUE(mentions(body, "f(")) << ex.source;
    ASSERT_FALSE(body.empty());
    EXPECT_TRUE(starts_with(stripped(body[0]), "if ")) << "base case first:\n" << ex.source;
    int f_calls = 0;
    for (const auto& e : ex.trace.events) f_calls += e.kind == EventKind::Call && e.function == "f";
    recursing += f_calls > 1;
  }
  EXPECT_GT(recursing, 12);
}

TEST(Generator, ErrorsOnlyWhenAllowed) {
  auto o = small();
  for (const auto& ex : generate_examples(o, 100, 8)) EXPECT_EQ(ex.trace.outcome, Outcome::Returned) << ex.source;
  o.allow_errors = true;
  std::set<std::string> raised;
  int returned = 0;
  for (const auto& ex : generate_examples(o, 150, 8)) {
    EXPECT_TRUE(ex.trace.matches_python_semantics());
    if (ex.trace.outcome == Outcome::Raised) raised.insert(ex.trace.result);
    returned += ex.trace.outcome == Outcome::Returned;
  }
  EXPECT_TRUE(raised.count("ZeroDivisionError") && raised.count("IndexError")) << raised.size();
  EXPECT_GT(returned, 50);
}

TEST(Generator, ValuesListsEventsAndLinesStayInBounds) {
  auto o = small();
  o.n_statements = 10;
  o.value_digits = 3;
  o.max_list_len = 4;
  o.max_trace_events = 120;
  o.max_loop_iters = 3;
  o.allow_calls = true;
  for (const auto& ex : generate_examples(o, 80, 9)) {
    int64_t largest = 0;
    int longest = 0;
    for (const auto& e : ex.trace.events) {
      for (const auto& [name, repr] : e.locals) scan_repr(repr, largest, longest);
      if (e.kind == EventKind::Return) scan_repr(e.value, largest, longest);
    }
    scan_repr(ex.trace.result, largest, longest);
    EXPECT_LT(largest, 1000) << ex.source << ex.call;
    EXPECT_LE(longest, 4) << ex.source << ex.call;
    EXPECT_LE(static_cast<int>(ex.trace.events.size()), 120);
    EXPECT_LE(ex.loop_iters, 3);
    EXPECT_LE(static_cast<int>(lines_of(ex.source).size()), 64);
  }
}

TEST(Generator, IdentifiersAreInTheTokenizersVocabulary) {
  auto o = small();
  o.allow_calls = o.allow_recursion = o.allow_errors = true;
  o.n_statements = 14;
  o.max_depth = 4;
  o.n_vars = 8;
  o.n_params = 3;
  static const std::set<std::string> words = {"def", "return", "if", "elif", "else", "for", "in", "while", "break",
                                              "continue", "pass", "and", "or", "not", "range", "len", "min", "max",
                                              "abs", "append", "xs", "ys", "zs", "ws"};
  static const std::regex identifier("[A-Za-z_][A-Za-z_0-9]*");
  for (const auto& ex : generate_examples(o, 80, 10)) {
    for (std::sregex_iterator it(ex.source.begin(), ex.source.end(), identifier), end; it != end; ++it) {
      const auto word = it->str();
      EXPECT_TRUE(words.count(word) || (word.size() == 1 && word[0] >= 'a' && word[0] <= 'z')) << word << " in\n" << ex.source;
    }
    EXPECT_TRUE(starts_with(ex.call, "f(")) << ex.call;
  }
}

TEST(Generator, ProgramsAndTracesEncodeWithTheTraceTokenizer) {
  auto o = small();
  o.allow_calls = o.allow_recursion = o.allow_errors = true;
  o.n_statements = 20;
  o.max_depth = 4;
  o.n_vars = 8;
  o.n_params = 3;
  o.digits = 3;
  const TraceTokenizer tok;
  for (const auto& ex : generate_examples(o, 60, 15)) {
    EXPECT_NO_THROW(encode_full_trace(tok, ex, StateMode::Diff)) << ex.source << ex.call;
    EXPECT_NO_THROW(encode_markov_steps(tok, ex)) << ex.source << ex.call;
  }
}

TEST(Generator, SameSeedSameStreamOtherSeedOtherStream) {
  auto o = small();
  o.allow_calls = true;
  const auto a = generate_examples(o, 25, 42), b = generate_examples(o, 25, 42), c = generate_examples(o, 25, 43);
  ASSERT_EQ(a.size(), 25u);
  int same_as_c = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].source, b[i].source);
    EXPECT_EQ(a[i].call, b[i].call);
    EXPECT_EQ(a[i].trace.events, b[i].trace.events);
    same_as_c += a[i].source == c[i].source;
  }
  EXPECT_LT(same_as_c, 3);
}

TEST(Generator, ExamplesAreDistinct) {
  GeneratorOptions o;  // a narrow setting where the same program comes up again and again
  o.n_statements = 1;
  o.max_depth = 0;
  o.allow_lists = false;
  o.n_params = 1;
  const auto examples = generate_examples(o, 150, 12);
  std::set<std::pair<std::string, std::string>> distinct;
  for (const auto& ex : examples) distinct.emplace(ex.source, ex.call);
  EXPECT_EQ(distinct.size(), examples.size());
}

TEST(Generator, GivesUpWithARunErrorNamingTheReason) {
  auto o = small();
  o.max_trace_events = 1;  // no call has a single event
  o.max_attempts = 5;
  std::mt19937_64 rng(1);
  try {
    generate_example(o, rng);
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("trace length"), std::string::npos) << e.what();
  }
}

TEST(Generator, BadKnobsAreInputErrors) {
  std::mt19937_64 rng(1);
  auto o = small();
  o.max_depth = 0;
  o.allow_recursion = true;  // the base case needs an if
  EXPECT_THROW(generate_example(o, rng), InputError);
  o = small();
  o.digits = 5;  // above value_digits
  EXPECT_THROW(generate_example(o, rng), InputError);
  o = small();
  o.p_if = 0.7, o.p_loop = 0.6;
  EXPECT_THROW(generate_example(o, rng), InputError);
}

TEST(Generator, FromConfigReadsEveryKnobAndRejectsUnknownKeys) {
  auto config = Config::parse(
      "[gen]\nn_statements = 9\nmax_depth = 3\nmax_loop_iters = 4\nn_vars = 5\nn_params = 3\ndigits = 2\nvalue_digits = 5\n"
      "p_if = 0.1\np_loop = 0.2\nallow_lists = false\nmax_list_len = 3\nallow_calls = true\nallow_recursion = true\n"
      "allow_errors = true\nfuel = 500\nmax_trace_events = 99\nmax_attempts = 7\n",
      "gen.toml");
  const auto o = GeneratorOptions::from_config(config, "gen");
  config.check_all_used();
  EXPECT_EQ(o.n_statements, 9);
  EXPECT_EQ(o.max_depth, 3);
  EXPECT_EQ(o.max_loop_iters, 4);
  EXPECT_EQ(o.n_vars, 5);
  EXPECT_EQ(o.n_params, 3);
  EXPECT_EQ(o.digits, 2);
  EXPECT_EQ(o.value_digits, 5);
  EXPECT_DOUBLE_EQ(o.p_if, 0.1);
  EXPECT_DOUBLE_EQ(o.p_loop, 0.2);
  EXPECT_FALSE(o.allow_lists);
  EXPECT_EQ(o.max_list_len, 3);
  EXPECT_TRUE(o.allow_calls && o.allow_recursion && o.allow_errors);
  EXPECT_EQ(o.fuel, 500);
  EXPECT_EQ(o.max_trace_events, 99);
  EXPECT_EQ(o.max_attempts, 7);

  auto misspelt = Config::parse("[gen]\nn_statement = 9\n", "gen.toml");
  GeneratorOptions::from_config(misspelt, "gen");
  try {
    misspelt.check_all_used();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("gen.n_statement"), std::string::npos) << e.what();
  }
  auto out_of_range = Config::parse("[gen]\nmax_depth = 9\n", "gen.toml");
  EXPECT_THROW(GeneratorOptions::from_config(out_of_range, "gen"), InputError);
}

TEST(GeneratorSplit, IsFnv1aOfTheSourceInUnitInterval) {
  // FNV-1a 64 reference values: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c.
  EXPECT_DOUBLE_EQ(split_hash(""), static_cast<double>(0xcbf29ce484222325ull >> 11) / 9007199254740992.0);
  EXPECT_DOUBLE_EQ(split_hash("a"), static_cast<double>(0xaf63dc4c8601ec8cull >> 11) / 9007199254740992.0);
  int below_half = 0;
  for (const auto& ex : generate_examples(small(), 200, 13)) {
    const double h = split_hash(ex.source);
    EXPECT_GE(h, 0.0);
    EXPECT_LT(h, 1.0);
    below_half += h < 0.5;
  }
  EXPECT_GT(below_half, 70);
  EXPECT_LT(below_half, 130);
}

TEST(GeneratorFeatures, CountedByHandOnCPythonsTrace) {
  const std::string source =
      "def f(n):\n"
      "    a = 0\n"
      "    # a comment\n"
      "    for i in range(3):\n"
      "        j = 0\n"
      "        while j < n:\n"
      "            j += 1\n"
      "            if j == 2:\n"
      "                continue\n"
      "            a += j\n"
      "        if a > 100:\n"
      "            break\n"
      "        else:\n"
      "            pass\n"
      "    return a\n";
  TraceExample ex;
  ex.source = source;
  ex.call = "f(4)";
  ex.trace = wm::testing::cpython_traces({{source, "f(4)"}}).at(0);
  fill_features(ex);
  EXPECT_EQ(ex.n_lines, 15);
  EXPECT_EQ(ex.n_statements, 12);  // every code line but the def, the comment and else:
  EXPECT_EQ(ex.depth, 3);          // continue sits in if in while in for
  EXPECT_EQ(ex.loop_iters, 4);     // the while runs 4 times per for iteration; the for 3 times
  EXPECT_EQ(ex.n_events, static_cast<int>(ex.trace.events.size()));
}

TEST(GeneratorFeatures, LoopItersCountOneExecutionNotAllOfThem) {
  // The inner loop runs 2 times on each of 3 entries (6 in all) and the callee's loop 5 times.
  const std::string source =
      "def g(n):\n"
      "    for k in range(n):\n"
      "        pass\n"
      "    return n\n"
      "\n"
      "def f(n):\n"
      "    for i in range(3):\n"
      "        for j in range(2):\n"
      "            n += g(2)\n"
      "    return g(5)\n";
  TraceExample ex;
  ex.source = source;
  ex.trace = wm::testing::cpython_traces({{source, "f(1)"}}).at(0);
  fill_features(ex);
  EXPECT_EQ(ex.loop_iters, 5);
  ex.trace = wm::testing::cpython_traces({{source.substr(0, source.find("return g(5)")) + "return n\n", "f(1)"}}).at(0);
  fill_features(ex);
  EXPECT_EQ(ex.loop_iters, 3);
}

TEST(GeneratorJsonl, RoundTripsAndNamesTheBadLine) {
  auto o = small();
  o.allow_errors = true;
  const auto examples = generate_examples(o, 30, 14);
  const auto dir = std::filesystem::temp_directory_path() / ("beyond_gen_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "data.jsonl").string();
  write_jsonl(path, examples);
  const auto back = read_jsonl(path);
  ASSERT_EQ(back.size(), examples.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].source, examples[i].source);
    EXPECT_EQ(back[i].call, examples[i].call);
    EXPECT_EQ(back[i].trace.events, examples[i].trace.events);
    EXPECT_EQ(back[i].trace.outcome, examples[i].trace.outcome);
    EXPECT_EQ(back[i].trace.result, examples[i].trace.result);
    EXPECT_EQ(back[i].n_statements, examples[i].n_statements);
    EXPECT_EQ(back[i].n_lines, examples[i].n_lines);
    EXPECT_EQ(back[i].depth, examples[i].depth);
    EXPECT_EQ(back[i].loop_iters, examples[i].loop_iters);
    EXPECT_EQ(back[i].n_events, examples[i].n_events);
  }

  std::string first_line;
  std::getline(std::ifstream(path), first_line);
  const auto expect_error = [&](const std::string& second_line, const std::string& words) {
    std::ofstream(path) << first_line << "\n" << second_line << "\n";
    try {
      read_jsonl(path);
      FAIL() << "expected InputError for " << second_line;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path + ":2:"), std::string::npos) << what;
      EXPECT_NE(what.find(words), std::string::npos) << what;
    }
  };
  expect_error("{\"source\": ", "not JSON");
  expect_error("{\"call\": \"f(1)\"}", "'source'");
  auto j = nlohmann::json::parse(first_line);
  j["features"].erase("depth");
  expect_error(j.dump(), "'depth'");
  j = nlohmann::json::parse(first_line);
  j["result"] = "12345678";
  expect_error(j.dump(), "result");
  EXPECT_THROW(read_jsonl((dir / "missing.jsonl").string()), InputError);
  std::filesystem::remove_all(dir);
}
