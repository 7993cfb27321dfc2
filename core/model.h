// The shared transformer: Block, Stack (blocks over hidden states) and LanguageModel
// (embedding + Stack + final norm + head). Parameter names follow the Hugging Face habit
// (blocks.0.attn.q_proj.weight) so that safetensors files read naturally in Python.
//
// Shapes: B batch, T sequence length, D d_model, V vocab size.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include "core/attention.h"
#include "core/linear_attention.h"
#include "core/mla.h"
#include "core/moe.h"

namespace beyond {

// norm(s) + token mixer + channel MLP + residuals, in pre, post, sandwich or reordered placement:
//   pre:       x = x + f(norm(x))
//   post:      x = norm(x + f(x))
//   sandwich:  x = x + post_norm(f(norm(x)))
//   reordered: x = x + norm(f(x))   (OLMo 2: the stream is never normalised, the sublayers' outputs are)
// The token mixer is the layer's kind in cfg.layer_pattern: attention (multi-head or latent) or
// linear attention; or TRM's mlp_t, which mixes along the sequence, so its norms run over the
// sequence axis. The channel MLP is dense, or a mixture of experts on cfg.is_moe_layer layers.
struct BlockImpl : torch::nn::Module {
  BlockImpl(const TransformerConfig& cfg, int64_t layer);
  at::Tensor forward(const at::Tensor& x, bool causal, LayerCache* cache = nullptr);

  std::string placement;
  bool mix_over_sequence;
  double dropout;
  Attention attn{nullptr};
  MultiHeadLatentAttention mla{nullptr};  // registered as "attn" too
  LinearAttention linear_attn{nullptr};
  SequenceMLP mixer{nullptr};
  MLP mlp{nullptr};
  MoE moe{nullptr};  // registered as "mlp"
  Norm attn_norm{nullptr}, mlp_norm{nullptr}, attn_post_norm{nullptr}, mlp_post_norm{nullptr};

 private:
  at::Tensor mix(const at::Tensor& x, bool causal, LayerCache* cache);
  at::Tensor norm_mix(Norm& norm, const at::Tensor& x);
  at::Tensor channel(const at::Tensor& x);
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

// Multi-token prediction (DeepSeek V3): from the main model's last hidden state at t and the
// embedding of token t+1, one more block predicts token t+2 through the shared output head:
//   h' = block(proj([norm_h(h_t) ; norm_e(embed(x_{t+1}))])),  logits = head(norm(h'))
struct MultiTokenPredictionImpl : torch::nn::Module {
  explicit MultiTokenPredictionImpl(const TransformerConfig& cfg);
  // hidden: [B, T-1, D] (positions 0..T-2), next_embeddings: [B, T-1, D] (tokens 1..T-1) -> [B, T-1, D]
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& next_embeddings);

  Norm hidden_norm{nullptr}, embed_norm{nullptr}, norm{nullptr};
  torch::nn::Linear proj{nullptr};
  Block block{nullptr};
};
TORCH_MODULE(MultiTokenPrediction);

struct LanguageModelImpl : torch::nn::Module {
  explicit LanguageModelImpl(const TransformerConfig& cfg);
  // tokens: [B, T] int64 -> logits [B, T, V]. With a cache, tokens continue the cached prefix.
  at::Tensor forward(const at::Tensor& tokens, KVCache* cache = nullptr);
  // The two halves of forward: the last block's output [B, T, D] (before the final norm), and
  // the logits of such hidden states (final norm, head, soft-cap).
  at::Tensor hidden_states(const at::Tensor& tokens, KVCache* cache = nullptr);
  at::Tensor logits(const at::Tensor& hidden);
  // Logits [B, T-1, V] of the multi-token prediction module for tokens 2..T (cfg.mtp_depth = 1),
  // from hidden_states(tokens).
  at::Tensor mtp_logits(const at::Tensor& hidden, const at::Tensor& tokens);
  // A cache preallocated for `capacity` positions (0: grows as needed).
  KVCache make_cache(int64_t capacity = 0) const { return KVCache(cfg.n_layers, capacity); }

  // The MoE layers as (block index, module), for their load statistics and selection-bias updates.
  std::vector<std::pair<int64_t, MoE>> moe_layers() const;

  TransformerConfig cfg;
  torch::nn::Embedding embed_tokens{nullptr}, pos_embed{nullptr};
  Stack stack{nullptr};  // its blocks are registered as "blocks"
  Norm norm{nullptr};  // final norm; absent in post-norm placement, where blocks end normalised
  torch::nn::Linear lm_head{nullptr};  // absent when tied to embed_tokens
  MultiTokenPrediction mtp{nullptr};   // cfg.mtp_depth = 1
};
TORCH_MODULE(LanguageModel);

// Number of scalars in a module's parameters (buffers excluded).
int64_t count_parameters(const torch::nn::Module& module);

// Initialises every parameter of a module built from cfg (call after construction):
//   normal: N(0, init_std), residual output projections scaled by 1/sqrt(2 n_layers) (GPT-2);
//   lecun:  truncated normal with std 1/sqrt(fan_in), cut at 2 std (TRM), embeddings 1/sqrt(D).
// Biases are zero; norm scales, decay parameters (A_log, dt_bias) and sinks keep their modules' values. Uses the global torch generator (seeded by the caller).
void init_weights(torch::nn::Module& module, const TransformerConfig& cfg);

// Fills t in place with N(0, std^2) truncated to [-2 std, 2 std], rescaled so the result has
// standard deviation `std` (JAX's truncated LeCun normal).
void trunc_normal_(at::Tensor& t, double std);

}  // namespace beyond
