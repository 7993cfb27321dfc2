// One interface for the recursive reasoners (TRM, HRM) and their no-recursion baseline, so that
// deep supervision, evaluation and the experiments are written once.
//
// A reasoner is run for up to halting.max_steps supervision steps on the same puzzle. Each step
// takes the puzzle's tokens and a carry (y, z) and returns the next carry (detached: no gradient
// crosses a supervision step), the answer logits and the halting head's logits.
//
// Shapes: B batch, L sequence length (cells), D d_model, V vocabulary.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "core/transformer_config.h"

namespace beyond {

class Config;

struct ReasonerStep {
  at::Tensor y, z;        // carry for the next supervision step, detached, [B, L, D]
  at::Tensor logits;      // [B, L, V]
  at::Tensor q_halt;      // [B]
  at::Tensor q_continue;  // [B], undefined unless the model has a continue head (HRM; TRM with act_continue)
};

// How a reasoner halts while training (evaluation always runs a fixed number of steps).
//   act_continue = false (TRM): halt when q_halt > 0; the halt head learns "is the answer right".
//   act_continue = true (HRM's ACT): halt when q_halt > q_continue; the continue head learns a
//   bootstrapped Q-value from one extra no-grad step (see recursive/deep_supervision.h).
// `exploration` is the probability that a fresh slot draws a minimum step count from
// U{2..max_steps}; the batch supplies that draw ("min_steps").
struct HaltingConfig {
  int64_t max_steps = 16;
  double exploration = 0.1;
  bool act_continue = false;

  // Reads model.halt_max_steps, model.halt_exploration and (when `read_act_continue`)
  // model.act_continue, starting from `defaults`.
  static HaltingConfig from_config(Config& config, const HaltingConfig& defaults, bool read_act_continue = true);
};

struct ReasonerImpl : torch::nn::Module {
  virtual ~ReasonerImpl() = default;
  // The carry a fresh puzzle starts from, [B, L, D] each.
  virtual std::pair<at::Tensor, at::Tensor> initial_carry(int64_t batch) const = 0;
  // One supervision step on tokens [B, L] from the carry (y, z).
  virtual ReasonerStep step(const at::Tensor& tokens, const at::Tensor& y, const at::Tensor& z) = 0;
  // One line, e.g. "TRM: 101185 parameters, T=3 n=6 N_sup=16, attention".
  virtual std::string describe() const = 0;

  HaltingConfig halting;
  std::string kind;  // "trm" | "hrm" | "transformer"
  at::Device device() const;  // of its parameters
  int64_t parameter_count() const;
};
using Reasoner = std::shared_ptr<ReasonerImpl>;

// The model's keys read now, the model built later. Experiments read every key in configure(),
// but the run's seed is only set afterwards, and the weights must come from that seed.
struct ReasonerSpec {
  std::string kind;
  HaltingConfig halting;               // what the built model's `halting` will be
  std::function<Reasoner()> build;     // uses the global torch generator
};

// Reads [model] kind = "trm" (default) | "hrm" | "transformer" and that kind's keys, for a task of
// seq_len cells and vocab_size tokens. Throws InputError naming the key on a bad value.
ReasonerSpec read_reasoner(Config& config, int64_t seq_len, int64_t vocab_size);
// read_reasoner(...).build().
Reasoner make_reasoner(Config& config, int64_t seq_len, int64_t vocab_size);

// --- for the implementations -----------------------------------------------------------------

// The block kind TRM, HRM and the baseline share (report §1.1): post-norm, scale-free RMSNorm,
// SwiGLU, RoPE attention, bidirectional, LeCun init, sqrt(D) embedding scale; d_model 128, 4 heads.
TransformerConfig reasoner_net_defaults(int64_t seq_len, int64_t vocab_size, int64_t n_layers);
// Reads [model]'s transformer keys from `defaults`, and rejects a causal net or a length other
// than the task's (`who` names the model in the message).
TransformerConfig read_reasoner_net(Config& config, const TransformerConfig& defaults, const std::string& who);

// TRM's and HRM's fixed starting states (report §1.1): one D-vector each from a truncated normal
// with std 1, registered on `m` as the untrained buffers "h_init" and "l_init".
void make_init_states(torch::nn::Module& m, int64_t d_model, at::Tensor& h_init, at::Tensor& l_init);
// The carry (y, z) of a fresh puzzle: the init vectors broadcast over [batch, seq_len].
std::pair<at::Tensor, at::Tensor> broadcast_init_states(const at::Tensor& h_init, const at::Tensor& l_init, int64_t batch,
                                                        int64_t seq_len);

// The halting head on position 0: D -> 1 (q_halt), or D -> 2 (q_halt, q_continue) with ACT.
// Zero weights and bias -5, so nothing halts before it has learned to (call after init_weights).
torch::nn::Linear make_q_head(int64_t d_model, bool act_continue);
void reset_q_head(torch::nn::Linear& q_head);
// The step's outputs read from the answer state y: logits = lm_head(y), the Q-head on y[:, 0], and
// the carry (y, z) detached so that no gradient crosses a supervision step.
ReasonerStep reasoner_output(torch::nn::Linear& lm_head, torch::nn::Linear& q_head, const at::Tensor& y, const at::Tensor& z);
// Fills out.q_halt (and out.q_continue for a 2-output head) from the hidden states [B, L, D].
void apply_q_head(torch::nn::Linear& q_head, const at::Tensor& hidden, ReasonerStep& out);

}  // namespace beyond
