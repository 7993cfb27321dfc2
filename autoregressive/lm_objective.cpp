#include "autoregressive/lm_objective.h"

#include <ATen/ATen.h>

#include <cmath>

namespace beyond {

static at::Tensor next_token_loss(LanguageModel& model, const at::Tensor& inputs, const at::Tensor& targets) {
  const auto logits = model(inputs).to(at::kFloat);  // (B, T, V)
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

static at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  const auto flat = logits.to(at::kFloat);
  return at::cross_entropy_loss(flat.reshape({-1, flat.size(-1)}), targets.reshape({-1}));
}

LossOutput NextTokenObjective::loss(const Batch& batch) {
  const auto& inputs = batch.at("inputs");
  const auto& targets = batch.at("targets");
  if (!model_->mtp) {
    auto loss = next_token_loss(model_, inputs, targets);
    return {loss, moe_metrics()};
  }
  // Multi-token prediction: the extra module predicts targets[t + 1] (token t + 2) from
  // position t; its loss joins the main one with weight mtp_weight.
  const auto hidden = model_->hidden_states(inputs);
  const auto main_loss = cross_entropy(model_->logits(hidden), targets);
  const int64_t T = inputs.size(1);
  const auto mtp_loss = cross_entropy(model_->mtp_logits(hidden, inputs), targets.narrow(1, 1, T - 1));
  auto metrics = moe_metrics();
  metrics["next_token_loss"] = main_loss.item<double>();
  metrics["mtp_loss"] = mtp_loss.item<double>();
  return {main_loss + model_->cfg.mtp_weight * mtp_loss, metrics};
}

Metrics NextTokenObjective::moe_metrics() {
  // Each MoE layer's imbalance (max expert load / mean load) in this batch; then the
  // auxiliary-loss-free routers move their selection bias towards balance for the next step.
  Metrics metrics;
  if (!model_->is_training()) return metrics;
  for (auto& [layer, moe] : model_->moe_layers()) {
    if (!moe->last_load().defined()) continue;
    metrics["moe_imbalance_" + std::to_string(layer)] = moe->load_imbalance();
    moe->update_router_bias();
  }
  return metrics;
}

Metrics evaluate_next_token(LanguageModel& model, const std::vector<std::pair<at::Tensor, at::Tensor>>& batches,
                            double tokens_per_char) {
  c10::InferenceMode guard;
  const auto device = model->embed_tokens->weight.device();
  double total = 0.0;
  for (const auto& [x, y] : batches) total += next_token_loss(model, x.to(device), y.to(device)).item<double>();
  const double loss = total / static_cast<double>(std::max<size_t>(batches.size(), 1));
  return {{"val_loss", loss}, {"val_bpc", loss * tokens_per_char / std::log(2.0)}, {"val_ppl", std::exp(loss)}};
}

}  // namespace beyond
