// A run folder and the machine settings of a run ([run] table).
//
//   runs/<name>/config.toml     the fully resolved config
//   runs/<name>/metrics.jsonl   one JSON object per logged step, flushed per line
//   runs/<name>/log.txt         the log
//   runs/<name>/checkpoints/    step_XXXXXXXX.safetensors
//   runs/<name>/summary.json    a flat JSON object with the final metrics
#pragma once
#include <c10/core/Device.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace beyond {

class Config;

struct RunOptions {
  std::string experiment;     // which registered experiment runs this config
  std::string name;           // default: the config file's stem
  std::string dir;            // default: runs/<name>
  int64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda
  int64_t threads = 0;          // 0: LibTorch's default
  std::string description;      // what the experiment should show (for the report)

  static RunOptions from_config(Config& config);
};

// auto picks CUDA when LibTorch has it; asking for cuda without it is an InputError.
c10::Device resolve_device(const std::string& device);

class RunDir {
 public:
  explicit RunDir(const std::string& path);  // creates the folder and checkpoints/
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoints() const { return path_ + "/checkpoints"; }

  void write_config(const std::string& toml_text) const;
  // Appends one line to metrics.jsonl and flushes it.
  void log_metrics(const nlohmann::json& record);
  // Writes summary.json atomically (temporary file, then rename).
  void write_summary(const nlohmann::json& flat) const;

 private:
  std::string path_;
  std::ofstream metrics_;
};

// Writes text to path through a temporary file, fsync and rename.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace beyond
