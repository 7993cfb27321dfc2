// `beyond compare-decoding CONFIG`: an autoregressive and a masked-diffusion model of the same
// backbone, trained on the same text, decoded under many settings; each setting's samples are
// scored by a separately trained, larger AR judge (generative perplexity, bits per character)
// and by their own unigram entropy and distinct-n, against forward passes (NFE) and wall time.
//
// The config ([compare], [runs.ar|diffusion|judge], [ar_decoding.<name>], [diffusion_decoding])
// is described in experiments/configs/compare_decoding.toml. Outputs in compare.dir:
// decoding.json (every row), report.md, summary.json and decoding.png (scripts/plot_decoding.py).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/model.h"

namespace beyond {

// The UTF-8 code points of a string, one string each (invalid bytes stand alone).
std::vector<std::string> utf8_chars(const std::string& text);

// Entropy in bits of the empirical unigram distribution of `units` (0 for fewer than one).
double unigram_entropy_bits(const std::vector<std::string>& units);

// Distinct-n: the number of unique n-grams over the number of n-grams (0 when there are none).
double distinct_n(const std::vector<std::string>& units, int64_t n);

struct JudgeScore {
  double nll_nats = 0.0;  // sum over the continuation's tokens of -log p(token | everything before it)
  int64_t tokens = 0;     // continuation tokens scored
};

// Teacher-forced NLL of `continuation` after `context` (at least one token) under a causal
// model, in eval mode without gradient. Sequences longer than the model's max_seq_len are scored
// in windows of max_seq_len advancing by half a window, each token scored once, with at least
// half a window of context after the first window.
JudgeScore judge_nll(LanguageModel& judge, const std::vector<int64_t>& context,
                     const std::vector<int64_t>& continuation);

// Runs the whole comparison; returns the exit code. InputError for a bad config.
int compare_decoding(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace beyond
