#include "recursive/trm.h"

#include <ATen/ATen.h>

#include "core/config.h"

namespace beyond {

TRMConfig TRMConfig::from_config(Config& c, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids) {
  TRMConfig t;
  t.net = read_reasoner_net(c, reasoner_net_defaults(seq_len, vocab_size, 2), "TRM");
  t.h_cycles = c.get_int("model.h_cycles", t.h_cycles, 1, 64);
  t.l_cycles = c.get_int("model.l_cycles", t.l_cycles, 1, 64);
  const auto h = HaltingConfig::from_config(c, {t.halt_max_steps, t.halt_exploration, t.act_continue});
  t.halt_max_steps = h.max_steps;
  t.halt_exploration = h.exploration;
  t.act_continue = h.act_continue;
  t.one_step_gradient = c.get_bool("model.one_step_gradient", t.one_step_gradient);
  t.puzzle = PuzzlePrefixConfig::from_config(c, num_puzzle_ids);
  return t;
}

TRMImpl::TRMImpl(const TRMConfig& cfg_) : cfg(cfg_) {
  kind = "trm";
  halting = {cfg.halt_max_steps, cfg.halt_exploration, cfg.act_continue};
  const auto& n = cfg.net;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(n.vocab_size, n.d_model));
  net = Stack(with_prefix(n, cfg.puzzle));
  register_module("blocks", net->blocks);
  lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(n.d_model, n.vocab_size).bias(false)));
  q_head = register_module("q_head", make_q_head(n.d_model, cfg.act_continue));
  init_weights(*this, n);
  reset_q_head(q_head);
  make_init_states(*this, n.d_model, h_init, l_init);
  make_puzzle_embedding(*this, cfg.puzzle, n.d_model);
}

std::pair<at::Tensor, at::Tensor> TRMImpl::initial_carry(int64_t batch) const {
  return broadcast_init_states(h_init, l_init, batch, prefix_len() + cfg.net.max_seq_len);
}

at::Tensor TRMImpl::latent_recursion(const at::Tensor& x, at::Tensor& y, at::Tensor& z) {
  for (int64_t i = 0; i < cfg.l_cycles; ++i) z = net(z + y + x);
  y = net(y + z);
  return y;
}

ReasonerStep TRMImpl::step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y_in,
                           const at::Tensor& z_in) {
  const auto x = reasoner_input(*this, embed_tokens, cfg.net, tokens, puzzle_ids);  // (B, P + L, D)
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
  return reasoner_output(lm_head, q_head, y, z, prefix_len());
}

std::string TRMImpl::describe() const {
  std::string d = "TRM: " + std::to_string(parameter_count()) + " parameters, T=" + std::to_string(cfg.h_cycles) +
                  " n=" + std::to_string(cfg.l_cycles) + " N_sup=" + std::to_string(halting.max_steps) + ", " +
                  cfg.net.mixer;
  if (cfg.act_continue) d += ", ACT continue";
  if (cfg.one_step_gradient) d += ", one-step gradient";
  d += describe_prefix(*this);
  return d;
}

}  // namespace beyond
