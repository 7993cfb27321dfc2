// Autoregressive language modelling on a text corpus, nanoGPT-style: random windows of
// `block_size` tokens, next-token cross-entropy, validation loss on fixed windows of the last
// 10%, and a sample in the report.
#include "experiments/text/text_lm.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>

#include "autoregressive/generate.h"
#include "autoregressive/lm_objective.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "core/text_data.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

class TextLM : public Experiment {
 public:
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
    sample_.prompt = c.get_string("sample.prompt", "\n");
    sample_.max_new_tokens = c.get_int("sample.max_new_tokens", 500, 0, 1 << 20);
    sample_.temperature = c.get_float("sample.temperature", 0.8, 0.0, 100.0);
    sample_.top_k = c.get_int("sample.top_k", 200, 0);
    sample_.top_p = c.get_float("sample.top_p", 1.0, 0.0, 1.0);
    sample_.seed = c.get_int("sample.seed", 1, 0);

    const std::string text = read_text_file(path_);
    try {
      if (tokenizer_kind_ == "char") tokenizer_ = std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(text));
      else tokenizer_ = std::make_unique<BPETokenizer>(BPETokenizer::train(text, bpe_vocab_));
    } catch (const InputError& e) {
      throw c.error("data.path", e.what());
    }
    TransformerConfig defaults;
    defaults.vocab_size = tokenizer_->vocab_size();
    defaults.max_seq_len = block_;
    model_cfg_ = TransformerConfig::from_config(c, "model", defaults);
    if (model_cfg_.vocab_size < tokenizer_->vocab_size())
      throw c.error("model.vocab_size", "model.vocab_size " + std::to_string(model_cfg_.vocab_size) +
                                            " is smaller than the tokenizer's " + std::to_string(tokenizer_->vocab_size()));
    if (model_cfg_.positional == "learned" && model_cfg_.max_seq_len < block_)
      throw c.error("model.max_seq_len", "learned positions need model.max_seq_len >= train.block_size " + std::to_string(block_));
    if (!model_cfg_.causal) throw c.error("model.causal", "next-token training needs model.causal = true");
    train_ = TrainOptions::from_config(c);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    tokenizer_->save(ctx.dir->file("tokenizer.json"));
    const TextData data = TextData::load(path_, *tokenizer_, val_fraction_, cache_dir_);
    log::info("data " + path_ + ": " + std::to_string(data.train.size(0)) + " train / " +
              std::to_string(data.val.size(0)) + " val tokens, vocab " + std::to_string(tokenizer_->vocab_size()));
    LanguageModel model(model_cfg_);
    model->to(ctx.device);
    int64_t n_params = 0;
    for (const auto& p : model->parameters()) n_params += p.numel();
    log::info("model: " + std::to_string(n_params) + " parameters");

    NextTokenObjective objective(model);
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const auto batch = [&](int64_t step, int64_t micro) {
      auto [x, y] = data.random_windows("train", batch_, block_, batch_seed(seed, step, micro));
      return Batch{{"inputs", x}, {"targets", y}};
    };
    const auto val = data.fixed_val_batches(eval_batches_, batch_, block_);
    const auto evaluate = [&]() { return evaluate_next_token(model, val, data.val_tokens_per_char); };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    m["parameters"] = static_cast<double>(n_params);
    write_sample(model, m);
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  struct SampleSettings {
    std::string prompt;
    int64_t max_new_tokens = 500, top_k = 200, seed = 1;
    double temperature = 0.8, top_p = 1.0;
  };

  void write_sample(LanguageModel& model, Metrics& m) {
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

  std::string path_, tokenizer_kind_, cache_dir_;
  int64_t bpe_vocab_ = 512, block_ = 64, batch_ = 12, eval_batches_ = 20;
  double val_fraction_ = 0.1;
  SampleSettings sample_;
  std::unique_ptr<Tokenizer> tokenizer_;
  TransformerConfig model_cfg_;
  TrainOptions train_;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_text_lm() { return std::make_unique<TextLM>(); }

}  // namespace beyond
