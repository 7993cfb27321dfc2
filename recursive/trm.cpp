#include "recursive/trm.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/config.h"

namespace beyond {

TRMConfig TRMConfig::from_config(Config& c, int64_t seq_len, int64_t vocab_size) {
  TransformerConfig d;  // TRM's net (report §1.1)
  d.vocab_size = vocab_size;
  d.max_seq_len = seq_len;
  d.d_model = 128;
  d.n_layers = 2;
  d.n_heads = 4;
  d.mixer = "attention";
  d.mlp = "swiglu";
  d.mlp_ratio = 4.0 * 2.0 / 3.0;
  d.norm = "rmsnorm";
  d.norm_scale = false;
  d.norm_placement = "post";
  d.positional = "rope";
  d.causal = false;
  d.tie_embeddings = false;
  d.init = "lecun";
  d.embedding_scale = true;
  TRMConfig t;
  t.net = TransformerConfig::from_config(c, "model", d);
  if (t.net.causal) throw c.error("model.causal", "TRM's net is bidirectional: model.causal must be false");
  if (t.net.max_seq_len != seq_len)
    throw c.error("model.max_seq_len", "model.max_seq_len must equal the puzzle's " + std::to_string(seq_len) + " cells");
  t.h_cycles = c.get_int("model.h_cycles", t.h_cycles, 1, 64);
  t.l_cycles = c.get_int("model.l_cycles", t.l_cycles, 1, 64);
  t.halt_max_steps = c.get_int("model.halt_max_steps", t.halt_max_steps, 1, 256);
  t.halt_exploration = c.get_float("model.halt_exploration", t.halt_exploration, 0.0, 1.0);
  t.one_step_gradient = c.get_bool("model.one_step_gradient", t.one_step_gradient);
  return t;
}

TRMImpl::TRMImpl(const TRMConfig& cfg_) : cfg(cfg_) {
  const auto& n = cfg.net;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(n.vocab_size, n.d_model));
  net = Stack(n);
  register_module("blocks", net->blocks);
  lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(n.d_model, n.vocab_size).bias(false)));
  q_head = register_module("q_head", torch::nn::Linear(torch::nn::LinearOptions(n.d_model, 1).bias(true)));
  init_weights(*this, n);
  at::NoGradGuard no_grad;
  // Halting starts "off": zero weights and bias -5, so nothing halts before it has learned to.
  q_head->weight.zero_();
  q_head->bias.fill_(-5.0);
  h_init = at::empty({n.d_model});
  l_init = at::empty({n.d_model});
  trunc_normal_(h_init, 1.0);
  trunc_normal_(l_init, 1.0);
  register_buffer("h_init", h_init);
  register_buffer("l_init", l_init);
}

std::pair<at::Tensor, at::Tensor> TRMImpl::initial_carry(int64_t batch) const {
  const int64_t L = cfg.net.max_seq_len;
  return {h_init.view({1, 1, -1}).expand({batch, L, -1}).clone(), l_init.view({1, 1, -1}).expand({batch, L, -1}).clone()};
}

at::Tensor TRMImpl::latent_recursion(const at::Tensor& x, at::Tensor& y, at::Tensor& z) {
  for (int64_t i = 0; i < cfg.l_cycles; ++i) z = net(z + y + x);
  y = net(y + z);
  return y;
}

TRMStep TRMImpl::step(const at::Tensor& tokens, const at::Tensor& y_in, const at::Tensor& z_in) {
  auto x = embed_tokens(tokens);  // (B, L) -> (B, L, D)
  if (cfg.net.embedding_scale) x = x * std::sqrt(static_cast<double>(cfg.net.d_model));
  auto y = y_in, z = z_in;
  {
    at::NoGradGuard no_grad;
    for (int64_t t = 0; t + 1 < cfg.h_cycles; ++t) latent_recursion(x, y, z);
  }
  if (cfg.one_step_gradient) {
    // Ablation (HRM's approximation): only the final z and y updates carry gradient.
    {
      at::NoGradGuard no_grad;
      for (int64_t i = 0; i + 1 < cfg.l_cycles; ++i) z = net(z + y + x);
    }
    z = net(z + y + x);
    y = net(y + z);
  } else {
    latent_recursion(x, y, z);
  }
  TRMStep out;
  out.logits = lm_head(y);
  out.q_halt = q_head(y.select(1, 0)).squeeze(-1);
  out.y = y.detach();
  out.z = z.detach();
  return out;
}

}  // namespace beyond
