// Optimisation pieces as small, testable parts: the LR schedule as a pure function, AdamW with
// decay / no-decay groups and state we can checkpoint by name, EMA of weights, bf16 autocast.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

namespace beyond {

// Linear warm-up lr * (step + 1) / warmup for the first `warmup` steps, then cosine from lr to min_lr by `total`
// steps (and min_lr after), or constant lr. `step` counts from 0.
struct LRSchedule {
  std::string kind = "cosine";  // cosine | constant
  double lr = 1e-3, min_lr = 0.0;
  int64_t warmup = 0, total = 1;
  double at(int64_t step) const;
};

// AdamW (Loshchilov & Hutter) with decoupled weight decay:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * wd * p  (decay group only);  p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// Matrices (dim >= 2) decay; biases, norms and other vectors do not.
// With atan2 = true the update is AdamATan2 (used by HRM/TRM), which needs no eps:
//   p -= lr / (1 - b1^t) * atan2(m, sqrt(v / (1 - b2^t)))
// atan2 bounds every step by lr * pi/2 / (1 - b1^t) and behaves like m/sqrt(v) when m << sqrt(v).
class AdamW {
 public:
  struct Options {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1;
    bool atan2 = false;
  };
  AdamW(const std::vector<std::pair<std::string, at::Tensor>>& named_params, Options options);
  void zero_grad();
  void step(double lr);
  int64_t steps() const { return t_; }

  // State by parameter name ("<name>.exp_avg", "<name>.exp_avg_sq") and "step", for checkpoints.
  std::map<std::string, at::Tensor> state() const;
  void load_state(const std::map<std::string, at::Tensor>& state);  // throws InputError on mismatch

  bool decays(const std::string& name) const { return decay_.at(name); }

 private:
  struct Param {
    std::string name;
    at::Tensor p, m, v;
    bool decay;
  };
  std::vector<Param> params_;
  std::map<std::string, bool> decay_;
  Options opt_;
  int64_t t_ = 0;
};

// Exponential moving average of weights: ema = decay * ema + (1 - decay) * w after each step.
class EMA {
 public:
  EMA(const std::vector<std::pair<std::string, at::Tensor>>& named_params, double decay);
  void update();
  // Swaps the live weights with the averaged ones (call twice to swap back).
  void swap();
  std::map<std::string, at::Tensor> state() const;
  void load_state(const std::map<std::string, at::Tensor>& state);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> shadow_;
  double decay_;
};

// Sum of squared gradients -> clip to max_norm (if > 0); returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

// RAII: runs the scope under autocast to bf16 on `device` (as Python's torch.autocast does);
// a no-op when disabled. Keep backward() outside the scope.
class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType device_;
  bool enabled_, previous_;
  at::ScalarType previous_dtype_;
};

}  // namespace beyond
