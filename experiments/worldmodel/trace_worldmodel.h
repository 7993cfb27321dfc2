// trace_worldmodel: does predicting execution traces beat predicting outputs directly?
// See trace_worldmodel.cpp for what it trains and reports.
#pragma once
#include <memory>
#include <string>

#include "core/model.h"
#include "experiments/experiment.h"
#include "worldmodel/trace_model.h"

namespace beyond {

std::unique_ptr<Experiment> make_trace_worldmodel();

namespace wm {

// A trained world model read back from a run folder: a trace_worldmodel run (its full-trace
// sub-run `trace` is used) or one of its trace / markov sub-runs. InputError for a folder that
// is none of these, has no checkpoint yet, or holds the direct baseline (it predicts no trace).
struct LoadedWorldModel {
  std::string run_dir;  // the sub-run whose weights these are
  TraceTask task = TraceTask::Trace;
  StateMode mode = StateMode::Diff;
  int64_t max_frames = 400, max_frame_tokens = 128;  // the run's eval settings
  LanguageModel model{nullptr};                      // eval mode, on the run's device
};
LoadedWorldModel load_world_model(const std::string& run);

}  // namespace wm
}  // namespace beyond
