// `beyond kv-memory` end to end: the report's figures for the committed figure config (numbers
// from ../shared/research/architectures.md §1.3), and one-line errors with exit code 2.
#include <gtest/gtest.h>

#include <string>

#include "tests/experiments/run_beyond.h"

namespace {

const std::string kConfig = std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/kv_memory_report.toml";

}  // namespace

TEST(KvMemoryCli, FullAttentionIs393216BytesPerToken) {
  const auto r = run_beyond("kv-memory " + kConfig + " model.layer_pattern=G --context 4096");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "all layers: 393,216 bytes per token")) << r.output;
  // 393,216 x 4,096 = 1,610,612,736 bytes.
  EXPECT_TRUE(output_has(r, "1,610,612,736")) << r.output;
}

TEST(KvMemoryCli, DeltaNetStateIsConstantAndTheHybridAboutFourTimesSmaller) {
  auto r = run_beyond("kv-memory " + kConfig + " model.layer_pattern=L --context 128,262144");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "all layers: 0 bytes per token")) << r.output;
  EXPECT_TRUE(output_has(r, "25,165,824 bytes fixed")) << r.output;
  r = run_beyond("kv-memory " + kConfig + " --context 4096,131072");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(output_has(r, "all layers: 98,304 bytes per token")) << r.output;
  EXPECT_TRUE(output_has(r, "18,874,368 bytes fixed")) << r.output;
  // 98,304 x 4,096 + 18,874,368 = 421,527,552 (0.422 GB, 3.82x smaller); at 131,072: 3.99x.
  EXPECT_TRUE(output_has(r, "421,527,552")) << r.output;
  EXPECT_TRUE(output_has(r, "3.82")) << r.output;
  EXPECT_TRUE(output_has(r, "3.99")) << r.output;
}

TEST(KvMemoryCli, BadInputExitsTwoNamingTheProblem) {
  auto r = run_beyond("kv-memory /nonexistent/config.toml");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(output_has(r, "/nonexistent/config.toml")) << r.output;
  r = run_beyond("kv-memory " + kConfig + " model.n_hedas=4");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(output_has(r, "n_hedas")) << r.output;
  r = run_beyond("kv-memory " + kConfig + " --dtype int3");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(output_has(r, "int3")) << r.output;
}
