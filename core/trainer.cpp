#include "core/trainer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <csignal>
#include <cmath>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/progress.h"

namespace beyond {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

TrainOptions TrainOptions::from_config(Config& c) {
  TrainOptions o;
  o.steps = c.get_int("train.steps", o.steps, 0);
  o.grad_accum = c.get_int("train.grad_accum", o.grad_accum, 1, 4096);
  o.schedule.kind = c.get_choice("train.schedule", o.schedule.kind, {"cosine", "constant"});
  o.schedule.lr = c.get_float("train.lr", o.schedule.lr, 0.0, 10.0);
  o.schedule.min_lr = c.get_float("train.min_lr", o.schedule.lr * 0.1, 0.0, 10.0);
  o.schedule.warmup = c.get_int("train.warmup_steps", 0, 0);
  o.schedule.total = o.steps;
  o.adamw.beta1 = c.get_float("train.beta1", o.adamw.beta1, 0.0, 1.0);
  o.adamw.beta2 = c.get_float("train.beta2", o.adamw.beta2, 0.0, 1.0);
  o.adamw.eps = c.get_float("train.eps", o.adamw.eps, 0.0, 1.0);
  o.adamw.weight_decay = c.get_float("train.weight_decay", o.adamw.weight_decay, 0.0, 100.0);
  o.adamw.atan2 = c.get_choice("train.optimizer", "adamw", {"adamw", "adam_atan2"}) == "adam_atan2";
  o.grad_clip = c.get_float("train.grad_clip", o.grad_clip, 0.0);
  o.ema = c.get_float("train.ema", o.ema, 0.0, 1.0);
  o.log_every = c.get_int("train.log_every", o.log_every, 1);
  o.eval_every = c.get_int("train.eval_every", o.eval_every, 0);
  o.checkpoint_every = c.get_int("train.checkpoint_every", o.checkpoint_every, 0);
  o.keep_checkpoints = c.get_int("train.keep_checkpoints", o.keep_checkpoints, 0);
  o.precision = c.get_choice("train.precision", o.precision, {"fp32", "bf16"});
  o.stop_at_step = c.get_int("train.stop_at_step", o.stop_at_step, 0);
  return o;
}

Trainer::Trainer(torch::nn::Module& model, Objective& objective, std::function<Batch(int64_t, int64_t)> batch,
                 std::function<Metrics()> evaluate, TrainOptions options, TrainerContext context)
    : model_(model),
      objective_(objective),
      batch_(std::move(batch)),
      evaluate_(std::move(evaluate)),
      opt_(std::move(options)),
      ctx_(std::move(context)) {
  for (const auto& p : model_.named_parameters()) params_.emplace_back(p.key(), p.value());
  adamw_ = std::make_unique<AdamW>(params_, opt_.adamw);
  if (opt_.ema > 0) ema_ = std::make_unique<EMA>(params_, opt_.ema);
}

void Trainer::save(int64_t step) {
  Checkpoint c;
  c.step = step;
  c.config = ctx_.config_toml;
  c.rng = rng_state_hex();
  add_prefixed(c.tensors, module_state(model_), "model.");
  add_prefixed(c.tensors, adamw_->state(), "optim.");
  if (ema_) add_prefixed(c.tensors, ema_->state(), "ema.");
  add_prefixed(c.tensors, objective_.state(), "objective.");
  const std::string path = checkpoint_path(ctx_.run->checkpoints(), step);
  save_checkpoint(path, c);
  prune_checkpoints(ctx_.run->checkpoints(), opt_.keep_checkpoints);
  log::debug("checkpoint " + path);
}

int64_t Trainer::resume() {
  const std::string path = latest_checkpoint(ctx_.run->checkpoints());
  if (path.empty()) return 0;
  const Checkpoint c = load_checkpoint(path);
  try {
    load_module_state(model_, with_prefix(c.tensors, "model."));
    adamw_->load_state(with_prefix(c.tensors, "optim."));
    if (ema_) {
      const auto ema_state = with_prefix(c.tensors, "ema.");
      // A run that turns EMA on midway starts its average from the current weights.
      if (!ema_state.empty()) ema_->load_state(ema_state);
    }
    objective_.load_state(with_prefix(c.tensors, "objective."));
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what() + " (did the model config change since this checkpoint?)");
  }
  set_rng_state_hex(c.rng);
  log::info("resumed from " + path + " at step " + std::to_string(c.step));
  return c.step;
}

Metrics Trainer::run_eval(int64_t step) {
  if (!evaluate_) return {};
  model_.eval();
  if (ema_) ema_->swap();
  Metrics m;
  try {
    m = evaluate_();
  } catch (...) {
    if (ema_) ema_->swap();
    model_.train();
    throw;
  }
  if (ema_) ema_->swap();
  model_.train();
  nlohmann::json record{{"step", step}, {"split", "eval"}};
  std::string line = "eval step " + std::to_string(step);
  for (const auto& [k, v] : m) {
    record[k] = v;
    line += "  " + k + " " + fmt("%.4g", v);
  }
  ctx_.run->log_metrics(record);
  log::info(line);
  return m;
}

Metrics Trainer::fit() {
  const int64_t start = resume();
  stop_requested = 0;
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  struct RestoreSignals {
    void (*i)(int), (*t)(int);
    ~RestoreSignals() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  model_.train();
  std::vector<at::Tensor> tensors;
  for (const auto& p : params_) tensors.push_back(p.second);
  const bool bf16 = opt_.precision == "bf16";
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress(opt_.steps, opt_.log_every, start);
  double last_loss = std::nan(""), smooth = std::nan("");
  Metrics last_metrics;
  int64_t step = start;
  for (; step < opt_.steps; ++step) {
    const double lr = opt_.schedule.at(step);
    adamw_->zero_grad();
    double loss_sum = 0.0;
    Metrics sums;
    for (int64_t micro = 0; micro < opt_.grad_accum; ++micro) {
      Batch batch = batch_(step, micro);
      for (auto& [k, v] : batch) v = v.to(ctx_.device);
      LossOutput out;
      {
        AutocastGuard autocast(ctx_.device.type(), bf16);
        out = objective_.loss(batch);
      }
      (out.loss / static_cast<double>(opt_.grad_accum)).backward();
      loss_sum += out.loss.item<double>();
      for (const auto& [k, v] : out.metrics) sums[k] += v;
    }
    last_loss = loss_sum / static_cast<double>(opt_.grad_accum);
    const double grad_norm = clip_grad_norm(tensors, opt_.grad_clip);
    if (!std::isfinite(last_loss) || !std::isfinite(grad_norm)) {
      progress.finish();
      const std::string last = latest_checkpoint(ctx_.run->checkpoints());
      throw RunError("step " + std::to_string(step) + ": loss " + fmt("%g", last_loss) + ", gradient norm " +
                     fmt("%g", grad_norm) + " is not finite; stopped without saving. Last good checkpoint: " +
                     (last.empty() ? "none" : last));
    }
    adamw_->step(lr);
    if (after_step_) after_step_(opt_.schedule.lr > 0 ? lr / opt_.schedule.lr : 0.0);
    if (ema_) ema_->update();
    smooth = std::isnan(smooth) ? last_loss : 0.9 * smooth + 0.1 * last_loss;
    const int64_t done = step + 1;
    if (done % opt_.log_every == 0 || done == opt_.steps) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::json record{{"step", done}, {"split", "train"}, {"loss", last_loss}, {"lr", lr},
                            {"grad_norm", grad_norm}, {"it_per_s", progress.steps_per_second()},
                            {"elapsed_s", elapsed}};
      for (const auto& [k, v] : sums) {
        record[k] = v / static_cast<double>(opt_.grad_accum);
        last_metrics[k] = v / static_cast<double>(opt_.grad_accum);
      }
      ctx_.run->log_metrics(record);
    }
    progress.update(done, "loss " + fmt("%.4f", smooth) + "  lr " + fmt("%.2e", lr) + "  |g| " + fmt("%.2f", grad_norm));
    const bool stop_now = stop_requested || (opt_.stop_at_step > 0 && done == opt_.stop_at_step);
    if (opt_.checkpoint_every > 0 && done % opt_.checkpoint_every == 0 && done != opt_.steps) save(done);
    if (opt_.eval_every > 0 && done % opt_.eval_every == 0 && done != opt_.steps && !stop_now) run_eval(done);
    if (stop_now && done < opt_.steps) {
      if (opt_.checkpoint_every == 0 || done % opt_.checkpoint_every != 0) save(done);
      progress.finish();
      interrupted_ = true;
      log::warn("stopped at step " + std::to_string(done) + " of " + std::to_string(opt_.steps) +
                "; run the same command again to resume");
      return {{"step", static_cast<double>(done)}};
    }
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (step > start || latest_checkpoint(ctx_.run->checkpoints()).empty()) save(step);
  Metrics final_metrics = run_eval(step);
  final_metrics["step"] = static_cast<double>(step);
  if (step > start) {
    final_metrics["train_loss"] = last_loss;
    final_metrics["train_seconds"] = seconds;
    final_metrics["steps_per_second"] = static_cast<double>(step - start) / std::max(seconds, 1e-9);
  }
  for (const auto& [k, v] : last_metrics) final_metrics["train_" + k] = v;
  return final_metrics;
}

}  // namespace beyond
