// Generation against a naive reference: re-run the whole context each step and take the argmax.
#include <gtest/gtest.h>

#include "autoregressive/generate.h"

using namespace beyond;

namespace {

LanguageModel tiny_model(const std::string& positional, int64_t max_seq_len, int64_t n_kv_heads = 0, int64_t window = 0) {
  TransformerConfig cfg;
  cfg.vocab_size = 19;
  cfg.d_model = 32;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = n_kv_heads;
  cfg.max_seq_len = max_seq_len;
  cfg.positional = positional;
  cfg.sliding_window = window;
  torch::manual_seed(3);
  LanguageModel m(cfg);
  m->to(at::kDouble);  // float64 so that argmax ties are not decided by rounding
  m->eval();
  return m;
}

// Greedy continuation by full forward passes over the whole (uncut) context.
std::vector<int64_t> naive_greedy(LanguageModel& m, std::vector<int64_t> ctx, int64_t n) {
  c10::InferenceMode guard;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    const auto logits = m(at::tensor(ctx, at::kLong).unsqueeze(0));
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    ctx.push_back(next);
    out.push_back(next);
  }
  return out;
}

GenerateOptions greedy(int64_t n, bool cache) {
  GenerateOptions o;
  o.max_new_tokens = n;
  o.sampling.temperature = 0.0;
  o.use_cache = cache;
  return o;
}

}  // namespace

TEST(Generate, CachedGreedyEqualsNaiveLoop) {
  for (const auto& [pos, kv, window] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           {"rope", 0, 0}, {"learned", 0, 0}, {"rope", 2, 0}, {"rope", 1, 5}}) {
    auto m = tiny_model(pos, 64, kv, window);
    const std::vector<int64_t> prompt = {1, 5, 7, 2};
    const auto expected = naive_greedy(m, prompt, 20);
    const auto cached = generate(m, {prompt}, greedy(20, true));
    const auto uncached = generate(m, {prompt}, greedy(20, false));
    EXPECT_EQ(cached.tokens[0], expected) << pos << " kv " << kv << " window " << window;
    EXPECT_EQ(uncached.tokens[0], expected) << pos;
    EXPECT_EQ(cached.forward_passes, 20);
  }
}

TEST(Generate, RaggedBatchEqualsOnePromptAtATime) {
  auto m = tiny_model("rope", 64);
  const std::vector<std::vector<int64_t>> prompts = {{3}, {4, 8, 1, 9, 2}, {7, 7}};
  const auto batch = generate(m, prompts, greedy(12, true));
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batch.tokens[i], naive_greedy(m, prompts[i], 12)) << "prompt " << i;
  }
}

TEST(Generate, SeededSamplingIsReproducible) {
  auto m = tiny_model("rope", 64);
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.seed = 11;
  const auto a = generate(m, {{1, 2}}, o), b = generate(m, {{1, 2}}, o);
  EXPECT_EQ(a.tokens, b.tokens);
  o.seed = 12;
  EXPECT_NE(generate(m, {{1, 2}}, o).tokens, a.tokens);
}

TEST(Generate, WindowCutKeepsGoing) {
  auto m = tiny_model("rope", 8);
  const auto naive = naive_greedy(m, {0}, 6);
  GenerateOptions o = greedy(200, true);
  // Past max_seq_len (8) the context is cut and re-encoded: 200 tokens still come out.
  const auto long_run = generate(m, {{0}}, o);
  EXPECT_EQ(long_run.tokens[0].size(), 200u);
  // The first tokens, before any cut, equal the naive loop.
  EXPECT_EQ(std::vector<int64_t>(long_run.tokens[0].begin(), long_run.tokens[0].begin() + 6), naive);
}

TEST(Generate, StopStringEndsTheRow) {
  const auto tok = CharTokenizer::from_corpus("abcdefghijklmnopqrs");  // 19 characters = the model's vocab
  auto m = tiny_model("rope", 64);
  const auto free_run = generate(m, {{0}}, greedy(20, true), &tok);
  ASSERT_GE(free_run.texts[0].size(), 5u);
  const std::string stop = free_run.texts[0].substr(3, 2);  // appears first at or before offset 3
  GenerateOptions o = greedy(20, true);
  o.stop = {stop};
  const auto stopped = generate(m, {{0}}, o, &tok);
  const auto first = free_run.texts[0].find(stop);
  EXPECT_EQ(stopped.texts[0], free_run.texts[0].substr(0, first + stop.size()));
}
