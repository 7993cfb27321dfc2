// `beyond bench ar-train` runs end to end (two steps; no timing is checked: benchmarks are not tests).
#include <gtest/gtest.h>

#include <string>

#include "tests/experiments/run_beyond.h"

TEST(Bench, ArTrainRunsAndComparesWithPython) {
  const auto r = run_beyond("bench ar-train --steps 2 --warmup 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("C++ (LibTorch)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("parameters: C++ "), std::string::npos) << r.output;
  // With a configured Python the reference runs too; a Python without torch (LibTorch taken from
  // Torch_DIR or LIBTORCH) is a set-up the bench reports rather than a failure.
  if (std::string(BEYOND_PYTHON).empty()) return;
  if (r.output.find("has no torch") != std::string::npos) GTEST_SKIP() << r.output;
  EXPECT_NE(r.output.find("C++ / Python eager: "), std::string::npos) << r.output;
}
