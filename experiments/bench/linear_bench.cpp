// `beyond bench deltanet` and `beyond bench hybrid-decode`: what linear attention costs and saves
// on CPU. deltanet times the delta rule's two training forms and measures their peak memory in
// child processes; hybrid-decode decodes from long prefilled caches with full attention and with
// 3:1 linear-attention hybrids.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/delta_rule.h"
#include "core/errors.h"
#include "core/model.h"
#include "experiments/bench/bench.h"
#include "experiments/runner.h"
#include "experiments/text/decode_speed.h"

namespace beyond {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

// Wall time and this process's CPU time since construction. On a shared machine the wall time
// includes waiting for a core; at one thread the CPU time does not.
struct Stopwatch {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = process_cpu_ms();
  double wall_ms() const { return ms_since(wall0); }
  double cpu_ms() const { return process_cpu_ms() - cpu0; }
};

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

constexpr double kMiB = 1024.0 * 1024.0;

std::string format_number(const char* format, double x) {
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), format, x);
  return buf.data();
}

// ---------------------------------------------------------------------------------------------
// bench deltanet

// Peak resident memory of this process so far, in bytes (the kernel's high-water mark).
int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  }
  throw RunError("no VmHWM in /proc/self/status");
}

// The delta rule's inputs as a Gated DeltaNet layer hands them over: unit-norm q and k with q
// scaled by dk^-1/2, log decays g <= 0 (a softplus of a random pre-activation, negated),
// beta in (0, 1); all leaves that want gradients. dout is the upstream gradient of the output.
struct DeltaInputs {
  at::Tensor q, k, v, g, beta, dout;
  std::vector<at::Tensor> leaves() const { return {q, k, v, g, beta}; }
};

DeltaInputs make_delta_inputs(int64_t T, int64_t H, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  const auto unit = [](const at::Tensor& x) { return x / x.norm(2, -1, true); };
  DeltaInputs in;
  in.q = (unit(at::randn({1, T, H, d})) / std::sqrt(static_cast<double>(d))).requires_grad_(true);
  in.k = unit(at::randn({1, T, H, d})).requires_grad_(true);
  in.v = at::randn({1, T, H, d}).requires_grad_(true);
  in.g = (-at::softplus(at::randn({1, T, H}) - 2.0)).requires_grad_(true);  // mean about -0.2: decays of ~0.8 per token
  in.beta = at::sigmoid(at::randn({1, T, H})).requires_grad_(true);
  in.dout = at::randn({1, T, H, d});
  return in;
}

// One training pass of a form: forward, a loss whose output gradient is dout, backward.
// Returns the output (detached); the gradients land on the leaves.
at::Tensor delta_train_pass(const std::string& form, const DeltaInputs& in, int64_t chunk) {
  for (auto leaf : in.leaves()) leaf.mutable_grad().reset();
  const auto r = form == "chunked" ? delta_rule_chunked(in.q, in.k, in.v, in.g, in.beta, {}, chunk)
                                   : delta_rule_recurrent(in.q, in.k, in.v, in.g, in.beta);
  (r.out * in.dout).sum().backward();
  return r.out.detach();
}

// What a child measures: "chunked:T", "recurrent:T" or "baseline:T".
struct OneRun {
  std::string form;
  int64_t T = 0;
};

OneRun parse_one(const std::string& spec) {
  const auto colon = spec.find(':');
  OneRun one;
  if (colon != std::string::npos) {
    one.form = spec.substr(0, colon);
    try {
      one.T = std::stoll(spec.substr(colon + 1));
    } catch (const std::exception&) {
      one.T = 0;
    }
  }
  if ((one.form != "chunked" && one.form != "recurrent" && one.form != "baseline") || one.T <= 0)
    throw InputError("--one wants chunked:T, recurrent:T or baseline:T, got '" + spec + "'");
  return one;
}

// The child's side. The setup (inputs, and one tiny pass of each form so that lazy library
// initialisation is not charged to the run) is the same for every form, so the baseline's peak
// is each child's memory just before its real passes.
int run_one_deltanet(const DeltaNetBenchArgs& args) {
  at::set_num_threads(args.threads);
  const auto one = parse_one(args.one);
  const auto in = make_delta_inputs(one.T, args.heads, args.dim, static_cast<uint64_t>(one.T));
  {
    const auto tiny = make_delta_inputs(8, args.heads, args.dim, 0);
    delta_train_pass("chunked", tiny, args.chunk);
    delta_train_pass("recurrent", tiny, args.chunk);
  }
  nlohmann::json result{{"form", one.form}, {"T", one.T}};
  if (one.form != "baseline") {
    delta_train_pass(one.form, in, args.chunk);  // warm-up
    std::vector<double> ms, cpu_ms;
    at::Tensor out;
    for (int64_t r = 0; r < args.repeats; ++r) {
      const Stopwatch watch;
      out = delta_train_pass(one.form, in, args.chunk);
      ms.push_back(watch.wall_ms());
      cpu_ms.push_back(watch.cpu_ms());
    }
    result["ms"] = ms;
    result["cpu_ms"] = cpu_ms;
    if (!args.dump.empty()) {
      // The last pass's output, then its gradients, as raw float32 for the parent to compare.
      std::vector<at::Tensor> parts{out.reshape(-1)};
      for (const auto& leaf : in.leaves()) parts.push_back(leaf.grad().reshape(-1));
      const auto flat = at::cat(parts).contiguous();
      std::FILE* f = std::fopen(args.dump.c_str(), "wb");
      if (!f || std::fwrite(flat.data_ptr<float>(), sizeof(float), static_cast<size_t>(flat.numel()), f) !=
                    static_cast<size_t>(flat.numel()))
        throw RunError("could not write " + args.dump);
      std::fclose(f);
    }
  }
  result["peak_bytes"] = peak_rss_bytes();  // read last: the high-water mark of the whole child
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

// This binary's own path (/proc/self/exe read here: inside popen's shell it would name the shell).
std::string own_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw RunError("cannot read /proc/self/exe: " + ec.message());
  return path.string();
}

// Starts `beyond bench deltanet --one SPEC ...` and returns the JSON line it prints.
nlohmann::json run_child(const std::string& exe, const DeltaNetBenchArgs& args, const std::string& spec,
                         const std::string& dump) {
  std::string cmd = shell_quote(exe) + " bench deltanet --one " + shell_quote(spec) + " --heads " +
                    std::to_string(args.heads) + " --dim " + std::to_string(args.dim) + " --chunk " +
                    std::to_string(args.chunk) + " --repeats " + std::to_string(args.repeats) + " --threads " +
                    std::to_string(args.threads);
  if (!dump.empty()) cmd += " --dump " + shell_quote(dump);
  cmd += " 2>&1";
  std::fflush(stdout);
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) throw RunError("could not start " + exe);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = ::pclose(pipe);
  std::optional<nlohmann::json> result;
  std::string last_text;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind('{', 0) == 0) {
      result = nlohmann::json::parse(line, nullptr, false);
      if (result->is_discarded()) result.reset();
    } else if (!line.empty()) {
      last_text = line;
    }
  }
  if (!result || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                              : "was killed (out of memory?)";
    throw RunError("child '" + spec + "' " + how + (last_text.empty() ? "" : ": " + last_text));
  }
  return *result;
}

at::Tensor read_floats(const std::string& path) {
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  auto t = at::empty({bytes / static_cast<int64_t>(sizeof(float))}, at::kFloat);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  const bool ok = f && std::fread(t.data_ptr<float>(), 1, static_cast<size_t>(bytes), f) == static_cast<size_t>(bytes);
  if (f) std::fclose(f);
  if (!ok) throw RunError("could not read " + path);
  return t;
}

// The two forms' outputs (first n_out values) and gradients (the rest) against each other:
// max |difference| of the outputs, and of the gradients relative to the largest gradient.
std::pair<double, double> compare_dumps(const std::string& a, const std::string& b, int64_t n_out) {
  const auto x = read_floats(a), y = read_floats(b);
  if (x.numel() != y.numel()) throw RunError("the two forms wrote different sizes");
  const auto diff = (x - y).abs();
  const double out_diff = diff.narrow(0, 0, n_out).max().item<double>();
  const double grad_diff = diff.narrow(0, n_out, x.numel() - n_out).max().item<double>();
  const double grad_scale = y.narrow(0, n_out, y.numel() - n_out).abs().max().item<double>();
  return {out_diff, grad_diff / grad_scale};
}

// ---------------------------------------------------------------------------------------------
// bench hybrid-decode

struct DecodeModel {
  std::string name;
  std::string layer_pattern;  // empty: every layer full attention
  std::string linear_mixer;
};

TransformerConfig decode_config(const DecodeModel& m, int64_t max_seq_len) {
  TransformerConfig c;
  c.vocab_size = 256;
  c.d_model = 256;
  c.n_layers = 8;
  c.n_heads = 4;
  c.head_dim = 64;
  c.linear_heads = 4;
  c.linear_head_dim = 64;
  c.positional = "rope";
  c.max_seq_len = max_seq_len;
  c.layer_pattern = m.layer_pattern;
  c.linear_mixer = m.linear_mixer.empty() ? c.linear_mixer : m.linear_mixer;
  c.dropout = 0.0;
  c.validate();
  return c;
}

// Greedy single-token steps from `first`; returns the wall and CPU milliseconds the n steps took.
std::pair<double, double> decode_steps(LanguageModel& model, KVCache& cache, at::Tensor first, int64_t n) {
  auto token = std::move(first);
  const Stopwatch watch;
  for (int64_t i = 0; i < n; ++i) {
    const auto logits = model->forward(token, &cache);
    token = logits.select(1, logits.size(1) - 1).argmax(-1, true);  // [1, 1]
  }
  return {watch.wall_ms(), watch.cpu_ms()};
}

struct DecodeRow {
  double ms_per_token = 0.0, cpu_ms_per_token = 0.0, prefill_s = 0.0;
  int64_t cache_bytes = 0;
};

DecodeRow measure_decode(LanguageModel& model, int64_t context, const HybridDecodeBenchArgs& args) {
  c10::InferenceMode guard;
  constexpr int64_t kWarmupTokens = 4;
  auto cache = model->make_cache(context + std::max(args.new_tokens, kWarmupTokens));
  torch::manual_seed(static_cast<uint64_t>(context));
  const auto prompt = at::randint(0, model->cfg.vocab_size, {1, context}, at::kLong);
  DecodeRow row;
  const auto t0 = Clock::now();
  at::Tensor logits;
  for (int64_t start = 0; start < context; start += args.prefill_chunk)
    logits = model->forward(prompt.narrow(1, start, std::min(args.prefill_chunk, context - start)), &cache);
  row.prefill_s = ms_since(t0) / 1e3;
  row.cache_bytes = cache.bytes();
  const auto first = logits.select(1, logits.size(1) - 1).argmax(-1, true);
  {
    auto warm = copy_cache(cache);
    decode_steps(model, warm, first, kWarmupTokens);
  }
  std::vector<double> ms, cpu_ms;
  for (int64_t r = 0; r < args.repeats; ++r) {
    auto from_prefill = copy_cache(cache);  // every repeat decodes after the same context
    const auto [wall, cpu] = decode_steps(model, from_prefill, first, args.new_tokens);
    ms.push_back(wall);
    cpu_ms.push_back(cpu);
  }
  row.ms_per_token = median(ms) / static_cast<double>(args.new_tokens);
  row.cpu_ms_per_token = median(cpu_ms) / static_cast<double>(args.new_tokens);
  return row;
}

}  // namespace

int bench_deltanet(const DeltaNetBenchArgs& args) {
  if (!args.one.empty()) return run_one_deltanet(args);
  const std::string exe = own_executable();
  TempDir dumps("deltanet");
  std::printf("deltanet: gated delta rule, forward + backward (loss <o, random dout>), B=1, H=%lld, dk=dv=%lld, "
              "scalar gate per head, float32, chunk %lld; median of %lld runs after 1 warm-up, %d thread(s)\n",
              static_cast<long long>(args.heads), static_cast<long long>(args.dim), static_cast<long long>(args.chunk),
              static_cast<long long>(args.repeats), args.threads);
  std::printf("memory: the run's own peak RSS = VmHWM of a child doing setup + runs minus VmHWM of a child doing "
              "setup only; 'states' = T*H*dk*dv*4 bytes, one state per token\n");
  std::printf("check: max |o_chunked - o_recurrent| and max |grad diff| / max |grad| over dq, dk, dv, dg, dbeta\n");
  std::printf("ms: wall time (medians); cpu: the child's CPU time, which leaves out waiting for a core on a busy "
              "machine; tokens/s from wall time\n\n");
  std::printf("%6s %10s %10s %8s %9s %9s %8s %10s %10s %8s %10s %11s %11s %9s %9s\n", "T", "chunk ms", "recur ms",
              "rec/chk", "chunk cpu", "recur cpu", "rec/chk", "chunk MiB", "recur MiB", "rec/chk", "states MiB",
              "chunk tok/s", "recur tok/s", "max|do|", "grad rel");
  for (const int64_t T : args.lengths) {
    const std::string t = std::to_string(T);
    const auto base = run_child(exe, args, "baseline:" + t, "");
    const std::string chunked_dump = (dumps.path / ("chunked_" + t)).string();
    const std::string recurrent_dump = (dumps.path / ("recurrent_" + t)).string();
    const auto chunked = run_child(exe, args, "chunked:" + t, chunked_dump);
    const auto recurrent = run_child(exe, args, "recurrent:" + t, recurrent_dump);
    const auto [out_diff, grad_rel] = compare_dumps(chunked_dump, recurrent_dump, T * args.heads * args.dim);
    const double c_ms = median(chunked["ms"].get<std::vector<double>>());
    const double r_ms = median(recurrent["ms"].get<std::vector<double>>());
    const double c_cpu = median(chunked["cpu_ms"].get<std::vector<double>>());
    const double r_cpu = median(recurrent["cpu_ms"].get<std::vector<double>>());
    const int64_t base_bytes = base["peak_bytes"].get<int64_t>();
    const double c_mib = static_cast<double>(chunked["peak_bytes"].get<int64_t>() - base_bytes) / kMiB;
    const double r_mib = static_cast<double>(recurrent["peak_bytes"].get<int64_t>() - base_bytes) / kMiB;
    const double states_mib = static_cast<double>(T * args.heads * args.dim * args.dim * 4) / kMiB;
    const double tokens = static_cast<double>(T);
    std::printf("%6lld %10.1f %10.1f %7.2fx %9.1f %9.1f %7.2fx %10.1f %10.1f %7.2fx %10.1f %11.0f %11.0f %9.1e %9.1e\n",
                static_cast<long long>(T), c_ms, r_ms, r_ms / c_ms, c_cpu, r_cpu, r_cpu / c_cpu, c_mib, r_mib,
                r_mib / c_mib, states_mib, tokens / (c_ms / 1e3), tokens / (r_ms / 1e3), out_diff, grad_rel);
    std::fflush(stdout);
  }
  return 0;
}

int bench_hybrid_decode(const HybridDecodeBenchArgs& args) {
  at::set_num_threads(args.threads);
  const std::vector<DecodeModel> models{{"full attention", "", ""},
                                        {"GDN 3:1 (LLLG)", "LLLG", "gated_deltanet"},
                                        {"KDA 3:1 (LLLG)", "LLLG", "kda"}};
  const int64_t max_context = *std::max_element(args.contexts.begin(), args.contexts.end());
  const int64_t max_seq_len = max_context + std::max<int64_t>(args.new_tokens, 4);
  std::vector<LanguageModel> lms;
  for (const auto& m : models) {
    const auto cfg = decode_config(m, max_seq_len);
    torch::manual_seed(0);
    LanguageModel lm(cfg);
    init_weights(*lm, cfg);
    lm->eval();
    lms.push_back(lm);
  }
  std::printf("hybrid-decode: d_model 256, 8 layers, 4 heads of 64, rope, swiglu, vocab 256, random weights, float32, "
              "max_seq_len %lld; linear layers: 4 heads, dk = dv = 64, short conv 4\n",
              static_cast<long long>(max_seq_len));
  std::printf("batch 1, InferenceMode; the context is prefilled through the cache in pieces of %lld tokens, then "
              "%lld greedy single-token steps are timed; median of %lld repeats from the same cache, %d thread(s)\n",
              static_cast<long long>(args.prefill_chunk), static_cast<long long>(args.new_tokens),
              static_cast<long long>(args.repeats), args.threads);
  std::printf("parameters:");
  for (size_t i = 0; i < models.size(); ++i)
    std::printf(" %s %lld%s", models[i].name.c_str(), static_cast<long long>(count_parameters(*lms[i])),
                i + 1 < models.size() ? "," : "\n\n");

  std::printf("ms/token: wall time; cpu ms/token: this process's CPU time (leaves out waiting for a core); "
              "speed/full: tokens/s of the model over full attention's (wall, cpu)\n\n");
  std::printf("%8s  %-16s %9s %9s %10s %10s %10s %11s %10s %10s\n", "context", "model", "tokens/s", "ms/token",
              "cpu ms/tok", "cache MiB", "prefill s", "speed/full", "(cpu)", "cache/full");
  for (const int64_t context : args.contexts) {
    DecodeRow full;
    for (size_t i = 0; i < models.size(); ++i) {
      const auto row = measure_decode(lms[i], context, args);
      if (i == 0) full = row;
      const bool ratio = i > 0;
      std::printf("%8lld  %-16s %9.1f %9.2f %10.2f %10.2f %10.1f %11s %10s %10s\n", static_cast<long long>(context),
                  models[i].name.c_str(), 1e3 / row.ms_per_token, row.ms_per_token, row.cpu_ms_per_token,
                  static_cast<double>(row.cache_bytes) / kMiB, row.prefill_s,
                  ratio ? format_number("%.2fx", full.ms_per_token / row.ms_per_token).c_str() : "-",
                  ratio ? format_number("%.2fx", full.cpu_ms_per_token / row.cpu_ms_per_token).c_str() : "-",
                  ratio ? format_number("%.3fx", static_cast<double>(row.cache_bytes) /
                                                     static_cast<double>(full.cache_bytes)).c_str()
                        : "-");
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace beyond
