#include "recursive/reasoner.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/config.h"
#include "recursive/hrm.h"
#include "recursive/transformer_baseline.h"
#include "recursive/trm.h"

namespace beyond {

HaltingConfig HaltingConfig::from_config(Config& c, const HaltingConfig& defaults, bool read_act_continue) {
  HaltingConfig h = defaults;
  h.max_steps = c.get_int("model.halt_max_steps", h.max_steps, 1, 256);
  // Exploration draws a minimum from U{2..max_steps}: with one step there is nothing to explore.
  if (h.max_steps < 2) h.exploration = 0.0;
  h.exploration = c.get_float("model.halt_exploration", h.exploration, 0.0, 1.0);
  if (h.max_steps < 2 && h.exploration > 0)
    throw c.error("model.halt_exploration", "model.halt_exploration needs model.halt_max_steps >= 2");
  if (read_act_continue) h.act_continue = c.get_bool("model.act_continue", h.act_continue);
  return h;
}

PuzzlePrefixConfig PuzzlePrefixConfig::from_config(Config& c, int64_t num_puzzle_ids) {
  if (num_puzzle_ids <= 0) {
    if (c.has("model.puzzle_emb_len"))
      throw c.error("model.puzzle_emb_len", "model.puzzle_emb_len needs a task with puzzle ids");
    return {};
  }
  return {num_puzzle_ids, c.get_int("model.puzzle_emb_len", 16, 1, 64)};
}

at::Device ReasonerImpl::device() const {
  const auto params = parameters();
  return params.empty() ? at::Device(at::kCPU) : params.front().device();
}

int64_t ReasonerImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

TransformerConfig reasoner_net_defaults(int64_t seq_len, int64_t vocab_size, int64_t n_layers) {
  TransformerConfig d;  // report §1.1
  d.vocab_size = vocab_size;
  d.max_seq_len = seq_len;
  d.d_model = 128;
  d.n_layers = n_layers;
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
  return d;
}

TransformerConfig read_reasoner_net(Config& c, const TransformerConfig& defaults, const std::string& who) {
  auto net = TransformerConfig::from_config(c, "model", defaults);
  if (net.causal) throw c.error("model.causal", who + "'s net is bidirectional: model.causal must be false");
  if (net.max_seq_len != defaults.max_seq_len)
    throw c.error("model.max_seq_len",
                  "model.max_seq_len must equal the puzzle's " + std::to_string(defaults.max_seq_len) + " cells");
  return net;
}

TransformerConfig with_prefix(const TransformerConfig& cells, const PuzzlePrefixConfig& prefix) {
  auto net = cells;
  net.max_seq_len += prefix.len;
  return net;
}

void make_puzzle_embedding(ReasonerImpl& m, const PuzzlePrefixConfig& prefix, int64_t d_model) {
  if (prefix.num_ids <= 0) return;
  m.puzzle_emb = m.register_module("puzzle_emb", PuzzleEmbedding(prefix.num_ids, d_model, prefix.len));
}

at::Tensor reasoner_input(ReasonerImpl& m, torch::nn::Embedding& embed_tokens, const TransformerConfig& net,
                          const at::Tensor& tokens, const at::Tensor& puzzle_ids) {
  TORCH_CHECK(puzzle_ids.defined() == static_cast<bool>(m.puzzle_emb),
              m.puzzle_emb ? "this model has puzzle embeddings: step needs puzzle ids [B]"
                           : "this model has no puzzle embeddings: step takes an undefined puzzle_ids tensor");
  auto x = embed_tokens(tokens);  // (B, L) -> (B, L, D)
  if (m.puzzle_emb) {
    TORCH_CHECK(puzzle_ids.dim() == 1 && puzzle_ids.size(0) == tokens.size(0), "puzzle ids must be [B] = [",
                tokens.size(0), "], got ", puzzle_ids.sizes());
    x = at::cat({m.puzzle_emb(puzzle_ids).to(x.dtype()), x}, 1);  // (B, P + L, D)
  }
  if (net.embedding_scale) x = x * std::sqrt(static_cast<double>(net.d_model));
  return x;
}

std::string describe_prefix(const ReasonerImpl& m) {
  if (!m.puzzle_emb) return "";
  return ", " + std::to_string(m.puzzle_emb->num_ids()) + " puzzle ids, prefix " + std::to_string(m.prefix_len());
}

ReasonerSpec read_reasoner(Config& c, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids) {
  ReasonerSpec spec;
  spec.kind = c.get_choice("model.kind", "trm", {"trm", "hrm", "transformer"});
  // Each kind reads only its own keys, so a key of another kind is reported as unknown.
  if (spec.kind == "trm") {
    const auto cfg = TRMConfig::from_config(c, seq_len, vocab_size, num_puzzle_ids);
    spec.halting = {cfg.halt_max_steps, cfg.halt_exploration, cfg.act_continue};
    spec.build = [cfg]() -> Reasoner { return std::make_shared<TRMImpl>(cfg); };
  } else if (spec.kind == "hrm") {
    const auto cfg = HRMConfig::from_config(c, seq_len, vocab_size, num_puzzle_ids);
    spec.halting = cfg.halting;
    spec.build = [cfg]() -> Reasoner { return std::make_shared<HRMImpl>(cfg); };
  } else {
    const auto cfg = TransformerBaselineConfig::from_config(c, seq_len, vocab_size, num_puzzle_ids);
    spec.halting = cfg.halting;
    spec.build = [cfg]() -> Reasoner { return std::make_shared<TransformerBaselineImpl>(cfg); };
  }
  return spec;
}

Reasoner make_reasoner(Config& c, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids) {
  return read_reasoner(c, seq_len, vocab_size, num_puzzle_ids).build();
}

torch::nn::Linear make_q_head(int64_t d_model, bool act_continue) {
  torch::nn::Linear q(torch::nn::LinearOptions(d_model, act_continue ? 2 : 1).bias(true));
  reset_q_head(q);
  return q;
}

void reset_q_head(torch::nn::Linear& q) {
  at::NoGradGuard no_grad;
  q->weight.zero_();
  q->bias.fill_(-5.0);
}

void apply_q_head(torch::nn::Linear& q_head, const at::Tensor& hidden, ReasonerStep& out) {
  const auto q = q_head(hidden.select(1, 0));  // (B, D) -> (B, 1 or 2)
  out.q_halt = q.select(-1, 0);
  if (q.size(-1) > 1) out.q_continue = q.select(-1, 1);
}

void make_init_states(torch::nn::Module& m, int64_t d_model, at::Tensor& h_init, at::Tensor& l_init) {
  at::NoGradGuard no_grad;
  h_init = at::empty({d_model});
  l_init = at::empty({d_model});
  trunc_normal_(h_init, 1.0);
  trunc_normal_(l_init, 1.0);
  m.register_buffer("h_init", h_init);
  m.register_buffer("l_init", l_init);
}

std::pair<at::Tensor, at::Tensor> broadcast_init_states(const at::Tensor& h_init, const at::Tensor& l_init, int64_t batch,
                                                        int64_t seq_len) {
  return {h_init.view({1, 1, -1}).expand({batch, seq_len, -1}).clone(),
          l_init.view({1, 1, -1}).expand({batch, seq_len, -1}).clone()};
}

ReasonerStep reasoner_output(torch::nn::Linear& lm_head, torch::nn::Linear& q_head, const at::Tensor& y, const at::Tensor& z,
                             int64_t prefix_len) {
  ReasonerStep out;
  out.logits = lm_head(y);
  if (prefix_len > 0) out.logits = out.logits.narrow(1, prefix_len, y.size(1) - prefix_len);
  apply_q_head(q_head, y, out);
  out.y = y.detach();
  out.z = z.detach();
  return out;
}

}  // namespace beyond
