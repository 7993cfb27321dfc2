#include "experiments/kv_memory_command.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "core/cache_memory.h"
#include "core/config.h"

namespace beyond {
namespace {

// 1234567 -> "1,234,567"
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

const char* kind_name(char kind) {
  switch (kind) {
    case 'G': return "full attention";
    case 'N': return "full attention, NoPE";
    case 'S': return "sliding-window attention";
    case 'C': return "chunked local attention";
    case 'M': return "multi-head latent attention";
    default: return "linear attention (state)";
  }
}

}  // namespace

std::string kv_memory_report(const KvMemoryArgs& args) {
  auto config = Config::load(args.config, args.overrides);
  const auto cfg = TransformerConfig::from_config(config, "model");
  config.check_all_used("model");
  if (args.batch < 1) throw InputError("--batch must be at least 1");
  for (int64_t c : args.contexts)
    if (c < 1) throw InputError("--context " + std::to_string(c) + " must be at least 1");
  const int64_t element = dtype_bytes(args.dtype);
  const int64_t state_element = dtype_bytes(args.state_dtype.empty() ? args.dtype : args.state_dtype);
  const auto layers = cache_memory(cfg, element, state_element);
  // The baseline: the same model with plain multi-head (or GQA) full attention in every layer.
  TransformerConfig full = cfg;
  full.layer_pattern = "G";
  full.sliding_window = 0;
  full.attention = "mha";
  const auto full_layers = cache_memory(full, element, state_element);

  std::ostringstream out;
  out << args.config << ": " << cfg.n_layers << " layers, d_model " << cfg.d_model << ", keys/values "
      << args.dtype << ", states " << (args.state_dtype.empty() ? args.dtype : args.state_dtype) << ", batch "
      << args.batch << "\n\n";
  // One row per kind of layer (layers of a kind have the same geometry).
  std::map<char, std::pair<int64_t, LayerMemory>> kinds;
  for (const auto& l : layers) {
    auto& [count, example] = kinds[l.kind];
    ++count;
    example = l;
  }
  out << "layer kind                    layers  bytes/token/layer  window  fixed bytes/layer (state + conv)\n";
  for (const auto& [kind, entry] : kinds) {
    const auto& [count, l] = entry;
    char line[256];
    std::snprintf(line, sizeof line, "%-29s %6lld  %17s  %6s  %s", kind_name(kind), static_cast<long long>(count),
                  with_commas(l.bytes_per_token).c_str(), l.window > 0 ? std::to_string(l.window).c_str() : "-",
                  l.state_bytes + l.conv_bytes > 0
                      ? (with_commas(l.state_bytes + l.conv_bytes) + " (" + with_commas(l.state_bytes) + " + " +
                         with_commas(l.conv_bytes) + ")").c_str()
                      : "-");
    out << line << "\n";
  }
  int64_t per_token = 0, fixed = 0;
  for (const auto& l : layers) {
    if (l.window == 0) per_token += l.bytes_per_token;
    fixed += l.state_bytes + l.conv_bytes;
  }
  out << "\nall layers: " << with_commas(per_token * args.batch) << " bytes per token"
      << " (sliding and chunked layers capped at their window or chunk), " << with_commas(fixed * args.batch) << " bytes fixed\n"
      << "full attention in every layer: " << with_commas(full_layers.front().bytes_per_token * cfg.n_layers * args.batch)
      << " bytes per token\n\n";
  out << "   context        cache bytes        GB   full-attention bytes        GB  full / this\n";
  for (int64_t c : args.contexts) {
    const int64_t bytes = total_cache_bytes(layers, c) * args.batch;
    const int64_t full_bytes = total_cache_bytes(full_layers, c) * args.batch;
    char line[256];
    std::snprintf(line, sizeof line, "%10s %18s %9s %22s %9s %12s", with_commas(c).c_str(), with_commas(bytes).c_str(),
                  format("%.3f", static_cast<double>(bytes) / 1e9).c_str(), with_commas(full_bytes).c_str(),
                  format("%.3f", static_cast<double>(full_bytes) / 1e9).c_str(),
                  format("%.2f", static_cast<double>(full_bytes) / static_cast<double>(std::max<int64_t>(bytes, 1))).c_str());
    out << line << "\n";
  }
  return out.str();
}

KvMemoryCli::KvMemoryCli(CLI::App& app) {
  command_ = app.add_subcommand("kv-memory", "Decoding cache bytes of a config's model per layer kind and at several context lengths, beside full attention");
  command_->add_option("config", args_.config, "TOML config whose [model] is measured")->required();
  command_->add_option("overrides", args_.overrides, "key.sub=value overrides, applied after the file");
  command_->add_option("--context", args_.contexts, "context lengths in tokens, comma separated")
      ->delimiter(',')->capture_default_str();
  command_->add_option("--dtype", args_.dtype, "element type of keys, values and latents: fp32 | bf16 | fp16 | fp8")->capture_default_str();
  command_->add_option("--state-dtype", args_.state_dtype, "element type of linear-attention states (default: --dtype)");
  command_->add_option("--batch", args_.batch, "sequences decoded at once")->capture_default_str();
  command_->footer("Example: beyond kv-memory experiments/configs/kv_memory_report.toml --context 4096,32768,131072\n"
                   "         beyond kv-memory experiments/configs/zoo/qwen3-next.toml --dtype bf16 --state-dtype fp32");
}

bool KvMemoryCli::selected() const { return command_->parsed(); }

int KvMemoryCli::run() const {
  std::cout << kv_memory_report(args_);
  return 0;
}

}  // namespace beyond
