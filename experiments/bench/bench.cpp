#include "experiments/bench/bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "autoregressive/generate.h"
#include "autoregressive/lm_objective.h"
#include "core/model.h"
#include "core/optim.h"

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

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// Runs experiments/bench/reference/ar_reference.py with `args` and returns the JSON object it
// prints last; otherwise sets `why` (no Python, no torch, a crash) and returns nothing.
std::optional<nlohmann::json> run_reference(const std::string& args, std::string& why) {
  const std::string python = BEYOND_PYTHON;
  if (python.empty()) {
    why = "no Python configured (BEYOND_PYTHON is empty)";
    return std::nullopt;
  }
  const std::string script = std::string(BEYOND_SOURCE_DIR) + "/experiments/bench/reference/ar_reference.py";
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
  const int64_t cpp_params = count_params(*model);

  std::string why;
  const auto py = run_reference("train --steps " + std::to_string(args.steps) + " --warmup " +
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
  if ((*py)["params"].get<int64_t>() != cpp_params) {
    std::printf("error: parameter counts differ, so the reference is not the same model; no ratio\n");
    return 1;
  }
  std::printf("C++ / Python eager: %.2fx steps per second (median step times; target >= 1.3x)\n",
              py_median / cpp_median);
  return 0;
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
  const auto py = run_reference("generate --threads " + std::to_string(args.threads) + " --repeats " +
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
    std::printf("parameters: C++ %lld, Python %lld\n", static_cast<long long>(count_params(*model)),
                static_cast<long long>((*py)["params"].get<int64_t>()));
  } else {
    std::printf("parameters: C++ %lld\n", static_cast<long long>(count_params(*model)));
  }
  if (py && (*py)["params"].get<int64_t>() != count_params(*model)) {
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

}  // namespace beyond
