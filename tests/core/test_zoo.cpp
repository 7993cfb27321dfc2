// The architecture zoo presets (experiments/configs/zoo/*.toml), each as a test of its own: the
// file is a runnable text_lm config whose [model] keys all exist; the model it builds gives finite
// logits and a gradient on every parameter; decoding with a cache (one token at a time, and in
// uneven pieces) gives the cache-free forward's logits in float64; the preset differs from the
// default config in the knobs its header comment claims; MoE presets log their load and MTP
// presets give [B, T-1, V] logits.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/model.h"

#ifndef BEYOND_SOURCE_DIR
#define BEYOND_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using namespace beyond;

namespace {

constexpr int64_t kVocab = 65;   // Tiny Shakespeare's characters
constexpr int64_t kBlock = 64;   // the presets' train.block_size, which text_lm passes as max_seq_len
constexpr int64_t kT = 24;

fs::path zoo_dir() { return fs::path(BEYOND_SOURCE_DIR) / "experiments" / "configs" / "zoo"; }

fs::path preset_path(const std::string& name) { return zoo_dir() / (name + ".toml"); }

// The file names (without .toml) in the zoo folder, sorted.
std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(zoo_dir())) return names;
  for (const auto& entry : fs::directory_iterator(zoo_dir()))
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// [model] as text_lm reads it: vocabulary and length from the data and the block.
TransformerConfig load_preset(const std::string& name) {
  auto config = Config::load(preset_path(name).string());
  TransformerConfig defaults;
  defaults.vocab_size = kVocab;
  defaults.max_seq_len = kBlock;
  auto cfg = TransformerConfig::from_config(config, "model", defaults);
  config.check_all_used("model");  // a misspelt knob would otherwise be a silent default
  return cfg;
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

bool all_finite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

// Names of the knobs whose value differs from TransformerConfig's default.
std::set<std::string> changed_knobs(const TransformerConfig& c) {
  const TransformerConfig d;
  std::set<std::string> out;
#define BEYOND_KNOB(name) \
  if (c.name != d.name) out.insert(#name);
  BEYOND_KNOB(n_kv_heads) BEYOND_KNOB(head_dim) BEYOND_KNOB(mlp) BEYOND_KNOB(mlp_ratio) BEYOND_KNOB(norm_eps)
  BEYOND_KNOB(norm_offset) BEYOND_KNOB(norm_placement) BEYOND_KNOB(qk_norm) BEYOND_KNOB(qk_norm_scope)
  BEYOND_KNOB(positional) BEYOND_KNOB(rope_theta) BEYOND_KNOB(rope_theta_local) BEYOND_KNOB(rope_fraction)
  BEYOND_KNOB(sliding_window) BEYOND_KNOB(attention_chunk) BEYOND_KNOB(layer_pattern) BEYOND_KNOB(bias) BEYOND_KNOB(attention)
  BEYOND_KNOB(qkv_bias) BEYOND_KNOB(o_bias) BEYOND_KNOB(attn_output_gate) BEYOND_KNOB(attn_sinks)
  BEYOND_KNOB(attn_softcap) BEYOND_KNOB(mla_q_lora_rank) BEYOND_KNOB(mla_kv_lora_rank) BEYOND_KNOB(mla_qk_nope_dim)
  BEYOND_KNOB(mla_qk_rope_dim) BEYOND_KNOB(mla_v_dim) BEYOND_KNOB(linear_mixer) BEYOND_KNOB(linear_heads)
  BEYOND_KNOB(linear_k_heads) BEYOND_KNOB(linear_head_dim) BEYOND_KNOB(moe_experts) BEYOND_KNOB(moe_top_k)
  BEYOND_KNOB(moe_shared_experts) BEYOND_KNOB(moe_expert_ratio) BEYOND_KNOB(moe_router) BEYOND_KNOB(moe_renormalize)
  BEYOND_KNOB(moe_router_bias) BEYOND_KNOB(moe_shared_gate)
  BEYOND_KNOB(moe_routed_scale) BEYOND_KNOB(moe_bias_rate) BEYOND_KNOB(moe_dense_layers) BEYOND_KNOB(moe_every)
  BEYOND_KNOB(logit_softcap) BEYOND_KNOB(mtp_depth) BEYOND_KNOB(tie_embeddings) BEYOND_KNOB(embedding_scale)
#undef BEYOND_KNOB
  return out;
}

std::string layer_kinds(const TransformerConfig& c) {
  std::string s;
  for (int64_t i = 0; i < c.n_layers; ++i) s += c.layer_kind(i);
  return s;
}

std::vector<bool> moe_schedule(const TransformerConfig& c) {
  std::vector<bool> s;
  for (int64_t i = 0; i < c.n_layers; ++i) s.push_back(c.is_moe_layer(i));
  return s;
}

// What each preset's header comment claims: the knobs that must differ from the defaults, and
// the published choices (scaled down) checked by value.
struct Claims {
  std::set<std::string> knobs;
  std::function<void(const TransformerConfig&)> check;
};

const std::map<std::string, Claims>& claims() {
  static const std::map<std::string, Claims> table = {
      {"deepseek-v3",
       {{"attention", "mla_q_lora_rank", "mla_kv_lora_rank", "moe_experts", "moe_shared_experts", "moe_router",
         "moe_routed_scale", "moe_dense_layers", "moe_expert_ratio", "mtp_depth", "tie_embeddings"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.mla_q_lora_rank, 3 * c.mla_kv_lora_rank);  // 1536 : 512
          EXPECT_EQ(c.mla_nope_dim(), 2 * c.mla_qk_rope_dim);     // 128 : 64
          EXPECT_EQ(c.mla_value_dim(), c.mla_nope_dim());          // 128 : 128
          EXPECT_EQ(c.moe_routed_scale, 2.5);
          EXPECT_EQ(c.rope_theta, 1e4);
          EXPECT_EQ(moe_schedule(c), (std::vector<bool>{false, true, true, true}));
        }}},
      {"olmo2",
       {{"norm_placement", "qk_norm", "qk_norm_scope", "rope_theta", "tie_embeddings"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.kv_heads(), c.n_heads);  // MHA
          EXPECT_EQ(c.qk_norm_scope, "projection");
          EXPECT_EQ(c.norm_placement, "reordered");
          EXPECT_EQ(c.rope_theta, 5e5);
        }}},
      {"gemma3",
       {{"layer_pattern", "sliding_window", "rope_theta", "rope_theta_local", "norm_placement", "norm_offset",
         "qk_norm", "mlp", "embedding_scale", "n_kv_heads"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "SSSSSG");
          EXPECT_LT(c.window_for_layer(0), kBlock);
          EXPECT_EQ(c.window_for_layer(5), 0);
          EXPECT_EQ(c.rope_theta_for_layer(0), 1e4);
          EXPECT_EQ(c.rope_theta_for_layer(5), 1e6);
          EXPECT_EQ(c.n_heads, 2 * c.kv_heads());  // 32/16
          EXPECT_EQ(c.norm_placement, "sandwich");
          EXPECT_EQ(c.mlp, "geglu");
        }}},
      {"mistral-small-3.1",
       {{"n_kv_heads", "rope_theta", "mlp_ratio", "tie_embeddings"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), std::string(c.n_layers, 'G'));  // no sliding window
          EXPECT_EQ(c.n_heads, 4 * c.kv_heads());                     // 32/8
          EXPECT_EQ(c.rope_theta, 1e9);
          EXPECT_FALSE(c.qk_norm);
        }}},
      {"llama4",
       {{"layer_pattern", "attention_chunk", "moe_experts", "moe_top_k", "moe_shared_experts", "moe_every",
         "moe_router", "moe_renormalize", "moe_expert_ratio"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "CCCN");  // 3 chunked RoPE (local) : 1 NoPE (global)
          EXPECT_GT(c.rope_dims_for_layer(0), 0);
          EXPECT_EQ(c.rope_dims_for_layer(3), 0);
          EXPECT_LT(c.chunk_for_layer(0), kBlock);  // a training block spans several chunks
          EXPECT_EQ(c.chunk_for_layer(3), 0);
          EXPECT_EQ(moe_schedule(c), (std::vector<bool>{false, true, false, true}));
          EXPECT_EQ(c.moe_top_k, 1);
          EXPECT_EQ(c.moe_shared_experts, 1);
          EXPECT_FALSE(c.moe_renormalize);
          EXPECT_EQ(c.moe_bias_rate, 0.0);  // a plain sigmoid router, no balancing bias
        }}},
      {"qwen3",
       {{"n_kv_heads", "head_dim", "qk_norm", "rope_theta"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.n_heads * c.dim_per_head(), 2 * c.d_model);  // 16 x 128 = 2 x 1024
          EXPECT_EQ(c.n_heads, 2 * c.kv_heads());
          EXPECT_EQ(c.qk_norm_scope, "head");
          EXPECT_EQ(c.rope_theta, 1e6);
          EXPECT_TRUE(c.tie_embeddings);
        }}},
      {"qwen3-moe",
       {{"n_kv_heads", "qk_norm", "rope_theta", "moe_experts", "moe_expert_ratio", "tie_embeddings"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.moe_shared_experts, 0);
          EXPECT_EQ(c.moe_router, "softmax");
          EXPECT_EQ(c.moe_experts, 8 * c.moe_top_k);  // 128 / 8
          EXPECT_EQ(c.n_heads, 8 * c.kv_heads());     // 32/4
          EXPECT_EQ(moe_schedule(c), std::vector<bool>(static_cast<size_t>(c.n_layers), true));
        }}},
      {"smollm3",
       {{"layer_pattern", "n_kv_heads", "rope_theta", "mlp_ratio"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "GGGN");
          EXPECT_EQ(c.rope_dims_for_layer(3), 0);
          EXPECT_EQ(c.rope_dims_for_layer(0), c.dim_per_head());
          EXPECT_EQ(c.n_heads, 4 * c.kv_heads());  // 16/4
          EXPECT_TRUE(c.tie_embeddings);
        }}},
      {"kimi-k2",
       {{"attention", "mla_q_lora_rank", "moe_experts", "moe_shared_experts", "moe_router", "moe_routed_scale",
         "moe_dense_layers", "rope_theta", "tie_embeddings"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.n_heads, 2);  // half of deepseek-v3.toml's 4, as 64 vs 128
          EXPECT_EQ(c.moe_experts, 24);
          EXPECT_EQ(c.moe_routed_scale, 2.827);
          EXPECT_EQ(c.mtp_depth, 0);
          EXPECT_EQ(moe_schedule(c), (std::vector<bool>{false, true, true, true}));
        }}},
      {"gpt-oss",
       {{"layer_pattern", "sliding_window", "bias", "attn_sinks", "n_kv_heads", "moe_experts", "rope_theta", "mlp",
         "moe_router_bias"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "SGSG");
          EXPECT_LT(c.sliding_window, kBlock);
          EXPECT_TRUE(c.attn_sinks);
          EXPECT_TRUE(c.bias);  // q/k/v/o and expert biases
          EXPECT_EQ(c.n_heads, 8 * c.kv_heads());  // 64/8
          EXPECT_EQ(c.moe_shared_experts, 0);
          EXPECT_EQ(c.mlp, "clamped_swiglu");
        }}},
      {"grok-2.5",
       {{"norm_placement", "attn_softcap", "logit_softcap", "moe_experts", "moe_shared_experts", "rope_theta",
         "embedding_scale"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.norm_placement, "sandwich");
          EXPECT_EQ(c.attn_softcap, 30.0);
          EXPECT_EQ(c.logit_softcap, 50.0);
          EXPECT_EQ(c.moe_experts, 8);
          EXPECT_EQ(c.moe_top_k, 2);
          EXPECT_EQ(c.moe_expert_ratio, 2.0);
        }}},
      {"glm-4.5",
       {{"positional", "rope_fraction", "qkv_bias", "qk_norm", "n_kv_heads", "moe_experts", "moe_router",
         "moe_dense_layers", "moe_shared_experts", "mtp_depth"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(c.rope_dims(), c.dim_per_head() / 2);
          EXPECT_GT(c.n_heads * c.dim_per_head(), 2 * c.d_model);  // attention wider than the model
          EXPECT_EQ(c.n_heads, 12 * c.kv_heads());                   // 96/8
          EXPECT_EQ(c.moe_routed_scale, 2.5);
          EXPECT_EQ(moe_schedule(c), (std::vector<bool>{false, true, true, true}));
        }}},
      {"qwen3-next",
       {{"layer_pattern", "linear_heads", "linear_k_heads", "attn_output_gate", "norm_offset", "positional",
         "rope_fraction", "rope_theta", "qk_norm", "moe_experts", "moe_shared_experts", "moe_shared_gate", "mtp_depth"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "LLLG");
          EXPECT_EQ(c.linear_mixer, "gated_deltanet");
          EXPECT_EQ(c.linear_v_heads(), 2 * c.linear_qk_heads());              // GVA 32 v / 16 k
          EXPECT_EQ(c.linear_qk_heads() * c.linear_k_dim(), c.d_model);          // 16 x 128 = 2048
          EXPECT_EQ(c.linear_v_heads() * c.linear_v_dim(), 2 * c.d_model);       // 32 x 128 = 2 x 2048
          EXPECT_EQ(c.rope_dims(), c.dim_per_head() / 4);                        // partial RoPE 0.25
          EXPECT_EQ(c.rope_dims_for_layer(0), 0);
          EXPECT_EQ(c.n_heads, 8 * c.kv_heads());  // 16/2
        }}},
      {"minimax-m2",
       {{"qk_norm", "qk_norm_scope", "positional", "rope_fraction", "rope_theta", "moe_experts", "moe_router",
         "mtp_depth"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), std::string(c.n_layers, 'G'));  // full attention everywhere
          EXPECT_EQ(c.qk_norm_scope, "projection");
          EXPECT_EQ(c.rope_dims(), c.dim_per_head() / 2);
          EXPECT_EQ(c.n_heads, 6 * c.kv_heads());  // 48/8
          EXPECT_EQ(c.moe_shared_experts, 0);
        }}},
      {"kimi-linear",
       {{"layer_pattern", "linear_mixer", "attention", "mla_qk_rope_dim", "positional", "moe_experts",
         "moe_shared_experts", "moe_router", "moe_routed_scale", "moe_dense_layers"},
        [](const TransformerConfig& c) {
          EXPECT_EQ(layer_kinds(c), "LLLG");
          EXPECT_EQ(c.linear_mixer, "kda");
          EXPECT_EQ(c.attention, "mla");
          EXPECT_EQ(c.mla_q_lora_rank, 0);
          EXPECT_EQ(c.rope_dims_for_layer(3), 0);  // NoPE MLA
          EXPECT_EQ(c.moe_routed_scale, 2.446);
          EXPECT_EQ(moe_schedule(c), (std::vector<bool>{false, true, true, true}));
        }}},
  };
  return table;
}

// One intra-op thread: these models are too small to gain from two, and on a shared 2-core machine
// a second thread that is descheduled stalls every op at its barrier (the suite took 90 s with two
// threads under load, 3 s with one).
class Zoo : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    threads_ = at::get_num_threads();
    at::set_num_threads(1);
  }
  void TearDown() override { at::set_num_threads(threads_); }

 private:
  int threads_ = 1;
};

TEST(ZooFolder, HoldsEveryPreset) {
  const auto names = preset_names();
  EXPECT_GE(names.size(), 15u) << "experiments/configs/zoo holds " << names.size() << " presets";
  for (const auto& [name, unused] : claims())
    EXPECT_TRUE(std::find(names.begin(), names.end(), name) != names.end()) << name << ".toml is missing";
}

// The file is a complete text_lm run with shakespeare_char_ar_modern's budget, and says what it is.
TEST_P(Zoo, IsARunnableTextLmConfig) {
  const std::string name = GetParam();
  std::ifstream in(preset_path(name));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().rfind("# ", 0), 0u) << "the file starts with a comment";
  EXPECT_NE(text.str().find("beyond run experiments/configs/zoo/" + name + ".toml"), std::string::npos);

  auto config = Config::load(preset_path(name).string());
  EXPECT_EQ(config.get_string("run.experiment", ""), "text_lm");
  EXPECT_FALSE(config.get_string("run.description", "").empty());
  EXPECT_FALSE(config.has("run.dir"));
  EXPECT_EQ(config.get_string("data.tokenizer", ""), "char");
  EXPECT_NE(config.get_string("data.path", "").find("tinyshakespeare.txt"), std::string::npos);
  EXPECT_EQ(config.get_int("train.steps", 0), 2000);
  EXPECT_EQ(config.get_int("train.batch_size", 0), 12);
  EXPECT_EQ(config.get_int("train.block_size", 0), kBlock);
  EXPECT_TRUE(config.has("eval.batches"));
  EXPECT_TRUE(config.has("sample.max_new_tokens"));
  const auto cfg = load_preset(name);
  EXPECT_EQ(cfg.d_model, 128);
  EXPECT_GE(cfg.n_layers, 4);
  EXPECT_LE(cfg.n_layers, 6);
}

TEST_P(Zoo, DiffersFromTheDefaultsWhereItsCommentSays) {
  const std::string name = GetParam();
  const auto found = claims().find(name);
  ASSERT_NE(found, claims().end()) << "no claims listed for preset " << name << " in test_zoo.cpp";
  const auto cfg = load_preset(name);
  const auto changed = changed_knobs(cfg);
  for (const auto& knob : found->second.knobs) EXPECT_TRUE(changed.count(knob)) << knob << " is left at its default";
  found->second.check(cfg);
}

// (a) finite logits of the right shape, (b) a non-zero gradient for every parameter, (e) the MoE
// load and the MTP logits, all in one training-mode step.
TEST_P(Zoo, TrainingStepReachesEveryParameter) {
  const auto cfg = load_preset(GetParam());
  torch::manual_seed(1);
  LanguageModel m(cfg);
  m->train();

  // The blocks are the kinds the schedule names.
  for (int64_t i = 0; i < cfg.n_layers; ++i) {
    auto block = m->stack->blocks[static_cast<size_t>(i)]->as<Block>();
    const bool linear = cfg.is_linear_layer(i), mla = !linear && cfg.attention == "mla";
    EXPECT_EQ(static_cast<bool>(block->linear_attn), linear) << "block " << i;
    EXPECT_EQ(static_cast<bool>(block->mla), mla) << "block " << i;
    EXPECT_EQ(static_cast<bool>(block->attn), !linear && !mla) << "block " << i;
    EXPECT_EQ(static_cast<bool>(block->moe), cfg.is_moe_layer(i)) << "block " << i;
  }

  const auto tokens = at::randint(kVocab, {2, kT}, at::kLong);
  const auto hidden = m->hidden_states(tokens);
  const auto logits = m->logits(hidden);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, kT, kVocab}));
  EXPECT_TRUE(all_finite(logits));
  // Random targets at every position: with shifted tokens the last position would be left out of
  // the loss, and an expert that only it visited would get no gradient.
  auto loss = cross_entropy(logits, at::randint(kVocab, {2, kT}, at::kLong));
  if (cfg.mtp_depth > 0) {
    const auto mtp = m->mtp_logits(hidden, tokens);
    ASSERT_EQ(mtp.sizes(), (std::vector<int64_t>{2, kT - 1, kVocab}));
    EXPECT_TRUE(all_finite(mtp));
    loss = loss + cross_entropy(mtp, at::randint(kVocab, {2, kT - 1}, at::kLong));
  }
  loss.backward();

  // MoE layers log the share of (token, slot) pairs each expert got.
  const auto moe_layers = m->moe_layers();
  EXPECT_EQ(moe_layers.empty(), cfg.moe_experts == 0);
  // An expert that received no token in this step gets no gradient, legitimately; any other
  // parameter must get one.
  std::set<std::string> idle_experts;
  for (const auto& [layer, moe] : moe_layers) {
    const auto load = moe->last_load();
    ASSERT_TRUE(load.defined()) << "MoE layer " << layer << " logged no load";
    ASSERT_EQ(load.numel(), cfg.moe_experts);
    EXPECT_NEAR(load.sum().item<double>(), 1.0, 1e-6);
    for (int64_t e = 0; e < cfg.moe_experts; ++e)
      if (load[e].item<double>() == 0.0)
        idle_experts.insert("blocks." + std::to_string(layer) + ".mlp.experts." + std::to_string(e) + ".");
  }
  std::vector<std::string> missing;
  for (const auto& p : m->named_parameters()) {
    const auto& g = p.value().grad();
    const bool idle = std::any_of(idle_experts.begin(), idle_experts.end(),
                                  [&](const std::string& prefix) { return p.key().rfind(prefix, 0) == 0; });
    if (!g.defined() || g.abs().max().item<double>() == 0.0) {
      if (!idle) missing.push_back(p.key());
    } else {
      EXPECT_TRUE(all_finite(g)) << p.key();
    }
  }
  std::string list;
  for (const auto& name : missing) list += "\n  " + name;
  EXPECT_TRUE(missing.empty()) << missing.size() << " parameters got no gradient:" << list;
}

// (c) Decoding with a cache equals the cache-free forward, float64, eval mode.
TEST_P(Zoo, CachedDecodingEqualsTheFullForward) {
  const auto cfg = load_preset(GetParam());
  torch::manual_seed(2);
  LanguageModel m(cfg);
  m->to(at::kDouble);
  m->eval();
  at::NoGradGuard no_grad;
  const auto tokens = at::randint(kVocab, {2, kT}, at::kLong);
  const auto full = m(tokens);
  ASSERT_EQ(full.scalar_type(), at::kDouble);
  const auto decode = [&](const std::vector<int64_t>& pieces) {
    auto cache = m->make_cache();
    std::vector<at::Tensor> parts;
    int64_t start = 0;
    for (const int64_t n : pieces) {
      parts.push_back(m(tokens.narrow(1, start, n), &cache));
      start += n;
      EXPECT_EQ(cache.length(), start);
    }
    EXPECT_EQ(start, kT);
    return (at::cat(parts, 1) - full).abs().max().item<double>();
  };
  std::vector<int64_t> one_by_one{5};  // prefill 5, then one token at a time
  one_by_one.resize(static_cast<size_t>(kT - 5 + 1), 1);
  EXPECT_LT(decode(one_by_one), 1e-8) << "prefill 5, then one token at a time";
  EXPECT_LT(decode({7, 1, 3, 9, 4}), 1e-8) << "pieces of 7, 1, 3, 9, 4";
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Presets, Zoo, ::testing::ValuesIn(preset_names()), test_name);

}  // namespace
