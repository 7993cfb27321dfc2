// Seeded randomness for the puzzle generators, identical on every standard library: std::shuffle
// and std::uniform_int_distribution are implementation-defined, so a seed would not name the
// same puzzles across compilers. std::mt19937_64's output itself is fixed by the standard.
#pragma once
#include <cstdint>
#include <iterator>
#include <random>
#include <utility>

#include "core/seed.h"

namespace beyond {

// The seed of item `index` of a seeded collection: item i does not depend on how many items came
// before it, so `--count 10` and `--count 1000` share their first 10 puzzles.
inline uint64_t item_seed(uint64_t seed, uint64_t index) { return mix_seed(mix_seed(seed) ^ index); }

// Uniform in [0, n) for n > 0, by rejection (no modulo bias).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng(); while (x >= limit);
  return x % n;
}

// Fisher-Yates.
template <class It>
void shuffle_in_place(It first, It last, std::mt19937_64& rng) {
  const auto n = std::distance(first, last);
  for (auto i = n - 1; i > 0; --i) std::iter_swap(first + i, first + static_cast<decltype(i)>(uniform_below(rng, i + 1)));
}

}  // namespace beyond
