// A trained text model read back from a run folder (its latest checkpoint) or a checkpoint file:
// the tokenizer saved beside it, the resolved config and the weights (EMA when present). Used by
// `beyond sample`, `beyond compare-decoding` and the benchmarks for both text_lm (causal) and
// text_diffusion (bidirectional) runs.
#pragma once
#include <memory>
#include <string>

#include "core/model.h"
#include "core/tokenizer.h"

namespace beyond {

struct TextModel {
  std::string run_dir, checkpoint;
  std::string config_toml;  // the run's resolved config
  std::unique_ptr<Tokenizer> tokenizer;
  LanguageModel model{nullptr};  // on the run's device, eval mode
  bool diffusion() const { return !model->cfg.causal; }
  int64_t mask_id() const { return tokenizer->mask(); }  // -1 for AR runs
};

// A diffusion canvas as text: row [T] of ids with MASK shown as '_'. With `color` (a terminal),
// masks are dim and the positions where `fresh` [T] bool holds (just committed) yellow.
std::string canvas_text(const Tokenizer& tokenizer, const at::Tensor& row, int64_t mask_id,
                        const at::Tensor& fresh = {}, bool color = false);

// InputError naming the path when it is neither a run folder with a checkpoint nor a
// checkpoint inside <run>/checkpoints, or when tokenizer.json is missing.
TextModel load_text_model(const std::string& source, bool use_ema = true);

}  // namespace beyond
