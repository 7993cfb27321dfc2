// `beyond bench ...`: speed benchmarks of the C++ core, side by side with a PyTorch eager
// reference of the same model (experiments/bench/reference/*.py) run as a subprocess.
// Benchmarks, not tests: they print numbers and fail only when something cannot run.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace beyond {

// A fresh folder under /tmp named after the benchmark and this process (the files handed to a
// Python reference, a child's dumps), removed when done.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("beyond_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct BenchArgs {
  int64_t steps = 50;   // ar-train, trm-step: timed steps
  int64_t warmup = 10;  // ar-train, trm-step: untimed steps first (allocator, caches, lazy init)
  int threads = 1;      // intra-op threads for both sides; 1 is the stable default on a noisy machine
  std::string config;   // trm-step: the TOML whose [model] and [train] set the sizes (empty: sudoku9_trm.toml)
  std::vector<std::string> overrides;  // trm-step: key.sub=value, applied after the file
};

// Training steps per second of the GPT-2 style anchor model, C++ vs Python eager.
int bench_ar_train(const BenchArgs& args);

// Generated tokens per second with and without the KV cache at 256 and 1024 new tokens.
int bench_ar_generate(const BenchArgs& args);

struct DiffusionBenchArgs {
  int threads = 1;
  int64_t warmup = 1;                         // untimed runs of each setting first
  int64_t repeats = 3;                        // timed runs per setting; the median counts
  int64_t length = 256;                       // tokens generated after a 1-token prompt
  std::vector<int64_t> batches{1, 16};        // batch sizes
  std::vector<int64_t> steps{16, 64, 256};    // llada low-confidence step counts
  int64_t block_length = 32;                  // llada and threshold blocks (0: one block)
  double threshold = 0.9;                     // threshold sampler's confidence
  std::string ar_run, diffusion_run;          // trained runs instead of random weights (both or neither)
};

// Tokens per second of masked-diffusion sampling (llada low-confidence at several step counts;
// the threshold sampler with and without the prefix cache) against AR decoding with the KV cache,
// same backbone, at each batch size; ratios against the AR baseline measured in the same run.
int bench_diffusion_sample(const DiffusionBenchArgs& args);

// Training steps per second of the Tiny Recursive Model at a config's size (one step = one
// deep-supervision step for the batch, as the Trainer runs it), C++ vs Python eager
// (experiments/bench/reference/trm_reference.py, started from the same weights and batches).
int bench_trm_step(const BenchArgs& args);

struct DeltaNetBenchArgs {
  std::vector<int64_t> lengths{256, 512, 1024, 2048, 4096};  // sequence lengths T
  int64_t heads = 4;     // H (query/key heads = value heads)
  int64_t dim = 64;      // dk = dv
  int64_t chunk = 64;    // chunk length of the chunked form
  int64_t repeats = 3;   // timed runs per (form, T) after one warm-up; the median counts
  int threads = 1;
  // Hidden, for the child processes the bench starts: "chunked:T", "recurrent:T" or "baseline:T"
  // runs one measurement and prints it as a JSON line; `dump` is where a child writes its output
  // and gradients for the parent's agreement check.
  std::string one, dump;
};

// Training cost (forward + backward) of the gated delta rule, chunked vs recurrent form, on
// random inputs at each length: median time and the run's own peak memory (VmHWM of a child
// process minus that of a child that only did the setup), with the two forms' outputs and
// gradients compared.
int bench_deltanet(const DeltaNetBenchArgs& args);

struct HybridDecodeBenchArgs {
  std::vector<int64_t> contexts{1024, 4096, 16384};  // tokens in the cache before decoding
  int64_t new_tokens = 32;       // timed single-token steps per repeat
  int64_t repeats = 3;           // timed repeats from the same prefilled cache; the median counts
  int64_t prefill_chunk = 1024;  // tokens per prefill call (bounds full attention's [chunk, context] scores)
  int threads = 1;
};

// Decoding tokens per second and cache bytes at long contexts: full attention vs 3:1 gated
// DeltaNet and 3:1 KDA hybrids (layer_pattern "LLLG") of the same size, random weights.
int bench_hybrid_decode(const HybridDecodeBenchArgs& args);

}  // namespace beyond
