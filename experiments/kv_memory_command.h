// `beyond kv-memory CONFIG [--context 4096,32768,131072] [--dtype bf16] [--state-dtype fp32]
// [--batch 1] [overrides]`: the decoding cache of the config's [model] per layer kind and in total
// at each context length, beside the same model with full attention in every layer.
// main() creates one KvMemoryCli before parsing and calls run() when selected() after.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace beyond {

struct KvMemoryArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::vector<int64_t> contexts{4096, 32768, 131072};
  std::string dtype = "bf16";
  std::string state_dtype;  // "": same as dtype
  int64_t batch = 1;
};

// The report as text (what the command prints). Throws InputError on a bad config.
std::string kv_memory_report(const KvMemoryArgs& args);

class KvMemoryCli {
 public:
  explicit KvMemoryCli(CLI::App& app);
  KvMemoryCli(const KvMemoryCli&) = delete;
  KvMemoryCli& operator=(const KvMemoryCli&) = delete;
  bool selected() const;
  int run() const;

 private:
  KvMemoryArgs args_;
  CLI::App* command_ = nullptr;
};

}  // namespace beyond
