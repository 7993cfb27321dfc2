// End-to-end checks of the `beyond` command: exit codes and one-line messages for bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/experiments/run_beyond.h"

namespace fs = std::filesystem;

namespace {

CliResult beyond(const std::string& args) { return run_beyond(args); }

std::string temp_dir(const std::string& name) {
  const auto dir = fresh_temp_dir("cli_" + name);
  fs::create_directories(dir);
  return dir;
}

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const std::string kQuickstart = std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/digit_sort.toml";

}  // namespace

TEST(Cli, VersionAndInfo) {
  auto r = beyond("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("beyond " BEYOND_VERSION), std::string::npos) << r.output;
  r = beyond("info");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("libtorch"), std::string::npos) << r.output;
}

TEST(Cli, EveryHelpHasAnExample) {
  for (const std::string sub : {"", "run", "config show", "info"}) {
    const auto r = beyond(sub + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.output.find("Example: beyond"), std::string::npos) << sub << ": " << r.output;
  }
}

TEST(Cli, UnknownKeyNamesFileLineAndHint) {
  const auto dir = temp_dir("unknown");
  const auto cfg = write(dir, "c.toml", "[run]\nexperiment = \"digit_sort\"\n[model]\nd_modle = 32\n");
  const auto r = beyond("config show " + cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("c.toml:4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.d_modle"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'model.d_model'"), std::string::npos) << r.output;
}

TEST(Cli, WrongTypeAndOutOfRange) {
  const auto dir = temp_dir("types");
  const auto cfg = write(dir, "c.toml", "[run]\nexperiment = \"digit_sort\"\n[train]\nlr = \"fast\"\n");
  auto r = beyond("config show " + cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("c.toml:4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train.lr"), std::string::npos) << r.output;
  r = beyond("config show " + kQuickstart + " model.n_heads=0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("model.n_heads"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("range"), std::string::npos) << r.output;
  r = beyond("config show " + kQuickstart + " model.d_model=60 model.n_heads=8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("not divisible"), std::string::npos) << r.output;
}

TEST(Cli, UnknownOverrideKeyAndExperiment) {
  auto r = beyond("config show " + kQuickstart + " train.stepz=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("train.stepz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'train.steps'"), std::string::npos) << r.output;
  r = beyond("config show " + kQuickstart + " run.experiment=digit_srot");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("did you mean 'digit_sort'"), std::string::npos) << r.output;
}

TEST(Cli, MissingAndMalformedConfig) {
  auto r = beyond("run /nonexistent/x.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("/nonexistent/x.toml"), std::string::npos) << r.output;
  const auto dir = temp_dir("malformed");
  const auto cfg = write(dir, "bad.toml", "[run]\nexperiment = \"digit_sort\n");
  r = beyond("run " + cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("bad.toml:2"), std::string::npos) << r.output;
  // One line, no stack trace.
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST(Cli, ConfigShowWritesResolvedDefaults) {
  const auto r = beyond("config show " + kQuickstart + " model.d_model=32");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("d_model = 32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rope_theta = 10000"), std::string::npos) << r.output;  // a default, filled in
}
