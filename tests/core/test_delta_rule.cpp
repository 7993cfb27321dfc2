// The gated delta rule's three forms (recurrent, chunked, step) against a naive Eigen float64
// reference written in the papers' own form, against each other (outputs, final states, gradients)
// and on cases worked out by hand.
//
// The reference loops over batch, value head and token:
// - GDN (Yang et al., scalar gate), state S [dv x dk]: S_t = S_{t-1} alpha_t (I - beta k k^T) + beta v k^T,
//   o_t = S_t q_t;
// - KDA (Kimi Linear, channel gate), state S [dk x dv]: S_t = (I - beta k k^T) Diag(alpha_t) S_{t-1} +
//   beta k v^T, o_t = S_t^T q_t.
// The code's state H [dk x dv] is S^T for GDN and S for KDA.
//
// Tolerances: values are O(1) (unit q and k, N(0,1) v and initial state), so absolute errors are
// used: 1e-10 in float64 (the forms differ by summation order and a triangular solve, ~1e-15) and
// 1e-5 in float32 (about 100 ulps at 1).
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/delta_rule.h"

using namespace beyond;

namespace {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;

constexpr double kTol64 = 1e-10;
constexpr double kTol32 = 1e-5;
constexpr double kGradTol = 1e-9;

struct Shape {
  int64_t B = 2, T = 37, Hk = 2, Hv = 4, dk = 8, dv = 6;
};

struct Inputs {
  at::Tensor q, k, v, g, beta, state;  // state may be undefined

  Inputs to(at::ScalarType dtype) const {
    auto cast = [&](const at::Tensor& x) { return x.defined() ? x.to(dtype) : x; };
    return {cast(q), cast(k), cast(v), cast(g), cast(beta), cast(state)};
  }
};

at::Tensor l2_normalize(const at::Tensor& x) { return x / x.norm(2, -1, /*keepdim=*/true); }

// Random inputs as the layers make them, in float64: unit q and k; beta = sigmoid(.); log decays
// g = -exp(A_log) softplus(.) with A in [0.5, 8] per head, floored at -5 so that strong decays
// (the KDA lower bound) occur next to weak ones.
Inputs make_inputs(const Shape& s, bool channel_gate, bool with_state, uint64_t seed) {
  torch::manual_seed(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Inputs in;
  in.q = l2_normalize(at::randn({s.B, s.T, s.Hk, s.dk}, f64));
  in.k = l2_normalize(at::randn({s.B, s.T, s.Hk, s.dk}, f64));
  in.v = at::randn({s.B, s.T, s.Hv, s.dv}, f64);
  const auto A = at::exp(at::empty({s.Hv}, f64).uniform_(std::log(0.5), std::log(8.0)));
  if (channel_gate) {
    in.g = (-A.view({s.Hv, 1}) * at::softplus(at::randn({s.B, s.T, s.Hv, s.dk}, f64) - 1.0)).clamp_min(-5.0);
  } else {
    in.g = (-A * at::softplus(at::randn({s.B, s.T, s.Hv}, f64) - 1.0)).clamp_min(-5.0);
  }
  in.beta = at::sigmoid(at::randn({s.B, s.T, s.Hv}, f64));
  if (with_state) in.state = at::randn({s.B, s.Hv, s.dk, s.dv}, f64);
  return in;
}

Vec vec_at(const at::Tensor& x) {
  const auto c = x.detach().to(at::kDouble).contiguous();
  return Eigen::Map<const Vec>(c.data_ptr<double>(), c.numel());
}

// [rows, cols] tensor -> Eigen (column-major copy).
Mat mat_at(const at::Tensor& x) {
  const auto c = x.detach().to(at::kDouble).contiguous();
  Mat m(x.size(0), x.size(1));
  const double* p = c.data_ptr<double>();
  for (int64_t r = 0; r < x.size(0); ++r)
    for (int64_t j = 0; j < x.size(1); ++j) m(r, j) = p[r * x.size(1) + j];
  return m;
}

at::Tensor tensor_of(const Mat& m) {
  auto t = at::empty({m.rows(), m.cols()}, at::kDouble);
  for (int64_t r = 0; r < m.rows(); ++r)
    for (int64_t j = 0; j < m.cols(); ++j) t[r][j] = m(r, j);
  return t;
}

struct Reference {
  at::Tensor out;    // [B, T, Hv, dv]
  at::Tensor state;  // [B, Hv, dk, dv], in the code's orientation
};

// The papers' recurrences, one (b, h) at a time; value head h reads key head h / (Hv / Hk).
Reference paper_recurrence(const Inputs& in) {
  const int64_t B = in.v.size(0), T = in.v.size(1), Hv = in.v.size(2), dv = in.v.size(3);
  const int64_t Hk = in.k.size(2), dk = in.k.size(3), group = Hv / Hk;
  const bool channel_gate = in.g.dim() == 4;
  Reference ref{at::zeros({B, T, Hv, dv}, at::kDouble), at::zeros({B, Hv, dk, dv}, at::kDouble)};
  const Mat I = Mat::Identity(dk, dk);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < Hv; ++h) {
      const int64_t hk = h / group;
      const Mat H0 = in.state.defined() ? mat_at(in.state[b][h]) : Mat::Zero(dk, dv);
      Mat S = channel_gate ? H0 : Mat(H0.transpose());  // GDN: [dv x dk]; KDA: [dk x dv]
      for (int64_t t = 0; t < T; ++t) {
        const Vec q = vec_at(in.q[b][t][hk]), k = vec_at(in.k[b][t][hk]), v = vec_at(in.v[b][t][h]);
        const double beta = in.beta[b][t][h].item<double>();
        Vec o;
        if (channel_gate) {
          const Vec alpha = vec_at(in.g[b][t][h]).array().exp().matrix();
          S = (I - beta * k * k.transpose()) * alpha.asDiagonal() * S + beta * k * v.transpose();
          o = S.transpose() * q;
        } else {
          const double alpha = std::exp(in.g[b][t][h].item<double>());
          S = S * alpha * (I - beta * k * k.transpose()) + beta * v * k.transpose();
          o = S * q;
        }
        for (int64_t j = 0; j < dv; ++j) ref.out[b][t][h][j] = o[j];
      }
      ref.state[b][h] = tensor_of(channel_gate ? S : Mat(S.transpose()));
    }
  }
  return ref;
}

// Infinite when either side has a NaN or an infinity, so that std::max over differences cannot drop it.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  const auto d = (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs();
  return at::isfinite(d).all().item<bool>() ? d.max().item<double>() : std::numeric_limits<double>::infinity();
}

DeltaRuleOutput run_recurrent(const Inputs& in) {
  return delta_rule_recurrent(in.q, in.k, in.v, in.g, in.beta, in.state);
}

DeltaRuleOutput run_chunked(const Inputs& in, int64_t chunk) {
  return delta_rule_chunked(in.q, in.k, in.v, in.g, in.beta, in.state, chunk);
}

// Token by token with delta_rule_step from `state`, over tokens [t0, t1).
DeltaRuleOutput run_steps(const Inputs& in, int64_t t0, int64_t t1, at::Tensor state) {
  std::vector<at::Tensor> outs;
  for (int64_t t = t0; t < t1; ++t) {
    auto step = delta_rule_step(in.q.select(1, t), in.k.select(1, t), in.v.select(1, t), in.g.select(1, t),
                                in.beta.select(1, t), state);
    outs.push_back(step.out);
    state = step.state;
  }
  return {at::stack(outs, 1), state};
}

// Every form against the paper recurrence on one input set; returns the largest difference.
double max_diff_to_reference(const Inputs& in, const std::vector<int64_t>& chunks) {
  const auto ref = paper_recurrence(in.to(at::kDouble));
  std::vector<DeltaRuleOutput> forms{run_recurrent(in), run_steps(in, 0, in.v.size(1), in.state)};
  for (auto c : chunks) forms.push_back(run_chunked(in, c));
  double worst = 0;
  for (const auto& f : forms) {
    EXPECT_EQ(f.out.scalar_type(), in.v.scalar_type());
    worst = std::max({worst, max_abs_diff(f.out, ref.out), max_abs_diff(f.state, ref.state)});
  }
  return worst;
}

// Chunk 1 (every step its own chunk), 5 and 16 (T = 37 is no multiple), 64 (one padded chunk; 16 and
// 64 are cut into several sub-blocks, which exercises the channel gate's off-diagonal blocks).
const std::vector<int64_t> kChunks{1, 5, 16, 64};

}  // namespace

TEST(DeltaRule, GatedDeltaNetFormsMatchPaperRecurrenceFloat64) {
  for (bool with_state : {false, true}) {
    const auto in = make_inputs(Shape{}, /*channel_gate=*/false, with_state, 1);
    const double diff = max_diff_to_reference(in, kChunks);
    EXPECT_LT(diff, kTol64) << "with_state " << with_state;
    std::printf("[ measured ] GDN fp64 with_state=%d max |diff| %.3g\n", with_state, diff);
  }
}

TEST(DeltaRule, KimiDeltaAttentionFormsMatchPaperRecurrenceFloat64) {
  for (bool with_state : {false, true}) {
    const auto in = make_inputs(Shape{}, /*channel_gate=*/true, with_state, 2);
    const double diff = max_diff_to_reference(in, kChunks);
    EXPECT_LT(diff, kTol64) << "with_state " << with_state;
    std::printf("[ measured ] KDA fp64 with_state=%d max |diff| %.3g\n", with_state, diff);
  }
}

// float32 inputs (the float64 inputs rounded) against the float64 reference on the same rounded
// values. The second input set has every decay in [-5, -4]: within one 64-row chunk the log decay
// falls to about -166, so a factored exp(gamma_r) exp(-gamma_i) would overflow float32 (past ~88).
TEST(DeltaRule, FormsMatchPaperRecurrenceFloat32) {
  for (bool strong_decay : {false, true}) {
    for (bool channel_gate : {false, true}) {
      auto in = make_inputs(Shape{}, channel_gate, /*with_state=*/true, 3);
      if (strong_decay) in.g = -4.0 - at::rand_like(in.g);
      const double diff = max_diff_to_reference(in.to(at::kFloat), {16, 64});
      EXPECT_LT(diff, kTol32) << "channel_gate " << channel_gate << " strong_decay " << strong_decay;
      std::printf("[ measured ] %s fp32%s max |diff| %.3g\n", channel_gate ? "KDA" : "GDN",
                  strong_decay ? " (decays in [-5, -4])" : "", diff);
    }
  }
}

TEST(DeltaRule, SequenceShorterThanChunk) {
  Shape s;
  s.T = 5;
  for (bool channel_gate : {false, true}) {
    const auto in = make_inputs(s, channel_gate, /*with_state=*/true, 4);
    const auto out = run_chunked(in, 16);
    EXPECT_EQ(out.out.sizes(), (at::IntArrayRef{s.B, s.T, s.Hv, s.dv}));
    EXPECT_LT(max_diff_to_reference(in, {16}), kTol64) << "channel_gate " << channel_gate;
  }
}

// Prefill 21 tokens with the chunked form, then decode the remaining 16 one step at a time from its
// final state: the outputs and the state equal one recurrent run over all 37 tokens.
TEST(DeltaRule, ChunkedPrefillThenStepsEqualsFullRecurrence) {
  for (bool channel_gate : {false, true}) {
    const auto in = make_inputs(Shape{}, channel_gate, /*with_state=*/true, 5);
    const int64_t T = in.v.size(1), prefill = 21;
    const auto full = run_recurrent(in);
    const auto head = delta_rule_chunked(in.q.narrow(1, 0, prefill), in.k.narrow(1, 0, prefill),
                                         in.v.narrow(1, 0, prefill), in.g.narrow(1, 0, prefill),
                                         in.beta.narrow(1, 0, prefill), in.state, 16);
    const auto tail = run_steps(in, prefill, T, head.state);
    EXPECT_LT(max_abs_diff(head.out, full.out.narrow(1, 0, prefill)), kTol64);
    EXPECT_LT(max_abs_diff(tail.out, full.out.narrow(1, prefill, T - prefill)), kTol64);
    EXPECT_LT(max_abs_diff(tail.state, full.state), kTol64);
    // And the recurrent run itself is the paper's.
    const auto ref = paper_recurrence(in);
    EXPECT_LT(max_abs_diff(full.out, ref.out), kTol64);
  }
}

// Backpropagating the same random functional of (out, final state) through the chunked and the
// recurrent forms gives the same gradients for every input.
TEST(DeltaRule, ChunkedGradientsEqualRecurrentGradients) {
  for (bool channel_gate : {false, true}) {
    for (int64_t chunk : {16, 64}) {
      const auto base = make_inputs(Shape{}, channel_gate, /*with_state=*/true, 6);
      torch::manual_seed(7);
      const auto w_out = at::randn(base.v.sizes(), at::kDouble);
      const auto w_state = at::randn(base.state.sizes(), at::kDouble);
      auto grads = [&](bool chunked) {
        Inputs in = base;
        std::vector<at::Tensor*> leaves{&in.q, &in.k, &in.v, &in.g, &in.beta, &in.state};
        for (auto* x : leaves) *x = x->detach().clone().requires_grad_(true);
        const auto r = chunked ? run_chunked(in, chunk) : run_recurrent(in);
        ((r.out * w_out).sum() + (r.state * w_state).sum()).backward();
        std::vector<at::Tensor> g;
        for (auto* x : leaves) g.push_back(x->grad());
        return g;
      };
      const auto chunked = grads(true), recurrent = grads(false);
      const char* names[] = {"q", "k", "v", "g", "beta", "state"};
      double worst = 0;
      for (size_t i = 0; i < chunked.size(); ++i) {
        ASSERT_TRUE(chunked[i].defined()) << names[i];
        EXPECT_GT(recurrent[i].abs().max().item<double>(), 1e-3) << names[i];  // a gradient that can differ
        const double diff = max_abs_diff(chunked[i], recurrent[i]);
        EXPECT_LT(diff, kGradTol) << names[i] << " channel_gate " << channel_gate << " chunk " << chunk;
        worst = std::max(worst, diff);
      }
      std::printf("[ measured ] %s chunk %ld gradients max |diff| %.3g\n", channel_gate ? "KDA" : "GDN",
                  static_cast<long>(chunk), worst);
    }
  }
}

// Worked by hand. g = 0 (no decay), beta = 1, zero initial state, keys k_0..k_7 orthonormal, q_t = k_t:
// u_t = v_t - H^T k_t = v_t - sum_{j<t} u_j (k_j . k_t) = v_t, so H = sum_j k_j v_j^T and o_t = H^T k_t = v_t.
// Token 8 writes v_8 to k_0 again: u = v_8 - v_0, so H^T k_0 becomes v_8 (replaced, not added) and o_8 = v_8.
// Token 9 has beta = 0 (reads only) and q = k_0: o_9 = v_8; its k and v are irrelevant.
TEST(DeltaRule, OrthonormalKeysStoreValuesExactly) {
  torch::manual_seed(8);
  const int64_t dk = 8, dv = 5, T = 10;
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const auto basis = std::get<0>(at::linalg_qr(at::randn({dk, dk}, opts)));  // columns orthonormal
  auto keys = at::cat({basis.t(), basis.t().narrow(0, 0, 1), at::randn({1, dk}, opts)}, 0);  // [T, dk]
  auto queries = at::cat({basis.t(), basis.t().narrow(0, 0, 1), basis.t().narrow(0, 0, 1)}, 0);
  Inputs in;
  in.q = queries.view({1, T, 1, dk});
  in.k = keys.view({1, T, 1, dk});
  in.v = at::randn({1, T, 1, dv}, opts);
  in.beta = at::ones({1, T, 1}, opts);
  in.beta[0][T - 1][0] = 0.0;
  auto expected = in.v.clone();
  expected[0][T - 1] = in.v[0][T - 2];
  for (bool channel_gate : {false, true}) {
    in.g = channel_gate ? at::zeros({1, T, 1, dk}, opts) : at::zeros({1, T, 1}, opts);
    EXPECT_LT(max_abs_diff(run_recurrent(in).out, expected), 1e-12);
    EXPECT_LT(max_abs_diff(run_steps(in, 0, T, {}).out, expected), 1e-12);
    for (int64_t chunk : {3, 4, 16}) EXPECT_LT(max_abs_diff(run_chunked(in, chunk).out, expected), 1e-12);
  }
}

// Worked by hand. beta = 0: nothing is written, so H_t = diag(exp(sum_{s<=t} g_s)) H_0 and
// o_t = H_t^T q_t, the decayed initial state read out.
TEST(DeltaRule, ZeroBetaReadsDecayedInitialState) {
  Shape s;
  s.T = 20;
  for (bool channel_gate : {false, true}) {
    auto in = make_inputs(s, channel_gate, /*with_state=*/true, 9);
    in.beta = at::zeros_like(in.beta);
    auto expected = at::zeros({s.B, s.T, s.Hv, s.dv}, at::kDouble);
    auto expected_state = at::zeros_like(in.state);
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t h = 0; h < s.Hv; ++h) {
        const Mat H0 = mat_at(in.state[b][h]);
        Vec log_decay = Vec::Zero(s.dk);
        for (int64_t t = 0; t < s.T; ++t) {
          if (channel_gate) {
            log_decay += vec_at(in.g[b][t][h]);
          } else {
            log_decay.array() += in.g[b][t][h].item<double>();
          }
          const Mat Ht = log_decay.array().exp().matrix().asDiagonal() * H0;
          const Vec o = Ht.transpose() * vec_at(in.q[b][t][h / (s.Hv / s.Hk)]);
          for (int64_t j = 0; j < s.dv; ++j) expected[b][t][h][j] = o[j];
          if (t == s.T - 1) expected_state[b][h] = tensor_of(Ht);
        }
      }
    }
    for (const auto& r : {run_recurrent(in), run_chunked(in, 8), run_chunked(in, 32), run_steps(in, 0, s.T, in.state)}) {
      EXPECT_LT(max_abs_diff(r.out, expected), kTol64) << "channel_gate " << channel_gate;
      EXPECT_LT(max_abs_diff(r.state, expected_state), kTol64) << "channel_gate " << channel_gate;
    }
  }
}
