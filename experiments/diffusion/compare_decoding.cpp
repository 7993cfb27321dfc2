#include "experiments/diffusion/compare_decoding.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "autoregressive/generate.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/run.h"
#include "core/text_data.h"
#include "diffusion/denoiser.h"
#include "diffusion/sampler.h"
#include "experiments/runner.h"
#include "experiments/text/text_model.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace beyond {

// ---------------------------------------------------------------------------------------------
// Quality metrics

std::vector<std::string> utf8_chars(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + n > text.size()) n = 1;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) n = 1;
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

double unigram_entropy_bits(const std::vector<std::string>& units) {
  if (units.empty()) return 0.0;
  std::map<std::string, int64_t> counts;
  for (const auto& u : units) ++counts[u];
  const double n = static_cast<double>(units.size());
  double h = 0.0;
  for (const auto& [u, k] : counts) {
    const double p = static_cast<double>(k) / n;
    h -= p * std::log2(p);
  }
  return h;
}

double distinct_n(const std::vector<std::string>& units, int64_t n) {
  if (n < 1 || static_cast<int64_t>(units.size()) < n) return 0.0;
  std::set<std::vector<std::string>> seen;
  const int64_t total = static_cast<int64_t>(units.size()) - n + 1;
  for (int64_t i = 0; i < total; ++i) seen.emplace(units.begin() + i, units.begin() + i + n);
  return static_cast<double>(seen.size()) / static_cast<double>(total);
}

JudgeScore judge_nll(LanguageModel& judge, const std::vector<int64_t>& context,
                     const std::vector<int64_t>& continuation) {
  if (context.empty()) throw InputError("judge_nll needs at least one context token");
  JudgeScore score;
  if (continuation.empty()) return score;
  torch::NoGradGuard no_grad;
  judge->eval();
  const auto device = judge->parameters().front().device();
  std::vector<int64_t> all(context);
  all.insert(all.end(), continuation.begin(), continuation.end());
  const int64_t total = static_cast<int64_t>(all.size()), first = static_cast<int64_t>(context.size());
  const int64_t window = std::max<int64_t>(2, judge->cfg.max_seq_len), stride = std::max<int64_t>(1, window / 2);
  // Targets [first, total) are scored; window [s, s + window) scores targets in (s, s + window)
  // that an earlier window did not.
  int64_t next = first;  // first target not yet scored
  for (int64_t s = 0; next < total; s += stride) {
    const int64_t e = std::min(total, s + window);
    if (e <= next) continue;
    const auto ids = at::tensor(std::vector<int64_t>(all.begin() + s, all.begin() + e), at::kLong).unsqueeze(0).to(device);
    const auto logp = at::log_softmax(judge->forward(ids).to(at::kFloat).squeeze(0), -1);  // [e - s, V]
    // Position j predicts token j + 1.
    const int64_t lo = std::max(next, s + 1);
    const auto pos = at::arange(lo - 1 - s, e - 1 - s, at::kLong).to(device);
    const auto tgt = ids.squeeze(0).index_select(0, pos + 1);
    const auto picked = logp.index_select(0, pos).gather(1, tgt.unsqueeze(1));
    score.nll_nats -= picked.sum().item<double>();
    score.tokens += e - lo;
    next = e;
  }
  return score;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct RunSpec {
  std::string name, config;
  std::vector<std::string> overrides;
};

struct Decoder {
  std::string model;  // "ar" | "diffusion"
  std::string name;
  SamplingOptions sampling;          // ar
  DiffusionSamplerOptions diffusion;  // diffusion
};

struct Spec {
  std::string name, dir, description, prompt;
  int64_t samples = 8, batch_size = 8, gen_length = 256, reference_chunks = 16, threads = 0;
  uint64_t seed = 1;
  double ppl_tolerance = 0.05, degenerate_entropy = 0.9, degenerate_distinct_3 = 0.75;
  std::vector<RunSpec> runs;  // ar, diffusion, judge
  std::vector<Decoder> decoders;
  std::vector<std::string> skipped;  // grid points that cannot run (llada steps vs blocks)
};

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

Spec read_spec(const std::string& path, const std::vector<std::string>& overrides) {
  Config c = Config::load(path, overrides);
  Spec s;
  s.name = fs::path(path).stem().string();
  s.dir = c.get_string("compare.dir", "runs/" + s.name);
  s.description = c.get_string("compare.description", "");
  s.prompt = c.get_string("compare.prompt", "\n");
  if (s.prompt.empty()) throw c.error("compare.prompt", "the prompt needs at least one character");
  s.samples = c.get_int("compare.samples", 8, 1, 100000);
  s.batch_size = c.get_int("compare.batch_size", s.samples, 1, 100000);
  s.gen_length = c.get_int("compare.gen_length", 256, 1, 1 << 16);
  s.reference_chunks = c.get_int("compare.reference_chunks", 16, 1, 100000);
  s.threads = c.get_int("compare.threads", 0, 0, 1024);
  s.seed = static_cast<uint64_t>(c.get_int("compare.seed", 1, 0));
  s.ppl_tolerance = c.get_float("compare.ppl_tolerance", 0.05, 0.0, 10.0);
  s.degenerate_entropy = c.get_float("compare.degenerate_entropy", 0.9, 0.0, 1.0);
  s.degenerate_distinct_3 = c.get_float("compare.degenerate_distinct_3", 0.75, 0.0, 1.0);

  for (const std::string name : {"ar", "diffusion", "judge"}) {
    const std::string k = "runs." + name;
    RunSpec r;
    r.name = name;
    r.config = c.get_string(k + ".config", "");
    if (r.config.empty()) throw c.error(k + ".config", "[" + k + "] config is required (a base TOML of the run)");
    if (!fs::is_regular_file(r.config)) throw c.error(k + ".config", "config '" + r.config + "' not found");
    r.overrides = c.get_string_list(k + ".overrides", {});
    s.runs.push_back(std::move(r));
  }
  for (const auto& name : c.keys("runs"))
    if (name != "ar" && name != "diffusion" && name != "judge")
      throw c.error("runs." + name, "unknown run 'runs." + name + "': the runs are ar, diffusion and judge");

  // AR decoders: one table each, in the order of ar_decoding.order (default: sorted names).
  const auto ar_names = c.get_string_list("ar_decoding.order", [&] {
    std::vector<std::string> v;
    for (const auto& k : c.keys("ar_decoding"))
      if (k != "order") v.push_back(k);
    return v;
  }());
  for (const auto& name : ar_names) {
    const std::string k = "ar_decoding." + name;
    if (!c.has(k)) throw c.error("ar_decoding.order", "ar_decoding.order names '" + name + "' but there is no [" + k + "] table");
    Decoder d;
    d.model = "ar";
    d.name = name;
    d.sampling.temperature = c.get_float(k + ".temperature", 1.0, 0.0, 100.0);
    d.sampling.top_k = c.get_int(k + ".top_k", 0, 0);
    d.sampling.top_p = c.get_float(k + ".top_p", 1.0, 0.0, 1.0);
    d.sampling.min_p = c.get_float(k + ".min_p", 0.0, 0.0, 1.0);
    s.decoders.push_back(d);
  }
  for (const auto& k : c.keys("ar_decoding"))
    if (k != "order" && std::find(ar_names.begin(), ar_names.end(), k) == ar_names.end())
      throw c.error("ar_decoding." + k, "decoder '" + k + "' is not listed in ar_decoding.order");

  // Diffusion: the llada grid (steps x remasking x block length), the threshold sampler per
  // threshold, and optionally MDLM's ancestral sampler per step count.
  const std::string t = "diffusion_decoding.";
  const auto steps = c.get_int_list(t + "steps", {16, 64, 256}, 1, 1 << 20);
  const auto remasking = c.get_string_list(t + "remasking", {"low-confidence"});
  for (const auto& r : remasking)
    if (std::find(kRemaskingOrders.begin(), kRemaskingOrders.end(), r) == kRemaskingOrders.end())
      throw c.error(t + "remasking", "unknown remasking order '" + r + "' (random | low-confidence | margin | entropy | left-to-right)");
  const auto blocks = c.get_int_list(t + "block_lengths", {0}, 0, 1 << 20);
  const double temperature = c.get_float(t + "temperature", 0.0, 0.0, 100.0);
  const bool prefix_cache = c.get_bool(t + "prefix_cache", false);
  // Thresholds in percent (Config has no float lists): 90 is a confidence of 0.9.
  std::vector<double> ths;
  for (const auto x : c.get_int_list(t + "thresholds_percent", {}, 0, 100)) ths.push_back(static_cast<double>(x) / 100.0);
  const int64_t th_block = c.get_int(t + "threshold_block_length", 32, 0, 1 << 20);
  const auto th_cache = c.get_string_list(t + "threshold_prefix_cache", {"off"});
  for (const auto& v : th_cache)
    if (v != "off" && v != "on") throw c.error(t + "threshold_prefix_cache", "threshold_prefix_cache takes \"off\" and/or \"on\", not '" + v + "'");
  const auto mdlm_steps = c.get_int_list(t + "mdlm_steps", {}, 1, 1 << 20);
  c.check_all_used();

  const auto check_block = [&](const std::string& key, int64_t b) {
    if (b > 0 && s.gen_length % b != 0)
      throw c.error(key, "block length " + std::to_string(b) + " does not divide compare.gen_length " + std::to_string(s.gen_length));
  };
  for (const auto b : blocks) check_block(t + "block_lengths", b);
  if (!ths.empty()) check_block(t + "threshold_block_length", th_block);
  const auto validate = [&](const std::string& key, const DiffusionSamplerOptions& o) {
    try {
      o.validate();
    } catch (const InputError& e) {
      throw c.error(key, e.what());
    }
  };
  for (const auto b : blocks) {
    const int64_t nblocks = b == 0 ? 1 : s.gen_length / b;
    for (const auto& r : remasking) {
      for (const auto st : steps) {
        const std::string name = "llada s" + std::to_string(st) + " b" + std::to_string(b == 0 ? s.gen_length : b) + " " + r;
        if (st % nblocks != 0) {
          s.skipped.push_back(name + " (" + std::to_string(st) + " steps over " + std::to_string(nblocks) + " blocks)");
          continue;
        }
        Decoder d;
        d.model = "diffusion";
        d.name = name;
        d.diffusion.method = "llada";
        d.diffusion.steps = st;
        d.diffusion.block_length = b;
        d.diffusion.remasking = r;
        d.diffusion.temperature = temperature;
        d.diffusion.prefix_cache = prefix_cache;
        d.diffusion.seed = s.seed;
        validate(t + "steps", d.diffusion);
        s.decoders.push_back(d);
      }
    }
  }
  for (const auto& cache : th_cache) {
    for (const double th : ths) {
      Decoder d;
      d.model = "diffusion";
      d.name = "threshold " + fmt("%g", th) + " b" + std::to_string(th_block == 0 ? s.gen_length : th_block) +
               (cache == "on" ? " cache" : "");
      d.diffusion.method = "threshold";
      d.diffusion.threshold = th;
      d.diffusion.block_length = th_block;
      d.diffusion.temperature = temperature;
      d.diffusion.prefix_cache = cache == "on";
      d.diffusion.seed = s.seed;
      validate(t + "thresholds_percent", d.diffusion);
      s.decoders.push_back(d);
    }
  }
  for (const auto st : mdlm_steps) {
    Decoder d;
    d.model = "diffusion";
    d.name = "mdlm s" + std::to_string(st);
    d.diffusion.method = "mdlm";
    d.diffusion.steps = st;
    d.diffusion.temperature = 1.0;  // ancestral sampling draws from p_theta
    d.diffusion.seed = s.seed;
    validate(t + "mdlm_steps", d.diffusion);
    s.decoders.push_back(d);
  }
  if (s.decoders.empty()) throw c.error("ar_decoding", "no decoders: add [ar_decoding.<name>] tables or a [diffusion_decoding] grid");
  return s;
}

// One generated (or reference) sample: its text and the judge's ids for prompt and text.
struct Sample {
  std::string text;
  JudgeScore score;
  double entropy = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0;
  int64_t chars = 0;
};

// Ids of a generating model -> text, special tokens (never expected) dropped.
std::string ids_to_text(const Tokenizer& tok, const std::vector<int64_t>& ids, int64_t& dropped) {
  std::vector<int64_t> keep;
  const auto& specials = tok.specials();
  for (const auto id : ids) {
    if (std::find(specials.begin(), specials.end(), tok.token_text(id)) != specials.end()) ++dropped;
    else keep.push_back(id);
  }
  return tok.decode(keep);
}

Sample score_text(LanguageModel& judge, const Tokenizer& judge_tok, const std::vector<int64_t>& judge_prompt,
                  const std::string& text) {
  Sample s;
  s.text = text;
  std::vector<int64_t> ids;
  try {
    ids = judge_tok.encode(text);
  } catch (const InputError& e) {
    throw RunError(std::string("the judge cannot read a sample: ") + e.what());
  }
  s.score = judge_nll(judge, judge_prompt, ids);
  const auto chars = utf8_chars(text);
  s.chars = static_cast<int64_t>(chars.size());
  s.entropy = unigram_entropy_bits(chars);
  s.d1 = distinct_n(chars, 1);
  s.d2 = distinct_n(chars, 2);
  s.d3 = distinct_n(chars, 3);
  return s;
}

// A row of decoding.json: the aggregate of a setting's samples.
json aggregate(const std::vector<Sample>& samples) {
  double nll = 0.0, chars = 0.0, ent = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0;
  int64_t tokens = 0;
  std::vector<double> bpc;
  for (const auto& s : samples) {
    nll += s.score.nll_nats;
    tokens += s.score.tokens;
    chars += static_cast<double>(s.chars);
    ent += s.entropy;
    d1 += s.d1;
    d2 += s.d2;
    d3 += s.d3;
    if (s.chars > 0) bpc.push_back(s.score.nll_nats / static_cast<double>(s.chars) / std::log(2.0));
  }
  const double n = static_cast<double>(std::max<size_t>(1, samples.size()));
  double mean_bpc = 0.0, var = 0.0;
  for (const double b : bpc) mean_bpc += b / static_cast<double>(bpc.size());
  for (const double b : bpc) var += (b - mean_bpc) * (b - mean_bpc);
  const double se = bpc.size() > 1 ? std::sqrt(var / static_cast<double>(bpc.size() - 1) / static_cast<double>(bpc.size())) : 0.0;
  json r;
  r["samples"] = samples.size();
  r["judge_bpc"] = chars > 0 ? nll / chars / std::log(2.0) : std::nan("");
  r["judge_bpc_se"] = se;
  r["gen_ppl"] = tokens > 0 ? std::exp(nll / static_cast<double>(tokens)) : std::nan("");
  r["entropy_bits"] = ent / n;
  r["distinct_1"] = d1 / n;
  r["distinct_2"] = d2 / n;
  r["distinct_3"] = d3 / n;
  r["example"] = samples.empty() ? "" : samples.front().text;
  return r;
}

double num(const json& r, const char* key) {
  return r.contains(key) && r[key].is_number() ? r[key].get<double>() : std::nan("");
}

std::string one_line(std::string s, size_t max_chars) {
  const auto chars = utf8_chars(s);
  std::string out;
  for (size_t i = 0; i < chars.size() && i < max_chars; ++i) out += chars[i] == "\n" ? "⏎" : chars[i] == "|" ? "\\|" : chars[i];
  return out;
}

std::string write_report(const Spec& s, const json& doc) {
  const auto& rows = doc["rows"];
  const json& ref = doc["reference"];
  const double tol = s.ppl_tolerance;
  std::string md = "# " + s.name + "\n\n";
  if (!s.description.empty()) md += "What it should show: " + s.description + "\n\n";
  md += "Runs: AR `" + s.dir + "/ar`, diffusion `" + s.dir + "/diffusion`, judge `" + s.dir + "/judge` (" +
        doc["judge"]["params"].dump() + " parameters; val_bpc " + fmt("%.3f", num(doc["judge"], "val_bpc")) + "). " +
        std::to_string(s.samples) + " samples of " + std::to_string(s.gen_length) + " characters per setting after the prompt " +
        json(s.prompt).dump() + ", in batches of " + std::to_string(s.batch_size) + "; " + std::to_string(at::get_num_threads()) +
        " thread(s).\n\n";
  md += "Quality: `judge bpc` is the judge's teacher-forced bits per character of the samples (lower reads as more "
        "Shakespeare-like), `gen ppl` its per-token perplexity; `entropy` is the unigram entropy of a sample's characters in "
        "bits and `d-1/2/3` the fraction of distinct 1/2/3-grams, means over samples. A row whose entropy is below " +
        fmt("%.0f", 100 * s.degenerate_entropy) + "% of the held-out text's, or whose distinct-3 is below " +
        fmt("%.0f", 100 * s.degenerate_distinct_3) + "% of its, is marked degenerate (repetition buys a low perplexity). NFE: forward passes per batch, i.e. per sequence; time: wall seconds per sample.\n\n";
  md += "| model | decoder | NFE | s/sample | tokens/s | judge bpc | gen ppl | entropy | d-1 | d-2 | d-3 | note |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const auto line = [&](const json& r) {
    const bool real = r["model"] == "reference";
    md += "| " + r["model"].get<std::string>() + " | " + r["decoder"].get<std::string>() + " | " +
          (real ? "–" : fmt("%.1f", num(r, "nfe"))) + " | " + (real ? "–" : fmt("%.3f", num(r, "seconds_per_sample"))) +
          " | " + (real ? "–" : fmt("%.0f", num(r, "tokens_per_s"))) + " | " + fmt("%.3f", num(r, "judge_bpc")) + " ± " +
          fmt("%.3f", num(r, "judge_bpc_se")) + " | " + fmt("%.2f", num(r, "gen_ppl")) + " | " +
          fmt("%.2f", num(r, "entropy_bits")) + " | " + fmt("%.2f", num(r, "distinct_1")) + " | " +
          fmt("%.2f", num(r, "distinct_2")) + " | " + fmt("%.2f", num(r, "distinct_3")) + " | " +
          (r.value("degenerate", false) ? "degenerate" : "") + " |\n";
  };
  line(ref);
  for (const auto& r : rows) line(r);
  if (!s.skipped.empty()) {
    md += "\nNot run (llada needs the steps divisible by the number of blocks):";
    for (const auto& k : s.skipped) md += " " + k + ";";
    md += "\n";
  }
  if (fs::exists(s.dir + "/decoding.png")) md += "\n![quality against NFE and wall time](decoding.png)\n";

  const auto ok = [](const json& r) { return !r.value("degenerate", false) && std::isfinite(num(r, "gen_ppl")); };
  const auto name = [](const json& r) { return r["model"].get<std::string>() + " " + r["decoder"].get<std::string>(); };
  const auto matching = [&](const json& target, const std::function<bool(const json&)>& pick, bool by_time) {
    const json* best = nullptr;
    for (const auto& r : rows) {
      if (!pick(r) || !ok(r) || num(r, "gen_ppl") > num(target, "gen_ppl") * (1 + tol)) continue;
      const char* key = by_time ? "seconds_per_sample" : "nfe";
      if (!best || num(r, key) < num(*best, key)) best = &r;
    }
    return best;
  };
  const auto best_of = [&](const std::function<bool(const json&)>& pick) {
    const json* best = nullptr;
    for (const auto& r : rows)
      if (pick(r) && ok(r) && (!best || num(r, "gen_ppl") < num(*best, "gen_ppl"))) best = &r;
    return best;
  };

  md += "\n## Diffusion against AR at matched quality\n\nFor each non-degenerate AR setting, the diffusion settings "
        "(non-degenerate) whose judge perplexity is at most " + fmt("%.0f", 100 * tol) +
        "% above it, the cheapest by NFE and by wall time.\n\n";
  const auto is_ar = [](const json& r) { return r["model"] == "ar"; };
  const auto is_diff = [](const json& r) { return r["model"] == "diffusion"; };
  bool any_ar = false;
  for (const auto& a : rows) {
    if (!is_ar(a)) continue;
    any_ar = true;
    if (!ok(a)) {
      md += "- " + name(a) + ": degenerate (entropy " + fmt("%.2f", num(a, "entropy_bits")) + " bits, distinct-3 " +
            fmt("%.2f", num(a, "distinct_3")) + "), not matched.\n";
      continue;
    }
    const json* by_nfe = matching(a, is_diff, false);
    const json* by_time = matching(a, is_diff, true);
    md += "- " + name(a) + " (ppl " + fmt("%.2f", num(a, "gen_ppl")) + ", NFE " + fmt("%.0f", num(a, "nfe")) + ", " +
          fmt("%.3f", num(a, "seconds_per_sample")) + " s/sample): ";
    if (!by_nfe) {
      const json* b = best_of(is_diff);
      md += "no diffusion setting reaches this quality" +
            (b ? "; the best is " + name(*b) + " at ppl " + fmt("%.2f", num(*b, "gen_ppl")) : std::string()) + ".\n";
      continue;
    }
    md += "fewest forwards " + name(*by_nfe) + " (ppl " + fmt("%.2f", num(*by_nfe, "gen_ppl")) + ", NFE " +
          fmt("%.0f", num(*by_nfe, "nfe")) + ": " + fmt("%.2f", num(a, "nfe") / num(*by_nfe, "nfe")) + "x fewer); fastest " +
          name(*by_time) + " (" + fmt("%.3f", num(*by_time, "seconds_per_sample")) + " s/sample: " +
          fmt("%.2f", num(a, "seconds_per_sample") / num(*by_time, "seconds_per_sample")) + "x " +
          (num(*by_time, "seconds_per_sample") < num(a, "seconds_per_sample") ? "faster: diffusion wins on time" : "the AR time: AR wins on time") +
          ").\n";
  }
  if (!any_ar) md += "(no AR settings)\n";

  md += "\n## Threshold sampler against fixed-step llada at equal quality\n\nFor each threshold setting, the llada "
        "settings (non-degenerate) with judge perplexity at most " + fmt("%.0f", 100 * tol) +
        "% above it; speed-up = llada's NFE (time) / the threshold sampler's.\n\n";
  const auto is_llada = [](const json& r) { return r.value("method", "") == "llada"; };
  bool any_th = false;
  for (const auto& th : rows) {
    if (th.value("method", "") != "threshold") continue;
    any_th = true;
    md += "- " + name(th) + " (ppl " + fmt("%.2f", num(th, "gen_ppl")) + ", NFE " + fmt("%.1f", num(th, "nfe")) + ", " +
          fmt("%.2f", num(th, "tokens_per_step")) + " tokens/step" + (ok(th) ? "" : ", degenerate") + "): ";
    const json* by_nfe = matching(th, is_llada, false);
    const json* by_time = matching(th, is_llada, true);
    if (!by_nfe) {
      const json* b = best_of(is_llada);
      md += "no llada setting reaches this quality" +
            (b ? " (the best llada is " + name(*b) + " at ppl " + fmt("%.2f", num(*b, "gen_ppl")) + ")" : std::string()) + ".\n";
      continue;
    }
    md += fmt("%.2f", num(*by_nfe, "nfe") / num(th, "nfe")) + "x in NFE against " + name(*by_nfe) + " (ppl " +
          fmt("%.2f", num(*by_nfe, "gen_ppl")) + "), " + fmt("%.2f", num(*by_time, "seconds_per_sample") / num(th, "seconds_per_sample")) +
          "x in time against " + name(*by_time) + ".\n";
  }
  if (!any_th) md += "(no threshold settings)\n";

  md += "\n## Comments\n\n";
  md += "- The reference row is " + std::to_string(s.reference_chunks) + " held-out chunks of the judge's validation split "
        "(the last part of the corpus, which no model trained on), each after the prompt: judge bpc " +
        fmt("%.3f", num(ref, "judge_bpc")) + ", entropy " + fmt("%.2f", num(ref, "entropy_bits")) + " bits. A sampler far "
        "below the reference's bpc with a lower entropy is repeating itself, not writing better Shakespeare.\n";
  std::vector<std::string> degenerate;
  for (const auto& r : rows)
    if (r.value("degenerate", false)) degenerate.push_back(name(r));
  if (!degenerate.empty()) {
    md += "- Degenerate (entropy below " + fmt("%.2f", s.degenerate_entropy * num(ref, "entropy_bits")) +
          " bits or distinct-3 below " + fmt("%.2f", s.degenerate_distinct_3 * num(ref, "distinct_3")) + "):";
    for (const auto& d : degenerate) md += " " + d + ";";
    md += " their perplexities are not comparable.\n";
  }
  md += "- " + std::to_string(s.samples) + " samples per setting: the ± is the standard error of the per-sample bpc; "
        "differences within about two of them are noise.\n";
  md += "- NFE counts model calls per batch; the threshold sampler goes on until every row of its batch has filled the "
        "block, so its NFE is the batch's slowest row. AR NFE includes the prompt's prefill; AR decodes with its KV cache, "
        "diffusion re-reads the whole sequence each step (the prefix cache, where on, reuses the keys of finished blocks).\n";
  md += "- Wall times come from a shared CPU machine with other jobs beside it; compare them within this run only.\n";
  md += "- The judge is a larger AR model trained on the same training split; it scores how AR-like and how "
        "Shakespeare-like the text is, so it may favour the AR sampler's style.\n";
  md += "\n## Examples\n\n";
  for (const auto& r : rows)
    md += "- " + name(r) + ": `" + one_line(r.value("example", ""), 120) + "`\n";
  write_file_atomic(s.dir + "/report.md", md);
  return md;
}

}  // namespace

int compare_decoding(const std::string& config_path, const std::vector<std::string>& overrides) {
  const Spec s = read_spec(config_path, overrides);
  // Every run's config is checked before anything trains.
  for (const auto& r : s.runs) {
    auto o = r.overrides;
    o.push_back("run.dir=" + s.dir + "/" + r.name);
    try {
      (void)resolve_config(r.config, o);
    } catch (const InputError& e) {
      throw InputError("runs." + r.name + ": " + e.what());
    }
  }
  fs::create_directories(s.dir);
  const auto t_start = Clock::now();
  for (const auto& r : s.runs) {
    const std::string run_dir = s.dir + "/" + r.name;
    if (run_finished(run_dir)) {
      log::info("compare-decoding: " + r.name + " already trained (" + run_dir + ")");
      continue;
    }
    log::info("compare-decoding: training " + r.name + " from " + r.config + " in " + run_dir);
    auto o = r.overrides;
    o.push_back("run.dir=" + run_dir);
    o.push_back("run.name=" + s.name + "/" + r.name);
    const int rc = run_experiment(r.config, o);
    if (rc != 0 || !run_finished(run_dir))
      throw RunError("compare-decoding: the " + r.name + " run did not finish (exit " + std::to_string(rc) + "); rerun to resume it");
  }
  const double train_seconds = seconds_since(t_start);
  if (s.threads > 0) at::set_num_threads(static_cast<int>(s.threads));
  torch::NoGradGuard no_grad;

  TextModel ar = load_text_model(s.dir + "/ar");
  TextModel dm = load_text_model(s.dir + "/diffusion");
  TextModel judge = load_text_model(s.dir + "/judge");
  if (ar.diffusion()) throw InputError("runs.ar: " + ar.run_dir + " is a diffusion model (model.causal = false); the AR run must be causal");
  if (!dm.diffusion()) throw InputError("runs.diffusion: " + dm.run_dir + " is causal; the diffusion run needs model.causal = false");
  if (judge.diffusion()) throw InputError("runs.judge: " + judge.run_dir + " is a diffusion model; the judge must be causal");
  if (dm.mask_id() < 0) throw InputError("runs.diffusion: the tokenizer of " + dm.run_dir + " has no <|mask|> token");
  const auto encode = [&](const TextModel& m, const std::string& what) {
    try {
      return m.tokenizer->encode(s.prompt);
    } catch (const InputError& e) {
      throw InputError("compare.prompt: the " + what + " tokenizer cannot encode it: " + e.what());
    }
  };
  const auto ar_prompt = encode(ar, "AR"), dm_prompt = encode(dm, "diffusion"), judge_prompt = encode(judge, "judge");
  const int64_t dm_len = static_cast<int64_t>(dm_prompt.size()) + s.gen_length;
  if (dm_len > dm.model->cfg.max_seq_len)
    throw InputError("compare.gen_length: prompt + " + std::to_string(s.gen_length) + " = " + std::to_string(dm_len) +
                     " tokens exceed the diffusion model's max_seq_len " + std::to_string(dm.model->cfg.max_seq_len) +
                     " (raise model.max_seq_len in runs.diffusion.overrides)");
  const auto dm_device = dm.model->parameters().front().device();
  const int64_t judge_params = count_parameters(*judge.model);

  json doc;
  doc["config"] = config_path;
  doc["gen_length"] = s.gen_length;
  doc["samples"] = s.samples;
  doc["batch_size"] = s.batch_size;
  doc["prompt"] = s.prompt;
  doc["threads"] = at::get_num_threads();
  doc["train_seconds"] = train_seconds;
  doc["judge"] = {{"run", judge.run_dir}, {"params", judge_params}};
  {
    const auto js = read_json(s.dir + "/judge/summary.json");
    if (js.is_object() && js.contains("val_bpc")) doc["judge"]["val_bpc"] = js["val_bpc"];
  }
  doc["rows"] = json::array();

  // Reference: held-out chunks of the judge's corpus, each starting after an occurrence of the
  // prompt's last character, so the prompt conditions them as it conditions the samples.
  {
    Config jc = Config::parse(judge.config_toml, judge.run_dir + "/config.toml");
    const std::string data_path = jc.get_string("data.path", "");
    const double val_fraction = jc.get_float("data.val_fraction", 0.1);
    const auto ids = judge.tokenizer->encode(read_text_file(data_path));
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t val_start = n - static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(n)));
    std::vector<int64_t> starts;
    for (int64_t i = std::max<int64_t>(val_start + 1, 1); i + s.gen_length <= n; ++i)
      if (ids[static_cast<size_t>(i - 1)] == judge_prompt.back()) starts.push_back(i);
    if (starts.empty())
      for (int64_t i = val_start; i + s.gen_length <= n; ++i) starts.push_back(i);
    if (starts.empty()) throw InputError("compare.gen_length: the judge's validation text is shorter than " + std::to_string(s.gen_length));
    std::mt19937_64 rng(s.seed);
    std::shuffle(starts.begin(), starts.end(), rng);
    std::vector<Sample> chunks;
    for (int64_t k = 0; k < std::min<int64_t>(s.reference_chunks, static_cast<int64_t>(starts.size())); ++k) {
      const auto b = ids.begin() + starts[static_cast<size_t>(k)];
      chunks.push_back(score_text(judge.model, *judge.tokenizer, judge_prompt,
                                  judge.tokenizer->decode(std::vector<int64_t>(b, b + s.gen_length))));
    }
    json r = aggregate(chunks);
    r["model"] = "reference";
    r["decoder"] = "held-out text";
    doc["reference"] = r;
    log::info("compare-decoding: reference judge_bpc=" + fmt("%.3f", num(r, "judge_bpc")) +
              " entropy=" + fmt("%.2f", num(r, "entropy_bits")));
  }
  const double entropy_floor = s.degenerate_entropy * num(doc["reference"], "entropy_bits");
  const double distinct_floor = s.degenerate_distinct_3 * num(doc["reference"], "distinct_3");

  // Untimed warm-up of both models (first-call allocations, lazy initialisation).
  {
    GenerateOptions g;
    g.max_new_tokens = std::min<int64_t>(8, s.gen_length);
    generate(ar.model, {ar_prompt}, g);
    ModelDenoiser den(dm.model, false);
    DiffusionSamplerOptions o;
    o.steps = 2;
    diffusion_sample(den, at::tensor(dm_prompt, at::kLong).unsqueeze(0).to(dm_device), std::min<int64_t>(8, s.gen_length),
                     dm.mask_id(), o);
  }

  const auto write_doc = [&] { write_file_atomic(s.dir + "/decoding.json", doc.dump(1)); };
  for (size_t di = 0; di < s.decoders.size(); ++di) {
    const auto& d = s.decoders[di];
    std::vector<std::string> texts;
    int64_t nfe_total = 0, forward_tokens = 0, batches = 0, dropped = 0;
    const auto t0 = Clock::now();
    for (int64_t first = 0; first < s.samples; first += s.batch_size) {
      const int64_t b = std::min(s.batch_size, s.samples - first);
      ++batches;
      if (d.model == "ar") {
        GenerateOptions g;
        g.max_new_tokens = s.gen_length;
        g.sampling = d.sampling;
        g.seed = s.seed + static_cast<uint64_t>(first);
        const auto out = generate(ar.model, std::vector<std::vector<int64_t>>(static_cast<size_t>(b), ar_prompt), g);
        nfe_total += out.forward_passes;
        for (const auto& t : out.tokens) texts.push_back(ids_to_text(*ar.tokenizer, t, dropped));
      } else {
        ModelDenoiser den(dm.model, d.diffusion.prefix_cache);
        auto o = d.diffusion;
        o.seed = s.seed + static_cast<uint64_t>(first);
        const auto prompt = at::tensor(dm_prompt, at::kLong).unsqueeze(0).expand({b, -1}).contiguous().to(dm_device);
        const auto out = diffusion_sample(den, prompt, s.gen_length, dm.mask_id(), o);
        nfe_total += out.forward_passes;
        forward_tokens += out.forward_tokens;
        const auto gen = out.tokens.narrow(1, static_cast<int64_t>(dm_prompt.size()), s.gen_length).to(at::kCPU).contiguous();
        for (int64_t i = 0; i < b; ++i) {
          const auto* p = gen[i].data_ptr<int64_t>();
          texts.push_back(ids_to_text(*dm.tokenizer, std::vector<int64_t>(p, p + s.gen_length), dropped));
        }
      }
    }
    const double secs = seconds_since(t0);
    std::vector<Sample> scored;
    for (const auto& t : texts) scored.push_back(score_text(judge.model, *judge.tokenizer, judge_prompt, t));
    json r = aggregate(scored);
    r["model"] = d.model;
    r["decoder"] = d.name;
    const double nfe = static_cast<double>(nfe_total) / static_cast<double>(batches);
    r["nfe"] = nfe;
    r["seconds"] = secs;
    r["seconds_per_sample"] = secs / static_cast<double>(s.samples);
    r["tokens_per_s"] = static_cast<double>(s.samples * s.gen_length) / secs;
    r["tokens_per_step"] = static_cast<double>(s.gen_length) / nfe;
    r["special_tokens_dropped"] = dropped;
    if (d.model == "ar") {
      r["method"] = "ar";
      r["temperature"] = d.sampling.temperature;
      r["top_k"] = d.sampling.top_k;
      r["top_p"] = d.sampling.top_p;
      r["min_p"] = d.sampling.min_p;
    } else {
      r["method"] = d.diffusion.method;
      r["steps"] = d.diffusion.steps;
      r["block_length"] = d.diffusion.block_length == 0 ? s.gen_length : d.diffusion.block_length;
      r["remasking"] = d.diffusion.remasking;
      r["threshold"] = d.diffusion.threshold;
      r["temperature"] = d.diffusion.temperature;
      r["prefix_cache"] = d.diffusion.prefix_cache;
      r["forward_tokens"] = forward_tokens;
    }
    r["degenerate"] = num(r, "entropy_bits") < entropy_floor || num(r, "distinct_3") < distinct_floor;
    log::info("compare-decoding [" + std::to_string(di + 1) + "/" + std::to_string(s.decoders.size()) + "] " + d.model +
              " " + d.name + ": NFE " + fmt("%.1f", nfe) + ", " + fmt("%.3f", secs / static_cast<double>(s.samples)) +
              " s/sample, judge_bpc " + fmt("%.3f", num(r, "judge_bpc")) + ", gen_ppl " + fmt("%.2f", num(r, "gen_ppl")) +
              ", entropy " + fmt("%.2f", num(r, "entropy_bits")) + ", distinct-3 " + fmt("%.2f", num(r, "distinct_3")));
    doc["rows"].push_back(r);
    write_doc();
  }
  doc["total_seconds"] = seconds_since(t_start);
  write_doc();
  run_plot_script("plot_decoding.py", s.dir, "decoding.png");
  const std::string md = write_report(s, doc);

  // summary.json: flat numbers of the best non-degenerate setting per model, and the reference.
  json summary{{"status", "completed"}, {"rows", doc["rows"].size()}, {"total_seconds", doc["total_seconds"]},
               {"train_seconds", train_seconds}, {"reference_judge_bpc", doc["reference"]["judge_bpc"]},
               {"reference_gen_ppl", doc["reference"]["gen_ppl"]}, {"reference_entropy_bits", doc["reference"]["entropy_bits"]}};
  for (const std::string m : {"ar", "diffusion"}) {
    const json* best = nullptr;
    for (const auto& r : doc["rows"])
      if (r["model"] == m && !r.value("degenerate", false) && (!best || num(r, "gen_ppl") < num(*best, "gen_ppl"))) best = &r;
    if (!best) continue;
    summary[m + "_best_decoder"] = (*best)["decoder"];
    summary[m + "_best_gen_ppl"] = (*best)["gen_ppl"];
    summary[m + "_best_judge_bpc"] = (*best)["judge_bpc"];
    summary[m + "_best_nfe"] = (*best)["nfe"];
    summary[m + "_best_seconds_per_sample"] = (*best)["seconds_per_sample"];
  }
  write_file_atomic(s.dir + "/summary.json", summary.dump(2) + "\n");
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace beyond
