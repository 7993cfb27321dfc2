// Progress of a long loop: a live status line on a terminal (step/total, loss, it/s, ETA),
// redrawn at most 10 times a second; plain log lines every `log_every` steps otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace beyond {

class Progress {
 public:
  Progress(int64_t total, int64_t log_every, int64_t start = 0);
  ~Progress();
  // Call after each step; `extra` is appended to the line ("loss 1.234 lr 1e-3").
  void update(int64_t step, const std::string& extra);
  void finish();
  double steps_per_second() const;

  static bool stderr_is_terminal();

 private:
  int64_t total_, log_every_, start_, step_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point begin_, last_draw_;
};

// Clears the live line (if any) so that a log line starts on a clean row.
void clear_progress_line();

std::string format_duration(double seconds);

}  // namespace beyond
