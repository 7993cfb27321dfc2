// Checkpoints: one safetensors file per saved step holding the model ("model.<param>"), the
// optimizer ("optim.<param>.exp_avg", ...) and the EMA ("ema.<param>"); __metadata__ holds the
// format, toolkit version, step, resolved config and the CPU RNG state (hex).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

namespace beyond {

struct Checkpoint {
  int64_t step = 0;
  std::string config;  // resolved TOML of the run that wrote it
  std::string rng;     // CPU generator state, hex
  std::map<std::string, at::Tensor> tensors;
};

std::string checkpoint_path(const std::string& dir, int64_t step);
// The checkpoint with the highest step in dir, or "" when there is none.
std::string latest_checkpoint(const std::string& dir);
// Removes all but the newest `keep` checkpoints (keep <= 0 keeps all).
void prune_checkpoints(const std::string& dir, int64_t keep);

// Atomic (temporary file, fsync, rename): a crash never leaves a half-written checkpoint.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Validates the file and its metadata; InputError names the file and what is wrong.
Checkpoint load_checkpoint(const std::string& path);

// Tensors under `prefix` (e.g. "model.") with the prefix removed.
std::map<std::string, at::Tensor> with_prefix(const std::map<std::string, at::Tensor>& tensors, const std::string& prefix);
void add_prefixed(std::map<std::string, at::Tensor>& out, const std::map<std::string, at::Tensor>& tensors,
                  const std::string& prefix);

// Copies weights into a module; every parameter and buffer must be present with its shape.
void load_module_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& tensors);
std::map<std::string, at::Tensor> module_state(const torch::nn::Module& module);

// The weights evaluation uses: the "model." tensors (buffers included) with the EMA average
// ("ema.") laid over the parameters when the run kept one.
std::map<std::string, at::Tensor> evaluation_weights(const Checkpoint& checkpoint);
// Loads evaluation_weights() of the newest checkpoint in `dir` into `module` and returns its step.
// InputError when there is none, or names the file when its tensors do not fit the module.
int64_t load_evaluation_weights(torch::nn::Module& module, const std::string& dir);

std::string rng_state_hex();
void set_rng_state_hex(const std::string& hex);

}  // namespace beyond
