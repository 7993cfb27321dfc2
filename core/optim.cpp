#include "core/optim.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>

#include "core/errors.h"

namespace beyond {

double LRSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == "constant") return lr;
  if (step >= total) return min_lr;
  const double span = static_cast<double>(std::max<int64_t>(total - warmup, 1));
  const double progress = static_cast<double>(step - warmup) / span;  // 0 -> 1
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

AdamW::AdamW(const std::vector<std::pair<std::string, at::Tensor>>& named_params, Options options)
    : opt_(options) {
  for (const auto& [name, p] : named_params) {
    if (!p.requires_grad()) continue;
    const bool decay = p.dim() >= 2 && name.find("norm") == std::string::npos;
    params_.push_back({name, p, at::zeros_like(p, at::MemoryFormat::Preserve), at::zeros_like(p, at::MemoryFormat::Preserve), decay});
    decay_[name] = decay;
  }
}

void AdamW::zero_grad() {
  for (auto& q : params_) {
    if (q.p.mutable_grad().defined()) q.p.mutable_grad().zero_();
  }
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t_));
  for (auto& q : params_) {
    const auto& g = q.p.grad();
    if (!g.defined()) continue;
    if (q.decay && opt_.weight_decay != 0.0) q.p.mul_(1.0 - lr * opt_.weight_decay);
    q.m.mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
    q.v.mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    if (opt_.atan2) {
      q.p.sub_(at::atan2(q.m, (q.v / bc2).sqrt_()), lr / bc1);
    } else {
      const auto denom = (q.v / bc2).sqrt_().add_(opt_.eps);
      q.p.addcdiv_(q.m, denom, -lr / bc1);
    }
  }
}

std::map<std::string, at::Tensor> AdamW::state() const {
  std::map<std::string, at::Tensor> s;
  for (const auto& q : params_) {
    s[q.name + ".exp_avg"] = q.m;
    s[q.name + ".exp_avg_sq"] = q.v;
  }
  s["step"] = at::tensor(t_, at::kLong);
  return s;
}

static const at::Tensor& find_state(const std::map<std::string, at::Tensor>& state, const std::string& key,
                                    const at::Tensor& like) {
  const auto it = state.find(key);
  if (it == state.end()) throw InputError("missing tensor '" + key + "'");
  if (it->second.sizes() != like.sizes())
    throw InputError("tensor '" + key + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                     c10::str(like.sizes()));
  return it->second;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& state) {
  at::NoGradGuard no_grad;
  for (auto& q : params_) {
    q.m.copy_(find_state(state, q.name + ".exp_avg", q.m));
    q.v.copy_(find_state(state, q.name + ".exp_avg_sq", q.v));
  }
  const auto it = state.find("step");
  if (it == state.end()) throw InputError("missing tensor 'step'");
  t_ = it->second.item<int64_t>();
}

EMA::EMA(const std::vector<std::pair<std::string, at::Tensor>>& named_params, double decay) : decay_(decay) {
  at::NoGradGuard no_grad;
  for (const auto& [name, p] : named_params) {
    params_.emplace_back(name, p);
    shadow_.push_back(p.detach().clone());
  }
}

void EMA::update() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) shadow_[i].lerp_(params_[i].second, 1.0 - decay_);
}

void EMA::swap() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto live = params_[i].second.detach().clone();
    params_[i].second.copy_(shadow_[i]);
    shadow_[i].copy_(live);
  }
}

std::map<std::string, at::Tensor> EMA::state() const {
  std::map<std::string, at::Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) s[params_[i].first] = shadow_[i];
  return s;
}

void EMA::load_state(const std::map<std::string, at::Tensor>& state) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) shadow_[i].copy_(find_state(state, params_[i].first, shadow_[i]));
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> squares;
  for (const auto& p : params) {
    if (p.grad().defined()) squares.push_back(p.grad().to(at::kFloat).pow(2).sum());
  }
  if (squares.empty()) return 0.0;
  const double norm = at::stack(squares).sum().sqrt().item<double>();
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return norm;
}

AutocastGuard::AutocastGuard(at::DeviceType device, bool enabled)
    : device_(device), enabled_(enabled), previous_(false), previous_dtype_(at::kBFloat16) {
  if (!enabled_) return;
  previous_ = at::autocast::is_autocast_enabled(device_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, previous_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
}

}  // namespace beyond
