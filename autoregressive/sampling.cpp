#include "autoregressive/sampling.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <limits>
#include <optional>

// Conventions shared by the filters:
// - Logits are [B, V] floating point without NaN. float32 and float64 are kept as they are; half
//   and bfloat16 are widened to float32, and the result has that dtype. Inputs are never modified.
// - Excluded tokens get -inf, kept tokens keep their logit exactly, and every row keeps at least
//   one token (its largest logit).
// - Ties go to the lower token id wherever a boundary has to split them (top-k, top-p), so that
//   top_k = 1 and top_p -> 0 pick the same token as greedy argmax (which returns the first maximum).

namespace beyond {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Below this temperature the tempered distribution is a point mass for any practical logit gap,
// and dividing by it would overflow, so we take the argmax instead.
constexpr double kGreedyTemperature = 1e-6;

// Cumulative mass within this of top_p counts as reaching it: a distribution that hits p exactly
// (0.5 + 0.25 with p = 0.75) must not pull in one more token because of float64 rounding.
constexpr double kTopPSlack = 1e-12;

at::Tensor as_compute(const at::Tensor& logits, const char* who) {
  TORCH_CHECK(logits.defined() && logits.dim() == 2, who, ": logits must be [B, V], got ",
              logits.defined() ? c10::str(logits.sizes()) : std::string("an undefined tensor"));
  TORCH_CHECK(at::isFloatingType(logits.scalar_type()), who, ": logits must be floating point, got ",
              logits.scalar_type());
  TORCH_CHECK(logits.size(1) > 0, who, ": vocabulary is empty");
  const auto dtype = logits.scalar_type();
  return dtype == at::kFloat || dtype == at::kDouble ? logits : logits.to(at::kFloat);
}

void check_options(const SamplingOptions& o) {
  TORCH_CHECK(std::isfinite(o.temperature) && o.temperature >= 0.0, "temperature must be >= 0, got ",
              o.temperature);
  TORCH_CHECK(!std::isnan(o.top_p) && o.top_p >= 0.0, "top_p must be >= 0, got ", o.top_p);
  TORCH_CHECK(o.min_p >= 0.0 && o.min_p <= 1.0, "min_p must be in [0, 1], got ", o.min_p);
  TORCH_CHECK(std::isfinite(o.repetition_penalty) && o.repetition_penalty > 0.0,
              "repetition_penalty must be > 0, got ", o.repetition_penalty);
}

}  // namespace

at::Tensor apply_repetition_penalty(const at::Tensor& logits, const at::Tensor& history, double penalty) {
  const auto x = as_compute(logits, "apply_repetition_penalty");
  TORCH_CHECK(std::isfinite(penalty) && penalty > 0.0, "repetition_penalty must be > 0, got ", penalty);
  if (penalty == 1.0 || !history.defined() || history.numel() == 0) return x;
  TORCH_CHECK(history.dim() == 2 && history.size(0) == x.size(0), "history must be [B, S] with B = ", x.size(0),
              ", got ", history.sizes());
  TORCH_CHECK(!at::isFloatingType(history.scalar_type()) && history.scalar_type() != at::kBool,
              "history must hold integer token ids, got ", history.scalar_type());
  const auto ids = history.to(x.device(), at::kLong);
  const int64_t vocab = x.size(1);
  TORCH_CHECK(!((ids < 0) | (ids >= vocab)).any().item<bool>(), "history has token ids outside [0, ", vocab, ")");
  // A mask rather than a gather/scatter of values: a token repeated in the history is penalised once.
  const auto seen = at::zeros(x.sizes(), x.options().dtype(at::kBool)).scatter_(1, ids, true);
  const auto penalised = at::where(x > 0, x / penalty, x * penalty);
  return at::where(seen, penalised, x);
}

at::Tensor filter_top_k(const at::Tensor& logits, int64_t k) {
  const auto x = as_compute(logits, "filter_top_k");
  if (k <= 0 || k >= x.size(1)) return x;
  // O(V): everything above the k-th value stays, then tied values fill the remaining slots from
  // the lowest id up, so exactly k tokens stay even when the boundary value is tied.
  const auto kth = std::get<0>(at::topk(x, k, /*dim=*/-1, /*largest=*/true, /*sorted=*/true)).narrow(-1, k - 1, 1);
  const auto above = x > kth;
  const auto tied = x == kth;
  const auto slots = k - above.sum(-1, /*keepdim=*/true);
  const auto keep = above | (tied & (tied.cumsum(-1) <= slots));
  return x.masked_fill(keep.logical_not(), kNegInf);
}

at::Tensor filter_top_p(const at::Tensor& logits, double p) {
  const auto x = as_compute(logits, "filter_top_p");
  TORCH_CHECK(!std::isnan(p) && p >= 0.0, "top_p must be >= 0, got ", p);
  if (p >= 1.0) return x;
  // float64 so that the cumulative sum decides the boundary, not float32 rounding over V terms.
  const auto probs = at::softmax(x.to(at::kDouble), -1);
  const auto [sorted, order] = at::sort(probs, /*stable=*/std::optional<bool>(true), /*dim=*/-1, /*descending=*/true);
  // Mass ranked strictly before each token: it is kept while that is still short of p, which keeps
  // the token that crosses p and nothing after it.
  const auto cumulative = sorted.cumsum(-1);
  const auto before =
      at::cat({at::zeros_like(sorted.narrow(-1, 0, 1)), cumulative.narrow(-1, 0, sorted.size(1) - 1)}, -1);
  auto keep_sorted = before < (p - kTopPSlack);
  keep_sorted.select(-1, 0).fill_(true);  // p = 0 still keeps the most likely token
  const auto keep = at::empty_like(keep_sorted).scatter_(-1, order, keep_sorted);
  return x.masked_fill(keep.logical_not(), kNegInf);
}

at::Tensor filter_min_p(const at::Tensor& logits, double min_p) {
  const auto x = as_compute(logits, "filter_min_p");
  TORCH_CHECK(min_p >= 0.0 && min_p <= 1.0, "min_p must be in [0, 1], got ", min_p);
  if (min_p == 0.0) return x;
  // p / p_max = exp(logit - max logit): no normalisation needed, and the max token's ratio is
  // exactly 1, so it always survives.
  const auto xd = x.to(at::kDouble);
  const auto ratio = at::exp(xd - xd.amax(-1, /*keepdim=*/true));
  return x.masked_fill((ratio >= min_p).logical_not(), kNegInf);
}

at::Tensor sample_next(const at::Tensor& logits, const SamplingOptions& options, const at::Tensor& history,
                       at::Generator generator) {
  at::NoGradGuard no_grad;
  check_options(options);
  auto x = apply_repetition_penalty(logits, history, options.repetition_penalty);
  // amax propagates NaN, so one check (and one sync) covers NaN, +inf and all -inf rows, all of
  // which would make softmax or multinomial fail less legibly.
  TORCH_CHECK(at::isfinite(x.amax(-1)).all().item<bool>(),
              "sample_next: every row of logits needs a finite maximum (no NaN or +inf, not all -inf)");
  if (options.temperature < kGreedyTemperature) return x.argmax(-1);

  x = x / options.temperature;
  x = filter_top_k(x, options.top_k);
  x = filter_top_p(x, options.top_p);
  x = filter_min_p(x, options.min_p);
  const auto probs = at::softmax(x, -1);

  TORCH_CHECK(generator.defined(), "sample_next: a generator is required unless temperature is 0");
  TORCH_CHECK(generator.device().is_cpu(), "sample_next: the generator must be a CPU generator, got ",
              generator.device());
  // The draw happens on the CPU whatever the logits' device, so a seed gives the same tokens everywhere.
  const auto tokens = at::multinomial(probs.to(at::kCPU), 1, /*replacement=*/true, generator).squeeze(-1);
  return tokens.to(logits.device());
}

}  // namespace beyond
