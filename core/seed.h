// Seeds for independent random streams. Batches are drawn from a generator seeded by
// (run seed, step, micro-batch), so a resumed run sees exactly the batches of an uninterrupted one.
#pragma once
#include <cstdint>

namespace beyond {

// splitmix64: nearby inputs give unrelated outputs.
inline uint64_t mix_seed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t batch_seed(uint64_t seed, int64_t step, int64_t micro) {
  return mix_seed(mix_seed(seed) ^ mix_seed(static_cast<uint64_t>(step) * 4099ULL + static_cast<uint64_t>(micro)));
}

}  // namespace beyond
