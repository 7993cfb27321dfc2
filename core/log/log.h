// Logging behind a std::string-only API. This target never includes torch: the torch wheel ships
// its own fmt headers, which would shadow Debian's fmt that spdlog is built against.
#pragma once
#include <string>

namespace beyond::log {

// Console sink on stderr; call once at start-up. Respects SPDLOG_LEVEL.
void init();
// Adds a file sink (the run folder's log.txt); lines keep going to stderr too.
void add_file(const std::string& path);
void remove_file();

void debug(const std::string& msg);
void info(const std::string& msg);
void warn(const std::string& msg);
void error(const std::string& msg);

// Called before each log line, e.g. to clear a live progress line on the terminal.
void set_before_line(void (*hook)());

}  // namespace beyond::log
