// The trace tokenizer against independent references: real CPython 3.11 traces round-trip through
// both frame modes, Markov steps and the sequence layouts; Python's own reprs round-trip as values;
// CPython's co_varnames checks the source analysis; a naive per-frame count checks the diffs; a
// hand-tokenized program checks line tokens and indentation; random streams check that decoding
// rejects garbage without crashing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "tests/worldmodel/cpython_reference.h"
#include "worldmodel/trace_tokenizer.h"

using namespace beyond;
using namespace beyond::wm;
namespace ref = beyond::wm::testing;

namespace {

// Runs a Python script with `input` on stdin and gives back its stdout lines.
std::vector<std::string> python_lines(const std::string& script, const std::string& input) {
  namespace fs = std::filesystem;
  const auto stem = fs::temp_directory_path() / ("beyond_tokenizer_" + std::to_string(::getpid()));
  const auto script_path = stem.string() + ".py", in_path = stem.string() + ".in", out_path = stem.string() + ".out";
  std::ofstream(script_path) << script;
  std::ofstream(in_path) << input;
  const auto cmd = ref::python_executable() + " " + script_path + " < " + in_path + " > " + out_path;
  const int status = std::system(cmd.c_str());
  std::vector<std::string> lines;
  std::ifstream out(out_path);
  for (std::string line; std::getline(out, line);) lines.push_back(line);
  for (const auto& path : {script_path, in_path, out_path}) fs::remove(path);
  if (status != 0) throw std::runtime_error("python failed: " + cmd);
  return lines;
}

// Hand-written programs covering loops, lists, aliasing, calls, recursion, exceptions, None
// returns, negative numbers, names bound out of co_varnames order, a one-line def and a list
// literal over two lines.
const std::vector<std::pair<std::string, std::string>>& programs() {
  static const std::vector<std::pair<std::string, std::string>> all = {
      {"def f(n):\n    s = 0\n    for i in range(n):\n        if i % 2 == 0:\n            s += i\n        elif i == 3:\n"
       "            continue\n        else:\n            s -= 1\n    return s\n",
       "f(5)"},
      {"def f(xs, k):\n    ys = xs\n    ys.append(k)\n    zs = []\n    for x in xs:\n        zs.append(x * -2)\n"
       "    zs[0] = len(ys)\n    return zs\n",
       "f([1, -2], 3)"},
      {"def g(a, b):\n    return a * b - 1\n\n\ndef f(n):\n    t = 0\n    while n > 0:\n        t += g(n, 2) + g(1, n)\n"
       "        n -= 1\n    return t\n",
       "f(3)"},
      {"def f(n):\n    if n <= 1:\n        return 1\n    r = f(n - 1)\n    return n * r\n", "f(4)"},
      {"def g(a, b):\n    c = a // b\n    return c\n\n\ndef f(x):\n    y = x + 1\n    z = g(y, x - x)\n    return z\n", "f(2)"},
      {"def f(xs, i):\n    s = 0\n    while True:\n        s += xs[i]\n        i += 1\n", "f([4, 5], 0)"},
      {"def g(xs):\n    xs.append(0)\n\n\ndef f(n):\n    xs = [n]\n    r = g(xs)\n    if r == None:\n        pass\n    return\n",
       "f(-7)"},
      {"def f(a, b):\n    q = a // b\n    r = a % b\n    m = -a // 3\n    n = max(q, r) - min(a, b)\n"
       "    return [q, r, m, n, abs(-13)]\n",
       "f(-7, 2)"},
      {"def f(n):\n    while n > 0:\n        if n == 1:\n            x = y\n        if n == 2:\n            x = 5\n"
       "        y = 7\n        n -= 1\n    return x\n",
       "f(2)"},
      {"def g(x):\n    return x + 1\n\ndef f(n):\n    a = g(n)\n    b = g(a)\n    t = a > 3 and not b < 2\n    return [t, a == b, None]\n",
       "f(2)"},
      {"def f(n):\n    xs = [n, n + 1]\n    xs.append(xs)\n    ys = [[1, [2, []]], xs]\n    return ys\n", "f(0)"},
      {"def f(n):\n    if n > 100:\n        a = 1\n    b = 2\n    a = 3\n    c = [b, a]\n    return c\n", "f(0)"},
      {"def f(xs):\n    i = 0\n    while i < 3:\n        i += 1\n        if i == 2:\n            break\n    return xs[i + 5]\n", "f([1])"},
  };
  return all;
}

const std::vector<TraceExample>& examples() {
  static const std::vector<TraceExample> all = [] {
    const auto traces = ref::cpython_traces(programs());
    std::vector<TraceExample> out;
    for (size_t i = 0; i < traces.size(); ++i) {
      TraceExample ex;
      ex.source = programs()[i].first;
      ex.call = programs()[i].second;
      ex.trace = traces[i];
      out.push_back(ex);
    }
    return out;
  }();
  return all;
}

const TraceTokenizer& tok() {
  static const TraceTokenizer t;
  return t;
}

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// The frames of an encoded stream, split at event tokens.
std::vector<std::vector<int64_t>> split_frames(const std::vector<int64_t>& ids) {
  std::vector<std::vector<int64_t>> frames;
  for (auto id : ids) {
    if (tok().is_event(id)) frames.emplace_back();
    frames.back().push_back(id);
  }
  return frames;
}

}  // namespace

TEST(TraceTokenizer, VocabularyIsSmallFixedAndWithoutDuplicates) {
  const auto& t = tok();
  EXPECT_GE(t.vocab_size(), 150);
  EXPECT_LE(t.vocab_size(), 180);
  std::set<std::string> seen;
  for (int64_t i = 0; i < t.vocab_size(); ++i) {
    EXPECT_TRUE(seen.insert(t.token(i)).second) << "duplicate " << t.token(i);
    EXPECT_EQ(t.id(t.token(i)), i);
  }
  const std::vector<std::pair<int64_t, std::string>> specials = {{t.pad(), "<pad>"},     {t.bos(), "<bos>"},
                                                                 {t.eos(), "<eos>"},     {t.input(), "<input>"},
                                                                 {t.trace(), "<trace>"}, {t.output(), "<output>"},
                                                                 {t.stack(), "<stack>"}, {t.next(), "<next>"}};
  for (const auto& [id, name] : specials) EXPECT_EQ(t.token(id), name);
  EXPECT_EQ(t.pad(), 0);
  for (const char* word : {"<L1>", "<L64>", "<indent>", "def", "append", "//", "!=", ";", "...", "0", "9", "a", "z", "xs",
                           "ws", "ZeroDivisionError", "IndexError", "StepLimitExceeded", "RecursionError"})
    EXPECT_TRUE(t.is_token(word)) << word;
  for (const char* word : {"<L65>", "<L0>", "ab", "x1", "10", "is", "-=="}) EXPECT_FALSE(t.is_token(word)) << word;
  EXPECT_EQ(t.line_of(t.id("<L1>")), 1);
  EXPECT_EQ(t.line_of(t.id("<L64>")), 64);
  EXPECT_EQ(t.line_of(t.id("a")), 0);
  for (const char* event : {"<call>", "<line>", "<return>", "<exception>"}) EXPECT_TRUE(t.is_event(t.id(event)));
  EXPECT_FALSE(t.is_event(t.id("<indent>")));
  EXPECT_THROW(t.token(t.vocab_size()), InputError);
  EXPECT_THROW(t.id("foo"), InputError);
}

TEST(TraceTokenizer, EncodesProgramLinesAndIndentationAsHandChecked) {
  // Two spaces, then eight: Python's indentation stack gives levels 1 and 2 (not spaces / 4).
  // Blank and comment lines vanish but keep their numbers; line 8 continues line 7's bracket.
  const std::string source =
      "def f(n, xs):\n"
      "  s = 0  # start\n"
      "\n"
      "  # a comment\n"
      "  while n > 0:\n"
      "        n -= 10\n"
      "        xs[0] = [n,\n"
      "    -12]\n"
      "  return s\n";
  EXPECT_EQ(tok().to_text(tok().encode_program(source)),
            "<L1> def f ( n , xs ) : <L2> <indent> s = 0 <L5> <indent> while n > 0 : <L6> <indent> <indent> n -= 1 0 "
            "<L7> <indent> <indent> xs [ 0 ] = [ n , <L8> - 1 2 ] <L9> <indent> return s");
  EXPECT_EQ(tok().to_text(tok().encode_call("f(3, [1, -2])")), "f ( 3 , [ 1 , - 2 ] )");
  // A dedent to an intermediate level.
  EXPECT_EQ(tok().to_text(tok().encode_program("def f(n):\n   if n:\n         return 1\n   return 2\n")),
            "<L1> def f ( n ) : <L2> <indent> if n : <L3> <indent> <indent> return 1 <L4> <indent> return 2");
}

TEST(TraceTokenizer, RejectsWordsOutsideTheVocabularyAndLongPrograms) {
  const auto& t = tok();
  EXPECT_EQ(input_error([&] { t.encode_program("def f(n):\n    s = 0\n    foo = n\n"); }),
            "line 3: 'foo' is not in the trace vocabulary");
  EXPECT_EQ(input_error([&] { t.encode_program("def f(n):\n    return n is None\n"); }),
            "line 2: 'is' is not in the trace vocabulary");
  EXPECT_EQ(input_error([&] { t.encode_program("def f(n):\n    return 1.5\n"); }),
            "line 2: '1.5' is not in the trace vocabulary");
  EXPECT_EQ(input_error([&] { t.encode_program("def f(n):\n    n //= 2\n"); }), "line 2: '//=' is not in the trace vocabulary");
  EXPECT_EQ(input_error([&] { t.encode_program("def f(n):\n        n = 1\n    return n\n"); }),
            "line 3: unindent does not match any outer indentation level");
  EXPECT_NE(input_error([&] { t.encode_call("f(x1)"); }).find("'x1' is not in the trace vocabulary"), std::string::npos);
  for (const char* bad : {"[1, 2", "(1, 2)", "1.5", "[1 2]", "[1,2]", " 1", "01", "-0", "[...]", "True False"})
    EXPECT_NE(input_error([&] { t.encode_value(bad); }), "(no InputError)") << bad;

  std::string source = "def f(n):\n";
  for (int i = 0; i < 62; ++i) source += "    n += 1\n";
  source += "    return n\n";
  EXPECT_NO_THROW(t.encode_program(source + "\n\n# trailing comments past line 64 are fine\n"));
  EXPECT_EQ(input_error([&] { t.encode_program(source + "    n += 1\n"); }),
            "line 65: programs may have at most 64 lines (<L1>..<L64>)");
  Trace beyond_64;
  beyond_64.events = {{EventKind::Call, "f", 65, {}, ""}};
  EXPECT_NE(input_error([&] { t.encode_frames(beyond_64, StateMode::Diff); }).find("line 65"), std::string::npos);
  Trace bad_local;
  bad_local.events = {{EventKind::Call, "f", 1, {{"foo", "1"}}, ""}};
  EXPECT_NE(input_error([&] { t.encode_frames(bad_local, StateMode::Full); }).find("'foo'"), std::string::npos);
}

TEST(TraceTokenizer, ValuesRoundTripPythonReprs) {
  EXPECT_EQ(tok().to_text(tok().encode_value("-12")), "- 1 2");
  EXPECT_EQ(tok().to_text(tok().encode_value("[1, -2, True]")), "[ 1 , - 2 , True ]");
  EXPECT_EQ(tok().to_text(tok().encode_value("[[...], None]")), "[ [ ... ] , None ]");
  const std::string script = R"(
import random
random.seed(7)
def value(depth):
    if depth < 4 and random.random() < 0.35:
        return [value(depth + 1) for _ in range(random.randint(0, 4))]
    r = random.random()
    if r < 0.6:
        return random.randint(-10 ** random.randint(1, 7), 10 ** random.randint(1, 7))
    return random.choice([True, False, None])
for _ in range(400):
    print(repr(value(0)))
a = [1, -2]; a.append(a); print(repr(a))
b = []; b.append([b, 0]); print(repr(b))
print(repr([])); print(repr(0)); print(repr(-0)); print(repr(-1000000))
)";
  const auto reprs = python_lines(script, "");
  ASSERT_EQ(reprs.size(), 406u);
  int lists = 0;
  for (const auto& repr : reprs) {
    EXPECT_EQ(tok().decode_value(tok().encode_value(repr)), repr);
    lists += repr[0] == '[';
  }
  EXPECT_GT(lists, 50);
  for (const char* name : {"ZeroDivisionError", "IndexError", "StepLimitExceeded"})
    EXPECT_EQ(tok().decode_value(tok().encode_value(name)), name);
}

TEST(TraceTokenizer, SourceFunctionsMatchCPythonCoVarnames) {
  auto sources = programs();
  // Compile-order corners: a value before its targets, a for iterable before its target, chained
  // and subscript targets, dead code, names bound nowhere (globals).
  sources.push_back({"def g(a):\n    for i in range(a):\n        s = t = i\n    xs = [s]\n    xs[i] = q = 3\n    if a:\n"
                     "        return z\n    z = 1\n"
                     "def h(a, b):\n    return a\n"
                     "def k(a):\n    if False:\n        w = 1\n    return a\n    u = 1\n"
                     "def m(xs):\n    for x in xs:\n        ys = x\n        zs = [ys]\n    while xs:\n        xs = []\n    b += max(a, c)\n"
                     "    xs[b] += d\n    return b\n",
                     ""});
  nlohmann::json input = nlohmann::json::array();
  for (const auto& [source, call] : sources) input.push_back(source);
  const std::string script = R"(
import json, sys, types
for source in json.load(sys.stdin):
    namespace = {}
    exec(compile(source, "<pylite>", "exec"), namespace)
    functions = sorted((v for v in namespace.values() if isinstance(v, types.FunctionType)), key=lambda f: f.__code__.co_firstlineno)
    print(json.dumps([[f.__code__.co_name, f.__code__.co_firstlineno, list(f.__code__.co_varnames)] for f in functions]))
)";
  const auto lines = python_lines(script, input.dump());
  ASSERT_EQ(lines.size(), sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    nlohmann::json ours = nlohmann::json::array();
    for (const auto& f : source_functions(sources[i].first)) ours.push_back({f.name, f.def_line, f.varnames});
    EXPECT_EQ(ours, nlohmann::json::parse(lines[i])) << sources[i].first;
  }
}

TEST(TraceTokenizer, FramesRoundTripCPythonTracesInBothModes) {
  bool out_of_order_binding = false;  // the diff decoder must place a new name before an old one
  for (const auto& ex : examples()) {
    for (auto mode : {StateMode::Diff, StateMode::Full}) {
      const auto ids = tok().encode_frames(ex.trace, mode);
      const auto decoded = tok().decode_frames(ids, ex.source);
      ASSERT_TRUE(decoded) << ex.source << tok().to_text(ids);
      Trace back = ex.trace;
      back.events = *decoded;
      const auto difference = ref::first_difference(ex.source, ex.call, back, ex.trace);
      EXPECT_FALSE(difference) << *difference << "\n" << tok().to_text(ids);
    }
    // Two line events in a row are the same frame: does it bind a name ahead of an old one?
    for (size_t i = 1; i < ex.trace.events.size(); ++i) {
      const auto &before = ex.trace.events[i - 1], &now = ex.trace.events[i];
      if (before.kind != EventKind::Line || now.kind != EventKind::Line || now.locals.size() <= before.locals.size()) continue;
      for (size_t j = 0; j < before.locals.size(); ++j) out_of_order_binding |= now.locals[j].first != before.locals[j].first;
    }
  }
  EXPECT_TRUE(out_of_order_binding) << "no program binds a variable before an existing one in co_varnames order";
}

TEST(TraceTokenizer, DiffFramesListOnlyChangedLocals) {
  for (const auto& ex : examples()) {
    const auto& events = ex.trace.events;
    const auto diff = split_frames(tok().encode_frames(ex.trace, StateMode::Diff));
    const auto full = split_frames(tok().encode_frames(ex.trace, StateMode::Full));
    ASSERT_EQ(diff.size(), events.size());
    ASSERT_EQ(full.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].kind != EventKind::Call && events[i].kind != EventKind::Line) continue;
      // Naively: a line event shows what differs from the latest earlier call or line event when
      // no return lies between them (then both are the same frame: a callee would have returned);
      // a call event, or a line event right after a callee returned, shows every local.
      std::optional<size_t> previous;
      for (size_t j = i; events[i].kind == EventKind::Line && j-- > 0;) {
        const auto kind = events[j].kind;
        if (kind == EventKind::Return) break;
        if (kind == EventKind::Line || kind == EventKind::Call) {
          previous = j;
          break;
        }
      }
      std::vector<std::string> expected;
      for (const auto& [name, repr] : events[i].locals) {
        bool same = false;
        if (previous)
          for (const auto& [old_name, old_repr] : events[*previous].locals) same |= old_name == name && old_repr == repr;
        if (!same) expected.push_back(name);
      }
      std::vector<std::string> listed, all;
      for (size_t k = 1; k + 1 < diff[i].size(); ++k)
        if (diff[i][k] == tok().id("=")) listed.push_back(tok().token(diff[i][k - 1]));
      for (size_t k = 1; k + 1 < full[i].size(); ++k)
        if (full[i][k] == tok().id("=")) all.push_back(tok().token(full[i][k - 1]));
      EXPECT_EQ(listed, expected) << "event " << i << " of\n" << ex.source;
      EXPECT_EQ(all.size(), events[i].locals.size());
    }
  }
  // A loop's diff stream is shorter than its full one.
  const auto& loop = examples()[0].trace;
  EXPECT_LT(tok().encode_frames(loop, StateMode::Diff).size(), tok().encode_frames(loop, StateMode::Full).size());
}

TEST(TraceTokenizer, DecodeRejectsGarbageWithoutCrashing) {
  const auto& t = tok();
  const auto& ex = examples()[2];
  const auto valid = t.encode_frames(ex.trace, StateMode::Diff);
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> any_id(0, t.vocab_size() - 1);
  int decoded = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::vector<int64_t> ids;
    if (trial % 2 == 0) {  // uniform noise, often starting with an event token
      ids.resize(rng() % 40);
      for (auto& id : ids) id = any_id(rng);
      if (!ids.empty() && trial % 4 == 0) ids[0] = t.id("<line>");
    } else {  // a valid stream with a few random edits
      ids = valid;
      for (int edit = 0, n = 1 + static_cast<int>(rng() % 3); edit < n && !ids.empty(); ++edit) {
        const size_t at = rng() % ids.size();
        switch (rng() % 3) {
          case 0: ids[at] = any_id(rng); break;
          case 1: ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(at)); break;
          default: ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(at), any_id(rng)); break;
        }
      }
    }
    std::optional<std::vector<TraceEvent>> events;
    ASSERT_NO_THROW(events = t.decode_frames(ids, ex.source));
    ASSERT_NO_THROW(t.decode_full_frame(ids, ex.source));
    if (!events) continue;
    ++decoded;
    // Every frame opens with an event token and no value holds one.
    const auto n_events = std::count_if(ids.begin(), ids.end(), [&](int64_t id) { return t.is_event(id); });
    EXPECT_EQ(static_cast<int64_t>(events->size()), n_events);
  }
  EXPECT_GT(decoded, 0);
  EXPECT_LT(decoded, 4000);
  EXPECT_FALSE(t.decode_frames({-1}, ex.source));
  EXPECT_FALSE(t.decode_frames({t.vocab_size()}, ex.source));
  EXPECT_FALSE(t.decode_full_frame({t.id("<return>"), t.id("<L2>"), 1LL << 40}, ex.source));
  std::vector<int64_t> deep = {t.id("<return>"), t.id("<L2>")};
  deep.insert(deep.end(), 200000, t.id("["));
  EXPECT_FALSE(t.decode_frames(deep, ex.source));
  EXPECT_TRUE(t.decode_frames({}, ex.source));
  EXPECT_FALSE(t.decode_frames(valid, "def f(n):\n        a = 1\n    return a\n"));  // unreadable source
  // Values: no leading zeros, no -0, no dangling comma, no bare "...".
  for (const char* bad : {"<return> <L2> 0 1", "<return> <L2> - 0", "<return> <L2> [ 1 , ]", "<return> <L2> ...",
                          "<line> a = 1 ; <L2>", "<line> a = 1 ; a = 2 <L2>", "<exception> <L2> a", "<line> a 1 <L2>"}) {
    std::vector<int64_t> ids;
    std::istringstream words(bad);
    for (std::string w; words >> w;) ids.push_back(t.id(w));
    EXPECT_FALSE(t.decode_frames(ids, ex.source)) << bad;
  }
}

TEST(TraceTokenizer, TruncatedStreamsDecodeToPrefixes) {
  for (const auto& ex : examples()) {
    const auto ids = tok().encode_frames(ex.trace, StateMode::Diff);
    size_t frame_start = 0, n_frames = 0;
    for (size_t cut = 0; cut <= ids.size(); ++cut) {
      if (cut == ids.size() || tok().is_event(ids[cut])) {  // a frame boundary: the first n events
        const auto decoded = tok().decode_frames({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(cut)}, ex.source);
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, std::vector<TraceEvent>(ex.trace.events.begin(), ex.trace.events.begin() + n_frames));
        frame_start = cut;
        ++n_frames;
      } else if (cut > frame_start) {
        // Inside a call or line frame nothing decodes (its line token ends it); a cut return value
        // may still be a value (72 cut to 7).
        const auto kind = ex.trace.events[n_frames - 1].kind;
        const auto decoded = tok().decode_frames({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(cut)}, ex.source);
        if (kind == EventKind::Call || kind == EventKind::Line) {
          EXPECT_FALSE(decoded) << cut;
        }
      }
    }
  }
}

TEST(TraceTokenizer, FullTraceAndDirectSequencesHaveTheirLayout) {
  const auto& t = tok();
  for (const auto& ex : examples()) {
    std::vector<int64_t> prompt = {t.bos()};
    for (const auto& part : {t.encode_program(ex.source), std::vector<int64_t>{t.input()}, t.encode_call(ex.call)})
      prompt.insert(prompt.end(), part.begin(), part.end());
    for (auto mode : {StateMode::Diff, StateMode::Full}) {
      const auto seq = encode_full_trace(t, ex, mode);
      ASSERT_GT(seq.answer_start, 0);
      EXPECT_EQ(std::vector<int64_t>(seq.tokens.begin(), seq.tokens.begin() + seq.answer_start - 1), prompt);
      EXPECT_EQ(seq.tokens[seq.answer_start - 1], t.trace());
      const auto output = std::find(seq.tokens.begin(), seq.tokens.end(), t.output());
      ASSERT_NE(output, seq.tokens.end());
      EXPECT_EQ(std::vector<int64_t>(seq.tokens.begin() + seq.answer_start, output), t.encode_frames(ex.trace, mode));
      EXPECT_EQ(t.decode_value({output + 1, seq.tokens.end() - 1}), ex.trace.result);  // CPython's result
      EXPECT_EQ(seq.tokens.back(), t.eos());
    }
    const auto direct = encode_direct(t, ex);
    EXPECT_EQ(std::vector<int64_t>(direct.tokens.begin(), direct.tokens.begin() + direct.answer_start - 1), prompt);
    EXPECT_EQ(direct.tokens[direct.answer_start - 1], t.output());
    EXPECT_EQ(t.decode_value({direct.tokens.begin() + direct.answer_start, direct.tokens.end() - 1}), ex.trace.result);
    EXPECT_EQ(direct.tokens.back(), t.eos());
  }
}

TEST(TraceTokenizer, MarkovStepsReplayTheTrace) {
  const auto& t = tok();
  bool saw_exception_in_flight = false;
  for (const auto& ex : examples()) {
    const auto& events = ex.trace.events;
    const auto steps = encode_markov_steps(t, ex);
    ASSERT_EQ(steps.size(), events.size() - 1);
    std::vector<TraceEvent> stack;
    int depth = 0;  // active frames, counted independently of advance_stack
    for (size_t k = 0; k + 1 < events.size(); ++k) {
      stack = advance_stack(std::move(stack), events[k]);
      depth += events[k].kind == EventKind::Call ? 1 : events[k].kind == EventKind::Return ? -1 : 0;
      // A finished callee shows its last frame and its return frame for one step.
      EXPECT_EQ(static_cast<int>(stack.size()), depth + (events[k].kind == EventKind::Return ? 2 : 0));
      const auto& step = steps[k];
      const auto prompt = markov_prompt(t, ex.source, ex.call, stack);
      EXPECT_EQ(step.answer_start, static_cast<int64_t>(prompt.size()));
      EXPECT_EQ(std::vector<int64_t>(step.tokens.begin(), step.tokens.begin() + step.answer_start), prompt);
      EXPECT_EQ(prompt.back(), t.next());
      EXPECT_EQ(step.tokens.back(), t.eos());
      const auto target = t.decode_full_frame({step.tokens.begin() + step.answer_start, step.tokens.end()}, ex.source);
      ASSERT_TRUE(target) << t.to_text(step.tokens);
      EXPECT_EQ(*target, events[k + 1]) << "step " << k << " of\n" << ex.source;
      // The caller's exception frame is predictable: the unwound callee's exception is on the stack.
      if (events[k].kind == EventKind::Return && events[k + 1].kind == EventKind::Exception) {
        EXPECT_NE(std::find(prompt.begin(), prompt.end(), t.id(events[k + 1].value)), prompt.end());
        saw_exception_in_flight = true;
      }
    }
  }
  EXPECT_TRUE(saw_exception_in_flight);
  // Full frames round-trip on their own (with the trailing <eos> or without).
  for (const auto& event : examples()[4].trace.events) {
    auto ids = t.encode_full_frame(event);
    EXPECT_EQ(t.decode_full_frame(ids, examples()[4].source), event);
    ids.push_back(t.eos());
    EXPECT_EQ(t.decode_full_frame(ids, examples()[4].source), event);
    ids.push_back(t.eos());
    EXPECT_FALSE(t.decode_full_frame(ids, examples()[4].source));
  }
}
