// Next-token prediction: cross-entropy of the logits at position t against token t+1.
#pragma once
#include "core/model.h"
#include "core/text_data.h"
#include "core/trainer.h"

namespace beyond {

class NextTokenObjective : public Objective {
 public:
  explicit NextTokenObjective(LanguageModel model) : model_(std::move(model)) {}
  // batch: "inputs" [B, T], "targets" [B, T] (the inputs shifted by one). With a multi-token
  // prediction module the loss adds mtp_weight times its loss on tokens t+2. Metrics: each MoE
  // layer's load imbalance, and with MTP the two losses apart.
  LossOutput loss(const Batch& batch) override;

 private:
  Metrics moe_metrics();

  LanguageModel model_;
};

// Mean next-token loss over fixed validation batches, in nats/token, with bits per character
// (via the split's tokens per character) and perplexity.
Metrics evaluate_next_token(LanguageModel& model, const std::vector<std::pair<at::Tensor, at::Tensor>>& batches,
                            double tokens_per_char);

}  // namespace beyond
