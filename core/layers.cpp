#include "core/layers.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace beyond {

NormImpl::NormImpl(const std::string& kind_, int64_t dim, double eps_, bool scale, bool with_bias, bool offset_)
    : kind(kind_), eps(eps_), offset(offset_ && kind_ == "rmsnorm") {
  if (scale) weight = register_parameter("weight", offset ? at::zeros({dim}) : at::ones({dim}));
  if (kind == "layernorm" && with_bias) bias = register_parameter("bias", at::zeros({dim}));
}

at::Tensor NormImpl::forward(const at::Tensor& x) {
  if (kind == "layernorm") {
    return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
  }
  // RMSNorm in at least fp32 so that bf16 activations do not lose the mean square (and fp64 stays fp64).
  const auto xf = x.to(at::promote_types(x.scalar_type(), at::kFloat));
  auto y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  y = y.to(x.scalar_type());
  if (!weight.defined()) return y;
  return offset ? y * (1.0 + weight) : y * weight;
}

Norm make_norm(const TransformerConfig& cfg, int64_t dim) {
  return Norm(cfg.norm, dim, cfg.norm_eps, cfg.norm_scale, cfg.bias, cfg.norm_offset);
}

at::Tensor apply_rope(const at::Tensor& x, int64_t pos0, int64_t rot_dims, double theta) {
  if (rot_dims == 0) return x;
  const int64_t T = x.size(2), half = rot_dims / 2;
  // Angles in at least fp32; fp64 inputs keep fp64 angles.
  const auto opts = at::TensorOptions().dtype(at::promote_types(x.scalar_type(), at::kFloat)).device(x.device());
  // inv_freq[i] = theta^(-2i / rot_dims), angle[t, i] = (pos0 + t) * inv_freq[i]
  const auto inv_freq = at::pow(theta, -at::arange(0, half, opts) * (2.0 / static_cast<double>(rot_dims)));
  const auto pos = at::arange(pos0, pos0 + T, opts);
  const auto angle = at::outer(pos, inv_freq);  // (T, half)
  const auto cos = at::cos(angle).to(x.scalar_type()), sin = at::sin(angle).to(x.scalar_type());
  const auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  // (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)
  auto rotated = at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
  if (rot_dims == x.size(-1)) return rotated;
  return at::cat({rotated, x.narrow(-1, rot_dims, x.size(-1) - rot_dims)}, -1);
}

MLPImpl::MLPImpl(const std::string& kind_, int64_t dim, int64_t hidden, bool bias) : kind(kind_) {
  const auto lin = [&](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  if (kind != "gelu") gate_proj = register_module("gate_proj", lin(dim, hidden));
  up_proj = register_module("up_proj", lin(dim, hidden));
  down_proj = register_module("down_proj", lin(hidden, dim));
}

namespace {

// gpt-oss's activation: the gate clamped from above and the up projection on both sides (limit 7)
// keep the product bounded; sigmoid(1.702 g) is the sigmoid approximation of GELU.
at::Tensor clamped_swiglu(const at::Tensor& gate, const at::Tensor& up) {
  constexpr double kAlpha = 1.702, kLimit = 7.0;
  const auto g = gate.clamp_max(kLimit);
  return (up.clamp(-kLimit, kLimit) + 1.0) * g * at::sigmoid(g * kAlpha);
}

}  // namespace

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  if (kind == "clamped_swiglu") return down_proj(clamped_swiglu(gate_proj(x), up_proj(x)));
  if (!at::GradMode::is_enabled()) {
    // Without autograd nothing keeps the hidden activations, so they are updated in place: the
    // same values with two fewer allocations of [..., hidden] (TRM's no-grad recursions, decoding).
    auto h = gate_proj ? gate_proj(x) : up_proj(x);
    if (kind == "swiglu") {
      at::silu_(h).mul_(up_proj(x));
    } else if (kind == "geglu") {
      at::gelu_(h, "tanh").mul_(up_proj(x));
    } else {
      at::gelu_(h);
    }
    return down_proj(h);
  }
  if (kind == "swiglu") return down_proj(at::silu(gate_proj(x)) * up_proj(x));
  if (kind == "geglu") return down_proj(at::gelu(gate_proj(x), "tanh") * up_proj(x));
  return down_proj(at::gelu(up_proj(x)));
}

SequenceMLPImpl::SequenceMLPImpl(int64_t seq_len_, int64_t hidden, bool bias) : seq_len(seq_len_) {
  mlp = register_module("mlp", MLP("swiglu", seq_len, hidden, bias));
}

at::Tensor SequenceMLPImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.size(1) == seq_len, "mlp_t mixer was built for sequence length ", seq_len,
              " but got ", x.size(1));
  // (B,T,D) -> (B,D,T) -> mix T -> (B,T,D). Made contiguous once here: otherwise gate_proj and
  // up_proj would each copy the transposed input.
  return mlp(x.transpose(1, 2).contiguous()).transpose(1, 2);
}

}  // namespace beyond
