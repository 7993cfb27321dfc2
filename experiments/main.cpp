// The `beyond` command line.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <CLI/CLI.hpp>
#include <torch/cuda.h>

#include <malloc.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "core/errors.h"
#include "core/log/log.h"
#include "experiments/arc_command.h"
#include "experiments/bench/bench.h"
#include "experiments/kv_memory_command.h"
#include "experiments/diffusion/compare_decoding.h"
#include "experiments/puzzle_commands.h"
#include "experiments/runner.h"
#include "experiments/sample_command.h"
#include "experiments/sweep.h"
#include "experiments/worldmodel/trace_command.h"

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
  // Training allocates and frees the same activation-sized buffers every step. glibc hands blocks
  // above its mmap threshold back to the kernel on free, so each step page-faults them in again;
  // blocks up to 32 MiB (and up to 1 GiB of free heap) stay in the process instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
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

  std::string eval_dir;
  int64_t eval_steps = 0;
  auto* eval = app.add_subcommand("eval", "Re-evaluate a finished run's latest checkpoint, e.g. with another number of test-time supervision steps");
  eval->add_option("run", eval_dir, "run folder")->required();
  eval->add_option("--steps", eval_steps, "test-time supervision steps (0: the run's own)")->capture_default_str()->check(CLI::NonNegativeNumber);
  eval->footer("Example: beyond eval runs/sudoku4_trm --steps 32");

  auto* sweep = app.add_subcommand("sweep", "Train a base config under named variants (each its own run, resumable) and write a comparison report");
  sweep->add_option("config", config_path, "sweep TOML ([sweep] and [variants.<name>])")->required();
  sweep->add_option("overrides", overrides, "key.sub=value overrides of the sweep file");
  sweep->footer("Example: beyond sweep experiments/configs/sudoku_ablations.toml sweep.jobs=2");

  auto* compare = app.add_subcommand(
      "compare-decoding",
      "Train (or resume) an AR model, a diffusion model and a larger AR judge, then decode under many settings and "
      "report sample quality (judge perplexity, entropy, distinct-n) against forward passes and wall time");
  compare->add_option("config", config_path, "compare TOML ([compare], [runs.*], [ar_decoding.*], [diffusion_decoding])")->required();
  compare->add_option("overrides", overrides, "key.sub=value overrides of the compare file");
  compare->footer("Example: beyond compare-decoding experiments/configs/compare_decoding.toml compare.samples=4\n"
                  "         (writes decoding.json, report.md, summary.json and decoding.png to compare.dir)");

  auto* config = app.add_subcommand("config", "Inspect configs");
  config->require_subcommand(1);
  config->footer("Example: beyond config show experiments/configs/quickstart.toml train.lr=1e-3");
  auto* show = config->add_subcommand("show", "Print the fully resolved config (defaults filled in, overrides applied)");
  show->add_option("config", config_path, "TOML config file")->required();
  show->add_option("overrides", overrides, "key.sub=value overrides");
  show->footer("Example: beyond config show experiments/configs/quickstart.toml model.d_model=128");

  beyond::SampleArgs sample_args;
  auto& gen = sample_args.generate;
  auto* sample = app.add_subcommand("sample", "Generate text from a trained language model (a run folder or a checkpoint), streamed as it is produced");
  sample->add_option("source", sample_args.source, "run folder (its last checkpoint) or checkpoint file")->required();
  sample->add_option("--prompt", sample_args.prompts, "prompt text; repeat for a batch of prompts (default: a newline)");
  sample->add_option("--max-new-tokens", gen.max_new_tokens, "tokens to generate per sample (diffusion runs: the canvas; default fills the model's window)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sample->add_option("--temperature", gen.sampling.temperature, "0 is greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  sample->add_option("--top-k", gen.sampling.top_k, "keep the k most likely tokens (0: off)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sample->add_option("--top-p", gen.sampling.top_p, "nucleus: smallest set with this mass (1: off)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  sample->add_option("--min-p", gen.sampling.min_p, "keep tokens with p >= min_p * p_max (0: off)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  sample->add_option("--repetition-penalty", gen.sampling.repetition_penalty, "CTRL-style penalty on seen tokens (1: off)")->capture_default_str()->check(CLI::PositiveNumber);
  sample->add_option("--stop", gen.stop, "stop a sample when its output ends with this string (repeatable)");
  sample->add_option("--seed", gen.seed, "sampling seed")->capture_default_str();
  sample->add_option("--num-samples", sample_args.num_samples, "samples per prompt")->capture_default_str()->check(CLI::PositiveNumber);
  sample->add_flag("--no-cache{false}", gen.use_cache, "recompute the whole context every step instead of using the KV cache");
  sample->add_flag("--no-ema{false}", sample_args.use_ema, "use the raw weights even when the checkpoint has EMA weights");
  auto& diff = sample_args.diffusion;
  sample->add_option("--method", diff.method, "diffusion runs: llada | mdlm | threshold")->capture_default_str()->check(CLI::IsMember(beyond::kDiffusionMethods));
  sample->add_option("--steps", diff.steps, "diffusion runs: denoising steps (forward passes)")->capture_default_str()->check(CLI::PositiveNumber);
  sample->add_option("--block", diff.block_length, "diffusion runs: semi-autoregressive block length (0: one block)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sample->add_option("--remasking", diff.remasking, "diffusion runs: which masked positions commit first")->capture_default_str()->check(CLI::IsMember(beyond::kRemaskingOrders));
  sample->add_option("--threshold", diff.threshold, "diffusion runs, method threshold: confidence needed to commit")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  sample->add_flag("--prefix-cache", diff.prefix_cache, "diffusion runs: Fast-dLLM's block-wise approximate KV cache");
  sample->add_flag("--show-steps", sample_args.show_steps, "diffusion runs: redraw the text after every step, masks shown as a placeholder");
  sample->footer("Example: beyond sample runs/shakespeare_char_ar --prompt \"ROMEO:\" --max-new-tokens 200 --top-p 0.9 --seed 1\n"
                 "         beyond sample runs/shakespeare_char_diffusion --steps 64 --block 32 --remasking low-confidence --show-steps");

  beyond::BenchArgs bench_args;
  auto* bench = app.add_subcommand("bench", "Speed benchmarks of the C++ core beside a PyTorch eager reference");
  bench->require_subcommand(1);
  bench->footer("Example: beyond bench ar-train");
  auto* bench_train = bench->add_subcommand("ar-train", "Training steps per second of the GPT-2 style anchor model, C++ vs Python eager");
  bench_train->add_option("--steps", bench_args.steps, "timed steps")->capture_default_str()->check(CLI::PositiveNumber);
  bench_train->add_option("--warmup", bench_args.warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
  bench_train->add_option("--threads", bench_args.threads, "intra-op threads, both sides")->capture_default_str()->check(CLI::PositiveNumber);
  bench_train->footer("Example: beyond bench ar-train --steps 100 --threads 2");
  auto* bench_generate = bench->add_subcommand("ar-generate", "Generated tokens per second with and without the KV cache, at 256 and 1024 new tokens");
  bench_generate->add_option("--threads", bench_args.threads, "intra-op threads, both sides")->capture_default_str()->check(CLI::PositiveNumber);
  bench_generate->footer("Example: beyond bench ar-generate --threads 1");
  beyond::BenchArgs trm_args;
  trm_args.steps = 20;
  trm_args.warmup = 3;
  auto* bench_trm = bench->add_subcommand("trm-step", "Training steps per second of the Tiny Recursive Model at a config's size, C++ vs Python eager");
  bench_trm->add_option("--config", trm_args.config, "TOML whose [model], task.size and [train] set the model and step (default: experiments/configs/sudoku9_trm.toml)");
  bench_trm->add_option("overrides", trm_args.overrides, "key.sub=value overrides, applied after the file");
  bench_trm->add_option("--steps", trm_args.steps, "timed steps")->capture_default_str()->check(CLI::PositiveNumber);
  bench_trm->add_option("--warmup", trm_args.warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
  bench_trm->add_option("--threads", trm_args.threads, "intra-op threads, both sides")->capture_default_str()->check(CLI::PositiveNumber);
  bench_trm->footer("Example: beyond bench trm-step --threads 1 model.mixer=attention model.positional=rope");

  beyond::DiffusionBenchArgs diff_bench;
  auto* bench_diffusion = bench->add_subcommand("diffusion-sample", "Tokens per second of diffusion sampling (llada, threshold, prefix cache) against AR decoding with the KV cache");
  bench_diffusion->add_option("--threads", diff_bench.threads, "intra-op threads")->capture_default_str()->check(CLI::PositiveNumber);
  bench_diffusion->add_option("--warmup", diff_bench.warmup, "untimed short runs per batch size first")->capture_default_str()->check(CLI::NonNegativeNumber);
  bench_diffusion->add_option("--repeats", diff_bench.repeats, "timed runs per setting (median; fewer once a setting has taken 20 s)")->capture_default_str()->check(CLI::PositiveNumber);
  bench_diffusion->add_option("--length", diff_bench.length, "tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  bench_diffusion->add_option("--batch", diff_bench.batches, "batch sizes")->capture_default_str()->check(CLI::PositiveNumber)->delimiter(',');
  bench_diffusion->add_option("--steps", diff_bench.steps, "llada step counts")->capture_default_str()->check(CLI::PositiveNumber)->delimiter(',');
  bench_diffusion->add_option("--block", diff_bench.block_length, "block length of llada and the threshold sampler (0: one block)")->capture_default_str()->check(CLI::NonNegativeNumber);
  bench_diffusion->add_option("--threshold", diff_bench.threshold, "threshold sampler's confidence")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  bench_diffusion->add_option("--ar-run", diff_bench.ar_run, "a trained text_lm run (with --diffusion-run) instead of random weights");
  bench_diffusion->add_option("--diffusion-run", diff_bench.diffusion_run, "a trained text_diffusion run (with --ar-run)");
  bench_diffusion->footer("Example: beyond bench diffusion-sample --threads 1 --batch 1,16 --steps 16,64,256\n"
                          "         beyond bench diffusion-sample --ar-run runs/compare_decoding/ar --diffusion-run runs/compare_decoding/diffusion");

  beyond::DeltaNetBenchArgs deltanet_args;
  auto* bench_deltanet = bench->add_subcommand("deltanet", "Training cost (time, peak memory) of the gated delta rule, chunked vs recurrent form, at several lengths");
  bench_deltanet->add_option("--lengths", deltanet_args.lengths, "sequence lengths")->capture_default_str()->check(CLI::PositiveNumber)->delimiter(',');
  bench_deltanet->add_option("--heads", deltanet_args.heads, "heads")->capture_default_str()->check(CLI::PositiveNumber);
  bench_deltanet->add_option("--dim", deltanet_args.dim, "key and value dim per head")->capture_default_str()->check(CLI::PositiveNumber);
  bench_deltanet->add_option("--chunk", deltanet_args.chunk, "chunk length of the chunked form")->capture_default_str()->check(CLI::PositiveNumber);
  bench_deltanet->add_option("--repeats", deltanet_args.repeats, "timed runs per form and length (median)")->capture_default_str()->check(CLI::PositiveNumber);
  bench_deltanet->add_option("--threads", deltanet_args.threads, "intra-op threads")->capture_default_str()->check(CLI::PositiveNumber);
  bench_deltanet->add_option("--one", deltanet_args.one)->group("");   // child process: one measurement
  bench_deltanet->add_option("--dump", deltanet_args.dump)->group("");  // child process: output file
  bench_deltanet->footer("Example: beyond bench deltanet --lengths 256,1024,4096 --heads 4 --dim 64");
  beyond::HybridDecodeBenchArgs hybrid_args;
  auto* bench_hybrid = bench->add_subcommand("hybrid-decode", "Decoding tokens/s and cache bytes at long contexts: full attention vs 3:1 gated DeltaNet and KDA hybrids");
  bench_hybrid->add_option("--contexts", hybrid_args.contexts, "context lengths")->capture_default_str()->check(CLI::PositiveNumber)->delimiter(',');
  bench_hybrid->add_option("--new-tokens", hybrid_args.new_tokens, "timed single-token steps per repeat")->capture_default_str()->check(CLI::PositiveNumber);
  bench_hybrid->add_option("--repeats", hybrid_args.repeats, "timed repeats (median)")->capture_default_str()->check(CLI::PositiveNumber);
  bench_hybrid->add_option("--prefill-chunk", hybrid_args.prefill_chunk, "tokens per prefill call")->capture_default_str()->check(CLI::PositiveNumber);
  bench_hybrid->add_option("--threads", hybrid_args.threads, "intra-op threads")->capture_default_str()->check(CLI::PositiveNumber);
  bench_hybrid->footer("Example: beyond bench hybrid-decode --contexts 1024,4096,16384 --new-tokens 32");

  beyond::PuzzleCli puzzles(app);  // sudoku generate|solve|rate|show, maze generate|show
  beyond::TraceCli traces(app);    // trace FILE --call ..., trace generate
  beyond::KvMemoryCli kv_memory(app);  // kv-memory CONFIG --context ...
  beyond::ArcCli arc(app);         // arc show TASK.json [--prediction FILE]

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
    if (*eval) return beyond::eval_run(eval_dir, eval_steps);
    if (*sweep) return beyond::run_sweep(config_path, overrides);
    if (*compare) return beyond::compare_decoding(config_path, overrides);
    if (*show) {
      std::cout << beyond::resolve_config(config_path, overrides);
      return 0;
    }
    if (*sample) {
      sample_args.length_given = sample->count("--max-new-tokens") > 0;
      return beyond::sample_command(sample_args);
    }
    if (*bench_train) return beyond::bench_ar_train(bench_args);
    if (*bench_generate) return beyond::bench_ar_generate(bench_args);
    if (*bench_trm) return beyond::bench_trm_step(trm_args);
    if (*bench_diffusion) return beyond::bench_diffusion_sample(diff_bench);
    if (*bench_deltanet) return beyond::bench_deltanet(deltanet_args);
    if (*bench_hybrid) return beyond::bench_hybrid_decode(hybrid_args);
    if (puzzles.selected()) return puzzles.run();
    if (traces.selected()) return traces.run();
    if (arc.selected()) return arc.run();
    if (kv_memory.selected()) return kv_memory.run();
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
