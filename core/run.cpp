#include "core/run.h"

#include <fcntl.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/config.h"
#include "core/errors.h"

namespace fs = std::filesystem;

namespace beyond {

RunOptions RunOptions::from_config(Config& c) {
  RunOptions r;
  r.experiment = c.get_string("run.experiment", "");
  if (r.experiment.empty()) throw c.error("run.experiment", "run.experiment is required (the experiment to run)");
  r.name = c.get_string("run.name", fs::path(c.source()).stem().string());
  r.dir = c.get_string("run.dir", "runs/" + r.name);
  r.seed = c.get_int("run.seed", r.seed, 0);
  r.device = c.get_choice("run.device", r.device, {"auto", "cpu", "cuda"});
  r.threads = c.get_int("run.threads", r.threads, 0, 1024);
  r.description = c.get_string("run.description", "");
  return r;
}

c10::Device resolve_device(const std::string& device) {
  if (device == "cpu") return c10::Device(c10::kCPU);
  const bool cuda = torch::cuda::is_available();
  if (device == "cuda" && !cuda) throw InputError("run.device = \"cuda\" but this LibTorch sees no CUDA device");
  return cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

RunDir::RunDir(const std::string& path) : path_(path) {
  std::error_code ec;
  fs::create_directories(checkpoints(), ec);
  if (ec) throw InputError("cannot create run folder '" + path + "': " + ec.message());
  metrics_.open(file("metrics.jsonl"), std::ios::app);
  if (!metrics_) throw InputError("cannot write '" + file("metrics.jsonl") + "'");
}

void RunDir::write_config(const std::string& toml_text) const { write_file_atomic(file("config.toml"), toml_text); }

void RunDir::log_metrics(const nlohmann::json& record) {
  metrics_ << record.dump() << '\n';
  metrics_.flush();
}

void RunDir::write_summary(const nlohmann::json& flat) const {
  write_file_atomic(file("summary.json"), flat.dump(2) + "\n");
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw RunError("cannot write '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw RunError("cannot write '" + tmp + "': " + why);
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw RunError("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

}  // namespace beyond
