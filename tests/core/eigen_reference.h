// Helpers for the float64 Eigen references the core's tests compare against: tensors copied into
// Eigen, random parameters, and a linear layer written out.
#pragma once
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

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

}  // namespace beyond::eigen_ref
