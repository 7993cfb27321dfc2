// parallel_decoding: ParallelBench-style synthetic tasks (experiments/diffusion/parallel_tasks.h)
// with one tiny masked-diffusion model.
//
// Training: a bidirectional LanguageModel on a uniform mixture of the tasks, MaskedDiffusionObjective
// with the prompt and the format tokens never masked ("maskable" = the answer's item slots).
//
// Evaluation on eval.per_task held-out examples per task (n cycling over min_items..max_items),
// each (task, n) group decoded as one batch by diffusion_generate, with these decoders:
//   k{k}_random       llada, steps = ceil(n / k), remasking "random", temperature 1: every committed
//                     token is a sample from its marginal, positions in random order
//   k{k}_confidence   llada, steps = ceil(n / k), remasking "low-confidence", temperature 0 (greedy)
//   threshold{g}      Fast-dLLM's threshold rule at g, temperature 0; its tokens per step is measured
// k is "at most k": a list of n < k items is committed in one step of n.
//
// summary.json, for every task T and decoder D:
//   T_D_accuracy         fraction of answers the task's checker accepts
//   T_D_mixture_rate     fraction of answers that are invalid mixtures (wrong, every token plausible)
//   T_D_closed_form      a perfect model's accuracy under the same decoder (parallel_tasks.h),
//                        averaged over the held-out n
//   T_D_tokens_per_step  item tokens committed per denoising step of a row, over all rows
//                        (total tokens / total row-steps)
// plus mean_D_accuracy (over the tasks), parameters, eval_examples_per_task, and the training-time
// quick check quick_T_accuracy (k = 1, confidence order, on eval.quick examples per task).
#include "experiments/diffusion/parallel_decoding.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <cstdio>
#include <map>

#include "core/checkpoint.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "diffusion/denoiser.h"
#include "diffusion/objective.h"
#include "diffusion/sampler.h"
#include "experiments/diffusion/parallel_tasks.h"
#include "experiments/runner.h"

namespace beyond {
namespace {

using parallel::Example;
using parallel::Task;

std::string gamma_text(int64_t percent) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(percent) / 100.0);
  return buf;
}

struct Decoder {
  std::string name;      // k2_random, k4_confidence, threshold0.9
  std::string method;    // llada | threshold
  std::string remasking;
  double temperature = 0;
  int64_t k = 0;         // llada: tokens per step
  double gamma = 0;      // threshold
};

struct Score {
  int64_t examples = 0, correct = 0, mixtures = 0, tokens = 0, row_steps = 0;
  double closed_form = 0;  // summed over examples
  std::string mixture_sample;  // one invalid mixture, rendered, when there was one
  double accuracy() const { return examples ? static_cast<double>(correct) / static_cast<double>(examples) : 0.0; }
  double mixture_rate() const { return examples ? static_cast<double>(mixtures) / static_cast<double>(examples) : 0.0; }
  double closed() const { return examples ? closed_form / static_cast<double>(examples) : 0.0; }
  double tokens_per_step() const {
    return row_steps ? static_cast<double>(tokens) / static_cast<double>(row_steps) : 0.0;
  }
};

at::Tensor to_tensor(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
}

class ParallelDecoding : public Experiment {
 public:
  void configure(Config& c) override {
    parallel::TaskOptions topt;
    topt.min_items = c.get_int("task.min_items", 4, 2, 25);
    topt.max_items = c.get_int("task.max_items", 8, 2, 25);
    if (topt.max_items < topt.min_items) throw c.error("task.max_items", "task.max_items must be >= task.min_items");
    std::vector<std::string> all;
    for (Task t : parallel::all_tasks()) all.push_back(parallel::task_name(t));
    const auto names = c.get_string_list("task.tasks", all);
    topt.tasks.clear();
    for (const auto& n : names) {
      try {
        topt.tasks.push_back(parallel::task_from_name(n));
      } catch (const InputError& e) {
        throw c.error("task.tasks", e.what());
      }
    }
    if (topt.tasks.empty()) throw c.error("task.tasks", "task.tasks is empty");
    tasks_ = std::make_unique<parallel::ParallelTasks>(topt);

    batch_ = c.get_int("train.batch_size", 64, 1, 1 << 16);
    diffusion_ = MaskedDiffusionOptions::from_config(c);
    if (diffusion_.random_length_prob > 0)
      throw c.error("diffusion.random_length_prob", "the task layout has a fixed length: keep random_length_prob = 0");
    per_task_ = c.get_int("eval.per_task", 200, 1, 1 << 20);
    quick_ = c.get_int("eval.quick", 32, 0, 1 << 20);
    eval_batch_ = c.get_int("eval.batch_size", 256, 1, 1 << 16);
    ks_ = c.get_int_list("eval.tokens_per_step", {1, 2, 4, 8}, 1, 1024);
    gammas_ = c.get_int_list("eval.threshold_percent", {50, 70, 90, 95}, 1, 100);
    eval_seed_ = c.get_int("eval.seed", 1234, 0);

    TransformerConfig defaults;
    defaults.vocab_size = parallel::ParallelTasks::vocab_size();
    defaults.max_seq_len = tasks_->seq_len();
    defaults.causal = false;
    model_cfg_ = TransformerConfig::from_config(c, "model", defaults);
    if (model_cfg_.causal) throw c.error("model.causal", "masked diffusion needs a bidirectional model: model.causal = false");
    if (model_cfg_.vocab_size < parallel::ParallelTasks::vocab_size())
      throw c.error("model.vocab_size", "model.vocab_size must be >= " + std::to_string(parallel::kVocabSize));
    if (model_cfg_.max_seq_len < tasks_->seq_len())
      throw c.error("model.max_seq_len", "model.max_seq_len must be >= " + std::to_string(tasks_->seq_len()) +
                                             " (4 task.max_items + 4)");
    train_ = TrainOptions::from_config(c);

    decoders_.clear();
    for (const char* order : {"random", "confidence"}) {
      for (int64_t k : ks_) {
        Decoder d;
        d.name = "k" + std::to_string(k) + "_" + order;
        d.method = "llada";
        d.remasking = std::string(order) == "random" ? "random" : "low-confidence";
        d.temperature = std::string(order) == "random" ? 1.0 : 0.0;
        d.k = k;
        decoders_.push_back(d);
      }
    }
    for (int64_t g : gammas_) {
      Decoder d;
      d.name = "threshold" + gamma_text(g);
      d.method = "threshold";
      d.remasking = "low-confidence";
      d.gamma = static_cast<double>(g) / 100.0;
      decoders_.push_back(d);
    }
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    make_held_out();
    LanguageModel model(model_cfg_);
    model->to(ctx.device);
    const int64_t n_params = count_parameters(*model);
    log::info("parallel_decoding: " + std::to_string(n_params) + " parameters, sequence " +
              std::to_string(tasks_->seq_len()) + ", " + std::to_string(tasks_->options().tasks.size()) + " tasks, " +
              std::to_string(tasks_->options().min_items) + ".." + std::to_string(tasks_->options().max_items) +
              " items");
    MaskedDiffusionObjective objective(model, parallel::kMask, diffusion_);

    const int64_t T = tasks_->seq_len();
    const auto batch = [&](int64_t step, int64_t micro) {
      const uint64_t s = batch_seed(seed, step, micro);
      std::mt19937_64 rng(s);
      std::vector<int64_t> tokens;
      std::vector<uint8_t> maskable(static_cast<size_t>(batch_ * T), 0);
      for (int64_t b = 0; b < batch_; ++b) {
        const Example ex = tasks_->sample(rng);
        tokens.insert(tokens.end(), ex.tokens.begin(), ex.tokens.end());
        for (int64_t p : ex.slots) maskable[static_cast<size_t>(b * T + p)] = 1;
      }
      return Batch{{"tokens", at::tensor(tokens, at::kLong).view({batch_, T}).to(ctx.device)},
                   {"maskable", at::tensor(maskable, at::kByte).view({batch_, T}).to(at::kBool).to(ctx.device)},
                   {"seed", at::scalar_tensor(static_cast<int64_t>(s >> 1), at::kLong)}};
    };
    const auto evaluate = [&]() {
      Metrics m;
      if (quick_ == 0) return m;
      ModelDenoiser denoiser(model, /*prefix_cache=*/false);
      Decoder d{"k1_confidence", "llada", "low-confidence", 0.0, 1, 0.0};
      double sum = 0;
      for (Task t : tasks_->options().tasks) {
        const auto& all = held_out_.at(t);
        const std::vector<Example> few(all.begin(), all.begin() + std::min<int64_t>(quick_, all.size()));
        const double acc = decode(denoiser, d, t, few, ctx.device).accuracy();
        m["quick_" + parallel::task_name(t) + "_accuracy"] = acc;
        sum += acc;
      }
      m["quick_mean_accuracy"] = sum / static_cast<double>(tasks_->options().tasks.size());
      return m;
    };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    if (train_.ema > 0) load_evaluation_weights(*model, ctx.dir->checkpoints());
    m["parameters"] = static_cast<double>(n_params);
    m["eval_examples_per_task"] = static_cast<double>(per_task_);
    params_ = n_params;

    const auto t0 = std::chrono::steady_clock::now();
    ModelDenoiser denoiser(model, /*prefix_cache=*/false);
    scores_.clear();
    for (const auto& d : decoders_) {
      double sum = 0;
      for (Task t : tasks_->options().tasks) {
        const Score s = decode(denoiser, d, t, held_out_.at(t), ctx.device);
        const std::string key = parallel::task_name(t) + "_" + d.name;
        m[key + "_accuracy"] = s.accuracy();
        m[key + "_mixture_rate"] = s.mixture_rate();
        m[key + "_closed_form"] = s.closed();
        m[key + "_tokens_per_step"] = s.tokens_per_step();
        sum += s.accuracy();
        scores_[{t, d.name}] = s;
      }
      m["mean_" + d.name + "_accuracy"] = sum / static_cast<double>(tasks_->options().tasks.size());
      log::info("decoder " + d.name + ": mean accuracy " + fixed(m["mean_" + d.name + "_accuracy"]));
    }
    m["decode_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report_ = report();
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  void make_held_out() {
    held_out_.clear();
    const auto& o = tasks_->options();
    for (Task t : o.tasks) {
      std::mt19937_64 rng(mix_seed(static_cast<uint64_t>(eval_seed_) * 31 + static_cast<uint64_t>(t)));
      auto& v = held_out_[t];
      for (int64_t i = 0; i < per_task_; ++i)
        v.push_back(tasks_->make(t, o.min_items + i % (o.max_items - o.min_items + 1), rng));
    }
  }


  // Decodes the examples of one task with one decoder, a batch per item count.
  Score decode(Denoiser& denoiser, const Decoder& d, Task task, const std::vector<Example>& examples,
               c10::Device device) const {
    std::map<size_t, std::vector<const Example*>> groups;
    for (const auto& ex : examples) groups[ex.slots.size()].push_back(&ex);
    Score s;
    for (const auto& [n, group] : groups) {
      for (size_t from = 0; from < group.size(); from += static_cast<size_t>(eval_batch_)) {
        const size_t to = std::min(group.size(), from + static_cast<size_t>(eval_batch_));
        std::vector<std::vector<int64_t>> rows;
        for (size_t i = from; i < to; ++i) rows.push_back(tasks_->masked_tokens(*group[i]));
        DiffusionSamplerOptions o;
        o.method = d.method;
        o.remasking = d.remasking;
        o.temperature = d.temperature;
        o.threshold = d.gamma > 0 ? d.gamma : 0.9;
        o.steps = d.k > 0 ? std::max<int64_t>(1, (static_cast<int64_t>(n) + d.k - 1) / d.k) : 1;
        o.seed = mix_seed(static_cast<uint64_t>(eval_seed_) ^ mix_seed(std::hash<std::string>{}(d.name)) ^
                          mix_seed(static_cast<uint64_t>(task) * 131 + n * 7 + from));
        std::vector<int64_t> row_steps(rows.size(), 0);
        const auto on_step = [&](const DiffusionStep& st) {
          const auto per_row = st.committed.sum(1).cpu();
          for (size_t b = 0; b < rows.size(); ++b) row_steps[b] += per_row[static_cast<int64_t>(b)].item<int64_t>() > 0;
        };
        const auto r = diffusion_generate(denoiser, to_tensor(rows).to(device), tasks_->region_start(), parallel::kMask,
                                          o, on_step);
        const auto out = r.tokens.cpu().contiguous();
        const int64_t T = out.size(1);
        const int64_t* p = out.data_ptr<int64_t>();
        const auto sched = d.k > 0 ? parallel::schedule_for(static_cast<int64_t>(n), d.k) : std::vector<int64_t>{};
        for (size_t b = 0; b < rows.size(); ++b) {
          const Example& ex = *group[from + b];
          const std::vector<int64_t> seq(p + static_cast<int64_t>(b) * T, p + static_cast<int64_t>(b + 1) * T);
          const auto items = parallel::answer_items(ex, seq);
          const auto v = parallel::check(ex, items);
          s.examples++;
          s.correct += v.correct;
          s.mixtures += v.mixture;
          if (v.mixture && s.mixture_sample.empty()) s.mixture_sample = parallel::render(seq);
          s.tokens += static_cast<int64_t>(n);
          s.row_steps += row_steps[b];
          const int64_t count = static_cast<int64_t>(ex.input.size());
          s.closed_form += d.k > 0 ? parallel::closed_form_accuracy(task, count, sched, d.temperature > 0)
                                   : parallel::closed_form_threshold_accuracy(task, count, d.gamma);
        }
      }
    }
    return s;
  }

  const Score& score(Task t, const std::string& decoder) const { return scores_.at({t, decoder}); }

  std::string accuracy_table(const std::string& order) const {
    std::string md = "| task |";
    std::string sep = "|---|";
    for (int64_t k : ks_) md += " k=" + std::to_string(k) + " |", sep += "---|";
    md += "\n" + sep + "\n";
    for (Task t : tasks_->options().tasks) {
      md += "| " + parallel::task_name(t) + " |";
      for (int64_t k : ks_) {
        const auto& s = score(t, "k" + std::to_string(k) + "_" + order);
        md += " " + fixed(s.accuracy()) + " (" + fixed(s.closed()) + ") |";
      }
      md += "\n";
    }
    Task list_task = tasks_->options().tasks.front();
    for (Task t : tasks_->options().tasks)
      if (t != Task::names) {
        list_task = t;
        break;
      }
    md += "| *tokens/step (" + parallel::task_name(list_task) + ")* |";
    for (int64_t k : ks_) md += " " + fixed(score(list_task, "k" + std::to_string(k) + "_" + order).tokens_per_step(), 2) + " |";
    return md + "\n";
  }

  std::string threshold_table() const {
    std::string md = "| task |", sep = "|---|";
    for (int64_t g : gammas_) md += " γ=" + gamma_text(g) + " |", sep += "---|";
    md += "\n" + sep + "\n";
    for (Task t : tasks_->options().tasks) {
      md += "| " + parallel::task_name(t) + " |";
      for (int64_t g : gammas_) {
        const auto& s = score(t, "threshold" + gamma_text(g));
        md += " " + fixed(s.accuracy()) + " @ " + fixed(s.tokens_per_step(), 2) + " (" + fixed(s.closed()) + ") |";
      }
      md += "\n";
    }
    return md;
  }

  std::string mixture_table() const {
    std::string md = "| decoder |", sep = "|---|";
    std::vector<Task> shown;
    for (Task t : tasks_->options().tasks)
      if (t == Task::shuffle || t == Task::replace_random || t == Task::names) shown.push_back(t);
    for (Task t : shown) md += " " + parallel::task_name(t) + " |", sep += "---|";
    md += "\n" + sep + "\n";
    for (const auto& d : decoders_) {
      md += "| " + d.name + " |";
      for (Task t : shown) md += " " + fixed(score(t, d.name).mixture_rate()) + " |";
      md += "\n";
    }
    return shown.empty() ? "" : md;
  }

  bool has(Task t, const std::string& decoder) const { return scores_.count({t, decoder}) > 0; }

  // Sentences on what the numbers show, from the numbers.
  std::string findings() const {
    std::string md;
    const auto line = [&](const std::string& s) { md += "- " + s + "\n"; };
    const int64_t kmax_value = ks_.empty() ? 1 : *std::max_element(ks_.begin(), ks_.end());
    const std::string kmax = "k" + std::to_string(kmax_value), kmax_text = "k=" + std::to_string(kmax_value);
    // C = 0 tasks.
    for (Task t : {Task::copy, Task::reverse, Task::sort}) {
      if (!has(t, "k1_confidence") || !has(t, kmax + "_confidence")) continue;
      line(parallel::task_name(t) + " (one right answer, C = 0): " + fixed(score(t, "k1_confidence").accuracy()) +
           " at one token per step, " + fixed(score(t, kmax + "_confidence").accuracy()) + " at " + kmax_text +
           " (confidence order, greedy); a perfect model stays at 1 for every k.");
    }
    if (has(Task::shuffle, "k2_random")) {
      const auto& s = score(Task::shuffle, "k2_random");
      std::string l = "shuffle at k=2, random order, temperature 1: " + fixed(s.accuracy()) + " against the closed form " +
                      fixed(s.closed()) + " (prod P(m,k)/m^k, averaged over n)";
      if (has(Task::shuffle, kmax + "_random"))
        l += "; at " + kmax_text + ": " + fixed(score(Task::shuffle, kmax + "_random").accuracy()) + " against " +
             fixed(score(Task::shuffle, kmax + "_random").closed());
      line(l + ". Independent per-token sampling repeats items: the mixture rate at k=2 is " + fixed(s.mixture_rate()) +
           ".");
    }
    if (has(Task::replace_random, "k2_confidence")) {
      const auto& s = score(Task::replace_random, "k2_confidence");
      line("replace_random, greedy confidence order at k=2: " + fixed(s.accuracy()) + " against the closed form " +
           fixed(s.closed()) + " (0.5 for even n, 1 for odd n, where the last step commits one slot); invalid mixtures " +
           fixed(s.mixture_rate()) + ".");
    }
    if (has(Task::names, "k2_random")) {
      const auto& s = score(Task::names, "k2_random");
      std::string l = "names: both words in one step at temperature 1 give " + fixed(s.accuracy()) +
                      " valid names and " + fixed(s.mixture_rate()) + " invalid mixtures (closed form " +
                      fixed(s.closed()) + " valid)";
      if (!s.mixture_sample.empty()) l += ", e.g. `" + s.mixture_sample + "`";
      if (has(Task::names, "k2_confidence"))
        l += "; greedy: " + fixed(score(Task::names, "k2_confidence").accuracy()) + " (closed form " +
             fixed(score(Task::names, "k2_confidence").closed()) + ", always \"New City\")";
      if (has(Task::names, "k1_random")) l += "; one word per step: " + fixed(score(Task::names, "k1_random").accuracy());
      line(l + ".");
    }
    for (int64_t g : gammas_) {
      if (g <= 50) continue;
      const std::string d = "threshold" + gamma_text(g);
      if (!has(Task::shuffle, d)) continue;
      line("threshold γ=" + gamma_text(g) + ": shuffle " + fixed(score(Task::shuffle, d).accuracy()) + " at " +
           fixed(score(Task::shuffle, d).tokens_per_step(), 2) + " tokens/step (a perfect model: 1 at 1 token/step)" +
           (has(Task::copy, d) ? ", copy " + fixed(score(Task::copy, d).accuracy()) + " at " +
                                     fixed(score(Task::copy, d).tokens_per_step(), 2) + " tokens/step"
                               : "") +
           ".");
      break;
    }
    // A task the model decodes badly even one token per step (where a perfect model is exact) was
    // not learned: its fall with k measures the model, not parallel decoding.
    std::string unlearned;
    for (Task t : tasks_->options().tasks) {
      if (!has(t, "k1_random") || !has(t, "k1_confidence")) continue;
      const double best = std::max(score(t, "k1_random").accuracy(), score(t, "k1_confidence").accuracy());
      if (best < 0.8) unlearned += (unlearned.empty() ? "" : ", ") + parallel::task_name(t) + " (" + fixed(best) + ")";
    }
    if (!unlearned.empty())
      line("not learned at this budget (best accuracy at one token per step below 0.8, where a perfect model is "
           "exact): " + unlearned + "; their rows measure the model, not parallel decoding.");
    return md;
  }

  std::string report() const {
    const auto& o = tasks_->options();
    std::string md = "Model: " + std::to_string(params_) + " parameters, bidirectional, d_model " +
                     std::to_string(model_cfg_.d_model) + ", " + std::to_string(model_cfg_.n_layers) +
                     " layers. Tasks: lists of " + std::to_string(o.min_items) + ".." + std::to_string(o.max_items) +
                     " distinct letters, " + std::to_string(per_task_) +
                     " held-out examples per task. Cells: model accuracy (closed form of a perfect model, averaged "
                     "over the held-out list lengths). k is at most k tokens per step: steps = ceil(n / k), "
                     "LLaDA's even transfer schedule; names has two slots.\n\n";
    md += "## What this run shows\n\n" + findings() + "\n";
    md += "## Random order, temperature 1 (each token sampled from its own marginal)\n\n" + accuracy_table("random");
    md += "\n## Confidence order, greedy (temperature 0)\n\nClosed forms assume that equal probabilities are broken "
          "uniformly at random per slot (the temperature -> 0+ limit); a trained model never ties exactly.\n\n" +
          accuracy_table("confidence");
    if (!gammas_.empty())
      md += "\n## Confidence threshold (Fast-dLLM), greedy\n\nCells: accuracy @ mean tokens per step (closed form).\n\n" +
            threshold_table();
    const std::string mix = mixture_table();
    if (!mix.empty())
      md += "\n## Invalid mixtures (wrong answers whose every token is plausible at its slot)\n\n" + mix;
    for (Task t : o.tasks) {
      for (const auto& d : decoders_) {
        const auto& s = score(t, d.name);
        if (s.mixture_sample.empty() || t == Task::copy) continue;
        md += "\nAn invalid mixture from " + parallel::task_name(t) + " with " + d.name + ": `" + s.mixture_sample + "`\n";
        break;
      }
    }
    return md;
  }

  std::unique_ptr<parallel::ParallelTasks> tasks_;
  MaskedDiffusionOptions diffusion_;
  TransformerConfig model_cfg_;
  TrainOptions train_;
  int64_t batch_ = 64, per_task_ = 200, quick_ = 32, eval_batch_ = 256, eval_seed_ = 1234, params_ = 0;
  std::vector<int64_t> ks_, gammas_;
  std::vector<Decoder> decoders_;
  std::map<Task, std::vector<Example>> held_out_;
  std::map<std::pair<Task, std::string>, Score> scores_;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_parallel_decoding() { return std::make_unique<ParallelDecoding>(); }

}  // namespace beyond
