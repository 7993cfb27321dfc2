#include "recursive/deep_supervision.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "recursive/stablemax.h"

namespace beyond {

CellScores score_cells(const at::Tensor& predictions, const at::Tensor& labels) {
  const auto supervised = labels != kIgnoreLabel;
  const auto right = (predictions == labels) & supervised;
  const auto count = supervised.sum(-1);
  return {(right | ~supervised).all(-1) & (count > 0),
          right.sum(-1).to(at::kDouble) / count.clamp_min(1).to(at::kDouble)};
}

int64_t exploration_min_steps(const HaltingConfig& h, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> explore(std::min<int64_t>(2, h.max_steps), h.max_steps);
  return unit(rng) < h.exploration ? explore(rng) : 0;
}

at::Tensor continue_target(const at::Tensor& steps, int64_t max_steps, const at::Tensor& next_q_halt,
                           const at::Tensor& next_q_continue) {
  // On the last step there is no "continue": the value of going on is that of halting next time.
  const auto is_last = steps >= max_steps;
  return at::sigmoid(at::where(is_last, next_q_halt, at::maximum(next_q_halt, next_q_continue)));
}

at::Tensor q_says_halt(const ReasonerStep& out) {
  return out.q_continue.defined() ? out.q_halt > out.q_continue : out.q_halt > 0;
}

void DeepSupervisionObjective::refill(const Batch& batch) {
  at::NoGradGuard no_grad;
  const auto& new_inputs = batch.at("inputs");
  const auto& new_labels = batch.at("labels");
  const auto& new_min = batch.at("min_steps");
  const auto ids_it = batch.find("puzzle_ids");
  const at::Tensor new_ids = ids_it == batch.end() ? at::Tensor() : ids_it->second;
  const int64_t B = new_inputs.size(0);
  if (!inputs_.defined() || inputs_.size(0) != B) {  // first step: every slot is fresh
    inputs_ = new_inputs.clone();
    labels_ = new_labels.clone();
    puzzle_ids_ = new_ids.defined() ? new_ids.clone() : at::Tensor();
    std::tie(y_, z_) = model_->initial_carry(B);
    steps_ = at::zeros({B}, new_inputs.options());
    min_steps_ = new_min.clone();
    halted_ = at::zeros({B}, new_inputs.options().dtype(at::kBool));
    return;
  }
  // Halted slots take the new batch's example and restart from the initial carry.
  const auto fresh = halted_;
  const auto fresh_2d = fresh.view({B, 1});
  inputs_ = at::where(fresh_2d, new_inputs, inputs_);
  labels_ = at::where(fresh_2d, new_labels, labels_);
  TORCH_CHECK(new_ids.defined() == puzzle_ids_.defined(), "every batch must hold \"puzzle_ids\", or none");
  if (new_ids.defined()) puzzle_ids_ = at::where(fresh, new_ids, puzzle_ids_);
  auto [y0, z0] = model_->initial_carry(B);
  y_ = at::where(fresh.view({B, 1, 1}), y0, y_);
  z_ = at::where(fresh.view({B, 1, 1}), z0, z_);
  steps_ = at::where(fresh, at::zeros_like(steps_), steps_);
  min_steps_ = at::where(fresh, new_min, min_steps_);
}

LossOutput DeepSupervisionObjective::loss(const Batch& batch) {
  refill(batch);
  const ReasonerStep out = model_->step(inputs_, puzzle_ids_, y_, z_);
  const int64_t max_steps = model_->halting.max_steps;
  // Stable-max CE in float64: mean over a puzzle's supervised cells, then mean over puzzles.
  const auto supervised = labels_ != kIgnoreLabel;
  const auto per_cell = stablemax_cross_entropy(out.logits, labels_, kIgnoreLabel);
  const auto lm_loss = (per_cell.sum(-1) / supervised.sum(-1).clamp_min(1).to(at::kDouble)).mean();
  at::Tensor correct_cells, exact, steps_after, target;
  {
    at::NoGradGuard no_grad;
    const auto scores = score_cells(out.logits.argmax(-1), labels_);
    correct_cells = scores.cell;
    exact = scores.exact;
    steps_after = steps_ + 1;
    if (out.q_continue.defined()) {  // ACT: the extra step on the new carry, for the bootstrapped target
      const auto next = model_->step(inputs_, puzzle_ids_, out.y, out.z);
      target = continue_target(steps_after, max_steps, next.q_halt, next.q_continue);
    }
  }
  const auto halt_loss = at::binary_cross_entropy_with_logits(out.q_halt.to(at::kDouble), exact.to(at::kDouble));
  auto q_loss = halt_loss;
  at::Tensor continue_loss;
  if (target.defined()) {
    continue_loss = at::binary_cross_entropy_with_logits(out.q_continue.to(at::kDouble), target.to(at::kDouble));
    q_loss = halt_loss + continue_loss;
  }
  const auto total = lm_loss + 0.5 * q_loss;
  {
    at::NoGradGuard no_grad;
    y_ = out.y;
    z_ = out.z;
    steps_ = steps_after;
    halted_ = (steps_ >= max_steps) | (q_says_halt(out) & (steps_ >= min_steps_));
  }
  Metrics m{{"cell_accuracy", correct_cells.mean().item<double>()},
            {"exact_accuracy", exact.to(at::kFloat).mean().item<double>()},
            {"halt_loss", halt_loss.item<double>()},
            {"mean_steps", steps_.to(at::kFloat).mean().item<double>()}};
  if (continue_loss.defined()) m["continue_loss"] = continue_loss.item<double>();
  return {total.to(at::kFloat), m};
}

std::map<std::string, at::Tensor> DeepSupervisionObjective::state() const {
  if (!inputs_.defined()) return {};
  std::map<std::string, at::Tensor> s{{"inputs", inputs_}, {"labels", labels_},       {"y", y_},
                                      {"z", z_},           {"steps", steps_},         {"min_steps", min_steps_},
                                      {"halted", halted_}};
  if (puzzle_ids_.defined()) s["puzzle_ids"] = puzzle_ids_;
  return s;
}

void DeepSupervisionObjective::load_state(const std::map<std::string, at::Tensor>& s) {
  if (s.empty()) return;
  for (const char* key : {"inputs", "labels", "y", "z", "steps", "min_steps", "halted"})
    if (!s.count(key)) throw InputError(std::string("missing tensor 'objective.") + key + "'");
  const auto device = model_->device();
  inputs_ = s.at("inputs").to(device);
  labels_ = s.at("labels").to(device);
  y_ = s.at("y").to(device);
  z_ = s.at("z").to(device);
  steps_ = s.at("steps").to(device);
  min_steps_ = s.at("min_steps").to(device);
  halted_ = s.at("halted").to(device);
  puzzle_ids_ = s.count("puzzle_ids") ? s.at("puzzle_ids").to(device) : at::Tensor();
}

void attach_puzzle_sign_sgd(Trainer& trainer, ReasonerImpl& model, double lr, double weight_decay) {
  if (!model.puzzle_emb) return;
  auto& embedding = *model.puzzle_emb;
  trainer.set_after_step([&embedding, lr, weight_decay](double lr_scale) {
    sparse_sign_sgd_step(embedding, lr * lr_scale, weight_decay);
  });
}

ReasonerEvaluation evaluate_reasoner(ReasonerImpl& model, const at::Tensor& inputs, const at::Tensor& labels,
                                     int64_t steps, int64_t batch_size, const at::Tensor& puzzle_ids) {
  c10::InferenceMode guard;
  const auto device = model.device();
  const int64_t P = inputs.size(0);
  std::vector<double> exact_sum(static_cast<size_t>(steps), 0.0), cell_sum(static_cast<size_t>(steps), 0.0);
  double halt_sum = 0;
  std::vector<at::Tensor> preds, corrects, q_halts;
  for (int64_t start = 0; start < P; start += batch_size) {
    const int64_t b = std::min(batch_size, P - start);
    const auto x = inputs.narrow(0, start, b).to(device), lab = labels.narrow(0, start, b).to(device);
    const auto ids = puzzle_ids.defined() ? puzzle_ids.narrow(0, start, b).to(device) : at::Tensor();
    auto [y, z] = model.initial_carry(b);
    auto first_halt = at::full({b}, steps, x.options());
    at::Tensor pred, q_halt;
    for (int64_t s = 0; s < steps; ++s) {
      const auto out = model.step(x, ids, y, z);
      y = out.y;
      z = out.z;
      pred = out.logits.argmax(-1);
      q_halt = out.q_halt;
      const auto scores = score_cells(pred, lab);
      exact_sum[static_cast<size_t>(s)] += scores.exact.sum().item<double>();
      cell_sum[static_cast<size_t>(s)] += scores.cell.sum().item<double>();
      first_halt = at::where(q_says_halt(out) & (first_halt == steps), at::full_like(first_halt, s + 1), first_halt);
    }
    halt_sum += first_halt.to(at::kDouble).sum().item<double>();
    preds.push_back(pred.cpu());
    q_halts.push_back(q_halt.to(at::kFloat).cpu());
    corrects.push_back(score_cells(pred, lab).exact.cpu());
  }
  ReasonerEvaluation e;
  for (double v : exact_sum) e.exact_by_step.push_back(v / static_cast<double>(P));
  for (double v : cell_sum) e.cell_by_step.push_back(v / static_cast<double>(P));
  e.exact = e.exact_by_step.back();
  e.cell = e.cell_by_step.back();
  e.mean_halt_step = halt_sum / static_cast<double>(P);
  e.predictions = at::cat(preds);
  e.final_q_halt = at::cat(q_halts);
  const auto c = at::cat(corrects);
  for (int64_t i = 0; i < P; ++i) e.correct_by_puzzle.push_back(c[i].item<bool>() ? 1 : 0);
  return e;
}

ReasonerTrace trace_reasoner(ReasonerImpl& model, const at::Tensor& tokens, int64_t steps, const at::Tensor& puzzle_id) {
  c10::InferenceMode guard;
  const auto x = tokens.reshape({1, -1}).to(model.device());
  const auto id = puzzle_id.defined() ? puzzle_id.reshape({1}).to(model.device()) : at::Tensor();
  auto [y, z] = model.initial_carry(1);
  std::vector<at::Tensor> preds, q_halt, q_continue;
  for (int64_t s = 0; s < steps; ++s) {
    const auto out = model.step(x, id, y, z);
    y = out.y;
    z = out.z;
    preds.push_back(out.logits.argmax(-1)[0].cpu());
    q_halt.push_back(out.q_halt[0].cpu());
    if (out.q_continue.defined()) q_continue.push_back(out.q_continue[0].cpu());
  }
  ReasonerTrace t;
  t.predictions = at::stack(preds);
  t.q_halt = at::stack(q_halt);
  if (!q_continue.empty()) t.q_continue = at::stack(q_continue);
  return t;
}

}  // namespace beyond
