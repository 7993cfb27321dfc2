// A text corpus as a token array: tokenised once and cached, split 90/10 into train and
// validation, with random contiguous windows for training and fixed windows for validation.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "core/tokenizer.h"

namespace beyond {

struct TextData {
  at::Tensor train, val;  // 1-D int64 token ids
  double val_tokens_per_char = 1.0;  // to turn nats/token into bits per character

  // Reads `path` (InputError if missing or empty), tokenises it with `tokenizer` and caches the
  // ids in `cache_dir` (keyed by the file's size, mtime and the tokenizer), then splits off the
  // last `val_fraction` of the tokens for validation.
  static TextData load(const std::string& path, const Tokenizer& tokenizer, double val_fraction,
                       const std::string& cache_dir);

  // `batch` windows of `block`+1 tokens at random offsets drawn from a generator seeded with
  // `seed`: inputs [B, block] and targets shifted by one. Split is "train" or "val".
  std::pair<at::Tensor, at::Tensor> random_windows(const std::string& split, int64_t batch, int64_t block,
                                                    uint64_t seed) const;
  // The same fixed validation windows for every run: `n` batches from a fixed seed.
  std::vector<std::pair<at::Tensor, at::Tensor>> fixed_val_batches(int64_t n, int64_t batch, int64_t block) const;
};

std::string read_text_file(const std::string& path);  // InputError naming the path

}  // namespace beyond
