#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/log/log.h"

namespace beyond {
namespace {
bool line_shown = false;
}

void clear_progress_line() {
  if (!line_shown) return;
  std::fprintf(stderr, "\r\033[2K");
  std::fflush(stderr);
  line_shown = false;
}

bool Progress::stderr_is_terminal() { return ::isatty(::fileno(stderr)) == 1; }

std::string format_duration(double s) {
  char buf[32];
  const auto total = static_cast<int64_t>(s + 0.5);
  if (total >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", total / 3600, (total % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", total / 60, total % 60);
  return buf;
}

Progress::Progress(int64_t total, int64_t log_every, int64_t start)
    : total_(total), log_every_(log_every), start_(start), step_(start), tty_(stderr_is_terminal()) {
  begin_ = last_draw_ = std::chrono::steady_clock::now();
  if (tty_) log::set_before_line(&clear_progress_line);
}

Progress::~Progress() { finish(); }

double Progress::steps_per_second() const {
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
  return dt > 0 ? static_cast<double>(step_ - start_) / dt : 0.0;
}

void Progress::update(int64_t step, const std::string& extra) {
  step_ = step;
  const auto now = std::chrono::steady_clock::now();
  const double rate = steps_per_second();
  const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : 0.0;
  char head[128];
  std::snprintf(head, sizeof head, "step %ld/%ld", step, total_);
  char tail[96];
  std::snprintf(tail, sizeof tail, "%.2f it/s  ETA %s", rate, format_duration(eta).c_str());
  const std::string line = std::string(head) + "  " + extra + "  " + tail;
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && step != total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[2K%s", line.c_str());
    std::fflush(stderr);
    line_shown = true;
  } else if (log_every_ > 0 && (step % log_every_ == 0 || step == total_)) {
    log::info(line);
  }
}

void Progress::finish() {
  if (tty_) {
    clear_progress_line();
    log::set_before_line(nullptr);
    tty_ = false;
  }
}

}  // namespace beyond
