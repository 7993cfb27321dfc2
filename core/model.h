// The shared transformer: Block, Stack (blocks over hidden states) and LanguageModel
// (embedding + Stack + final norm + head). Parameter names follow the Hugging Face habit
// (blocks.0.attn.q_proj.weight) so that safetensors files read naturally in Python.
//
// Shapes: B batch, T sequence length, D d_model, V vocab size.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include "core/attention.h"

namespace beyond {

// norm(s) + token mixer + channel MLP + residuals, in pre, post or sandwich placement:
//   pre:      x = x + f(norm(x))
//   post:     x = norm(x + f(x))
//   sandwich: x = x + post_norm(f(norm(x)))
// The mlp_t mixer mixes along the sequence, so its norms run over the sequence axis, as in TRM.
struct BlockImpl : torch::nn::Module {
  BlockImpl(const TransformerConfig& cfg, int64_t layer);
  at::Tensor forward(const at::Tensor& x, bool causal, LayerCache* cache = nullptr);

  std::string placement;
  bool mix_over_sequence;
  double dropout;
  Attention attn{nullptr};
  SequenceMLP mixer{nullptr};
  MLP mlp{nullptr};
  Norm attn_norm{nullptr}, mlp_norm{nullptr}, attn_post_norm{nullptr}, mlp_post_norm{nullptr};

 private:
  at::Tensor mix(const at::Tensor& x, bool causal, LayerCache* cache);
  at::Tensor norm_mix(Norm& norm, const at::Tensor& x);
};
TORCH_MODULE(Block);

// Blocks applied in order to hidden states [B, T, D]. TRM/HRM call this on their own sums of
// embeddings; `causal` defaults to the config's.
struct StackImpl : torch::nn::Module {
  explicit StackImpl(const TransformerConfig& cfg);
  at::Tensor forward(const at::Tensor& h, KVCache* cache = nullptr, std::optional<bool> causal = std::nullopt);

  TransformerConfig cfg;
  torch::nn::ModuleList blocks{nullptr};
};
TORCH_MODULE(Stack);

struct LanguageModelImpl : torch::nn::Module {
  explicit LanguageModelImpl(const TransformerConfig& cfg);
  // tokens: [B, T] int64 -> logits [B, T, V]. With a cache, tokens continue the cached prefix.
  at::Tensor forward(const at::Tensor& tokens, KVCache* cache = nullptr);
  // A cache preallocated for `capacity` positions (0: grows as needed).
  KVCache make_cache(int64_t capacity = 0) const { return KVCache(cfg.n_layers, capacity); }

  TransformerConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr}, pos_embed{nullptr};
  Stack stack{nullptr};  // its blocks are registered as "blocks"
  Norm norm{nullptr};  // final norm; absent in post-norm placement, where blocks end normalised
  torch::nn::Linear lm_head{nullptr};  // absent when tied to embed_tokens
};
TORCH_MODULE(LanguageModel);

// Number of scalars in a module's parameters (buffers excluded).
int64_t count_parameters(const torch::nn::Module& module);

// Initialises every parameter of a module built from cfg (call after construction):
//   normal: N(0, init_std), residual output projections scaled by 1/sqrt(2 n_layers) (GPT-2);
//   lecun:  truncated normal with std 1/sqrt(fan_in), cut at 2 std (TRM), embeddings 1/sqrt(D).
// Biases are zero and norm scales one. Uses the global torch generator (seeded by the caller).
void init_weights(torch::nn::Module& module, const TransformerConfig& cfg);

// Fills t in place with N(0, std^2) truncated to [-2 std, 2 std], rescaled so the result has
// standard deviation `std` (JAX's truncated LeCun normal).
void trunc_normal_(at::Tensor& t, double std);

}  // namespace beyond
