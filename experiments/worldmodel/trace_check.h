// `beyond trace check RUN FILE.py --call "f(3, [1, 2])"`: rolls a trained world model (full-trace
// or markov run) out on a program, runs the interpreter beside it, and prints both traces frame
// by frame up to the first frame where they diverge (or says they agree to the end).
#pragma once
#include <cstdint>
#include <string>

namespace beyond {

// Returns the exit code: 0 when the model's trace matches the interpreter's, 1 when it diverges.
// InputError for a missing run, a run that is not a world model, or a bad program or call.
int trace_check_command(const std::string& run, const std::string& file, const std::string& call, int64_t max_frames);

}  // namespace beyond
