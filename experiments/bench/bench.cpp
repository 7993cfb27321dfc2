#include "experiments/bench/bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "autoregressive/generate.h"
#include "autoregressive/lm_objective.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "core/trainer.h"
#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"
#include "experiments/runner.h"
#include "experiments/text/text_model.h"
#include "recursive/deep_supervision.h"
#include "recursive/trm.h"

namespace beyond {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}

std::string format_number(const char* format, double x) {
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), format, x);
  return buf.data();
}

// The anchor: nanoGPT's GPT-2 recipe at shakespeare_char scale. ar_reference.py builds the same.
TransformerConfig anchor_config(int64_t max_seq_len) {
  TransformerConfig c;
  c.vocab_size = 65;
  c.d_model = 128;
  c.n_layers = 4;
  c.n_heads = 4;
  c.max_seq_len = max_seq_len;
  c.positional = "learned";
  c.norm = "layernorm";
  c.bias = true;
  c.mlp = "gelu";
  c.mlp_ratio = 4.0;
  c.tie_embeddings = true;
  c.dropout = 0.0;
  return c;
}

std::string describe(const TransformerConfig& c) {
  return "GPT-2 style LM (vocab " + std::to_string(c.vocab_size) + ", d_model " + std::to_string(c.d_model) + ", " +
         std::to_string(c.n_layers) + " layers, " + std::to_string(c.n_heads) + " heads, max_seq_len " +
         std::to_string(c.max_seq_len) + ", learned positions, layernorm, gelu, tied)";
}

// Runs experiments/bench/reference/<script> with `args` and returns the JSON object it prints
// last; otherwise sets `why` (no Python, no torch, a crash) and returns nothing.
std::optional<nlohmann::json> run_reference(const std::string& script_name, const std::string& args,
                                            std::string& why) {
  const std::string python = BEYOND_PYTHON;
  if (python.empty()) {
    why = "no Python configured (BEYOND_PYTHON is empty)";
    return std::nullopt;
  }
  const std::string script = std::string(BEYOND_SOURCE_DIR) + "/experiments/bench/reference/" + script_name;
  const std::string cmd = shell_quote(python) + " " + shell_quote(script) + " " + args + " 2>&1";
  std::fflush(stdout);
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) {
    why = "could not start " + python;
    return std::nullopt;
  }
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = ::pclose(pipe);

  std::optional<nlohmann::json> result;
  std::string last_text;  // the last non-JSON line: the likeliest reason when there is no result
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind('{', 0) == 0) {
      try {
        result = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        last_text = line;
      }
    } else if (!line.empty()) {
      last_text = line;
    }
  }
  if (result && result->contains("error")) {
    why = (*result)["error"].get<std::string>();
    return std::nullopt;
  }
  if (!result) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    why = python + " exited with status " + std::to_string(code) + (last_text.empty() ? "" : ": " + last_text);
    return std::nullopt;
  }
  return result;
}

// beyond's SwiGLU width for a ratio of `width` (TransformerConfig::mlp_hidden, BlockImpl's mixer).
int64_t swiglu_hidden(double ratio, int64_t width) {
  return (static_cast<int64_t>(std::llround(ratio * static_cast<double>(width))) + 7) / 8 * 8;
}

std::string describe_trm(const TRMConfig& t) {
  const auto& n = t.net;
  std::string mixer;
  if (n.mixer == "mlp_t") {
    mixer = "mlp_t mixer (SwiGLU over the " + std::to_string(n.max_seq_len) + " cells, hidden " +
            std::to_string(swiglu_hidden(n.mlp_ratio, n.max_seq_len)) + ")";
  } else {
    mixer = "attention (" + std::to_string(n.n_heads) + " heads of " + std::to_string(n.dim_per_head()) +
            (n.kv_heads() != n.n_heads ? ", " + std::to_string(n.kv_heads()) + " kv heads" : std::string()) + ", " +
            (n.rope_dims() > 0 ? "RoPE" : "no positions") + ")";
  }
  return "TRM, " + std::to_string(n.n_layers) + " blocks of d_model " + std::to_string(n.d_model) + ": " + mixer +
         ", " + n.mlp + " " + std::to_string(n.mlp_hidden()) + ", " + n.norm_placement + "-norm " + n.norm +
         (n.norm_scale ? "" : " without scale") + "; seq_len " + std::to_string(n.max_seq_len) + ", vocab " +
         std::to_string(n.vocab_size) + "; T=" + std::to_string(t.h_cycles) + " n=" + std::to_string(t.l_cycles) +
         (t.one_step_gradient ? " (one-step gradient)" : "") + " N_sup=" + std::to_string(t.halt_max_steps) +
         (t.act_continue ? " with ACT continue" : "");
}

// What trm_reference.py needs to build the same model and step (it checks the knobs it implements).
nlohmann::json trm_spec(const TRMConfig& t, const TrainOptions& train, int64_t warmup) {
  const auto& n = t.net;
  return {{"vocab_size", n.vocab_size}, {"seq_len", n.max_seq_len}, {"d_model", n.d_model},
          {"n_layers", n.n_layers}, {"n_heads", n.n_heads}, {"n_kv_heads", n.kv_heads()},
          {"head_dim", n.dim_per_head()}, {"mixer", n.mixer}, {"mlp", n.mlp}, {"mlp_ratio", n.mlp_ratio},
          {"norm", n.norm}, {"norm_scale", n.norm_scale}, {"norm_eps", n.norm_eps},
          {"norm_placement", n.norm_placement}, {"qk_norm", n.qk_norm},
          {"positional", n.rope_dims() > 0 ? std::string("rope") : n.positional}, {"rope_theta", n.rope_theta},
          {"causal", n.causal}, {"sliding_window", n.sliding_window}, {"dropout", n.dropout},
          {"tie_embeddings", n.tie_embeddings}, {"bias", n.bias}, {"embedding_scale", n.embedding_scale},
          {"h_cycles", t.h_cycles}, {"l_cycles", t.l_cycles}, {"halt_max_steps", t.halt_max_steps},
          {"one_step_gradient", t.one_step_gradient}, {"act_continue", t.act_continue},
          {"beta1", train.adamw.beta1}, {"beta2", train.adamw.beta2},
          {"eps", train.adamw.eps}, {"weight_decay", train.adamw.weight_decay}, {"atan2", train.adamw.atan2},
          {"grad_clip", train.grad_clip}, {"ema", train.ema}, {"precision", train.precision}, {"warmup", warmup}};
}

// The C++ / Python ratio of median step times, when the reference built the same model.
int print_speed_ratio(const nlohmann::json& py, int64_t cpp_params, double cpp_median) {
  if (py["params"].get<int64_t>() != cpp_params) {
    std::printf("error: parameter counts differ, so the reference is not the same model; no ratio\n");
    return 1;
  }
  std::printf("C++ / Python eager: %.2fx steps per second (median step times; target >= 1.3x)\n",
              py["median_ms"].get<double>() / cpp_median);
  return 0;
}

}  // namespace

int bench_ar_train(const BenchArgs& args) {
  at::set_num_threads(args.threads);
  constexpr int64_t kBatch = 12, kBlock = 64;
  constexpr double kLr = 1e-3, kClip = 1.0;
  torch::manual_seed(0);
  const auto cfg = anchor_config(kBlock);
  LanguageModel model(cfg);
  model->train();
  NextTokenObjective objective(model);
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> params;
  for (const auto& p : model->named_parameters()) {
    named.emplace_back(p.key(), p.value());
    params.push_back(p.value());
  }
  AdamW adamw(named, AdamW::Options{.beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1});

  std::printf("ar-train: %s\n", describe(cfg).c_str());
  std::printf("step: batch %lldx%lld random tokens, forward + cross-entropy + backward + clip_grad_norm(%.1f) + AdamW "
              "(lr %g, betas 0.9/0.99, wd 0.1 on >=2-D params); %lld steps after %lld warm-up, %d thread(s)\n",
              static_cast<long long>(kBatch), static_cast<long long>(kBlock), kClip, kLr,
              static_cast<long long>(args.steps), static_cast<long long>(args.warmup), args.threads);

  // Batches are drawn up front so that only the step is timed; the reference does the same.
  const int64_t total = args.warmup + args.steps;
  std::vector<Batch> batches;
  for (int64_t i = 0; i < total; ++i) {
    const auto t = at::randint(0, cfg.vocab_size, {kBatch, kBlock + 1}, at::kLong);
    batches.push_back(
        {{"inputs", t.narrow(1, 0, kBlock).contiguous()}, {"targets", t.narrow(1, 1, kBlock).contiguous()}});
  }
  // The Trainer's step, without its logging and checkpoints. Phases are timed too (CPU ops run
  // synchronously), to show where the two sides differ.
  std::vector<double> step_ms;
  std::array<std::vector<double>, 4> phase_ms;  // forward (with zero_grad and loss), backward, clip, adamw
  double loss_value = 0.0;
  for (int64_t i = 0; i < total; ++i) {
    std::array<Clock::time_point, 5> t;
    t[0] = Clock::now();
    adamw.zero_grad();
    const auto loss = objective.loss(batches[static_cast<size_t>(i)]).loss;
    t[1] = Clock::now();
    loss.backward();
    loss_value = loss.item<double>();
    t[2] = Clock::now();
    clip_grad_norm(params, kClip);
    t[3] = Clock::now();
    adamw.step(kLr);
    t[4] = Clock::now();
    if (i < args.warmup) continue;
    step_ms.push_back(1e3 * std::chrono::duration<double>(t[4] - t[0]).count());
    for (size_t k = 0; k < 4; ++k) phase_ms[k].push_back(1e3 * std::chrono::duration<double>(t[k + 1] - t[k]).count());
  }
  const int64_t cpp_params = count_parameters(*model);

  std::string why;
  const auto py = run_reference("ar_reference.py", "train --steps " + std::to_string(args.steps) + " --warmup " +
                                    std::to_string(args.warmup) + " --threads " + std::to_string(args.threads),
                                why);
  std::printf("parameters: C++ %lld", static_cast<long long>(cpp_params));
  if (py) std::printf(", Python %lld", static_cast<long long>((*py)["params"].get<int64_t>()));
  // Same seed, same order of draws: both sides start from the same weights and see the same
  // batches, so equal losses show that the reference computes the same step.
  std::printf(" (init and batches from seed 0 on both sides: the losses should agree)\n\n");

  std::printf("%-32s %10s %8s %8s %8s %8s %8s %8s %8s\n", "implementation (ms; medians)", "step", "mean", "steps/s",
              "forward", "backward", "clip", "adamw", "loss");
  const auto row = [](const std::string& name, double med, double avg, const std::array<double, 4>& phases,
                      double loss) {
    std::printf("%-32s %10.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.4f\n", name.c_str(), med, avg, 1e3 / med,
                phases[0], phases[1], phases[2], phases[3], loss);
  };
  const double cpp_median = median(step_ms);
  row("C++ (LibTorch)", cpp_median, mean(step_ms),
      {median(phase_ms[0]), median(phase_ms[1]), median(phase_ms[2]), median(phase_ms[3])}, loss_value);
  if (!py) {
    std::printf("\nPython reference unavailable: %s\n", why.c_str());
    return 0;
  }
  const auto& ph = (*py)["phases_ms"];
  const double py_median = (*py)["median_ms"].get<double>();
  row("Python eager (torch " + (*py)["torch"].get<std::string>() + ")", py_median, (*py)["mean_ms"].get<double>(),
      {ph["forward"].get<double>(), ph["backward"].get<double>(), ph["clip"].get<double>(), ph["adamw"].get<double>()},
      (*py)["loss"].get<double>());
  std::printf("\n");
  return print_speed_ratio(*py, cpp_params, cpp_median);
}

int bench_ar_generate(const BenchArgs& args) {
  at::set_num_threads(args.threads);
  constexpr int64_t kMaxSeqLen = 1280;  // 1024 new tokens fit without cutting the window
  constexpr int64_t kRepeats = 3;
  const std::array<int64_t, 2> lengths{256, 1024};
  torch::manual_seed(0);
  const auto cfg = anchor_config(kMaxSeqLen);
  LanguageModel model(cfg);
  model->eval();

  std::printf("ar-generate: %s\n", describe(cfg).c_str());
  std::printf("batch 1, a 1-token prompt, temperature 1 (seed 1), random init weights; median of %lld runs "
              "(recompute at %lld tokens: 1 run), %d thread(s)\n",
              static_cast<long long>(kRepeats), static_cast<long long>(lengths.back()), args.threads);

  const auto tokens_per_s = [&](int64_t new_tokens, bool use_cache) {
    GenerateOptions opt;
    opt.max_new_tokens = new_tokens;
    opt.sampling.temperature = 1.0;
    opt.seed = 1;
    opt.use_cache = use_cache;
    const auto t0 = Clock::now();
    const auto out = generate(model, {{0}}, opt);
    return static_cast<double>(out.tokens_generated) / seconds_since(t0);
  };
  tokens_per_s(32, true);  // warm-up: first-call allocations and lazy initialisation
  tokens_per_s(32, false);

  struct Row {
    int64_t new_tokens;
    bool cache;
    double cpp;
    double py = std::nan("");
  };
  std::vector<Row> rows;
  for (int64_t n : lengths) {
    for (bool cache : {true, false}) {
      std::vector<double> runs;
      // Recomputing 1024 tokens takes tens of seconds per run and varies little: one run.
      const int64_t repeats = cache || n < lengths.back() ? kRepeats : 1;
      for (int64_t r = 0; r < repeats; ++r) runs.push_back(tokens_per_s(n, cache));
      rows.push_back({n, cache, median(runs)});
    }
  }

  std::string why;
  const auto py = run_reference("ar_reference.py", "generate --threads " + std::to_string(args.threads) + " --repeats " +
                                    std::to_string(kRepeats) + " --lengths " + std::to_string(lengths[0]) + " " +
                                    std::to_string(lengths[1]),
                                why);
  if (py) {
    for (const auto& run : (*py)["runs"]) {
      for (auto& row : rows) {
        if (row.new_tokens == run["new_tokens"].get<int64_t>() && row.cache == run["cache"].get<bool>())
          row.py = run["tokens_per_s"].get<double>();
      }
    }
    std::printf("parameters: C++ %lld, Python %lld\n", static_cast<long long>(count_parameters(*model)),
                static_cast<long long>((*py)["params"].get<int64_t>()));
  } else {
    std::printf("parameters: C++ %lld\n", static_cast<long long>(count_parameters(*model)));
  }
  if (py && (*py)["params"].get<int64_t>() != count_parameters(*model)) {
    std::printf("error: parameter counts differ, so the reference is not the same model\n");
    return 1;
  }
  std::printf("\n%-11s %-9s %14s %16s %13s\n", "new tokens", "KV cache", "C++ tokens/s", "Python tokens/s",
              "C++ / Python");
  for (const auto& r : rows) {
    const bool has_py = !std::isnan(r.py);
    std::printf("%-11lld %-9s %14.1f %16s %13s\n", static_cast<long long>(r.new_tokens), r.cache ? "on" : "off", r.cpp,
                has_py ? format_number("%.1f", r.py).c_str() : "-",
                has_py ? format_number("%.2fx", r.cpp / r.py).c_str() : "-");
  }
  std::printf("\n");
  if (!py) std::printf("Python reference unavailable: %s\n", why.c_str());
  // rows: (256 on, 256 off, 1024 on, 1024 off)
  for (size_t i = 0; i < rows.size(); i += 2) {
    std::printf("C++ KV cache / recompute at %lld tokens: %.2fx tokens per second%s\n",
                static_cast<long long>(rows[i].new_tokens), rows[i].cpp / rows[i + 1].cpp,
                rows[i].new_tokens == 1024 ? " (target >= 5x)" : "");
  }
  if (py) {
    for (size_t i = 0; i < rows.size(); i += 2) {
      std::printf("Python KV cache / recompute at %lld tokens: %.2fx tokens per second\n",
                  static_cast<long long>(rows[i].new_tokens), rows[i].py / rows[i + 1].py);
    }
  }
  return 0;
}

int bench_trm_step(const BenchArgs& args) {
  at::set_num_threads(args.threads);
  const std::string path = args.config.empty()
                               ? std::string(BEYOND_SOURCE_DIR) + "/experiments/configs/sudoku9_trm.toml"
                               : args.config;
  Config c = Config::load(path, args.overrides);
  // The sudoku experiment's shapes: size^2 cells over size + 2 tokens.
  const int64_t size = c.get_int("task.size", 9, 4, 9);
  if (c.get_string("model.kind", "trm") != "trm") throw c.error("model.kind", "trm-step benchmarks TRM only");
  const TRMConfig cfg = TRMConfig::from_config(c, size * size, size + 2);
  const int64_t B = c.get_int("train.batch_size", 64, 1, 1 << 16);
  const TrainOptions train = TrainOptions::from_config(c);
  // [model] and [train] are read here in full, so a misspelt key there or in an override stops
  // the bench; the other tables belong to the experiment.
  for (const char* table : {"run", "task", "eval", "data"}) c.allow_table(table);
  c.check_all_used();
  if (train.precision != "fp32") throw c.error("train.precision", "the bench runs fp32 only");
  const int64_t L = cfg.net.max_seq_len, V = cfg.net.vocab_size, total = args.warmup + args.steps;

  torch::manual_seed(0);
  TRM model(cfg);
  model->train();
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> params;
  for (const auto& p : model->named_parameters()) {
    named.emplace_back(p.key(), p.value());
    params.push_back(p.value());
  }
  const int64_t cpp_params = count_parameters(*model);

  // Every step's batch, drawn up front so that only the step is timed: random cells, and the
  // exploration minimum drawn as the experiment draws it (U{2..N_sup} with probability
  // halt_exploration, else 0). The halting schedule then matches a real run's start.
  const auto inputs = at::randint(0, V, {total, B, L}, at::kLong);
  const auto labels = at::randint(1, V, {total, B, L}, at::kLong);
  const auto explore = at::rand({total, B}) < cfg.halt_exploration;
  const auto draws = at::randint(2, std::max<int64_t>(cfg.halt_max_steps, 2) + 1, {total, B}, at::kLong);
  const auto min_steps = at::where(explore, draws, at::zeros_like(draws));
  std::vector<double> lrs;
  for (int64_t i = 0; i < total; ++i) lrs.push_back(train.schedule.at(i));
  std::vector<Batch> batches;
  for (int64_t i = 0; i < total; ++i)
    batches.push_back({{"inputs", inputs[i]}, {"labels", labels[i]}, {"min_steps", min_steps[i]}});

  // The reference starts from these weights and batches: written before the first step.
  TempDir tmp("trm_step");
  const std::string data_path = (tmp.path / "data.safetensors").string();
  {
    safetensors::Tensors out;
    for (const auto& [name, t] : module_state(*model)) out["model." + name] = t.detach();
    out["inputs"] = inputs;
    out["labels"] = labels;
    out["min_steps"] = min_steps;
    out["lr"] = at::tensor(lrs, at::kDouble);
    safetensors::save(data_path, out, {{"spec", trm_spec(cfg, train, args.warmup).dump()}});
  }

  std::printf("trm-step: %s\n", path.c_str());
  std::printf("model: %s; %lld parameters\n", describe_trm(cfg).c_str(), static_cast<long long>(cpp_params));
  const std::string ema_text = train.ema > 0 ? ", EMA " + format_number("%g", train.ema) : "";
  std::printf("step: batch %lld, one deep-supervision step as the Trainer runs it: carry refill, forward (%lld latent "
              "recursions of %lld z-updates + 1 y-update, the last with gradient), stable-max CE (float64) + 0.5 "
              "halt BCE, backward, clip_grad_norm(%g), %s (lr from the schedule, betas %g/%g, wd %g)%s\n",
              static_cast<long long>(B), static_cast<long long>(cfg.h_cycles), static_cast<long long>(cfg.l_cycles),
              train.grad_clip, train.adamw.atan2 ? "AdamATan2" : "AdamW", train.adamw.beta1, train.adamw.beta2,
              train.adamw.weight_decay, ema_text.c_str());
  std::printf("timing: %lld steps after %lld warm-up, %d thread(s), fp32\n", static_cast<long long>(args.steps),
              static_cast<long long>(args.warmup), args.threads);

  DeepSupervisionObjective objective(model.ptr());
  AdamW optimizer(named, train.adamw);
  std::unique_ptr<EMA> ema = train.ema > 0 ? std::make_unique<EMA>(named, train.ema) : nullptr;
  std::vector<double> step_ms, losses;
  std::array<std::vector<double>, 5> phase_ms;  // forward (with zero_grad, carry and loss), backward, clip, optimizer, ema
  for (int64_t i = 0; i < total; ++i) {
    std::array<Clock::time_point, 6> t;
    t[0] = Clock::now();
    optimizer.zero_grad();
    const auto out = objective.loss(batches[static_cast<size_t>(i)]);
    t[1] = Clock::now();
    out.loss.backward();
    losses.push_back(out.loss.item<double>());
    t[2] = Clock::now();
    clip_grad_norm(params, train.grad_clip);
    t[3] = Clock::now();
    optimizer.step(lrs[static_cast<size_t>(i)]);
    t[4] = Clock::now();
    if (ema) ema->update();
    t[5] = Clock::now();
    if (i < args.warmup) continue;
    step_ms.push_back(1e3 * std::chrono::duration<double>(t[5] - t[0]).count());
    for (size_t k = 0; k < 5; ++k) phase_ms[k].push_back(1e3 * std::chrono::duration<double>(t[k + 1] - t[k]).count());
  }

  std::string why;
  const auto py = run_reference("trm_reference.py",
                                "--data " + shell_quote(data_path) + " --threads " + std::to_string(args.threads), why);
  std::printf("parameters: C++ %lld", static_cast<long long>(cpp_params));
  if (py) std::printf(", Python %lld", static_cast<long long>((*py)["params"].get<int64_t>()));
  std::printf(" (the reference loads the C++ initial weights and the same batches); threads: C++ %d",
              at::get_num_threads());
  if (py) std::printf(", Python %d", (*py)["threads"].get<int>());
  std::printf("\n");
  std::vector<double> py_losses;
  if (py) py_losses = (*py)["losses"].get<std::vector<double>>();
  if (py && !py_losses.empty()) {
    // The first step is the check. Later steps drift apart from float rounding in the backward
    // pass: AdamATan2's first updates are sign-like, and the recursion amplifies small changes
    // (with train.lr=0 the losses of every step agree).
    double largest = 0.0;
    for (size_t i = 0; i < std::min(losses.size(), py_losses.size()); ++i)
      largest = std::max(largest, std::abs(losses[i] - py_losses[i]));
    std::printf("loss at the first step: C++ %.9f, Python %.9f; largest difference over all %zu steps %.1e\n",
                losses.front(), py_losses.front(), losses.size(), largest);
  }
  std::printf("\n%-32s %10s %8s %8s %8s %8s %8s %9s %8s %8s\n", "implementation (ms; medians)", "step", "mean",
              "steps/s", "forward", "backward", "clip", "optimizer", "ema", "loss");
  const auto row = [](const std::string& name, double med, double avg, const std::array<double, 5>& phases,
                      double loss) {
    std::printf("%-32s %10.2f %8.2f %8.3f %8.2f %8.2f %8.2f %9.2f %8.2f %8.4f\n", name.c_str(), med, avg, 1e3 / med,
                phases[0], phases[1], phases[2], phases[3], phases[4], loss);
  };
  const double cpp_median = median(step_ms);
  std::array<double, 5> cpp_phases{};
  for (size_t k = 0; k < 5; ++k) cpp_phases[k] = median(phase_ms[k]);
  row("C++ (LibTorch)", cpp_median, mean(step_ms), cpp_phases, losses.back());
  if (!py) {
    std::printf("\nPython reference unavailable: %s\n", why.c_str());
    return 0;
  }
  const auto& ph = (*py)["phases_ms"];
  const double py_median = (*py)["median_ms"].get<double>();
  row("Python eager (torch " + (*py)["torch"].get<std::string>() + ")", py_median, (*py)["mean_ms"].get<double>(),
      {ph["forward"].get<double>(), ph["backward"].get<double>(), ph["clip"].get<double>(),
       ph["optimizer"].get<double>(), ph["ema"].get<double>()},
      py_losses.empty() ? std::nan("") : py_losses.back());
  std::printf("\n");
  // Same weights, same batch: the first loss differs only by float rounding unless the step differs.
  if (py_losses.empty() || !(std::abs(py_losses.front() - losses.front()) <= 1e-4 * std::abs(losses.front()))) {
    std::printf("error: the first-step losses differ, so the reference does not compute the same step; no ratio\n");
    return 1;
  }
  return print_speed_ratio(*py, cpp_params, cpp_median);
}

int bench_diffusion_sample(const DiffusionBenchArgs& args) {
  at::set_num_threads(args.threads);
  torch::NoGradGuard no_grad;
  const int64_t L = args.length;
  LanguageModel ar{nullptr}, dm{nullptr};
  int64_t mask_id = 0;
  std::string source;
  if (!args.ar_run.empty() || !args.diffusion_run.empty()) {
    if (args.ar_run.empty() || args.diffusion_run.empty())
      throw InputError("--ar-run and --diffusion-run go together (a trained AR run and a trained diffusion run)");
    TextModel a = load_text_model(args.ar_run), d = load_text_model(args.diffusion_run);
    if (a.diffusion()) throw InputError("--ar-run: " + args.ar_run + " is a diffusion run (model.causal = false)");
    if (!d.diffusion()) throw InputError("--diffusion-run: " + args.diffusion_run + " is causal, not a diffusion run");
    if (d.mask_id() < 0) throw InputError("--diffusion-run: the tokenizer of " + args.diffusion_run + " has no <|mask|>");
    if (1 + L > d.model->cfg.max_seq_len)
      throw InputError("--length: 1 + " + std::to_string(L) + " tokens exceed the diffusion run's max_seq_len " +
                       std::to_string(d.model->cfg.max_seq_len));
    ar = a.model;
    dm = d.model;
    mask_id = d.mask_id();
    source = "trained runs " + args.ar_run + " (AR) and " + args.diffusion_run + " (diffusion)";
  } else {
    // shakespeare_char_ar_modern's backbone: 65 characters + MASK.
    TransformerConfig c;
    c.vocab_size = 66;
    c.d_model = 128;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.max_seq_len = 1 + L;
    c.positional = "rope";
    c.norm = "rmsnorm";
    c.qk_norm = true;
    c.mlp = "swiglu";
    c.mlp_ratio = 2.6667;
    torch::manual_seed(0);
    ar = LanguageModel(c);
    c.causal = false;
    dm = LanguageModel(c);
    mask_id = 65;
    source = "random weights, shakespeare_char_ar_modern's backbone (d_model 128, 4 layers, 4 heads, 2 KV heads, RoPE, "
             "SwiGLU, vocab 65 + MASK)";
  }
  ar->eval();
  dm->eval();
  const auto device = dm->parameters().front().device();
  const int64_t params = count_parameters(*dm);

  // One block length for every blocked setting; the whole region when it does not divide it.
  const int64_t block = args.block_length > 0 && args.block_length < L && L % args.block_length == 0 ? args.block_length : 0;
  const int64_t nblocks = block == 0 ? 1 : L / block;
  struct Setting {
    std::string name;
    DiffusionSamplerOptions opt;
  };
  std::vector<Setting> settings;
  for (const int64_t st : args.steps) {
    Setting s;
    s.opt.method = "llada";
    s.opt.steps = st;
    s.opt.remasking = "low-confidence";
    s.opt.block_length = st % nblocks == 0 ? block : 0;
    s.name = "llada low-confidence, " + std::to_string(st) + " steps, block " +
             std::to_string(s.opt.block_length == 0 ? L : s.opt.block_length);
    settings.push_back(s);
  }
  for (const bool cache : {false, true}) {
    Setting s;
    s.opt.method = "threshold";
    s.opt.threshold = args.threshold;
    s.opt.block_length = block;
    s.opt.prefix_cache = cache;
    s.name = "threshold " + format_number("%g", args.threshold) + ", block " + std::to_string(block == 0 ? L : block) +
             (cache ? ", prefix cache" : ", no cache");
    settings.push_back(s);
  }
  for (auto& s : settings) s.opt.validate();

  std::printf("diffusion-sample: %s; %lld parameters each (AR causal, diffusion bidirectional)\n", source.c_str(),
              static_cast<long long>(params));
  std::printf("%lld new tokens after a 1-token prompt; AR: KV cache, temperature 1; diffusion: argmax predictions; "
              "%lld untimed warm-up run(s) per batch size, median of up to %lld timed runs (fewer past 20 s); %d thread(s)\n",
              static_cast<long long>(L), static_cast<long long>(args.warmup), static_cast<long long>(args.repeats),
              args.threads);

  // Median seconds of up to `repeats` runs (at least one; stops adding runs after 20 s).
  const auto timed = [&](const std::function<void()>& f) {
    std::vector<double> secs;
    const auto start = Clock::now();
    for (int64_t r = 0; r < args.repeats; ++r) {
      const auto t0 = Clock::now();
      f();
      secs.push_back(seconds_since(t0));
      if (seconds_since(start) > 20.0) break;
    }
    return median(secs);
  };

  struct Row {
    int64_t batch;
    std::string name;
    double nfe, seconds, tokens_per_s, ratio;
  };
  std::vector<Row> rows;
  for (const int64_t B : args.batches) {
    const std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(B), std::vector<int64_t>{0});
    const auto prompt = at::zeros({B, 1}, at::kLong).to(device);
    GenerateOptions g;
    g.max_new_tokens = L;
    g.sampling.temperature = 1.0;
    g.seed = 1;
    for (int64_t w = 0; w < args.warmup; ++w) {
      GenerateOptions short_g = g;
      short_g.max_new_tokens = std::min<int64_t>(L, 16);
      generate(ar, prompts, short_g);
      ModelDenoiser den(dm, true);
      DiffusionSamplerOptions o;
      o.steps = 2;
      diffusion_sample(den, prompt, L, mask_id, o);
    }
    int64_t ar_nfe = 0;
    const double ar_secs = timed([&] { ar_nfe = generate(ar, prompts, g).forward_passes; });
    const double ar_tps = static_cast<double>(B * L) / ar_secs;
    rows.push_back({B, "AR, KV cache", static_cast<double>(ar_nfe), ar_secs, ar_tps, 1.0});
    for (const auto& s : settings) {
      int64_t nfe = 0;
      const double secs = timed([&] {
        ModelDenoiser den(dm, s.opt.prefix_cache);
        nfe = diffusion_sample(den, prompt, L, mask_id, s.opt).forward_passes;
      });
      const double tps = static_cast<double>(B * L) / secs;
      rows.push_back({B, s.name, static_cast<double>(nfe), secs, tps, tps / ar_tps});
    }
  }

  std::printf("\n%-6s %-46s %7s %12s %11s %12s %13s\n", "batch", "decoder", "NFE", "tokens/step", "ms/forward",
              "tokens/s", "vs AR cache");
  for (const auto& r : rows) {
    std::printf("%-6lld %-46s %7.0f %12.2f %11.2f %12.1f %12.2fx\n", static_cast<long long>(r.batch), r.name.c_str(),
                r.nfe, static_cast<double>(L) / r.nfe, 1e3 * r.seconds / r.nfe, r.tokens_per_s, r.ratio);
  }
  std::printf("\n");
  for (const int64_t B : args.batches) {
    std::string wins;
    for (const auto& r : rows)
      if (r.batch == B && r.name.rfind("AR", 0) != 0 && r.ratio > 1.0) wins += "\n  " + r.name + format_number(" (%.2fx)", r.ratio);
    std::printf("batch %lld: diffusion faster than AR with its KV cache: %s\n", static_cast<long long>(B),
                wins.empty() ? "none" : wins.c_str());
  }
  if (args.ar_run.empty())
    std::printf("(random weights: the threshold sampler's confidences stay near 1/vocab, so it commits about one token "
                "per step; pass --ar-run and --diffusion-run for trained models)\n");
  return 0;
}

}  // namespace beyond
