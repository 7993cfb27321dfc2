// arch_compare: one text_lm setup (data, model size, training budget) under several token-mixer
// schedules, each trained as an ordinary text_lm run, then compared on validation loss, training
// throughput, and decoding speed and cache memory against the context length.
//
//   [run]
//   experiment = "arch_compare"
//   [data] [model] [train] [eval] [sample]   # the base text_lm config, read and checked as text_lm reads it;
//                                            # model.max_seq_len must cover the longest context + new tokens
//   [compare]
//   contexts = [512, 1024, 2048]   # decoding is measured with the cache holding this many tokens
//   new_tokens = 32                # timed single-token steps per repeat
//   repeats = 3                    # the median repeat is reported
//   prefill_chunk = 512            # tokens per prefill call
//   loss_tolerance = 0.05          # "similar validation loss": within this fraction of the first variant's
//   order = ["full", "gdn_hybrid"] # report order, the first is the reference (default: the [variants] names)
//   [variants.gdn_hybrid]
//   label = "3:1 gated DeltaNet"
//   overrides = ["model.layer_pattern=\"LLLG\"", "model.linear_mixer=\"gated_deltanet\""]
//
// Variants train in <run dir>/<variant> from <run dir>/base.toml (the base as a text_lm config)
// plus their overrides; a finished variant is skipped and an interrupted one resumes from its last
// checkpoint. Decoding measurements are kept in <variant>/decode.json and reused while the
// checkpoint and the [compare] settings stay the same. The summary is flat, per variant v and
// context L: v_val_loss, v_val_bpc, v_parameters, v_train_tok_s, v_decode_tok_s_L, v_decode_ms_L,
// v_prefill_s_L, v_cache_bytes_L (measured) and v_cache_formula_bytes_L (core/cache_memory.h),
// plus claim_* (1 held, 0 not).
#pragma once
#include <memory>

#include "experiments/experiment.h"

namespace beyond {
std::unique_ptr<Experiment> make_arch_compare();
}
