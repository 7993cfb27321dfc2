#include "autoregressive/lm_objective.h"

#include <ATen/ATen.h>

#include <cmath>

namespace beyond {

static at::Tensor next_token_loss(LanguageModel& model, const at::Tensor& inputs, const at::Tensor& targets) {
  const auto logits = model(inputs).to(at::kFloat);  // (B, T, V)
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

LossOutput NextTokenObjective::loss(const Batch& batch) {
  return {next_token_loss(model_, batch.at("inputs"), batch.at("targets")), {}};
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
