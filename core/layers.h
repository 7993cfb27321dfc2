// Small building blocks of the core: norms, rotary positions, channel MLPs, TRM's sequence MLP.
//
// Shapes: B batch, T sequence length, D d_model, H heads, hd head dim.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "core/transformer_config.h"

namespace beyond {

// RMSNorm (x / rms(x) * w, computed in fp32) or LayerNorm over the last dimension. With
// `offset` RMSNorm scales by (1 + w) and w starts at 0 (Gemma 3, Qwen3-Next): weight decay then
// pulls the scale towards 1, not 0.
struct NormImpl : torch::nn::Module {
  NormImpl(const std::string& kind, int64_t dim, double eps, bool scale, bool bias, bool offset = false);
  at::Tensor forward(const at::Tensor& x);

  std::string kind;
  double eps;
  bool offset;
  at::Tensor weight, bias;  // undefined when absent
};
TORCH_MODULE(Norm);

Norm make_norm(const TransformerConfig& cfg, int64_t dim);

// Rotary embedding, rotate-half convention: within the first `rot_dims` dims of each head,
// dim i pairs with dim i + rot_dims/2 and both turn by angle pos * theta^(-2i/rot_dims).
// x: [B, H, T, hd]; positions run from pos0 to pos0 + T - 1. Dims past rot_dims pass through.
at::Tensor apply_rope(const at::Tensor& x, int64_t pos0, int64_t rot_dims, double theta);

// Channel MLP: swiglu = down(silu(gate(x)) * up(x)); geglu = down(gelu_tanh(gate(x)) * up(x))
// (Gemma); gelu = down(gelu(up(x))); clamped_swiglu (gpt-oss) = down((u + 1) * g * sigmoid(1.702 g))
// with g = min(gate(x), 7) and u = clamp(up(x), -7, 7).
struct MLPImpl : torch::nn::Module {
  MLPImpl(const std::string& kind, int64_t dim, int64_t hidden, bool bias);
  at::Tensor forward(const at::Tensor& x);

  std::string kind;
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

// TRM's attention-free token mixer: a SwiGLU applied along the sequence axis, so every
// position's output mixes all positions of the same channel. Needs a fixed length T.
// x: [B, T, D] -> [B, T, D].
struct SequenceMLPImpl : torch::nn::Module {
  SequenceMLPImpl(int64_t seq_len, int64_t hidden, bool bias);
  at::Tensor forward(const at::Tensor& x);

  int64_t seq_len;
  MLP mlp{nullptr};
};
TORCH_MODULE(SequenceMLP);

}  // namespace beyond
