#include "core/moe.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include <vector>

namespace beyond {

namespace {

// Each token's k chosen experts and their weights: both [N, k].
struct Routing {
  at::Tensor experts, weights;
};

// Routing decisions are made in at least fp32 (a bf16 softmax over many experts is coarse
// enough to flip the top k); float64 inputs stay float64.
at::ScalarType routing_dtype(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// logits [N, E] -> top-k experts and their weights, renormalised to sum to 1 per token unless
// `renormalize` is off (Llama 4 scales by the raw sigmoid score).
Routing select_experts(const at::Tensor& logits, const std::string& kind, const at::Tensor& bias,
                       int64_t k, bool renormalize) {
  const auto l = logits.to(routing_dtype(logits));
  if (kind == "softmax") {
    const auto [p, idx] = at::softmax(l, -1).topk(k, -1);
    return {idx, renormalize ? p / p.sum(-1, true) : p};
  }
  // sigmoid_bias: the bias only decides who is chosen; the weights are the raw scores.
  const auto s = at::sigmoid(l);
  const auto idx = std::get<1>((s.detach() + bias.to(s.scalar_type())).topk(k, -1));
  const auto chosen = s.gather(-1, idx);
  return {idx, renormalize ? chosen / chosen.sum(-1, true) : chosen};
}

at::Tensor sum_of_shared(torch::nn::ModuleList& shared, const at::Tensor& x) {
  at::Tensor out;
  for (size_t i = 0; i < shared->size(); ++i) {
    auto y = shared->ptr<MLPImpl>(i)->forward(x);
    out = out.defined() ? out + y : y;
  }
  return out;
}

}  // namespace

MoEImpl::MoEImpl(const TransformerConfig& cfg)
    : n_experts(cfg.moe_experts), top_k(cfg.moe_top_k), router_kind(cfg.moe_router),
      renormalize(cfg.moe_renormalize), routed_scale(cfg.moe_routed_scale), bias_rate(cfg.moe_bias_rate) {
  TORCH_CHECK(n_experts > 0, "MoE needs moe_experts > 0");
  TORCH_CHECK(top_k >= 1 && top_k <= n_experts, "moe_top_k must lie in [1, moe_experts], got ", top_k);
  TORCH_CHECK(router_kind == "softmax" || router_kind == "sigmoid_bias",
              "moe_router must be softmax or sigmoid_bias, got ", router_kind);
  TORCH_CHECK(cfg.mlp != "none", "MoE experts need an mlp kind (swiglu or gelu)");
  const int64_t D = cfg.d_model, hidden = cfg.moe_hidden();
  router = register_module("router", torch::nn::Linear(torch::nn::LinearOptions(D, n_experts).bias(cfg.moe_router_bias)));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < n_experts; ++e) experts->push_back(MLP(cfg.mlp, D, hidden, cfg.bias));
  shared = register_module("shared", torch::nn::ModuleList());
  for (int64_t s = 0; s < cfg.moe_shared_experts; ++s) shared->push_back(MLP(cfg.mlp, D, hidden, cfg.bias));
  if (cfg.moe_shared_gate && cfg.moe_shared_experts > 0)
    shared_gate = register_module("shared_gate", torch::nn::Linear(torch::nn::LinearOptions(D, 1).bias(false)));
  // A buffer for either router, so checkpoints have the same keys; only sigmoid_bias reads it.
  selection_bias = register_buffer("selection_bias", at::zeros({n_experts}));
}

at::Tensor MoEImpl::route(const at::Tensor& x) {
  const auto logits = router(x);
  const auto r = select_experts(logits, router_kind, selection_bias, top_k, renormalize);
  return at::zeros({x.size(0), n_experts}, r.weights.options()).scatter(1, r.experts, r.weights);
}

at::Tensor MoEImpl::forward(const at::Tensor& x) {
  const int64_t D = x.size(-1);
  const auto flat = x.reshape({-1, D});
  const int64_t N = flat.size(0), K = top_k;
  const auto r = select_experts(router(flat), router_kind, selection_bias, K, renormalize);

  // The N*K (token, slot) pairs, ordered by expert so each expert's tokens are one contiguous run.
  const auto slot_expert = r.experts.reshape({-1});
  const auto slot_token = at::arange(N, slot_expert.options()).repeat_interleave(K);
  const auto slot_weight = r.weights.reshape({-1}).to(x.scalar_type());
  const auto order = std::get<1>(slot_expert.sort(/*stable=*/std::optional<bool>(true), /*dim=*/0));
  const auto counts = at::bincount(slot_expert, {}, n_experts);
  const auto counts_cpu = counts.cpu();  // the one host sync: run lengths
  const auto* count = counts_cpu.data_ptr<int64_t>();

  std::vector<at::Tensor> outputs;
  int64_t start = 0;
  for (int64_t e = 0; e < n_experts; ++e) {
    if (count[e] == 0) continue;
    const auto slots = order.narrow(0, start, count[e]);
    start += count[e];
    const auto y = experts->ptr<MLPImpl>(e)->forward(flat.index_select(0, slot_token.index_select(0, slots)));
    outputs.push_back(y * slot_weight.index_select(0, slots).unsqueeze(1));
  }
  // Slots in expert order are `order`; every token's K contributions are added into its row.
  auto routed = at::zeros_like(flat);
  if (!outputs.empty()) routed = routed.index_add(0, slot_token.index_select(0, order), at::cat(outputs));

  if (is_training() && N > 0) load_ = counts.to(at::kFloat) / static_cast<double>(N * K);

  auto y = routed * routed_scale;
  if (shared->size() > 0) y = y + shared_output(flat);
  return y.view(x.sizes());
}

at::Tensor MoEImpl::forward_dense_reference(const at::Tensor& x) {
  const int64_t D = x.size(-1);
  const auto flat = x.reshape({-1, D});
  const auto w = route(flat).to(x.scalar_type());  // [N, E], zero off the top k
  auto routed = at::zeros_like(flat);
  for (int64_t e = 0; e < n_experts; ++e) {
    routed = routed + w.select(1, e).unsqueeze(1) * experts->ptr<MLPImpl>(e)->forward(flat);
  }
  auto y = routed * routed_scale;
  if (shared->size() > 0) y = y + shared_output(flat);
  return y.view(x.sizes());
}

at::Tensor MoEImpl::shared_output(const at::Tensor& flat) {
  auto y = sum_of_shared(shared, flat);
  return shared_gate ? y * at::sigmoid(shared_gate(flat)) : y;
}

double MoEImpl::load_imbalance() const {
  TORCH_CHECK(load_.defined(), "load_imbalance: no training forward has run yet");
  // mean load is 1/E since the shares sum to 1.
  return load_.max().item<double>() * static_cast<double>(n_experts);
}

void MoEImpl::update_router_bias() {
  if (router_kind != "sigmoid_bias" || !load_.defined()) return;
  at::NoGradGuard no_grad;
  const double mean_load = 1.0 / static_cast<double>(n_experts);
  const auto step = at::sign(mean_load - load_.to(selection_bias.options())) * bias_rate;
  selection_bias.add_(step);
}

}  // namespace beyond
