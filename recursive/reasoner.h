// One interface for the recursive reasoners (TRM, HRM) and their no-recursion baseline, so that
// deep supervision, evaluation and the experiments are written once.
//
// A reasoner is run for up to halting.max_steps supervision steps on the same puzzle. Each step
// takes the puzzle's tokens and a carry (y, z) and returns the next carry (detached: no gradient
// crosses a supervision step), the answer logits and the halting head's logits.
//
// A task with puzzle ids (ARC: one per task x augmentation) gives the model a PuzzleEmbedding:
// prefix_len() positions, the first carrying the id's learned vector, are prepended to the token
// embeddings, so the net and the carry run over prefix_len() + L positions, the halting head reads
// the id's position 0 and the logits leave the prefix out (report §1.1 "Puzzle prefix").
//
// Shapes: B batch, L sequence length (cells), P prefix_len(), D d_model, V vocabulary.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "core/transformer_config.h"
#include "recursive/puzzle_embedding.h"

namespace beyond {

class Config;

struct ReasonerStep {
  at::Tensor y, z;        // carry for the next supervision step, detached, [B, P + L, D]
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

// The puzzle-id prefix: none (num_ids = 0, len = 0), or a table of num_ids rows (id 0 is the
// blank id) and `len` prepended positions.
struct PuzzlePrefixConfig {
  int64_t num_ids = 0;
  int64_t len = 0;

  // With num_puzzle_ids > 0 reads model.puzzle_emb_len (default 16, 1..64); with none, that key
  // is an error and nothing is read (the resolved config of a task without ids is unchanged).
  static PuzzlePrefixConfig from_config(Config& config, int64_t num_puzzle_ids);
};

struct ReasonerImpl : torch::nn::Module {
  virtual ~ReasonerImpl() = default;
  // The carry a fresh puzzle starts from, [B, P + L, D] each.
  virtual std::pair<at::Tensor, at::Tensor> initial_carry(int64_t batch) const = 0;
  // One supervision step on tokens [B, L] from the carry (y, z). puzzle_ids: [B] int64 for a model
  // with puzzle embeddings, an undefined tensor otherwise (anything else is a TORCH_CHECK error).
  virtual ReasonerStep step(const at::Tensor& tokens, const at::Tensor& puzzle_ids, const at::Tensor& y,
                            const at::Tensor& z) = 0;
  // One line, e.g. "TRM: 101185 parameters, T=3 n=6 N_sup=16, attention".
  virtual std::string describe() const = 0;

  HaltingConfig halting;
  std::string kind;  // "trm" | "hrm" | "transformer"
  PuzzleEmbedding puzzle_emb{nullptr};  // module "puzzle_emb" when the task has puzzle ids
  int64_t prefix_len() const { return puzzle_emb ? puzzle_emb->prefix_len() : 0; }
  at::Device device() const;  // of its parameters
  int64_t parameter_count() const;  // the puzzle table is a buffer, not counted
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
// seq_len cells and vocab_size tokens, and num_puzzle_ids puzzle ids (0: none, no prefix). Throws
// InputError naming the key on a bad value.
ReasonerSpec read_reasoner(Config& config, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids = 0);
// read_reasoner(...).build().
Reasoner make_reasoner(Config& config, int64_t seq_len, int64_t vocab_size, int64_t num_puzzle_ids = 0);

// --- for the implementations -----------------------------------------------------------------

// The block kind TRM, HRM and the baseline share (report §1.1): post-norm, scale-free RMSNorm,
// SwiGLU, RoPE attention, bidirectional, LeCun init, sqrt(D) embedding scale; d_model 128, 4 heads.
TransformerConfig reasoner_net_defaults(int64_t seq_len, int64_t vocab_size, int64_t n_layers);
// Reads [model]'s transformer keys from `defaults`, and rejects a causal net or a length other
// than the task's (`who` names the model in the message).
TransformerConfig read_reasoner_net(Config& config, const TransformerConfig& defaults, const std::string& who);

// The net's config for `cells` plus the prefix: its length (RoPE, a sequence mixer) covers both.
TransformerConfig with_prefix(const TransformerConfig& cells, const PuzzlePrefixConfig& prefix);
// Registers m.puzzle_emb (module "puzzle_emb", d_model wide) when prefix.num_ids > 0.
void make_puzzle_embedding(ReasonerImpl& m, const PuzzlePrefixConfig& prefix, int64_t d_model);
// The net's input x [B, P + L, D]: cat(puzzle prefix, embed_tokens(tokens)), scaled by sqrt(D) as a
// whole when net.embedding_scale (trm.py `_input_embeddings`). Checks puzzle_ids against the model.
at::Tensor reasoner_input(ReasonerImpl& m, torch::nn::Embedding& embed_tokens, const TransformerConfig& net,
                          const at::Tensor& tokens, const at::Tensor& puzzle_ids);
// ", 400 puzzle ids, prefix 16" for describe(), "" without.
std::string describe_prefix(const ReasonerImpl& m);

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
// The step's outputs read from the answer state y [B, P + L, D]: logits = lm_head(y) on the L cells
// after the prefix_len P positions, the Q-head on y[:, 0], and the carry (y, z) detached so that
// no gradient crosses a supervision step.
ReasonerStep reasoner_output(torch::nn::Linear& lm_head, torch::nn::Linear& q_head, const at::Tensor& y, const at::Tensor& z,
                             int64_t prefix_len);
// Fills out.q_halt (and out.q_continue for a 2-output head) from the hidden states [B, L, D].
void apply_q_head(torch::nn::Linear& q_head, const at::Tensor& hidden, ReasonerStep& out);

}  // namespace beyond
