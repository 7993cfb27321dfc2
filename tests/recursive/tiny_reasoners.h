// Tiny reasoners and inputs shared by the recursive-reasoner tests: 16 cells, 6 tokens (4x4 Sudoku).
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>

#include "recursive/hrm.h"
#include "recursive/transformer_baseline.h"
#include "recursive/trm.h"

namespace beyond::testing {

inline TransformerConfig tiny_net(int64_t layers = 2) {
  auto c = reasoner_net_defaults(16, 6, layers);
  c.d_model = 32;
  return c;
}

inline TRMConfig tiny_trm(int64_t h = 3, int64_t l = 2, int64_t n_sup = 4) {
  TRMConfig c;
  c.net = tiny_net(2);
  c.h_cycles = h;
  c.l_cycles = l;
  c.halt_max_steps = n_sup;
  return c;
}

inline HRMConfig tiny_hrm(int64_t h = 2, int64_t l = 2, int64_t n_sup = 4, int64_t layers = 1) {
  HRMConfig c;
  c.net = tiny_net(layers);
  c.h_cycles = h;
  c.l_cycles = l;
  c.halting.max_steps = n_sup;
  return c;
}

inline TransformerBaselineConfig tiny_baseline(int64_t layers = 2) {
  TransformerBaselineConfig c;
  c.net = tiny_net(layers);
  return c;
}

// Random tokens [b, 16] over the 6-token vocabulary, from their own generator.
inline at::Tensor tokens(int64_t b, int64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return at::randint(0, 6, {b, 16}, gen, at::kLong);
}

// Every parameter's gradient, by name (undefined ones as zeros), then cleared.
inline std::map<std::string, at::Tensor> take_grads(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> g;
  for (auto& p : m.named_parameters()) {
    g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : at::zeros_like(p.value());
    p.value().mutable_grad() = at::Tensor();
  }
  return g;
}

}  // namespace beyond::testing
