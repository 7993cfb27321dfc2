#include "experiments/text/text_model.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/run.h"

namespace fs = std::filesystem;

namespace beyond {

std::string canvas_text(const Tokenizer& tokenizer, const at::Tensor& row, int64_t mask_id, const at::Tensor& fresh,
                        bool color) {
  const auto ids = row.to(at::kCPU).contiguous();
  const auto is_new = fresh.defined() ? fresh.to(at::kCPU).contiguous() : at::Tensor();
  const int64_t* p = ids.data_ptr<int64_t>();
  std::string out;
  for (int64_t i = 0; i < ids.numel(); ++i) {
    if (p[i] == mask_id) {
      out += color ? "\x1b[2m_\x1b[0m" : "_";
    } else if (color && is_new.defined() && is_new.data_ptr<bool>()[i]) {
      out += "\x1b[33m" + tokenizer.token_text(p[i]) + "\x1b[0m";
    } else {
      out += tokenizer.token_text(p[i]);
    }
  }
  return out;
}

TextModel load_text_model(const std::string& source, bool use_ema) {
  // A run folder holds checkpoints/ and tokenizer.json; a checkpoint lies in <run>/checkpoints/.
  TextModel m;
  if (fs::is_directory(source)) {
    m.run_dir = source;
    m.checkpoint = latest_checkpoint(source + "/checkpoints");
    if (m.checkpoint.empty()) throw InputError("run folder '" + source + "' has no checkpoint yet");
  } else if (fs::is_regular_file(source)) {
    m.checkpoint = source;
    m.run_dir = fs::path(source).parent_path().parent_path().string();
  } else {
    throw InputError("'" + source + "' is neither a run folder nor a checkpoint file");
  }
  const std::string tokenizer_path = (m.run_dir.empty() ? std::string(".") : m.run_dir) + "/tokenizer.json";
  if (!fs::exists(tokenizer_path))
    throw InputError("no tokenizer.json next to '" + source + "' (expected " + tokenizer_path +
                     "): only runs of text experiments can be loaded as text models");
  m.tokenizer = Tokenizer::load(tokenizer_path);
  const Checkpoint ckpt = load_checkpoint(m.checkpoint);
  m.config_toml = ckpt.config;
  Config config = Config::parse(ckpt.config, m.checkpoint + " (__metadata__ config)");
  const auto model_cfg = TransformerConfig::from_config(config, "model");
  const auto device = resolve_device(config.get_choice("run.device", "auto", {"auto", "cpu", "cuda"}));

  m.model = LanguageModel(model_cfg);
  try {
    load_module_state(*m.model, use_ema ? evaluation_weights(ckpt) : with_prefix(ckpt.tensors, "model."));
  } catch (const InputError& e) {
    throw InputError(m.checkpoint + ": " + e.what());
  }
  m.model->to(device);
  m.model->eval();
  if (m.diffusion() && m.tokenizer->mask() < 0)
    throw InputError(tokenizer_path + ": a bidirectional (diffusion) model needs a tokenizer with <|mask|>");
  return m;
}

}  // namespace beyond
