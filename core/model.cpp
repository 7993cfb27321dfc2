#include "core/model.h"

#include <ATen/ATen.h>

#include <cmath>

namespace beyond {
namespace {

// residual + f for f a sublayer's fresh output, written into f when that gives the same values:
// same dtype and shape (no promotion or broadcast, which autocast could bring) and f not a view
// (the mlp_t mixer's output is a transpose, whose layout the sum should not take). Autograd keeps
// neither operand of an addition, nor a linear layer's or dropout's output, so this is safe under
// gradient too; it saves one activation-sized allocation per residual.
at::Tensor add_residual(const at::Tensor& residual, at::Tensor f) {
  if (f.scalar_type() == residual.scalar_type() && f.sizes() == residual.sizes() && !f.is_view())
    return f.add_(residual);
  return residual + f;
}

}  // namespace

BlockImpl::BlockImpl(const TransformerConfig& cfg, int64_t layer)
    : placement(cfg.norm_placement), mix_over_sequence(cfg.mixer == "mlp_t"), dropout(cfg.dropout) {
  const int64_t mix_dim = mix_over_sequence ? cfg.max_seq_len : cfg.d_model;
  if (mix_over_sequence) {
    const auto hidden = static_cast<int64_t>(std::llround(cfg.mlp_ratio * static_cast<double>(cfg.max_seq_len)));
    mixer = register_module("mixer", SequenceMLP(cfg.max_seq_len, (hidden + 7) / 8 * 8, cfg.bias));
  } else if (cfg.is_linear_layer(layer)) {
    linear_attn = register_module("linear_attn", LinearAttention(cfg));
  } else if (cfg.attention == "mla") {
    mla = register_module("attn", MultiHeadLatentAttention(cfg, layer));
  } else {
    attn = register_module("attn", Attention(cfg, layer));
  }
  attn_norm = register_module("attn_norm", make_norm(cfg, mix_dim));
  if (placement == "sandwich") attn_post_norm = register_module("attn_post_norm", make_norm(cfg, mix_dim));
  if (cfg.mlp != "none") {
    if (cfg.is_moe_layer(layer)) moe = register_module("mlp", MoE(cfg));
    else mlp = register_module("mlp", MLP(cfg.mlp, cfg.d_model, cfg.mlp_hidden(), cfg.bias));
    mlp_norm = register_module("mlp_norm", make_norm(cfg, cfg.d_model));
    if (placement == "sandwich") mlp_post_norm = register_module("mlp_post_norm", make_norm(cfg, cfg.d_model));
  }
}

at::Tensor BlockImpl::mix(const at::Tensor& x, bool causal, LayerCache* cache) {
  if (mix_over_sequence) return mixer(x);
  if (linear_attn) return linear_attn(x, cache);
  if (mla) return mla(x, causal, cache);
  return attn(x, causal, cache);
}

at::Tensor BlockImpl::channel(const at::Tensor& x) {
  return moe ? moe(x) : mlp(x);
}

at::Tensor BlockImpl::norm_mix(Norm& n, const at::Tensor& x) {
  return mix_over_sequence ? n(x.transpose(1, 2)).transpose(1, 2) : n(x);
}

at::Tensor BlockImpl::forward(const at::Tensor& x_in, bool causal, LayerCache* cache) {
  const auto drop = [&](const at::Tensor& t) { return dropout > 0 ? at::dropout(t, dropout, is_training()) : t; };
  auto x = x_in;
  if (placement == "pre") {
    x = add_residual(x, drop(mix(norm_mix(attn_norm, x), causal, cache)));
    if (mlp_norm) x = add_residual(x, drop(channel(mlp_norm(x))));
  } else if (placement == "post") {
    x = norm_mix(attn_norm, add_residual(x, drop(mix(x, causal, cache))));
    if (mlp_norm) x = mlp_norm(add_residual(x, drop(channel(x))));
  } else if (placement == "reordered") {
    x = add_residual(x, drop(norm_mix(attn_norm, mix(x, causal, cache))));
    if (mlp_norm) x = add_residual(x, drop(mlp_norm(channel(x))));
  } else {  // sandwich
    x = x + drop(norm_mix(attn_post_norm, mix(norm_mix(attn_norm, x), causal, cache)));
    if (mlp_norm) x = x + drop(mlp_post_norm(channel(mlp_norm(x))));
  }
  return x;
}

StackImpl::StackImpl(const TransformerConfig& cfg_) : cfg(cfg_) {
  cfg.validate();
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.n_layers; ++i) blocks->push_back(Block(cfg, i));
}

at::Tensor StackImpl::forward(const at::Tensor& h, KVCache* cache, std::optional<bool> causal) {
  TORCH_CHECK(!cache || static_cast<int64_t>(cache->layers.size()) == cfg.n_layers,
              "KV cache has ", cache ? cache->layers.size() : 0, " layers, model has ", cfg.n_layers);
  const bool is_causal = causal.value_or(cfg.causal);
  auto x = h;
  for (size_t i = 0; i < blocks->size(); ++i) {
    x = blocks[i]->as<Block>()->forward(x, is_causal, cache ? &cache->layers[i] : nullptr);
  }
  return x;
}

LanguageModelImpl::LanguageModelImpl(const TransformerConfig& cfg_) : cfg(cfg_) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.d_model));
  if (cfg.positional == "learned")
    pos_embed = register_module("pos_embed", torch::nn::Embedding(cfg.max_seq_len, cfg.d_model));
  // The stack's blocks are registered here directly, so names read "blocks.0.attn.q_proj.weight".
  stack = Stack(cfg);
  register_module("blocks", stack->blocks);
  if (cfg.norm_placement != "post") norm = register_module("norm", make_norm(cfg, cfg.d_model));
  if (!cfg.tie_embeddings)
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, cfg.vocab_size).bias(false)));
  if (cfg.mtp_depth > 0) mtp = register_module("mtp", MultiTokenPrediction(cfg));
  init_weights(*this, cfg);
}

MultiTokenPredictionImpl::MultiTokenPredictionImpl(const TransformerConfig& cfg) {
  // The extra block is a dense full-attention block of the main model's kind.
  TransformerConfig block_cfg = cfg;
  block_cfg.layer_pattern = "G";
  block_cfg.sliding_window = 0;
  block_cfg.attention_chunk = 0;
  block_cfg.moe_experts = 0;
  hidden_norm = register_module("hidden_norm", make_norm(cfg, cfg.d_model));
  embed_norm = register_module("embed_norm", make_norm(cfg, cfg.d_model));
  proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(2 * cfg.d_model, cfg.d_model).bias(false)));
  block = register_module("block", Block(block_cfg, 0));
  norm = register_module("norm", make_norm(cfg, cfg.d_model));
}

at::Tensor MultiTokenPredictionImpl::forward(const at::Tensor& hidden, const at::Tensor& next_embeddings) {
  auto h = proj(at::cat({hidden_norm(hidden), embed_norm(next_embeddings)}, -1));
  return norm(block(h, /*causal=*/true));
}

at::Tensor LanguageModelImpl::forward(const at::Tensor& tokens, KVCache* cache) {
  return logits(hidden_states(tokens, cache));
}

at::Tensor LanguageModelImpl::logits(const at::Tensor& hidden) {
  auto x = norm ? norm(hidden) : hidden;
  auto out = lm_head ? lm_head(x) : at::linear(x, embed_tokens->weight);  // (B,T,D) -> (B,T,V)
  if (cfg.logit_softcap > 0) out = at::tanh(out / cfg.logit_softcap) * cfg.logit_softcap;
  return out;
}

at::Tensor LanguageModelImpl::mtp_logits(const at::Tensor& hidden, const at::Tensor& tokens) {
  TORCH_CHECK(mtp, "mtp_logits needs model.mtp_depth = 1");
  const int64_t T = tokens.size(1);
  auto next = embed_tokens(tokens.narrow(1, 1, T - 1));
  if (cfg.embedding_scale) next = next * std::sqrt(static_cast<double>(cfg.d_model));
  auto h = mtp(hidden.narrow(1, 0, T - 1), next);
  auto out = lm_head ? lm_head(h) : at::linear(h, embed_tokens->weight);
  if (cfg.logit_softcap > 0) out = at::tanh(out / cfg.logit_softcap) * cfg.logit_softcap;
  return out;
}

std::vector<std::pair<int64_t, MoE>> LanguageModelImpl::moe_layers() const {
  std::vector<std::pair<int64_t, MoE>> out;
  int64_t i = 0;
  for (const auto& block : *stack->blocks) {
    if (auto moe = block->as<Block>()->moe) out.emplace_back(i, moe);
    ++i;
  }
  return out;
}

at::Tensor LanguageModelImpl::hidden_states(const at::Tensor& tokens, KVCache* cache) {
  const int64_t T = tokens.size(1), past = cache ? cache->length() : 0;
  auto x = embed_tokens(tokens);  // (B,T) -> (B,T,D)
  if (cfg.embedding_scale) x = x * std::sqrt(static_cast<double>(cfg.d_model));
  if (pos_embed) {
    TORCH_CHECK(past + T <= cfg.max_seq_len, "sequence of ", past + T, " tokens exceeds max_seq_len ", cfg.max_seq_len);
    x = x + pos_embed(at::arange(past, past + T, tokens.options()));
  }
  if (cfg.dropout > 0) x = at::dropout(x, cfg.dropout, is_training());
  return stack(x, cache);
}

void trunc_normal_(at::Tensor& t, double std) {
  // Inverse-CDF sampling of N(0,1) restricted to [-2, 2]; 0.8796... is that distribution's std.
  const double lo = 0.5 * std::erfc(2.0 / std::sqrt(2.0)), hi = 1.0 - lo;
  at::NoGradGuard no_grad;
  t.uniform_(lo, hi);
  t.mul_(2.0).sub_(1.0).erfinv_().mul_(std::sqrt(2.0)).clamp_(-2.0, 2.0);
  t.mul_(std / 0.87962566103423978);
}

void init_weights(torch::nn::Module& module, const TransformerConfig& cfg) {
  at::NoGradGuard no_grad;
  const double residual_std = cfg.init_std / std::sqrt(2.0 * static_cast<double>(std::max<int64_t>(cfg.n_layers, 1)));
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    auto& p = item.value();
    const auto ends_with = [&](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    // Norm scales (one, or zero under norm_offset), decay parameters, sinks and the short
    // convolutions (uniform in +-1/sqrt(kernel), as torch's Conv1d) keep their modules' values.
    const bool own_init = name.find("norm") != std::string::npos || ends_with("A_log") || ends_with("dt_bias") ||
                          ends_with("sinks") || ends_with("_conv.weight");
    if (own_init) {
      continue;
    } else if (ends_with("bias")) {
      p.zero_();
    } else if (name.find("embed") != std::string::npos) {
      if (cfg.init == "lecun") trunc_normal_(p, 1.0 / std::sqrt(static_cast<double>(cfg.d_model)));
      else p.normal_(0.0, cfg.init_std);
    } else if (cfg.init == "lecun") {
      trunc_normal_(p, 1.0 / std::sqrt(static_cast<double>(p.size(-1))));  // weight is (out, in)
    } else {
      const bool residual_out = ends_with("o_proj.weight") || (ends_with("down_proj.weight") && name.find("mixer") == std::string::npos);
      p.normal_(0.0, residual_out ? residual_std : cfg.init_std);
    }
  }
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace beyond
