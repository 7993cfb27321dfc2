#include "diffusion/objective.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/config.h"
#include "diffusion/masking.h"

namespace beyond {

MaskedDiffusionOptions MaskedDiffusionOptions::from_config(Config& c) {
  MaskedDiffusionOptions o;
  o.eps = c.get_float("diffusion.eps", o.eps, 0.0, 1.0);
  // eps = 1 would mask everything always: the loss would no longer be a bound.
  if (o.eps >= 1.0) throw c.error("diffusion.eps", "must be below 1 (got " + std::to_string(o.eps) + ")");
  o.stratified = c.get_bool("diffusion.stratified_t", o.stratified);
  o.random_length_prob = c.get_float("diffusion.random_length_prob", o.random_length_prob, 0.0, 1.0);
  o.masking = c.get_choice("diffusion.masking", o.masking, {"rate", "count"});
  return o;
}

MaskedDiffusionObjective::MaskedDiffusionObjective(LanguageModel model, int64_t mask_id, MaskedDiffusionOptions options)
    : model_(std::move(model)), mask_id_(mask_id), options_(options) {
  if (model_->cfg.causal) throw InputError("masked diffusion needs a bidirectional model: set model.causal = false");
  TORCH_CHECK(mask_id_ >= 0 && mask_id_ < model_->cfg.vocab_size, "mask id ", mask_id_, " is outside the vocabulary");
}

// The noise of one batch, all from one CPU generator seeded by the batch's seed, in this order:
//   1. random_length_prob > 0 only: a draw u ~ U[0,1); if u < random_length_prob, the batch is cut
//      to its first n ~ U{1..T} positions (LLaDA's variable-length pretraining);
//   2. rate masking: the rates p_b = sample_mask_rates(B, stratified, eps), then the masks
//      mask_tokens(tokens, p, mask_id, maskable);
//      count masking: t_b = sample_mask_rates(B, stratified, 0), l_b = clamp(ceil(t_b n_b), 1, n_b)
//      for row b's n_b maskable positions, then mask_exact_counts(tokens, l, mask_id, maskable).
// Tests rely on this order to observe the masks.
LossOutput MaskedDiffusionObjective::loss(const Batch& batch) {
  auto tokens = batch.at("tokens");
  auto maskable = batch.count("maskable") ? batch.at("maskable") : at::Tensor();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(batch.at("seed").item<int64_t>()));

  if (options_.random_length_prob > 0.0) {
    const double u = at::rand({1}, gen, at::kDouble).item<double>();
    if (u < options_.random_length_prob) {
      const int64_t n = at::randint(1, tokens.size(1) + 1, {1}, gen, at::kLong).item<int64_t>();
      tokens = tokens.narrow(1, 0, n);
      if (maskable.defined()) maskable = maskable.narrow(1, 0, n);
    }
  }
  const int64_t B = tokens.size(0), T = tokens.size(1);
  // n_b: row b's maskable positions; a token masked in row b is weighted 1/(p_b n_b) (rate) or
  // 1/l_b (count), so that each row is a per-token negative ELBO estimate.
  const auto n_row = maskable.defined() ? maskable.to(at::kCPU, at::kDouble).sum(1)
                                        : at::full({B}, static_cast<double>(T), at::kDouble);
  NoisedTokens noised;
  at::Tensor per_token;  // [B] float64, the divisor of a masked token's CE in its row
  if (options_.masking == "count") {
    const auto t = sample_mask_rates(B, options_.stratified, 0.0, gen).to(at::kDouble);
    const auto l = at::minimum(at::ceil(t * n_row).clamp_min(1.0), n_row.clamp_min(1.0));
    noised = mask_exact_counts(tokens, l.to(at::kLong), mask_id_, gen, maskable);
    per_token = l;
  } else {
    const auto rates = sample_mask_rates(B, options_.stratified, options_.eps, gen);
    noised = mask_tokens(tokens, rates, mask_id_, gen, maskable);
    per_token = rates.to(at::kDouble) * n_row.clamp_min(1.0);
  }
  const auto logits = model_(noised.noisy);  // [B, T, V], maybe bf16 under autocast
  const auto& masked = noised.masked;

  // loss = 1/B sum_b 1/(p_b n_b) sum_{i masked in b} -log p(x_i | x_t) (count masking: 1/l_b instead
  // of 1/(p_b n_b)), n_b = T or row b's maskable count (a row with none contributes nothing). Only the masked positions go through the
  // log-softmax, so the unmasked ones get exactly zero gradient.
  const auto nll = -subs_log_probs(logits.index({masked}), mask_id_)
                        .gather(-1, tokens.index({masked}).unsqueeze(-1))
                        .squeeze(-1);  // [M], float32 (float64 for a float64 model)
  const auto row_weight = (1.0 / (per_token * static_cast<double>(B))).to(nll.options());  // [B]
  const auto loss = (nll * row_weight.unsqueeze(1).expand({B, T}).index({masked})).sum();

  const int64_t n_masked = masked.sum().item<int64_t>();
  const double n_maskable = maskable.defined() ? maskable.sum().item<double>() : static_cast<double>(B * T);
  Metrics metrics;
  metrics["masked_fraction"] = n_maskable > 0 ? static_cast<double>(n_masked) / n_maskable : 0.0;
  metrics["masked_ce"] = n_masked > 0 ? nll.detach().mean().item<double>() : 0.0;
  return {loss, metrics};
}

}  // namespace beyond
