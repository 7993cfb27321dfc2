#include "core/log/log.h"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace beyond::log {
namespace {
std::shared_ptr<spdlog::logger> logger;
std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file_sink;
void (*before_line)() = nullptr;

spdlog::logger& get() {
  if (!logger) init();
  return *logger;
}
void emit(spdlog::level::level_enum level, const std::string& msg) {
  if (before_line && get().should_log(level)) before_line();
  get().log(level, msg);
}
}  // namespace

void init() {
  if (logger) return;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  logger = std::make_shared<spdlog::logger>("beyond", console);
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::cfg::load_env_levels();
}

void add_file(const std::string& path) {
  remove_file();
  file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  file_sink->set_pattern("[%Y-%m-%d %H:%M:%S] %l %v");
  get().sinks().push_back(file_sink);
}

void remove_file() {
  if (!file_sink) return;
  auto& sinks = get().sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), file_sink), sinks.end());
  file_sink.reset();
}

void debug(const std::string& msg) { emit(spdlog::level::debug, msg); }
void info(const std::string& msg) { emit(spdlog::level::info, msg); }
void warn(const std::string& msg) { emit(spdlog::level::warn, msg); }
void error(const std::string& msg) { emit(spdlog::level::err, msg); }
void set_before_line(void (*hook)()) { before_line = hook; }

}  // namespace beyond::log
