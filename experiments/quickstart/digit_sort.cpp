// The quickstart: a causal transformer learns to sort digit strings.
//
// A sequence is "x_1 .. x_n SEP y_1 .. y_n" with y = sort(x). The model is trained with
// next-token cross-entropy on the y positions only, and judged by greedy decoding (with the KV
// cache) on held-out strings: exact match means all n digits right. It needs no data on disk and
// exercises the whole path: config, core model, trainer, checkpoints, resume, summary.
#include "experiments/quickstart/digit_sort.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/model.h"
#include "core/seed.h"

namespace beyond {
namespace {

struct SortTask {
  int64_t n_digits = 8, base = 10;
  int64_t sep() const { return base; }
  int64_t vocab() const { return base + 1; }
  int64_t seq_len() const { return 2 * n_digits + 1; }

  // Full sequences [B, 2n+1] from a seeded generator.
  at::Tensor sample(int64_t batch, uint64_t seed) const {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed));
    const auto x = at::randint(0, base, {batch, n_digits}, gen, at::kLong);
    const auto y = std::get<0>(at::sort(x, -1));
    return at::cat({x, at::full({batch, 1}, sep(), at::kLong), y}, 1);
  }
};

class SortObjective : public Objective {
 public:
  SortObjective(LanguageModel model, int64_t n) : model_(std::move(model)), n_(n) {}
  LossOutput loss(const Batch& batch) override {
    const auto& seq = batch.at("tokens");
    const auto inputs = seq.narrow(1, 0, seq.size(1) - 1);
    const auto targets = seq.narrow(1, 1, seq.size(1) - 1);
    const auto logits = model_(inputs);  // (B, 2n, V)
    // Only positions n..2n-1 predict sorted digits (position n is the separator).
    const auto answer_logits = logits.narrow(1, n_, n_).to(at::kFloat);
    const auto answer_targets = targets.narrow(1, n_, n_);
    const auto loss = at::cross_entropy_loss(answer_logits.reshape({-1, answer_logits.size(-1)}), answer_targets.reshape({-1}));
    const double acc = (answer_logits.argmax(-1) == answer_targets).to(at::kFloat).mean().item<double>();
    return {loss, {{"token_accuracy", acc}}};
  }

 private:
  LanguageModel model_;
  int64_t n_;
};

class DigitSort : public Experiment {
 public:
  void configure(Config& c) override {
    task_.n_digits = c.get_int("task.n_digits", task_.n_digits, 1, 64);
    task_.base = c.get_int("task.base", task_.base, 2, 100);
    batch_size_ = c.get_int("train.batch_size", batch_size_, 1, 1 << 16);
    eval_size_ = c.get_int("eval.size", eval_size_, 1, 1 << 20);
    TransformerConfig defaults;
    defaults.vocab_size = task_.vocab();
    defaults.max_seq_len = task_.seq_len();
    defaults.d_model = 64;
    defaults.n_layers = 2;
    defaults.n_heads = 4;
    model_cfg_ = TransformerConfig::from_config(c, "model", defaults);
    if (model_cfg_.vocab_size < task_.vocab())
      throw c.error("model.vocab_size", "model.vocab_size " + std::to_string(model_cfg_.vocab_size) +
                                            " is too small for base " + std::to_string(task_.base) + " (needs " +
                                            std::to_string(task_.vocab()) + ")");
    if (!model_cfg_.causal) throw c.error("model.causal", "digit_sort decodes left to right: model.causal must be true");
    train_ = TrainOptions::from_config(c);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    LanguageModel model(model_cfg_);
    model->to(ctx.device);
    SortObjective objective(model, task_.n_digits);
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const auto batch = [&](int64_t step, int64_t micro) {
      return Batch{{"tokens", task_.sample(batch_size_, batch_seed(seed, step, micro))}};
    };
    const auto eval_set = task_.sample(eval_size_, ~seed).to(ctx.device);  // a stream training never uses
    const auto evaluate = [&]() { return evaluate_sorting(model, eval_set); };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    return m;
  }

 private:
  // Greedy decoding with the KV cache: the prompt in one pass, then one digit per step.
  Metrics evaluate_sorting(LanguageModel& model, const at::Tensor& seq) const {
    c10::InferenceMode guard;
    const int64_t n = task_.n_digits;
    const auto prompt = seq.narrow(1, 0, n + 1);
    const auto truth = seq.narrow(1, n + 1, n);
    auto cache = model->make_cache();
    auto logits = model(prompt, &cache);
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < n; ++i) {
      const auto next = logits.select(1, logits.size(1) - 1).argmax(-1, /*keepdim=*/true);  // (B, 1)
      out.push_back(next);
      if (i + 1 < n) logits = model(next, &cache);
    }
    const auto pred = at::cat(out, 1);
    const auto correct = (pred == truth);
    // Teacher-forced loss on the answer positions, for comparison with the training loss.
    const auto full = model(seq.narrow(1, 0, seq.size(1) - 1)).narrow(1, n, n).to(at::kFloat);
    const double loss = at::cross_entropy_loss(full.reshape({-1, full.size(-1)}), truth.reshape({-1})).item<double>();
    return {{"exact_match", correct.all(1).to(at::kFloat).mean().item<double>()},
            {"token_accuracy", correct.to(at::kFloat).mean().item<double>()},
            {"eval_loss", loss}};
  }

  SortTask task_;
  int64_t batch_size_ = 64, eval_size_ = 1000;
  TransformerConfig model_cfg_;
  TrainOptions train_;
};

}  // namespace

std::unique_ptr<Experiment> make_digit_sort() { return std::make_unique<DigitSort>(); }

}  // namespace beyond
