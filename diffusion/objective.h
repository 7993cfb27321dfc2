// The masked-diffusion training objective (LLaDA / MDLM with the SUBS parameterisation) on the
// core model in bidirectional mode:
//
//   loss = 1/(B T) * sum_b sum_{i masked} -log p_theta(x0_i | x_t) / p_b
//
// a continuous-time negative ELBO for the linear schedule (weight 1/t), normalised over all
// positions so that it is an upper bound on the NLL per token, comparable with an AR model's.
// In prompt-conditioned mode the prompt is never masked and row b is normalised by its answer
// length (EOS padding included), as in LLaDA's SFT.
#pragma once
#include "core/model.h"
#include "core/trainer.h"

namespace beyond {

class Config;

struct MaskedDiffusionOptions {
  double eps = 1e-3;                // mask rate p = (1 - eps) t + eps
  bool stratified = true;           // stratified t across the batch (MDLM); else t ~ U(0,1) per row
  double random_length_prob = 0.0;  // LLaDA's 1%: with this probability a batch is cut to a length U{1..T}
  // rate:  every maskable token masked with probability p_b, weight 1/p_b (LLaDA pretraining, MDLM).
  // count: exactly l_b ~ U{1..n_b} of row b's n_b maskable tokens masked, weight n_b/l_b: the same
  //        bound (LLaDA's Eq. 6 estimator) with bounded weights, which matters for short answers
  //        where a rate near eps masks nothing or one token at weight ~1/eps.
  std::string masking = "rate";

  // Reads [diffusion] eps, stratified_t, random_length_prob, masking.
  static MaskedDiffusionOptions from_config(Config& config);
};

class MaskedDiffusionObjective : public Objective {
 public:
  MaskedDiffusionObjective(LanguageModel model, int64_t mask_id, MaskedDiffusionOptions options = {});
  // batch: "tokens" [B, T] int64 clean tokens; "seed" [] int64, the seed of this batch's noise
  // (so a resumed run draws the same masks); optional "maskable" [B, T] bool: the positions that
  // may be masked (false on a prompt and on pre-filled format tokens), row b then normalised by its
  // count of maskable positions (its answer length, EOS padding included); without it every
  // position is maskable and the normaliser is T.
  // Metrics: "masked_fraction" (of maskable positions), "masked_ce" (unweighted mean CE over masked
  // positions, for reading only: it is not a bound).
  LossOutput loss(const Batch& batch) override;

 private:
  LanguageModel model_;
  int64_t mask_id_;
  MaskedDiffusionOptions options_;
};

}  // namespace beyond
