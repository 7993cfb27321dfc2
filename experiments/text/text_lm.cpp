// Language modelling on a text corpus with nanoGPT-style data (random windows of `block_size`
// tokens, fixed validation windows from the last 10%), under one of two objectives on the same
// backbone:
//   text_lm:        next-token cross-entropy (causal); validation loss in nats/token and bits/char.
//   text_diffusion: masked diffusion (bidirectional); the validation negative ELBO by Monte Carlo
//                   in bits/char (an upper bound on the NLL). With [compare] ar_config, the AR
//                   model of that config is trained on the same data and windows for the same
//                   steps and for twice the steps (and this model for twice the steps), so the
//                   summary holds the bits-per-character gap.
#include "experiments/text/text_lm.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "autoregressive/generate.h"
#include "autoregressive/lm_objective.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "core/text_data.h"
#include "diffusion/elbo.h"
#include "diffusion/objective.h"
#include "diffusion/sampler.h"
#include "experiments/runner.h"
#include "experiments/text/text_model.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

class TextExperiment : public Experiment {
 public:
  explicit TextExperiment(bool diffusion) : diffusion_(diffusion) {}

  void configure(Config& c) override {
    path_ = c.get_string("data.path", "");
    if (path_.empty()) throw c.error("data.path", "data.path is required (a UTF-8 text file)");
    if (!fs::is_regular_file(path_)) throw c.error("data.path", "data file '" + path_ + "' not found");
    tokenizer_kind_ = c.get_choice("data.tokenizer", "char", {"char", "bpe"});
    bpe_vocab_ = c.get_int("data.bpe_vocab_size", 512, 256, 1 << 20);
    val_fraction_ = c.get_float("data.val_fraction", 0.1, 0.001, 0.5);
    cache_dir_ = c.get_string("data.cache_dir", "runs/.cache");
    block_ = c.get_int("train.block_size", 64, 1, 1 << 20);
    batch_ = c.get_int("train.batch_size", 12, 1, 1 << 16);
    eval_batches_ = c.get_int("eval.batches", 20, 1, 100000);
    read_sample_settings(c);

    const std::string text = read_text_file(path_);
    const std::vector<std::string> specials = diffusion_ ? std::vector<std::string>{"<|mask|>"} : std::vector<std::string>{};
    try {
      if (tokenizer_kind_ == "char") tokenizer_ = std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(text, specials));
      else tokenizer_ = std::make_unique<BPETokenizer>(BPETokenizer::train(text, bpe_vocab_, specials));
    } catch (const InputError& e) {
      throw c.error("data.path", e.what());
    }
    TransformerConfig defaults;
    defaults.vocab_size = tokenizer_->vocab_size();
    defaults.max_seq_len = block_;
    defaults.causal = !diffusion_;
    model_cfg_ = TransformerConfig::from_config(c, "model", defaults);
    if (model_cfg_.vocab_size < tokenizer_->vocab_size())
      throw c.error("model.vocab_size", "model.vocab_size " + std::to_string(model_cfg_.vocab_size) +
                                            " is smaller than the tokenizer's " + std::to_string(tokenizer_->vocab_size()));
    if (model_cfg_.positional == "learned" && model_cfg_.max_seq_len < block_)
      throw c.error("model.max_seq_len", "learned positions need model.max_seq_len >= train.block_size " + std::to_string(block_));
    if (!diffusion_ && !model_cfg_.causal) throw c.error("model.causal", "next-token training needs model.causal = true");
    if (diffusion_ && model_cfg_.causal)
      throw c.error("model.causal", "masked diffusion predicts every position from both sides: model.causal must be false");
    train_ = TrainOptions::from_config(c);
    if (diffusion_) {
      // The canvas (prompt + sample) must fit the model's window; say so before training.
      int64_t prompt_len = 0;
      try {
        prompt_len = static_cast<int64_t>(tokenizer_->encode(sample_.prompt).size());
      } catch (const InputError& e) {
        throw c.error("sample.prompt", e.what());
      }
      if (prompt_len + sample_.max_new_tokens > model_cfg_.max_seq_len)
        throw c.error("sample.max_new_tokens", "the prompt's " + std::to_string(prompt_len) + " tokens + " +
                                                   std::to_string(sample_.max_new_tokens) + " exceed model.max_seq_len " +
                                                   std::to_string(model_cfg_.max_seq_len));
      objective_ = MaskedDiffusionOptions::from_config(c);
      elbo_samples_ = c.get_int("elbo.samples", 32, 1, 1 << 16);
      elbo_batch_ = c.get_int("elbo.batch_size", 256, 1, 1 << 20);
      ar_config_ = c.get_string("compare.ar_config", "");
      compare_twice_ = c.get_bool("compare.twice_steps", true);
      if (!ar_config_.empty() && !fs::is_regular_file(ar_config_))
        throw c.error("compare.ar_config", "config file '" + ar_config_ + "' not found");
    }
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    tokenizer_->save(ctx.dir->file("tokenizer.json"));
    const TextData data = TextData::load(path_, *tokenizer_, val_fraction_, cache_dir_);
    log::info("data " + path_ + ": " + std::to_string(data.train.size(0)) + " train / " +
              std::to_string(data.val.size(0)) + " val tokens, vocab " + std::to_string(tokenizer_->vocab_size()));
    LanguageModel model(model_cfg_);
    model->to(ctx.device);
    const int64_t n_params = count_parameters(*model);
    log::info("model: " + std::to_string(n_params) + " parameters");

    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const auto val = data.fixed_val_batches(eval_batches_, batch_, block_);
    std::unique_ptr<Objective> objective;
    std::function<Batch(int64_t, int64_t)> batch;
    std::function<Metrics()> evaluate;
    if (diffusion_) {
      objective = std::make_unique<MaskedDiffusionObjective>(model, tokenizer_->mask(), objective_);
      batch = [&](int64_t step, int64_t micro) {
        const uint64_t s = batch_seed(seed, step, micro);
        auto [x, y] = data.random_windows("train", batch_, block_, s);
        return Batch{{"tokens", x}, {"seed", at::scalar_tensor(static_cast<int64_t>(mix_seed(s)), at::kLong)}};
      };
      std::vector<at::Tensor> windows;
      for (const auto& [x, y] : val) windows.push_back(x);
      const auto sequences = at::cat(windows, 0).to(ctx.device);
      evaluate = [&, sequences]() { return evaluate_elbo(model, sequences, data.val_tokens_per_char); };
    } else {
      objective = std::make_unique<NextTokenObjective>(model);
      batch = [&](int64_t step, int64_t micro) {
        auto [x, y] = data.random_windows("train", batch_, block_, batch_seed(seed, step, micro));
        return Batch{{"inputs", x}, {"targets", y}};
      };
      evaluate = [&]() { return evaluate_next_token(model, val, data.val_tokens_per_char); };
    }
    Trainer trainer(*model, *objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    m["parameters"] = static_cast<double>(n_params);
    if (diffusion_) {
      write_diffusion_sample(model, m);
      if (!ar_config_.empty() && !compare_with_ar(ctx, m)) *interrupted = true;
    } else {
      write_ar_sample(model, m);
    }
    return m;
  }

  std::string report_markdown() const override { return comparison_ + report_; }

 private:
  struct SampleSettings {
    std::string prompt;
    int64_t max_new_tokens = 500, top_k = 200, seed = 1;
    double temperature = 0.8, top_p = 1.0;
  };

  void read_sample_settings(Config& c) {
    sample_.prompt = c.get_string("sample.prompt", "\n");
    if (diffusion_) {
      // The canvas must fit the model's window, so the default fills the training block.
      sample_.max_new_tokens = c.get_int("sample.max_new_tokens", std::max<int64_t>(1, block_ - 1), 0, 1 << 20);
      sampler_ = DiffusionSamplerOptions::from_config(c, "sample");
      return;
    }
    sample_.max_new_tokens = c.get_int("sample.max_new_tokens", 500, 0, 1 << 20);
    sample_.temperature = c.get_float("sample.temperature", 0.8, 0.0, 100.0);
    sample_.top_k = c.get_int("sample.top_k", 200, 0);
    sample_.top_p = c.get_float("sample.top_p", 1.0, 0.0, 1.0);
    sample_.seed = c.get_int("sample.seed", 1, 0);
  }

  // The negative ELBO of the fixed validation windows (the AR run's windows), in bits/char.
  Metrics evaluate_elbo(LanguageModel& model, const at::Tensor& sequences, double tokens_per_char) {
    c10::InferenceMode guard;
    const DenoiseFn denoise = [&](const at::Tensor& tokens) { return model->forward(tokens); };
    const auto e = estimate_nelbo(denoise, sequences, tokenizer_->mask(), elbo_samples_, elbo_batch_, 0xe1b0ULL);
    const double to_bpc = tokens_per_char / std::log(2.0);
    return {{"elbo_nats", e.nats_per_token},
            {"elbo_bpc", e.nats_per_token * to_bpc},
            {"elbo_bpc_stderr", e.mc_stderr * to_bpc}};
  }

  void write_ar_sample(LanguageModel& model, Metrics& m) {
    if (sample_.max_new_tokens == 0) return;
    model->eval();
    GenerateOptions opt;
    opt.max_new_tokens = sample_.max_new_tokens;
    opt.sampling.temperature = sample_.temperature;
    opt.sampling.top_k = sample_.top_k;
    opt.sampling.top_p = sample_.top_p;
    opt.seed = static_cast<uint64_t>(sample_.seed);
    const auto t0 = std::chrono::steady_clock::now();
    const auto g = generate(model, {tokenizer_->encode(sample_.prompt)}, opt, tokenizer_.get());
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m["sample_tokens_per_second"] = static_cast<double>(g.tokens_generated) / std::max(dt, 1e-9);
    char settings[160];
    std::snprintf(settings, sizeof settings, "temperature %.2f, top-k %ld, top-p %.2f, seed %ld", sample_.temperature,
                  sample_.top_k, sample_.top_p, sample_.seed);
    report_ = "## Sample\n\n" + std::to_string(g.tokens_generated) + " tokens from the prompt " +
              nlohmann::json(sample_.prompt).dump() + " (" + settings + "):\n\n```\n" + sample_.prompt + g.texts[0] +
              "\n```\n";
  }

  // One sample, with the canvas shown at a few points of the denoising (masks as '_').
  void write_diffusion_sample(LanguageModel& model, Metrics& m) {
    if (sample_.max_new_tokens == 0) return;
    const auto prompt_ids = tokenizer_->encode(sample_.prompt);
    model->eval();
    ModelDenoiser denoiser(model, sampler_.prefix_cache);
    const auto prompt = at::tensor(prompt_ids, at::kLong).view({1, -1}).to(model->embed_tokens->weight.device());
    std::vector<std::pair<int64_t, std::string>> frames;
    const auto text_of = [&](const at::Tensor& row) { return canvas_text(*tokenizer_, row, tokenizer_->mask()); };
    int64_t total_steps = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = diffusion_sample(denoiser, prompt, sample_.max_new_tokens, tokenizer_->mask(), sampler_,
                                    [&](const DiffusionStep& s) {
                                      frames.emplace_back(s.step + 1, text_of(s.tokens[0]));
                                      total_steps = s.step + 1;
                                    });
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m["sample_tokens_per_second"] = static_cast<double>(sample_.max_new_tokens) / std::max(dt, 1e-9);
    m["sample_forward_passes"] = static_cast<double>(r.forward_passes);
    std::string shown;
    for (const double frac : {0.25, 0.5, 0.75}) {
      const auto i = static_cast<size_t>(frac * static_cast<double>(frames.size()));
      if (i == 0 || i >= frames.size()) continue;
      shown += "after step " + std::to_string(frames[i - 1].first) + " of " + std::to_string(total_steps) +
               ":\n```\n" + frames[i - 1].second + "\n```\n";
    }
    char settings[200];
    std::snprintf(settings, sizeof settings, "%s, %ld steps, block %ld, remasking %s, temperature %.2f, seed %lu",
                  sampler_.method.c_str(), sampler_.steps, sampler_.block_length, sampler_.remasking.c_str(),
                  sampler_.temperature, static_cast<unsigned long>(sampler_.seed));
    report_ = "## Sample\n\n" + std::to_string(sample_.max_new_tokens) + " tokens from the prompt " +
              nlohmann::json(sample_.prompt).dump() + " (" + settings + "; " + std::to_string(r.forward_passes) +
              " forward passes). Masked positions are shown as `_`.\n\n" + shown + "final:\n```\n" +
              text_of(r.tokens[0]) + "\n```\n";
  }

  // Trains (or resumes) a sub-run in this run's folder and returns `key` of its summary; nullopt
  // when the sub-run was interrupted. A finished sub-run is reused as it is.
  std::optional<double> sub_run(RunContext& ctx, const std::string& config, const std::string& name,
                                std::vector<std::string> overrides, const std::string& key) {
    const std::string dir = ctx.dir->file(name);
    if (!run_finished(dir)) {
      overrides.push_back("run.dir=" + dir);
      log::info("comparison run " + name + ": " + config);
      run_experiment(config, overrides);
      log::add_file(ctx.dir->file("log.txt"));  // the sub-run closed its own log file and ours
      if (!run_finished(dir)) return std::nullopt;
    }
    const auto summary = read_json(dir + "/summary.json");
    if (!summary.contains(key) || !summary[key].is_number())
      throw RunError("comparison run " + dir + " has no '" + key + "' in its summary.json (" + config +
                     " must be a text_lm config for compare.ar_config)");
    return summary[key].get<double>();
  }

  // The AR model of compare.ar_config on the same data, windows and batch, for the same steps
  // and for twice the steps; and this diffusion model for twice the steps.
  bool compare_with_ar(RunContext& ctx, Metrics& m) {
    const int64_t steps = train_.steps;
    const auto ar_overrides = [&](int64_t ar_steps) {
      return std::vector<std::string>{"data.path=\"" + path_ + "\"", "data.tokenizer=" + tokenizer_kind_,
                                      "train.block_size=" + std::to_string(block_),
                                      "train.batch_size=" + std::to_string(batch_),
                                      "eval.batches=" + std::to_string(eval_batches_),
                                      "train.steps=" + std::to_string(ar_steps)};
    };
    const auto ar_same = sub_run(ctx, ar_config_, "ar_same_steps", ar_overrides(steps), "val_bpc");
    if (!ar_same) return false;
    m["ar_val_bpc"] = *ar_same;
    m["bpc_gap"] = m["elbo_bpc"] - m["ar_val_bpc"];
    std::string rows = "| AR (" + ar_config_ + ") | " + std::to_string(steps) + " | " + fmt3(m["ar_val_bpc"]) + " (exact) |\n" +
                       "| masked diffusion (this run) | " + std::to_string(steps) + " | <= " + fmt3(m["elbo_bpc"]) +
                       " ± " + fmt3(m["elbo_bpc_stderr"]) + " |\n";
    if (compare_twice_) {
      const auto ar_twice = sub_run(ctx, ar_config_, "ar_twice_steps", ar_overrides(2 * steps), "val_bpc");
      if (!ar_twice) return false;
      const auto diff_twice = sub_run(ctx, ctx.dir->file("config.toml"), "diffusion_twice_steps",
                                      {"train.steps=" + std::to_string(2 * steps), "compare.ar_config=\"\""}, "elbo_bpc");
      if (!diff_twice) return false;
      m["ar_val_bpc_twice_steps"] = *ar_twice;
      m["elbo_bpc_twice_steps"] = *diff_twice;
      rows += "| AR | " + std::to_string(2 * steps) + " | " + fmt3(m["ar_val_bpc_twice_steps"]) + " (exact) |\n" +
              "| masked diffusion | " + std::to_string(2 * steps) + " | <= " + fmt3(m["elbo_bpc_twice_steps"]) + " |\n";
    }
    comparison_ = "## Bits per character against the autoregressive model\n\n"
                  "Same data, validation windows, batch and block; the AR value is the exact NLL, the diffusion value "
                  "a Monte Carlo upper bound (negative ELBO, " + std::to_string(elbo_samples_) +
                  " samples per window, ± its MC standard error).\n\n| model | steps | val bits/char |\n|---|---|---|\n" +
                  rows + "\nGap at equal steps: " + fmt3(m["bpc_gap"]) + " bits/char (diffusion minus AR).\n\n";
    return true;
  }

  static std::string fmt3(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return b;
  }

  bool diffusion_;
  std::string path_, tokenizer_kind_, cache_dir_;
  int64_t bpe_vocab_ = 512, block_ = 64, batch_ = 12, eval_batches_ = 20;
  double val_fraction_ = 0.1;
  SampleSettings sample_;
  std::unique_ptr<Tokenizer> tokenizer_;
  TransformerConfig model_cfg_;
  TrainOptions train_;
  MaskedDiffusionOptions objective_;
  DiffusionSamplerOptions sampler_;
  int64_t elbo_samples_ = 32, elbo_batch_ = 256;
  std::string ar_config_;
  bool compare_twice_ = true;
  std::string report_, comparison_;
};

}  // namespace

std::unique_ptr<Experiment> make_text_lm() { return std::make_unique<TextExperiment>(false); }
std::unique_ptr<Experiment> make_text_diffusion() { return std::make_unique<TextExperiment>(true); }

}  // namespace beyond
