#include "autoregressive/generate.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/errors.h"

namespace beyond {
namespace {

bool ends_with_stop(const std::string& text, const std::vector<std::string>& stop) {
  for (const auto& s : stop) {
    if (!s.empty() && text.size() >= s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

}  // namespace

Generation generate(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                    const GenerateOptions& opt, const Tokenizer* tokenizer,
                    const std::function<void(int64_t, int64_t)>& on_token) {
  c10::InferenceMode inference;
  const auto B = static_cast<int64_t>(prompts.size());
  if (B == 0) return {};
  size_t min_len = prompts[0].size();
  for (const auto& p : prompts) {
    if (p.empty()) throw InputError("an empty prompt: give at least one token (e.g. a newline)");
    min_len = std::min(min_len, p.size());
  }
  const int64_t window = model->cfg.max_seq_len;
  const auto device = model->embed_tokens->weight.device();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);

  // context[r]: every token of row r so far (prompt + output); the model has seen `cached` of them.
  std::vector<std::vector<int64_t>> context = prompts;
  Generation out;
  out.tokens.resize(static_cast<size_t>(B));
  out.texts.resize(static_cast<size_t>(B));
  if (opt.max_new_tokens <= 0) return out;
  std::vector<bool> done(static_cast<size_t>(B), false);
  auto cache = model->make_cache(opt.use_cache ? window : 0);
  int64_t cached = 0;  // positions in the cache (the same for every row)

  const auto rows_tensor = [&](int64_t from, int64_t to) {  // context[:, from:to] as [B, to-from]
    std::vector<int64_t> flat;
    for (const auto& c : context) flat.insert(flat.end(), c.begin() + from, c.begin() + to);
    return at::tensor(flat, at::kLong).view({B, to - from}).to(device);
  };

  // `length`: positions per row the model will have seen after this step. Rows still inside
  // their prompt already hold their next tokens in `context`; the others append a sample.
  for (int64_t length = static_cast<int64_t>(min_len);; ++length) {
    at::Tensor logits;
    if (!opt.use_cache) {
      logits = model(rows_tensor(std::max<int64_t>(0, length - window), length));
    } else {
      if (length > window) {  // the window is full: re-encode its last half at positions 0..
        cache.clear();
        cached = length - window / 2;
      }
      logits = model(rows_tensor(cached, length), &cache);
      cached = length;
    }
    ++out.forward_passes;
    const auto last = logits.select(1, logits.size(1) - 1).to(at::kFloat).cpu();  // (B, V)
    const auto history = opt.sampling.repetition_penalty != 1.0 ? rows_tensor(0, length).cpu() : at::Tensor();
    const auto next = sample_next(last, opt.sampling, history, gen);
    const auto* next_ptr = next.data_ptr<int64_t>();
    bool all_done = true;
    for (size_t r = 0; r < static_cast<size_t>(B); ++r) {
      if (static_cast<int64_t>(prompts[r].size()) > length) {
        all_done = false;  // still feeding its prompt
        continue;
      }
      const int64_t token = next_ptr[r];
      context[r].push_back(token);  // finished rows go on too, to keep the batch aligned
      if (done[r]) continue;
      if (tokenizer && token == tokenizer->eos()) {
        done[r] = true;
        continue;
      }
      out.tokens[r].push_back(token);
      ++out.tokens_generated;
      if (on_token) on_token(static_cast<int64_t>(r), token);
      if (tokenizer) {
        out.texts[r] += tokenizer->token_text(token);
        if (ends_with_stop(out.texts[r], opt.stop)) done[r] = true;
      }
      if (static_cast<int64_t>(out.tokens[r].size()) >= opt.max_new_tokens) done[r] = true;
      all_done = all_done && done[r];
    }
    if (all_done) break;
  }
  return out;
}

}  // namespace beyond
