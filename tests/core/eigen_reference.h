// Helpers for the float64 Eigen references the core's tests compare against: tensors copied into
// Eigen, random parameters, a linear layer and RoPE written out, which keys a query sees.
#pragma once
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <cstdlib>

namespace beyond::eigen_ref {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;

// A 2-D tensor (or [T, ...] flattened to 2-D) copied into Eigen.
inline Mat to_mat(const at::Tensor& t) {
  const auto c = t.detach().to(at::kDouble).contiguous().view({t.size(0), -1});
  return Eigen::Map<const Mat>(c.data_ptr<double>(), c.size(0), c.size(1));
}

inline Vec to_vec(const at::Tensor& t) {
  const auto c = t.detach().to(at::kDouble).contiguous();
  return Eigen::Map<const Vec>(c.data_ptr<double>(), c.numel());
}

inline double max_abs_diff(const Mat& a, const Mat& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

// Gives every parameter random values, so that unit norm scales or zero biases cannot hide a
// missing or misplaced term.
inline void randomize(torch::nn::Module& m) {
  at::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0.0, 0.3);
}

// y = x W^T + b, row by row.
inline Mat ref_linear(const torch::nn::Linear& l, const Mat& x) {
  Mat y = x * to_mat(l->weight).transpose();
  if (l->bias.defined()) y.rowwise() += to_vec(l->bias).transpose();
  return y;
}

// Rotate-half RoPE: dim i pairs with i + rot/2, both turn by pos * theta^(-2i/rot).
inline Vec ref_rope(const Vec& v, int64_t pos, int64_t rot, double theta) {
  Vec out = v;
  const int64_t half = rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot));
    const double a = v[i], b = v[i + half];
    out[i] = a * std::cos(angle) - b * std::sin(angle);
    out[i + half] = b * std::cos(angle) + a * std::sin(angle);
  }
  return out;
}

// Which keys a query sees, as documented: causal hides later keys, a window w hides keys at
// distance >= w.
inline bool visible(int64_t q_pos, int64_t k_pos, bool causal, int64_t window) {
  if (causal && k_pos > q_pos) return false;
  if (window > 0 && std::abs(q_pos - k_pos) >= window) return false;
  return true;
}

}  // namespace beyond::eigen_ref
