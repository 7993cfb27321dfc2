#include "recursive/hrm.h"

#include <ATen/ATen.h>

#include "core/config.h"

namespace beyond {

HRMConfig HRMConfig::from_config(Config& c, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids) {
  HRMConfig h;
  h.net = read_reasoner_net(c, reasoner_net_defaults(seq_len, vocab_size, 4), "HRM");
  h.h_cycles = c.get_int("model.h_cycles", h.h_cycles, 1, 64);
  h.l_cycles = c.get_int("model.l_cycles", h.l_cycles, 1, 64);
  h.halting = HaltingConfig::from_config(c, h.halting);
  h.puzzle = PuzzlePrefixConfig::from_config(c, num_puzzle_ids);
  return h;
}

HRMImpl::HRMImpl(const HRMConfig& cfg_) : cfg(cfg_) {
  kind = "hrm";
  halting = cfg.halting;
  const auto& n = cfg.net;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(n.vocab_size, n.d_model));
  h_level = register_module("h_level", Stack(with_prefix(n, cfg.puzzle)));
  l_level = register_module("l_level", Stack(with_prefix(n, cfg.puzzle)));
  lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(n.d_model, n.vocab_size).bias(false)));
  q_head = register_module("q_head", make_q_head(n.d_model, cfg.halting.act_continue));
  init_weights(*this, n);
  reset_q_head(q_head);
  make_init_states(*this, n.d_model, h_init, l_init);
  make_puzzle_embedding(*this, cfg.puzzle, n.d_model);
}

std::pair<at::Tensor, at::Tensor> HRMImpl::initial_carry(int64_t batch) const {
  return broadcast_init_states(h_init, l_init, batch, prefix_len() + cfg.net.max_seq_len);
}

ReasonerStep HRMImpl::step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y_in,
                           const at::Tensor& z_in) {
  const auto x = reasoner_input(*this, embed_tokens, cfg.net, tokens, puzzle_ids);  // (B, P + L, D)
  auto z_h = y_in, z_l = z_in;
  {
    at::NoGradGuard no_grad;
    for (int64_t h = 0; h < cfg.h_cycles; ++h) {
      const bool last_h = h + 1 == cfg.h_cycles;
      for (int64_t l = 0; l < cfg.l_cycles; ++l) {
        if (last_h && l + 1 == cfg.l_cycles) break;  // the final L call runs with gradient below
        z_l = l_level(z_l + z_h + x);
      }
      if (!last_h) z_h = h_level(z_h + z_l);
    }
  }
  // The 1-step gradient: only these two calls are differentiated.
  z_l = l_level(z_l + z_h + x);
  z_h = h_level(z_h + z_l);
  return reasoner_output(lm_head, q_head, z_h, z_l, prefix_len());
}

std::string HRMImpl::describe() const {
  std::string d = "HRM: " + std::to_string(parameter_count()) + " parameters, H=" + std::to_string(cfg.h_cycles) +
                  " L=" + std::to_string(cfg.l_cycles) + " cycles, " + std::to_string(cfg.net.n_layers) + "+" +
                  std::to_string(cfg.net.n_layers) + " layers, N_sup=" + std::to_string(halting.max_steps) + ", " +
                  cfg.net.mixer;
  if (cfg.halting.act_continue) d += ", ACT continue";
  d += describe_prefix(*this);
  return d;
}

}  // namespace beyond
