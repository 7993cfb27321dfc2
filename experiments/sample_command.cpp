#include "experiments/sample_command.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/run.h"

namespace fs = std::filesystem;

namespace beyond {

int sample_command(const SampleArgs& args) {
  // A run folder holds checkpoints/ and tokenizer.json; a checkpoint lies in <run>/checkpoints/.
  std::string checkpoint, run_dir;
  if (fs::is_directory(args.source)) {
    run_dir = args.source;
    checkpoint = latest_checkpoint(run_dir + "/checkpoints");
    if (checkpoint.empty()) throw InputError("run folder '" + args.source + "' has no checkpoint yet");
  } else if (fs::is_regular_file(args.source)) {
    checkpoint = args.source;
    run_dir = fs::path(args.source).parent_path().parent_path().string();
  } else {
    throw InputError("'" + args.source + "' is neither a run folder nor a checkpoint file");
  }
  const std::string tokenizer_path = (run_dir.empty() ? std::string(".") : run_dir) + "/tokenizer.json";
  if (!fs::exists(tokenizer_path))
    throw InputError("no tokenizer.json next to '" + args.source + "' (expected " + tokenizer_path +
                     "): sample works with runs of text experiments");
  const auto tokenizer = Tokenizer::load(tokenizer_path);
  const Checkpoint ckpt = load_checkpoint(checkpoint);
  Config config = Config::parse(ckpt.config, checkpoint + " (__metadata__ config)");
  const auto model_cfg = TransformerConfig::from_config(config, "model");
  const auto device = resolve_device(config.get_choice("run.device", "auto", {"auto", "cpu", "cuda"}));

  LanguageModel model(model_cfg);
  const auto ema = with_prefix(ckpt.tensors, "ema.");
  try {
    load_module_state(*model, args.use_ema && !ema.empty() ? ema : with_prefix(ckpt.tensors, "model."));
  } catch (const InputError& e) {
    throw InputError(checkpoint + ": " + e.what());
  }
  model->to(device);
  model->eval();

  std::vector<std::vector<int64_t>> prompts;
  std::vector<std::string> prompt_texts = args.prompts.empty() ? std::vector<std::string>{"\n"} : args.prompts;
  for (const auto& p : prompt_texts) {
    for (int64_t i = 0; i < args.num_samples; ++i) prompts.push_back(tokenizer->encode(p));
  }
  const bool stream = prompts.size() == 1;
  if (stream) {
    std::fputs(prompt_texts[0].c_str(), stdout);
    std::fflush(stdout);
  }
  const auto on_token = [&](int64_t, int64_t id) {
    if (!stream) return;
    std::fputs(tokenizer->token_text(id).c_str(), stdout);
    std::fflush(stdout);
  };
  const auto g = generate(model, prompts, args.generate, tokenizer.get(), on_token);
  if (stream) {
    std::fputs("\n", stdout);
  } else {
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::cout << "--- sample " << i + 1 << "\n" << prompt_texts[i / static_cast<size_t>(args.num_samples)] << g.texts[i] << "\n";
    }
  }
  return 0;
}

}  // namespace beyond
