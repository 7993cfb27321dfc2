#include "core/delta_rule.h"

#include <ATen/ATen.h>

#include <limits>
#include <vector>

namespace beyond {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Value head h reads key head h / (Hv / Hk): repeat each key head over its group on `head_dim`.
at::Tensor repeat_key_heads(const at::Tensor& x, int64_t value_heads, int64_t head_dim) {
  const int64_t key_heads = x.size(head_dim);
  TORCH_CHECK(value_heads % key_heads == 0, "delta rule: ", value_heads, " value heads are not a multiple of ",
              key_heads, " key heads");
  return key_heads == value_heads ? x : x.repeat_interleave(value_heads / key_heads, head_dim);
}

// A scalar gate [.., Hv] becomes [.., Hv, 1] so that both gate kinds broadcast over the key dim.
at::Tensor gate_per_channel(const at::Tensor& g, int64_t scalar_dims) {
  return g.dim() == scalar_dims ? g.unsqueeze(-1) : g;
}

at::Tensor zero_state(const at::Tensor& k, const at::Tensor& v) {
  return at::zeros({v.size(0), v.size(-2), k.size(-1), v.size(-1)}, v.options());
}

// One token with q/k already repeated to the value heads: q, k [B, Hv, dk], v [B, Hv, dv],
// g [B, Hv, dk|1], beta [B, Hv], state [B, Hv, dk, dv].
DeltaRuleOutput step_value_heads(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& g, const at::Tensor& beta, const at::Tensor& state) {
  auto H = state * at::exp(g).unsqueeze(-1);                           // H <- diag(exp(g)) H
  const auto predicted = at::matmul(k.unsqueeze(-2), H).squeeze(-2);  // H^T k
  const auto u = beta.unsqueeze(-1) * (v - predicted);                // u = beta (v - H^T k)
  H = at::addcmul(H, k.unsqueeze(-1), u.unsqueeze(-2));               // H <- H + k u^T
  auto out = at::matmul(q.unsqueeze(-2), H).squeeze(-2);              // o = H^T q
  return {std::move(out), std::move(H)};
}

// --- chunked form -------------------------------------------------------------------------------
// Layout inside: [N chunks, B, Hv, C rows, d], so that the chunk loop selects contiguous slices and
// everything before it is batched over (N, B, Hv).

// Pads dim 1 (time) of x with `pad` zero steps at the end.
at::Tensor pad_time(const at::Tensor& x, int64_t pad) {
  if (pad == 0) return x;
  std::vector<int64_t> widths(2 * (x.dim() - 1), 0);
  widths.back() = pad;
  return at::constant_pad_nd(x, widths);
}

// [B, N*C, H, d] -> [N, B, H, C, d]
at::Tensor to_chunks(const at::Tensor& x, int64_t chunk) {
  const int64_t B = x.size(0), N = x.size(1) / chunk;
  return x.reshape({B, N, chunk, x.size(2), x.size(3)}).permute({1, 0, 3, 2, 4}).contiguous();
}

// [N, B, H, C, d] -> [B, N*C, H, d]
at::Tensor from_chunks(const at::Tensor& x) {
  const int64_t N = x.size(0), B = x.size(1), H = x.size(2), C = x.size(3);
  return x.permute({1, 0, 3, 2, 4}).reshape({B, N * C, H, x.size(4)});
}

// exp(x) where keep, exactly 0 elsewhere; masked entries never reach exp (they may be large and
// positive), and their gradient is 0.
at::Tensor masked_exp(const at::Tensor& x, const at::Tensor& keep) {
  return at::exp(at::where(keep, x, kNegInf));
}

struct DecayedGrams {
  at::Tensor qk;  // [.., C, C] sum_d q_r[d] k_i[d] exp(gamma_r[d] - gamma_i[d]) for i <= r, else 0
  at::Tensor kk;  // [.., C, C] the same with k_r for q_r, for i < r only
};

// Scalar gate (gamma [.., C, 1]): the decay is one C x C matrix Gamma_ri = exp(gamma_r - gamma_i).
DecayedGrams scalar_gate_grams(const at::Tensor& Q, const at::Tensor& K, const at::Tensor& gamma) {
  const int64_t C = K.size(-2);
  const auto lower = at::ones({C, C}, K.options().dtype(at::kBool)).tril();
  const auto decay = masked_exp(gamma - gamma.transpose(-1, -2), lower);
  const auto Kt = K.transpose(-1, -2);
  return {at::matmul(Q, Kt) * decay, (at::matmul(K, Kt) * decay).tril(-1)};
}

// The largest divisor of C that is at most 8: the sub-block size of the channel-gate grams (8 used
// less memory than 16 at the same speed on CPU, T = 1024..4096, H = 16, d = 128).
int64_t sub_block_size(int64_t C) {
  for (int64_t s = 8; s > 1; --s)
    if (C % s == 0) return s;
  return 1;
}

// Channel gate (gamma [.., C, dk]): the decay sits inside the sum over d, so it cannot be one C x C
// matrix. A full [C, C, dk] difference tensor would keep C dk numbers per token, the same order as
// the per-token dk dv states we are avoiding, so the chunk is cut into M sub-blocks of S rows:
// - within a diagonal block, the [S, S, dk] differences are exponentiated directly;
// - between row block a and earlier columns i, the decay factors through the reference point
//   rho_a = gamma at the last row before block a: exp(gamma_r - gamma_i) = exp(gamma_r - rho_a) *
//   exp(rho_a - gamma_i), both exponents <= 0 (gamma only falls), so nothing overflows in float32.
DecayedGrams channel_gate_grams(const at::Tensor& Q, const at::Tensor& K, const at::Tensor& gamma) {
  const int64_t C = K.size(-2), dk = K.size(-1), S = sub_block_size(C), M = C / S;
  auto batch = K.sizes().vec();
  batch.resize(batch.size() - 2);
  auto shape = [&](std::initializer_list<int64_t> tail) {
    auto s = batch;
    s.insert(s.end(), tail);
    return s;
  };
  const auto bool_opts = K.options().dtype(at::kBool);
  // q and k rows share every decay factor: X [.., M, S, 2, dk] holds both.
  const auto X = at::stack({Q, K}, -2).view(shape({M, S, 2, dk}));

  // Diagonal blocks: E[a, r, i, d] = exp(gamma_r[d] - gamma_i[d]) for i <= r inside block a.
  const auto g_blocks = gamma.view(shape({M, S, dk}));
  const auto lower = at::ones({S, S}, bool_opts).tril().view({S, S, 1});
  const auto E = masked_exp(g_blocks.unsqueeze(-2) - g_blocks.unsqueeze(-3), lower);  // [.., M, S(r), S(i), dk]
  const auto EK = E * K.view(shape({M, 1, S, dk}));
  const auto diag = at::matmul(X, EK.transpose(-1, -2));  // [.., M, S(r), 2, S(i)]

  // Off-diagonal: rows scaled by exp(gamma_r - rho_a), columns i < a S by exp(rho_a - gamma_i).
  const auto block_end = g_blocks.select(-2, S - 1);  // [.., M, dk]
  const auto rho = at::cat({at::zeros_like(block_end.narrow(-2, 0, 1)), block_end.narrow(-2, 0, M - 1)}, -2);
  const auto Xr = X * at::exp(g_blocks - rho.unsqueeze(-2)).unsqueeze(-2);
  const auto long_opts = K.options().dtype(at::kLong);
  const auto before_block = at::arange(C, long_opts).unsqueeze(0) < at::arange(M, long_opts).unsqueeze(1) * S;  // [M, C]
  const auto col_scale = masked_exp(rho.unsqueeze(-2) - gamma.unsqueeze(-3), before_block.unsqueeze(-1));
  const auto Kc = col_scale * K.unsqueeze(-3);  // [.., M, C(i), dk]
  const auto off = at::matmul(Xr.reshape(shape({M, 2 * S, dk})), Kc.transpose(-1, -2)).view(shape({M, S, 2, C}));

  // Place the diagonal blocks: full[a, r, :, b, i] = diag[a, r, :, i] [a == b].
  const auto eye = at::eye(M, K.options()).view({M, 1, 1, M, 1});
  const auto full = (off + (diag.unsqueeze(-2) * eye).reshape(shape({M, S, 2, C}))).view(shape({C, 2, C}));
  return {full.select(-2, 0), full.select(-2, 1).tril(-1)};
}

}  // namespace

DeltaRuleOutput delta_rule_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g, const at::Tensor& beta, const at::Tensor& state) {
  const int64_t Hv = v.size(1);
  return step_value_heads(repeat_key_heads(q, Hv, 1), repeat_key_heads(k, Hv, 1), v, gate_per_channel(g, 2),
                          beta, state.defined() ? state : zero_state(k, v));
}

DeltaRuleOutput delta_rule_recurrent(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& g, const at::Tensor& beta,
                                     const at::Tensor& initial_state) {
  const int64_t T = v.size(1), Hv = v.size(2);
  const auto qh = repeat_key_heads(q, Hv, 2), kh = repeat_key_heads(k, Hv, 2);
  const auto gc = gate_per_channel(g, 3);
  // unbind, not select(t) per step: the backward of T selects would write T full-size gradients.
  const auto qs = qh.unbind(1), ks = kh.unbind(1), vs = v.unbind(1), gs = gc.unbind(1), betas = beta.unbind(1);
  auto H = initial_state.defined() ? initial_state : zero_state(k, v);
  std::vector<at::Tensor> outs;
  outs.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    auto step = step_value_heads(qs[t], ks[t], vs[t], gs[t], betas[t], H);
    outs.push_back(std::move(step.out));
    H = std::move(step.state);
  }
  return {at::stack(outs, 1), H};
}

DeltaRuleOutput delta_rule_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& g, const at::Tensor& beta,
                                   const at::Tensor& initial_state, int64_t chunk) {
  TORCH_CHECK(chunk > 0, "delta rule: chunk must be positive");
  const int64_t T = v.size(1), Hv = v.size(2), N = (T + chunk - 1) / chunk, pad = N * chunk - T;
  // Padded steps have k = v = 0, beta = 0, g = 0: no decay and no write, so the state passes through.
  auto chunks = [&](const at::Tensor& x) { return to_chunks(pad_time(x, pad), chunk); };
  const auto Q = chunks(repeat_key_heads(q, Hv, 2));  // [N, B, Hv, C, dk]
  const auto K = chunks(repeat_key_heads(k, Hv, 2));
  const auto V = chunks(v);                             // [N, B, Hv, C, dv]
  const auto G = chunks(gate_per_channel(g, 3));        // [N, B, Hv, C, dk|1]
  const auto beta_c = chunks(beta.unsqueeze(-1));       // [N, B, Hv, C, 1]

  const auto gamma = G.cumsum(-2);  // log decay from the chunk start through row r
  const auto grams = gamma.size(-1) == 1 ? scalar_gate_grams(Q, K, gamma) : channel_gate_grams(Q, K, gamma);

  // (I + A) [W | U] = diag(beta) [exp(gamma) K | V], A = StrictLower(diag(beta) K K^T decayed).
  const int64_t dk = K.size(-1), C = chunk;
  const auto eye = at::eye(C, K.options());
  const auto I_plus_A = eye + beta_c * grams.kk;
  const auto rhs = beta_c * at::cat({at::exp(gamma) * K, V}, -1);
  const auto WU = at::linalg_solve_triangular(I_plus_A, rhs, /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  const auto W = WU.narrow(-1, 0, dk), U = WU.narrow(-1, dk, V.size(-1));

  const auto gamma_end = gamma.narrow(-2, C - 1, 1);          // [N, B, Hv, 1, dk|1]
  const auto Q_decayed = Q * at::exp(gamma);                   // reads the chunk-start state
  const auto K_to_end = K * at::exp(gamma_end - gamma);        // writes decayed to the chunk end
  const auto end_decay = at::exp(gamma_end).transpose(-1, -2); // [N, B, Hv, dk|1, 1] scales rows of H

  // Per-chunk slices by unbind (one backward op for all chunks, not N full-size select gradients).
  const auto Us = U.unbind(0), Ws = W.unbind(0), Qs = Q_decayed.unbind(0), Aqk = grams.qk.unbind(0);
  const auto Ks = K_to_end.unbind(0), decays = end_decay.unbind(0);
  auto H = initial_state.defined() ? initial_state : zero_state(k, v);
  std::vector<at::Tensor> outs;
  outs.reserve(N);
  for (int64_t n = 0; n < N; ++n) {
    const auto V_new = Us[n] - at::matmul(Ws[n], H);  // the pseudo-values after what H already predicts
    outs.push_back(at::matmul(Qs[n], H) + at::matmul(Aqk[n], V_new));
    H = decays[n] * H + at::matmul(Ks[n].transpose(-1, -2), V_new);
  }
  const auto out = from_chunks(at::stack(outs, 0)).narrow(1, 0, T);
  return {out, H};
}

}  // namespace beyond
