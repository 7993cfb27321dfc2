#include "experiments/sample_command.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "core/errors.h"
#include "experiments/text/text_model.h"

namespace beyond {
namespace {

std::vector<std::string> prompt_texts(const SampleArgs& args) {
  return args.prompts.empty() ? std::vector<std::string>{"\n"} : args.prompts;
}

int sample_autoregressive(TextModel& m, const SampleArgs& args) {
  std::vector<std::vector<int64_t>> prompts;
  const auto texts = prompt_texts(args);
  for (const auto& p : texts) {
    for (int64_t i = 0; i < args.num_samples; ++i) prompts.push_back(m.tokenizer->encode(p));
  }
  const bool stream = prompts.size() == 1;
  if (stream) {
    std::fputs(texts[0].c_str(), stdout);
    std::fflush(stdout);
  }
  const auto on_token = [&](int64_t, int64_t id) {
    if (!stream) return;
    std::fputs(m.tokenizer->token_text(id).c_str(), stdout);
    std::fflush(stdout);
  };
  const auto g = generate(m.model, prompts, args.generate, m.tokenizer.get(), on_token);
  if (stream) {
    std::fputs("\n", stdout);
  } else {
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::cout << "--- sample " << i + 1 << "\n" << texts[i / static_cast<size_t>(args.num_samples)] << g.texts[i] << "\n";
    }
  }
  return 0;
}

int count_lines(const std::string& s) {
  int n = 1;
  for (char c : s) n += c == '\n';
  return n;
}

int sample_diffusion(TextModel& m, const SampleArgs& args) {
  DiffusionSamplerOptions opt = args.diffusion;
  opt.temperature = args.generate.sampling.temperature;
  opt.seed = args.generate.seed;
  opt.validate();
  const bool tty = ::isatty(STDOUT_FILENO);
  ModelDenoiser denoiser(m.model, opt.prefix_cache);
  const auto texts = prompt_texts(args);
  for (size_t pi = 0; pi < texts.size(); ++pi) {
    const auto ids = m.tokenizer->encode(texts[pi]);
    const int64_t room = m.model->cfg.max_seq_len - static_cast<int64_t>(ids.size());
    const int64_t gen_length = args.length_given ? args.generate.max_new_tokens : room;
    if (gen_length <= 0)
      throw InputError("nothing to generate: the prompt leaves " + std::to_string(room) + " of the model's " +
                       std::to_string(m.model->cfg.max_seq_len) + " positions, and --max-new-tokens must be positive");
    const int64_t total = static_cast<int64_t>(ids.size()) + gen_length;
    if (total > m.model->cfg.max_seq_len)
      throw InputError("prompt (" + std::to_string(ids.size()) + " tokens) + --max-new-tokens " +
                       std::to_string(gen_length) + " exceeds the model's max_seq_len " +
                       std::to_string(m.model->cfg.max_seq_len));
    const auto prompt = at::tensor(ids, at::kLong).view({1, -1}).repeat({args.num_samples, 1});
    int lines_drawn = 0;
    const auto draw = [&](const at::Tensor& tokens, const at::Tensor& fresh, const std::string& header) {
      std::string frame = header + "\n";
      for (int64_t r = 0; r < tokens.size(0); ++r) {
        if (tokens.size(0) > 1) frame += "--- sample " + std::to_string(r + 1) + "\n";
        frame += canvas_text(*m.tokenizer, tokens[r], m.mask_id(), fresh.defined() ? fresh[r] : at::Tensor(), tty) + "\n";
      }
      if (tty && lines_drawn > 0) std::printf("\x1b[%dA\x1b[J", lines_drawn);  // redraw in place
      std::fputs(frame.c_str(), stdout);
      std::fflush(stdout);
      lines_drawn = count_lines(frame) - 1;
      if (tty) std::this_thread::sleep_for(std::chrono::milliseconds(40));  // slow enough to watch
    };
    std::function<void(const DiffusionStep&)> on_step;
    if (args.show_steps) {
      const auto start = at::cat({prompt, at::full({prompt.size(0), gen_length}, m.mask_id(), at::kLong)}, 1);
      draw(start, {}, "step 0 (all masked)");
      on_step = [&](const DiffusionStep& s) {
        const int64_t n = s.committed.sum().item<int64_t>();
        draw(s.tokens, s.committed,
             "step " + std::to_string(s.step + 1) + ", block " + std::to_string(s.block + 1) + ": " +
                 std::to_string(n) + " committed" + (s.forward ? "" : " (cached prediction)"));
      };
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = diffusion_sample(denoiser, prompt.to(m.model->embed_tokens->weight.device()), gen_length,
                                    m.mask_id(), opt, on_step);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!args.show_steps) {
      for (int64_t row = 0; row < r.tokens.size(0); ++row) {
        if (r.tokens.size(0) > 1) std::cout << "--- sample " << row + 1 << "\n";
        std::cout << canvas_text(*m.tokenizer, r.tokens[row], m.mask_id()) << "\n";
      }
    }
    std::cout.flush();  // the text before the statistics line on stderr
    std::fprintf(stderr, "[%s, %ld steps, %ld forward passes, %.2f s]\n", opt.method.c_str(), r.steps,
                 r.forward_passes, secs);
  }
  return 0;
}

}  // namespace

int sample_command(const SampleArgs& args) {
  TextModel m = load_text_model(args.source, args.use_ema);
  return m.diffusion() ? sample_diffusion(m, args) : sample_autoregressive(m, args);
}

}  // namespace beyond
