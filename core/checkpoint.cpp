#include "core/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <regex>

#include "core/errors.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;

namespace beyond {

static const char* kFormat = "beyond-checkpoint-1";

std::string checkpoint_path(const std::string& dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "step_%08ld.safetensors", step);
  return dir + "/" + name;
}

static std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  if (!fs::is_directory(dir)) return found;
  static const std::regex pattern(R"(step_(\d+)\.safetensors)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, pattern)) found.emplace_back(std::stoll(m[1]), entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string latest_checkpoint(const std::string& dir) {
  const auto found = list_checkpoints(dir);
  return found.empty() ? "" : found.back().second;
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  if (keep <= 0) return;
  const auto found = list_checkpoints(dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) fs::remove(found[i].second);
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  safetensors::Metadata meta{{"format", kFormat},
                             {"version", BEYOND_VERSION},
                             {"step", std::to_string(ckpt.step)},
                             {"config", ckpt.config},
                             {"rng", ckpt.rng}};
  safetensors::save(path, ckpt.tensors, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  auto file = safetensors::load(path);
  const auto field = [&](const std::string& key) {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) throw InputError(path + ": not a beyond checkpoint (no '" + key + "' in __metadata__)");
    return it->second;
  };
  if (field("format") != kFormat) throw InputError(path + ": unknown checkpoint format '" + field("format") + "'");
  Checkpoint c;
  try {
    size_t used = 0;
    c.step = std::stoll(field("step"), &used);
    if (used != field("step").size() || c.step < 0) throw std::invalid_argument("step");
  } catch (const std::logic_error&) {
    throw InputError(path + ": __metadata__ step '" + field("step") + "' is not a non-negative integer");
  }
  c.config = field("config");
  c.rng = field("rng");
  c.tensors = std::move(file.tensors);
  return c;
}

std::map<std::string, at::Tensor> with_prefix(const std::map<std::string, at::Tensor>& tensors, const std::string& prefix) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, t] : tensors) {
    if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = t;
  }
  return out;
}

void add_prefixed(std::map<std::string, at::Tensor>& out, const std::map<std::string, at::Tensor>& tensors,
                  const std::string& prefix) {
  for (const auto& [name, t] : tensors) out[prefix + name] = t;
}

std::map<std::string, at::Tensor> evaluation_weights(const Checkpoint& checkpoint) {
  auto weights = with_prefix(checkpoint.tensors, "model.");
  for (auto& [name, t] : with_prefix(checkpoint.tensors, "ema.")) weights[name] = t;
  return weights;
}

int64_t load_evaluation_weights(torch::nn::Module& module, const std::string& dir) {
  const std::string path = latest_checkpoint(dir);
  if (path.empty()) throw InputError("no checkpoint in '" + dir + "'");
  const Checkpoint checkpoint = load_checkpoint(path);
  try {
    load_module_state(module, evaluation_weights(checkpoint));
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
  return checkpoint.step;
}

std::map<std::string, at::Tensor> module_state(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value();
  return out;
}

void load_module_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& tensors) {
  at::NoGradGuard no_grad;
  auto targets = module_state(module);
  for (auto& [name, target] : targets) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw InputError("missing weight '" + name + "'");
    if (it->second.sizes() != target.sizes())
      throw InputError("weight '" + name + "' has shape " + c10::str(it->second.sizes()) + ", the model expects " +
                       c10::str(target.sizes()));
    target.copy_(it->second);
  }
  for (const auto& [name, t] : tensors) {
    if (!targets.count(name)) throw InputError("unexpected weight '" + name + "' (not in the model)");
  }
}

std::string rng_state_hex() {
  const auto state = at::detail::getDefaultCPUGenerator().get_state();
  const auto* bytes = state.data_ptr<uint8_t>();
  static const char* digits = "0123456789abcdef";
  std::string hex;
  hex.reserve(static_cast<size_t>(state.numel()) * 2);
  for (int64_t i = 0; i < state.numel(); ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return hex;
}

void set_rng_state_hex(const std::string& hex) {
  const auto nibble = [&](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    throw InputError("RNG state in checkpoint is not hex");
  };
  if (hex.size() % 2 != 0) throw InputError("RNG state in checkpoint has odd length");
  auto state = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  auto* bytes = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size() / 2; ++i) bytes[i] = static_cast<uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  try {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle sharing the global state
    gen.set_state(state);
  } catch (const c10::Error&) {
    throw InputError("RNG state in checkpoint has the wrong size");
  }
}

}  // namespace beyond
