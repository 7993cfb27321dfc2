// `beyond bench ...`: speed benchmarks of the C++ core, side by side with a PyTorch eager
// reference of the same model (experiments/bench/reference/ar_reference.py) run as a subprocess.
// Benchmarks, not tests: they print numbers and fail only when something cannot run.
#pragma once
#include <cstdint>

namespace beyond {

struct BenchArgs {
  int64_t steps = 50;   // ar-train: timed steps
  int64_t warmup = 10;  // ar-train: untimed steps first (allocator, caches, lazy init)
  int threads = 1;      // intra-op threads for both sides; 1 is the stable default on a noisy machine
};

// Training steps per second of the GPT-2 style anchor model, C++ vs Python eager.
int bench_ar_train(const BenchArgs& args);

// Generated tokens per second with and without the KV cache at 256 and 1024 new tokens.
int bench_ar_generate(const BenchArgs& args);

}  // namespace beyond
