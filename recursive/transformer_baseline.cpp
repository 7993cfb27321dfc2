#include "recursive/transformer_baseline.h"

#include <ATen/ATen.h>

#include "core/config.h"

namespace beyond {

TransformerBaselineConfig TransformerBaselineConfig::from_config(Config& c, int64_t seq_len, int64_t vocab_size,
                                                                 int64_t num_puzzle_ids) {
  TransformerBaselineConfig b;
  b.net = read_reasoner_net(c, reasoner_net_defaults(seq_len, vocab_size, 2), "the transformer baseline");
  // No continue head: ACT has nothing to decide in a model without recursion.
  b.halting = HaltingConfig::from_config(c, b.halting, /*read_act_continue=*/false);
  b.puzzle = PuzzlePrefixConfig::from_config(c, num_puzzle_ids);
  return b;
}

TransformerBaselineImpl::TransformerBaselineImpl(const TransformerBaselineConfig& cfg_) : cfg(cfg_) {
  kind = "transformer";
  halting = cfg.halting;
  const auto& n = cfg.net;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(n.vocab_size, n.d_model));
  net = Stack(with_prefix(n, cfg.puzzle));
  register_module("blocks", net->blocks);
  lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(n.d_model, n.vocab_size).bias(false)));
  q_head = register_module("q_head", make_q_head(n.d_model, false));
  init_weights(*this, n);
  reset_q_head(q_head);
  make_puzzle_embedding(*this, cfg.puzzle, n.d_model);
}

std::pair<at::Tensor, at::Tensor> TransformerBaselineImpl::initial_carry(int64_t batch) const {
  const auto options = embed_tokens->weight.options();
  const int64_t length = prefix_len() + cfg.net.max_seq_len;
  return {at::zeros({batch, length, cfg.net.d_model}, options), at::zeros({batch, length, cfg.net.d_model}, options)};
}

ReasonerStep TransformerBaselineImpl::step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor&,
                                           const at::Tensor&) {
  const auto h = net(reasoner_input(*this, embed_tokens, cfg.net, tokens, puzzle_ids));  // (B, P + L, D)
  return reasoner_output(lm_head, q_head, h, h, prefix_len());  // the carry is never read
}

std::string TransformerBaselineImpl::describe() const {
  return "transformer: " + std::to_string(parameter_count()) + " parameters, " + std::to_string(cfg.net.n_layers) +
         " layers, one pass (no recursion), N_sup=" + std::to_string(halting.max_steps) + ", " + cfg.net.mixer +
         describe_prefix(*this);
}

}  // namespace beyond
