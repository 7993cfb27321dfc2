// Next-token prediction: cross-entropy of the logits at position t against token t+1.
#pragma once
#include "core/model.h"
#include "core/text_data.h"
#include "core/trainer.h"

namespace beyond {

class NextTokenObjective : public Objective {
 public:
  explicit NextTokenObjective(LanguageModel model) : model_(std::move(model)) {}
  // batch: "inputs" [B, T], "targets" [B, T] (the inputs shifted by one).
  LossOutput loss(const Batch& batch) override;

 private:
  LanguageModel model_;
};

// Mean next-token loss over fixed validation batches, in nats/token, with bits per character
// (via the split's tokens per character) and perplexity.
Metrics evaluate_next_token(LanguageModel& model, const std::vector<std::pair<at::Tensor, at::Tensor>>& batches,
                            double tokens_per_char);

}  // namespace beyond
