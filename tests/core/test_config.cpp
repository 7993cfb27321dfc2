#include "core/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

namespace beyond {
namespace {

// The InputError message thrown by `fn`, failing the test when nothing is thrown.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Config, ReadsTypedValues) {
  auto c = Config::parse("seed = 7\n[model]\nd_model = 64\nname = \"gpt\"\nbias = false\n"
                         "[train]\nlr = 3e-4\nsteps_f = 10\ndims = [1, 2, 3]\n",
                         "q.toml");
  EXPECT_EQ(c.get_int("seed", 0), 7);
  EXPECT_EQ(c.get_int("model.d_model", 1, 1, 1024), 64);
  EXPECT_EQ(c.get_string("model.name", ""), "gpt");
  EXPECT_FALSE(c.get_bool("model.bias", true));
  EXPECT_DOUBLE_EQ(c.get_float("train.lr", 0.1), 3e-4);
  EXPECT_DOUBLE_EQ(c.get_float("train.steps_f", 0.0), 10.0);  // integers are accepted as floats
  EXPECT_EQ(c.get_int_list("train.dims", {}), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(c.get_int("model.n_heads", 4), 4);
  EXPECT_EQ(c.source(), "q.toml");
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  auto msg = error_of([] { Config::parse("a = 1\nb = \n", "configs/q.toml"); });
  EXPECT_TRUE(msg.rfind("configs/q.toml:2:", 0) == 0) << msg;
  EXPECT_TRUE(contains(msg, "expected value")) << msg;
}

TEST(Config, LoadsFileWithOverrides) {
  auto path = std::filesystem::temp_directory_path() /
              ("beyond_test_config_" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream out(path);
    out << "[model]\nd_model = 32\nn_heads = \"four\"\n";
  }
  auto c = Config::load(path.string(), {"model.d_model=128"});
  EXPECT_EQ(c.source(), path.string());
  EXPECT_EQ(c.get_int("model.d_model", 1), 128);
  auto msg = error_of([&] { c.get_int("model.n_heads", 1); });
  EXPECT_TRUE(msg.rfind(path.string() + ":3:11: model.n_heads: expected an integer",
      0) == 0) << msg;
  std::filesystem::remove(path);
}

TEST(Config, MissingFile) {
  auto msg = error_of([] { Config::load("/nonexistent/beyond/x.toml"); });
  EXPECT_EQ(msg, "config file '/nonexistent/beyond/x.toml' not found");
}

TEST(Config, TypeErrorNamesValueAndLocation) {
  auto c = Config::parse("[model]\n\n\n\nd_model = \"abc\"\n", "configs/q.toml");
  EXPECT_EQ(error_of([&] { c.get_int("model.d_model", 1); }),
            "configs/q.toml:5:11: model.d_model: expected an integer, got a string (\"abc\")");
  auto d = Config::parse("lr = 0.5\nflag = 1\nname = 3\nsteps = 2.0\nword = \"w\"\n", "q.toml");
  EXPECT_TRUE(contains(error_of([&] { d.get_bool("flag", false); }),
      "q.toml:2:8: flag: expected a boolean, got an integer (1)"));
  EXPECT_TRUE(contains(error_of([&] { d.get_string("name", ""); }),
      "name: expected a string, got an integer (3)"));
  EXPECT_TRUE(contains(error_of([&] { d.get_int("steps", 1); }),
      "steps: expected an integer, got a float (2.0)"));
  EXPECT_TRUE(contains(error_of([&] { d.get_float("word", 1); }),
      "word: expected a float, got a string (\"w\")"));
}

TEST(Config, ErrorsStayOnOneLine) {
  auto c = Config::parse("s = \"\"\"a\nb\"\"\"\n", "q.toml");
  auto msg = error_of([&] { c.get_int("s", 1); });
  EXPECT_TRUE(contains(msg, "got a string (\"a\\nb\")")) << msg;
}

TEST(Config, TableWhereValueExpectedAndViceVersa) {
  auto c = Config::parse("model = 5\n[train]\nlr = 0.1\n", "q.toml");
  auto msg = error_of([&] { c.get_float("train", 0.1); });
  EXPECT_TRUE(contains(msg, "train: expected a float, got a table")) << msg;
  msg = error_of([&] { c.get_int("model.d_model", 64); });
  EXPECT_TRUE(contains(msg,
      "q.toml:1:9: model.d_model: expected 'model' to be a table, got an integer (5)")) << msg;
  EXPECT_FALSE(c.has("model.d_model"));
}

TEST(Config, RangeErrors) {
  auto c = Config::parse("[model]\n\n\n\nn_heads = 0\nlr = -1.5\n", "configs/q.toml");
  EXPECT_EQ(error_of([&] { c.get_int("model.n_heads", 4, 1, 64); }),
            "configs/q.toml:5:1: model.n_heads = 0 is out of range [1, 64]");
  EXPECT_TRUE(contains(error_of([&] { c.get_int("model.n_heads", 4, 1); }),
      "model.n_heads = 0 is out of range >= 1"));
  EXPECT_TRUE(contains(error_of([&] { c.get_float("model.lr", 0.1, 0.0); }),
      "configs/q.toml:6:1: model.lr = -1.5 is out of range >= 0.0"));
  EXPECT_TRUE(contains(error_of([&] { c.get_float("model.lr", 0.1, 0.0, 1.0); }),
      "is out of range [0.0, 1.0]"));
  EXPECT_DOUBLE_EQ(c.get_float("model.lr", 0.1, -2, -1), -1.5);
  auto n = Config::parse("x = nan\n", "q.toml");
  EXPECT_TRUE(contains(error_of([&] { n.get_float("x", 0.1); }), "x = nan is not a number"));
}

TEST(Config, ChoiceNamesOptionsAndHint) {
  auto c = Config::parse("[run]\ndevice = \"cdu\"\nmode = \"zzzzz\"\n", "q.toml");
  EXPECT_EQ(error_of([&] { c.get_choice("run.device", "auto", {"auto", "cpu", "cuda"}); }),
            "q.toml:2:10: run.device: 'cdu' is not one of auto, cpu, cuda; did you mean 'cpu'?");
  auto msg = error_of([&] { c.get_choice("run.mode", "a", {"train", "eval"}); });
  EXPECT_TRUE(contains(msg, "'zzzzz' is not one of train, eval")) << msg;
  EXPECT_FALSE(contains(msg, "did you mean")) << msg;
  EXPECT_EQ(c.get_choice("run.other", "eval", {"train", "eval"}), "eval");
}

TEST(Config, IntListChecksElements) {
  auto c = Config::parse("a = [1, 2, 3]\nb = [4, 0, 5]\nc = [1, \"x\"]\nd = 3\ne = []\n", "q.toml");
  EXPECT_EQ(c.get_int_list("a", {}, 1, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(error_of([&] { c.get_int_list("b", {}, 1, 64); }),
      "q.toml:2:9: b[1] = 0 is out of range [1, 64]");
  EXPECT_TRUE(contains(error_of([&] { c.get_int_list("c", {}); }),
      "q.toml:3:9: c[1]: expected an integer, got a string (\"x\")"));
  EXPECT_TRUE(contains(error_of([&] { c.get_int_list("d", {}); }),
      "d: expected an array of integers, got an integer (3)"));
  EXPECT_TRUE(c.get_int_list("e", {7}).empty());
  EXPECT_EQ(c.get_int_list("missing", {7, 8}), (std::vector<int64_t>{7, 8}));
  // Override elements have no line; the override is named instead.
  auto o = Config::parse("", "q.toml", {"b=[2, 99]"});
  EXPECT_EQ(error_of([&] { o.get_int_list("b", {}, 1, 64); }),
      "override 'b=[2, 99]': b[1] = 99 is out of range [1, 64]");
}

TEST(Config, OverridesParseTomlLiterals) {
  auto c = Config::parse("[model]\nd_model = 32\n", "q.toml",
                         {"model.d_model=64", "train.lr=1e-3", "train.amp=true", "run.name=\"x y\"",
                          "train.dims=[1,2]", "run.device=cuda", "run.tag = hello world ",
                              "run.empty="});
  EXPECT_EQ(c.get_int("model.d_model", 1), 64);
  EXPECT_DOUBLE_EQ(c.get_float("train.lr", 0.0), 1e-3);
  EXPECT_TRUE(c.get_bool("train.amp", false));
  EXPECT_EQ(c.get_string("run.name", ""), "x y");
  EXPECT_EQ(c.get_int_list("train.dims", {}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.get_string("run.device", ""), "cuda");  // not a TOML literal: the raw text
  EXPECT_EQ(c.get_string("run.tag", ""), "hello world");
  EXPECT_EQ(c.get_string("run.empty", "def"), "");
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(Config, OverridesApplyInOrderAndNameThemselves) {
  auto c = Config::parse("[model]\nd_model = 32\n", "q.toml",
                         {"model.d_model=64", "model.d_model=abc"});
  EXPECT_EQ(error_of([&] { c.get_int("model.d_model", 1); }),
            "override 'model.d_model=abc': model.d_model: expected an integer, got a string "
            "(\"abc\")");
  EXPECT_EQ(c.error("model.d_model", "too big").what(),
      std::string("override 'model.d_model=abc': model.d_model: too big"));
}

TEST(Config, NestedOverrideCreatesTables) {
  auto c = Config::parse("[a]\nx = 1\n", "q.toml", {"a.b.c.d=5", "z.w={ k = 2 }"});
  EXPECT_TRUE(c.has("a.b"));
  EXPECT_TRUE(c.has("a.b.c"));
  EXPECT_EQ(c.get_int("a.b.c.d", 0), 5);
  EXPECT_EQ(c.get_int("a.x", 0), 1);
  EXPECT_EQ(c.get_int("z.w.k", 0), 2);
  EXPECT_NO_THROW(c.check_all_used());
  // Keys inside an inline-table override are named by that override.
  auto d = Config::parse("", "q.toml", {"z.w={ k = 2, kk = 3 }"});
  d.get_int("z.w.k", 0);
  EXPECT_TRUE(contains(error_of([&] { d.check_all_used(); }),
      "override 'z.w={ k = 2, kk = 3 }': unknown key 'z.w.kk'"));
}

TEST(Config, OverrideThroughValueIsAnError) {
  auto msg = error_of([] { Config::parse("[model]\nd_model = 32\n", "q.toml",
      {"model.d_model.x=1"}); });
  EXPECT_TRUE(contains(msg, "override 'model.d_model.x=1'")) << msg;
  EXPECT_TRUE(contains(msg,
      "'model.d_model' is an integer (32) (set at q.toml:2:1), not a table")) << msg;
}

TEST(Config, MalformedOverrides) {
  EXPECT_TRUE(contains(error_of([] { Config::parse("", "q.toml", {"model.d_model"}); }),
                       "override 'model.d_model' is not of the form key=value"));
  EXPECT_TRUE(contains(error_of([] { Config::parse("", "q.toml", {"=3"}); }),
      "override '=3' has an empty key"));
  EXPECT_TRUE(contains(error_of([] { Config::parse("", "q.toml", {"a..b=3"}); }),
      "override 'a..b=3' has an empty key"));
}

// A run's resolved config is read back when it resumes or runs as a sub-run: strings made of
// newlines (a sampling prompt of "\n") must survive the round trip.
TEST(Config, ResolvedKeepsNewlineStrings) {
  auto c = Config::parse("[sample]\nprompt = \"\\n\"\nstop = \"a\\nb\\n\"\n", "n.toml");
  EXPECT_EQ(c.get_string("sample.prompt", ""), "\n");
  EXPECT_EQ(c.get_string("sample.stop", ""), "a\nb\n");
  auto r = Config::parse(c.resolved_toml(), "resolved.toml");
  EXPECT_EQ(r.get_string("sample.prompt", "x"), "\n") << c.resolved_toml();
  EXPECT_EQ(r.get_string("sample.stop", "x"), "a\nb\n") << c.resolved_toml();
}

TEST(Config, ResolvedRecordsValuesAndDefaults) {
  auto c = Config::parse("[model]\nd_model = 64\n", "q.toml", {"train.lr=0.1"});
  c.get_int("model.d_model", 1);
  c.get_int("model.n_heads", 4);
  c.get_float("train.lr", 1.0);
  c.get_float("train.wd", 0.30000000000000004);
  c.get_bool("train.amp", true);
  c.get_string("run.name", "base \"run\"");
  c.get_choice("run.device", "cpu", {"cpu", "cuda"});
  c.get_int_list("model.dims", {2, 3});
  c.get_int("seed", 9);
  auto text = c.resolved_toml();
  EXPECT_TRUE(contains(text, "[model]")) << text;
  EXPECT_TRUE(contains(text, "d_model = 64")) << text;

  auto r = Config::parse(text, "resolved.toml");
  EXPECT_EQ(r.get_int("model.d_model", 0), 64);
  EXPECT_EQ(r.get_int("model.n_heads", 0), 4);
  EXPECT_EQ(r.get_float("train.lr", 0.0), 0.1);  // exact: floats must round-trip
  EXPECT_EQ(r.get_float("train.wd", 0.0), 0.30000000000000004);
  EXPECT_TRUE(r.get_bool("train.amp", false));
  EXPECT_EQ(r.get_string("run.name", ""), "base \"run\"");
  EXPECT_EQ(r.get_string("run.device", ""), "cpu");
  EXPECT_EQ(r.get_int_list("model.dims", {}), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.get_int("seed", 0), 9);
  EXPECT_NO_THROW(r.check_all_used());  // nothing unread was written
}

TEST(Config, UnknownKeyWithHint) {
  auto c = Config::parse("[model]\nd_model = 1\nd_modle = 2\n", "configs/q.toml");
  c.get_int("model.d_model", 1);
  EXPECT_EQ(error_of([&] { c.check_all_used(); }),
            "configs/q.toml:3:1: unknown key 'model.d_modle'; did you mean 'model.d_model'?");
}

TEST(Config, UnknownKeyWithoutHintAndInSourceOrder) {
  auto c = Config::parse("zeta = 1\nalpha = 2\n[model]\nd_model = 1\n", "q.toml");
  c.get_int("model.d_model", 1);
  // zeta comes first in the file though not alphabetically, and nothing known is close.
  EXPECT_EQ(error_of([&] { c.check_all_used(); }), "q.toml:1:1: unknown key 'zeta'");
  c.get_int("zeta", 0);
  EXPECT_EQ(error_of([&] { c.check_all_used(); }), "q.toml:2:1: unknown key 'alpha'");
  c.get_int("alpha", 0);
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(Config, UnknownSectionHint) {
  auto c = Config::parse("[modle]\nd_model = 1\n[trian]\nsomething_else = 2\n[runn]\n", "q.toml");
  c.get_int("model.d_model", 1);
  c.get_float("train.lr", 0.1);
  c.get_string("run.name", "");
  auto msg = error_of([&] { c.check_all_used(); });
  EXPECT_EQ(msg, "q.toml:2:1: unknown key 'modle.d_model'; did you mean 'model.d_model'?");
  c.allow_table("modle");
  msg = error_of([&] { c.check_all_used(); });
  EXPECT_TRUE(contains(msg,
      "q.toml:4:1: unknown key 'trian.something_else'; did you mean 'train'?")) << msg;
  c.allow_table("trian");
  // An empty misspelt section is reported too.
  EXPECT_TRUE(contains(error_of([&] { c.check_all_used(); }),
      "unknown key 'runn'; did you mean 'run'?"));
}

TEST(Config, UnknownOverrideKey) {
  auto c = Config::parse("", "q.toml", {"train.lrr=0.1"});
  c.get_float("train.lr", 0.1);
  EXPECT_EQ(error_of([&] { c.check_all_used(); }),
            "override 'train.lrr=0.1': unknown key 'train.lrr'; did you mean 'train.lr'?");
}

TEST(Config, AllowTableAndEmptyKnownTable) {
  auto c = Config::parse("[data]\n[extra]\na = 1\n[extra.deep]\nb = [1, 2]\n", "q.toml");
  c.get_string("data.path", "x");
  EXPECT_THROW(c.check_all_used(), InputError);
  c.allow_table("extra");
  EXPECT_NO_THROW(c.check_all_used());  // [data] is empty but its keys were read
}

TEST(Config, HasDoesNotMarkUsed) {
  auto c = Config::parse("[model]\nd_model = 1\n", "q.toml", {"run.x=1"});
  EXPECT_TRUE(c.has("model"));
  EXPECT_TRUE(c.has("model.d_model"));
  EXPECT_TRUE(c.has("run.x"));
  EXPECT_FALSE(c.has("model.n_heads"));
  EXPECT_FALSE(c.has("nothing.here"));
  EXPECT_THROW(c.check_all_used(), InputError);
}

TEST(Config, ErrorNamesWhereKeyWasSet) {
  auto c = Config::parse("[model]\nd_model = 1\n", "q.toml");
  EXPECT_EQ(std::string(c.error("model.d_model", "must divide n_heads").what()),
            "q.toml:2:1: model.d_model: must divide n_heads");
  EXPECT_EQ(std::string(c.error("model.n_heads", "bad").what()), "q.toml: model.n_heads: bad");
}

TEST(Config, CopyIsDeepAndMoveWorks) {
  auto a = Config::parse("x = 1\ny = 2\n", "q.toml");
  a.get_int("x", 0);
  Config b = a;
  b.get_int("y", 0);
  EXPECT_NO_THROW(b.check_all_used());
  EXPECT_THROW(a.check_all_used(), InputError);  // b's reads did not leak into a
  EXPECT_FALSE(contains(a.resolved_toml(), "y"));
  Config m = std::move(b);
  EXPECT_EQ(m.get_int("y", 0), 2);
  Config assigned;
  assigned = m;
  EXPECT_EQ(assigned.source(), "q.toml");
  EXPECT_NO_THROW(assigned.check_all_used());
}

TEST(EditDistance, KnownPairs) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(edit_distance("ab", "ba"), 2u);  // plain Levenshtein: no transpositions
  EXPECT_EQ(edit_distance("d_model", "d_modle"), 2u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(ClosestSpelling, Thresholds) {
  EXPECT_EQ(closest_spelling("cdu", {"auto", "cpu", "cuda"}), "cpu");
  EXPECT_EQ(closest_spelling("xyz", {"auto", "cpu", "cuda"}), "");
  EXPECT_EQ(closest_spelling("d_modle", {"n_heads", "d_model"}), "d_model");  // 2 <= 8/3
  EXPECT_EQ(closest_spelling("ab", {"cd"}), "");
  EXPECT_EQ(closest_spelling("a", {"b"}), "b");  // one edit is always close
  // A swap costs 2 edits: allowed from 5 letters, too far in 4.
  EXPECT_EQ(closest_spelling("trian", {"train", "run"}), "train");
  EXPECT_EQ(closest_spelling("seed", {"step"}), "");
  EXPECT_EQ(closest_spelling("cpu", {"gpu", "cpu"}), "cpu");  // the nearest wins, not the first
  EXPECT_EQ(closest_spelling("anything", {}), "");
}

}  // namespace
}  // namespace beyond
