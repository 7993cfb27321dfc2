// Runs the built `beyond` binary for end-to-end tests.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

struct CliResult {
  int code;            // exit status, -1 when killed
  std::string output;  // stdout and stderr together
};

inline CliResult run_beyond(const std::string& args) {
  const std::string cmd = std::string(BEYOND_BINARY) + " " + args + " 2>&1";
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The whole file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// True when the command printed `text`.
inline bool output_has(const CliResult& r, const std::string& text) { return r.output.find(text) != std::string::npos; }

// An empty folder under /tmp, unique to this test process.
inline std::string fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("beyond_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}
