// The gated delta rule (Gated DeltaNet, Kimi delta attention) in three forms that compute the
// same thing: a per-token recurrence (the reference), the chunkwise-parallel form used for
// training and prefill (WY representation / UT transform), and a one-token step for decoding.
// ../shared/research/architectures.md §2 has the derivation.
//
// Per (batch, value head), with state H [dk, dv] and for each token t:
//   H <- diag(exp(g_t)) H          g_t <= 0: log decay, a scalar per head (GDN) or one per key channel (KDA)
//   u  = beta_t (v_t - H^T k_t)     the delta: target minus what the state already predicts for k_t
//   H <- H + k_t u^T                rank-one write
//   o_t = H^T q_t
//
// Shapes: B batch, T tokens, Hk query/key heads, Hv value heads (a multiple of Hk; each q/k head
// serves Hv/Hk value heads), dk key dim, dv value dim.
//   q, k:  [B, T, Hk, dk]   used as given: the layer L2-normalises them and scales q by dk^-1/2
//   v:     [B, T, Hv, dv]
//   g:     [B, T, Hv] (scalar decay) or [B, T, Hv, dk] (channel-wise decay), log space, <= 0
//   beta:  [B, T, Hv]
//   state: [B, Hv, dk, dv] or undefined (zeros)
// Outputs: o [B, T, Hv, dv] and the final state [B, Hv, dk, dv]. All forms work in the inputs'
// dtype (float32 or float64) and are differentiable through autograd.
#pragma once
#include <ATen/Tensor.h>

namespace beyond {

struct DeltaRuleOutput {
  at::Tensor out;    // [B, T, Hv, dv]
  at::Tensor state;  // [B, Hv, dk, dv]
};

// The per-token loop, written as the four lines above. Autograd through it keeps one state per
// token, so it is for reference, decoding and short sequences.
DeltaRuleOutput delta_rule_recurrent(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& g, const at::Tensor& beta,
                                     const at::Tensor& initial_state = {});

// The chunkwise-parallel form: within each chunk of `chunk` tokens the products of the rank-one
// updates collapse to W and U through a unit lower-triangular solve; only the loop over chunks is
// sequential. T need not be a multiple of chunk (the tail is padded with steps that change nothing).
DeltaRuleOutput delta_rule_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& g, const at::Tensor& beta,
                                   const at::Tensor& initial_state = {}, int64_t chunk = 64);

// One token for decoding: q, k [B, Hk, dk], v [B, Hv, dv], g [B, Hv] or [B, Hv, dk], beta [B, Hv],
// state [B, Hv, dk, dv] (undefined: zeros). Returns o [B, Hv, dv] and the new state.
DeltaRuleOutput delta_rule_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g, const at::Tensor& beta, const at::Tensor& state);

}  // namespace beyond
