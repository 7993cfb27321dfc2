// The generic training loop. An objective turns a batch into a loss and named metrics; the
// Trainer owns everything else: AdamW, the LR schedule, gradient accumulation and clipping, EMA,
// evaluation and checkpoints every N steps, resume, the NaN guard, bf16 autocast and progress.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <string>

#include "core/optim.h"
#include "core/run.h"

namespace beyond {

class Config;

using Metrics = std::map<std::string, double>;
using Batch = std::map<std::string, at::Tensor>;  // named tensors: "tokens", "targets", ...

struct LossOutput {
  at::Tensor loss;  // scalar, with a graph
  Metrics metrics;  // logged beside the loss
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual LossOutput loss(const Batch& batch) = 0;
  // State that lives across optimizer steps (TRM's carry), saved in checkpoints as "objective.*".
  virtual std::map<std::string, at::Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, at::Tensor>& state) {}
};

struct TrainOptions {
  int64_t steps = 1000;
  int64_t grad_accum = 1;         // micro-batches per optimizer step
  LRSchedule schedule;
  AdamW::Options adamw;           // train.optimizer = "adamw" | "adam_atan2"
  double grad_clip = 1.0;         // 0: no clipping (the norm is logged anyway)
  double ema = 0.0;               // 0: off; else the decay (0.999); evaluation then uses EMA weights
  int64_t log_every = 10;
  int64_t eval_every = 0;         // 0: only at the end
  int64_t checkpoint_every = 0;   // 0: only at the end
  int64_t keep_checkpoints = 2;
  std::string precision = "fp32";  // fp32 | bf16 (autocast; weights and optimizer stay fp32)
  int64_t stop_at_step = 0;        // stop early as if interrupted, after checkpointing (resume tests)

  static TrainOptions from_config(Config& config);
};

struct TrainerContext {
  RunDir* run;              // where metrics and checkpoints go
  std::string config_toml;  // the resolved config, stored in checkpoints
  c10::Device device = c10::Device(c10::kCPU);
};

class Trainer {
 public:
  // `batch(step, micro)` must depend only on its arguments (and the seed), so that a resumed run
  // sees exactly the batches of an uninterrupted one. `evaluate()` runs on the current weights
  // (the EMA weights when EMA is on) and returns named metrics.
  Trainer(torch::nn::Module& model, Objective& objective, std::function<Batch(int64_t, int64_t)> batch,
          std::function<Metrics()> evaluate, TrainOptions options, TrainerContext context);

  // Resumes from the run's last checkpoint if there is one, trains to options.steps, evaluates,
  // and returns the final metrics (train loss, eval metrics, timing). Throws RunError on NaN/Inf.
  Metrics fit();

  // True when fit() stopped early (stop_at_step or SIGINT/SIGTERM) before options.steps.
  bool interrupted() const { return interrupted_; }

  // Called after every AdamW step with that step's LR over the base LR (the schedule's warm-up and
  // decay as a factor), for what the model trains outside AdamW (sparse puzzle embeddings).
  void set_after_step(std::function<void(double lr_scale)> f) { after_step_ = std::move(f); }

 private:
  void save(int64_t step);
  int64_t resume();
  Metrics run_eval(int64_t step);

  torch::nn::Module& model_;
  Objective& objective_;
  std::function<Batch(int64_t, int64_t)> batch_;
  std::function<Metrics()> evaluate_;
  std::function<void(double)> after_step_;
  TrainOptions opt_;
  TrainerContext ctx_;
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::unique_ptr<AdamW> adamw_;
  std::unique_ptr<EMA> ema_;
  bool interrupted_ = false;
};

}  // namespace beyond
