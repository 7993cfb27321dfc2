// The `beyond` command line.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <CLI/CLI.hpp>
#include <torch/cuda.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "core/errors.h"
#include "core/log/log.h"
#include "experiments/runner.h"

namespace {

std::string beyond_torch_version() {
  // The wheel's headers carry no version macro; CMake passes the version it found.
  return BEYOND_TORCH_VERSION;
}

std::string cpu_features() {
  // The flags that decide LibTorch's fast paths (bf16 needs avx512_bf16 or AMX to be quick).
  std::string out;
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown";
  char line[8192];
  while (std::fgets(line, sizeof line, f)) {
    std::string s(line);
    if (s.rfind("flags", 0) != 0) continue;
    for (const char* want : {"avx2", "fma", "avx512f", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_tile"}) {
      if (s.find(std::string(" ") + want + " ") != std::string::npos ||
          s.find(std::string(" ") + want + "\n") != std::string::npos)
        out += std::string(want) + " ";
    }
    break;
  }
  std::fclose(f);
  return out;
}

void print_info() {
  std::cout << "beyond " << BEYOND_VERSION << "\n"
            << "libtorch " << beyond_torch_version() << "\n"
            << "intra-op threads " << at::get_num_threads() << " (hardware " << std::thread::hardware_concurrency() << ")\n"
            << "cuda " << (torch::cuda::is_available() ? "available, " + std::to_string(torch::cuda::device_count()) + " device(s)" : "not available") << "\n"
            << "cpu features " << cpu_features() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  beyond::log::init();
  CLI::App app{"beyond: a research toolkit for diffusion, recursive and world models beside the autoregressive LLM"};
  app.set_version_flag("--version", std::string("beyond ") + BEYOND_VERSION);
  app.require_subcommand(1);
  app.footer("Example: beyond run experiments/configs/quickstart.toml train.steps=200");

  std::string config_path;
  std::vector<std::string> overrides;
  auto* run = app.add_subcommand("run", "Train or evaluate the experiment a TOML config names; resumes from the run's last checkpoint");
  run->add_option("config", config_path, "TOML config file")->required();
  run->add_option("overrides", overrides, "key.sub=value overrides, applied after the file");
  run->footer("Example: beyond run experiments/configs/quickstart.toml train.steps=300 run.dir=runs/try1");

  auto* config = app.add_subcommand("config", "Inspect configs");
  config->require_subcommand(1);
  config->footer("Example: beyond config show experiments/configs/quickstart.toml train.lr=1e-3");
  auto* show = config->add_subcommand("show", "Print the fully resolved config (defaults filled in, overrides applied)");
  show->add_option("config", config_path, "TOML config file")->required();
  show->add_option("overrides", overrides, "key.sub=value overrides");
  show->footer("Example: beyond config show experiments/configs/quickstart.toml model.d_model=128");

  auto* info = app.add_subcommand("info", "Print versions, threads, device and CPU features");
  info->footer("Example: beyond info");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (*run) return beyond::run_experiment(config_path, overrides);
    if (*show) {
      std::cout << beyond::resolve_config(config_path, overrides);
      return 0;
    }
    if (*info) {
      print_info();
      return 0;
    }
  } catch (const beyond::InputError& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  } catch (const beyond::RunError& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    // LibTorch's message without its C++ backtrace: the first line says what went wrong.
    std::string msg = e.what_without_backtrace();
    msg = msg.substr(0, msg.find('\n'));
    std::cerr << "error: " << msg << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
