#include "experiments/text/arch_compare.h"

#include <ATen/Parallel.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "experiments/runner.h"
#include "experiments/text/decode_speed.h"
#include "experiments/text/text_lm.h"
#include "experiments/text/text_model.h"
#include "experiments/variants.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

// What one trained variant measured.
struct Result {
  std::string layers;  // the layer kinds, e.g. "LLLG"
  double val_loss = NAN, val_bpc = NAN, parameters = NAN, train_tok_s = NAN, train_seconds = NAN;
  std::vector<DecodeSpeed> decode;  // one per context
};

// The resolved arch_compare config as a text_lm config: [run] names text_lm and no folder.
std::string base_config_toml(const std::string& resolved) {
  toml::table t = toml::parse(resolved);
  if (auto* run = t["run"].as_table()) {
    run->insert_or_assign("experiment", "text_lm");
    run->erase("dir");
    run->erase("name");
  }
  std::ostringstream os;
  os << t << "\n";
  return os.str();
}

// The variant's config, resolved and checked exactly as `beyond run` would; InputError otherwise.
Config resolve_variant(const std::string& base_toml, const Variant& v) {
  Config c = Config::parse(base_toml, "variants." + v.name, v.overrides);
  (void)RunOptions::from_config(c);
  make_text_lm()->configure(c);
  c.check_all_used();
  return c;
}

std::string layer_kinds(const TransformerConfig& cfg) {
  std::string s;
  for (int64_t i = 0; i < cfg.n_layers; ++i) s += cfg.layer_kind(i);
  return s;
}

// Training tokens per second from metrics.jsonl: steps between consecutive train records of one
// session (elapsed_s grows), leaving out intervals with an evaluation in them.
double train_tokens_per_second(const std::string& run_dir, double tokens_per_step) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  double steps = 0, seconds = 0, last_step = -1, last_elapsed = -1;
  bool evaluated = false;
  while (std::getline(in, line)) {
    nlohmann::json r;
    try {
      r = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    if (r.value("split", "") != "train") {
      evaluated = true;
      continue;
    }
    const double step = r.value("step", 0.0), elapsed = r.value("elapsed_s", -1.0);
    if (last_step >= 0 && !evaluated && step > last_step && elapsed > last_elapsed) {
      steps += step - last_step;
      seconds += elapsed - last_elapsed;
    }
    last_step = step;
    last_elapsed = elapsed;
    evaluated = false;
  }
  return seconds > 0 ? steps * tokens_per_step / seconds : NAN;
}

std::string context_label(int64_t L) {
  return L >= 1024 && L % 1024 == 0 ? std::to_string(L / 1024) + "k" : std::to_string(L);
}

std::string mb(int64_t bytes) { return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 2); }

nlohmann::json to_json(const DecodeSpeed& d) {
  return {{"context", d.context}, {"new_tokens", d.new_tokens}, {"tokens_per_second", d.tokens_per_second},
          {"ms_per_token", d.ms_per_token}, {"prefill_seconds", d.prefill_seconds}, {"cache_bytes", d.cache_bytes},
          {"formula_bytes", d.formula_bytes}, {"repeat_ms", d.repeat_ms}};
}

DecodeSpeed from_json(const nlohmann::json& j) {
  DecodeSpeed d;
  d.context = j.at("context").get<int64_t>();
  d.new_tokens = j.at("new_tokens").get<int64_t>();
  d.tokens_per_second = j.at("tokens_per_second").get<double>();
  d.ms_per_token = j.at("ms_per_token").get<double>();
  d.prefill_seconds = j.at("prefill_seconds").get<double>();
  d.cache_bytes = j.at("cache_bytes").get<int64_t>();
  d.formula_bytes = j.at("formula_bytes").get<int64_t>();
  d.repeat_ms = j.at("repeat_ms").get<std::vector<double>>();
  return d;
}

class ArchCompare : public Experiment {
 public:
  void configure(Config& c) override {
    make_text_lm()->configure(c);  // the base tables, checked as a text_lm run checks them
    base_toml_ = base_config_toml(c.resolved_toml());
    contexts_ = c.get_int_list("compare.contexts", {512, 1024, 2048, 4096, 8192, 16384}, 1, 1 << 20);
    if (contexts_.empty()) throw c.error("compare.contexts", "compare.contexts is empty");
    std::sort(contexts_.begin(), contexts_.end());
    contexts_.erase(std::unique(contexts_.begin(), contexts_.end()), contexts_.end());
    new_tokens_ = c.get_int("compare.new_tokens", 32, 1, 1 << 16);
    repeats_ = c.get_int("compare.repeats", 3, 1, 1000);
    prefill_chunk_ = c.get_int("compare.prefill_chunk", 512, 1, 1 << 20);
    loss_tolerance_ = c.get_float("compare.loss_tolerance", 0.05, 0.0, 10.0);
    variants_ = read_variants(c, "compare.order");
    for (const auto& v : variants_) check_variant(c, v);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    write_file_atomic(ctx.dir->file("base.toml"), base_toml_);
    for (const auto& v : variants_) {
      if (!train(ctx, v)) {
        *interrupted = true;
        return {};
      }
    }
    Metrics m;
    std::vector<Result> results;
    std::vector<TextModel> models;
    for (const auto& v : variants_) {
      results.push_back(read_training(ctx, v));
      models.push_back(load_text_model(ctx.dir->file(v.name)));
      results.back().layers = layer_kinds(models.back().model->cfg);
    }
    measure_decoding_all(ctx, models, results);
    for (size_t i = 0; i < variants_.size(); ++i) add_metrics(variants_[i], results[i], m);
    check_claims(results, m);
    write_plot_data(ctx, results);
    const bool plotted = run_plot_script("plot_arch_compare.py", ctx.dir->path(), "arch_compare.png");
    report_ = report(results, plotted);
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  // Every variant resolves as a text_lm config and fits the longest context, before anything trains.
  void check_variant(Config& c, const Variant& v) {
    const std::string key = "variants." + v.name + ".overrides";
    Config vc;
    try {
      vc = resolve_variant(base_toml_, v);
    } catch (const InputError& e) {
      throw c.error(key, "variant '" + v.name + "': " + e.what());
    }
    const int64_t need = contexts_.back() + new_tokens_, max_len = vc.get_int("model.max_seq_len", 0);
    if (max_len < need)
      throw c.error("compare.contexts", "variant '" + v.name + "': model.max_seq_len " + std::to_string(max_len) +
                                            " is shorter than the longest context + compare.new_tokens (" +
                                            std::to_string(need) + ")");
    if (vc.get_bool("model.causal", true) == false)
      throw c.error(key, "variant '" + v.name + "': decoding needs a causal model");
  }

  // Trains or resumes the variant's text_lm run; false when it did not finish (interrupted).
  bool train(RunContext& ctx, const Variant& v) {
    const std::string dir = ctx.dir->file(v.name);
    if (run_finished(dir)) {
      log::info("arch_compare: " + v.name + " already trained (" + dir + ")");
      return true;
    }
    log::info("arch_compare: training " + v.name + " in " + dir);
    auto o = v.overrides;
    o.push_back("run.dir=" + dir);
    o.push_back("run.name=" + ctx.options.name + "/" + v.name);
    run_experiment(ctx.dir->file("base.toml"), o);
    log::add_file(ctx.dir->file("log.txt"));  // the sub-run closed its own log file and ours
    return run_finished(dir);
  }

  nlohmann::json decode_settings(const std::string& checkpoint) const {
    return {{"contexts", contexts_}, {"new_tokens", new_tokens_}, {"repeats", repeats_}, {"prefill_chunk", prefill_chunk_},
            {"threads", at::get_num_threads()}, {"checkpoint", fs::path(checkpoint).filename().string()},
            {"interleaved", variants_.size()}};
  }

  // The variant's training results: its summary.json and training tokens per second.
  Result read_training(RunContext& ctx, const Variant& v) const {
    const std::string dir = ctx.dir->file(v.name);
    const auto summary = read_json(dir + "/summary.json");
    if (!summary.is_object()) throw RunError("arch_compare: " + dir + "/summary.json is missing or malformed");
    Result r;
    r.val_loss = summary.value("val_loss", NAN);
    r.val_bpc = summary.value("val_bpc", NAN);
    r.parameters = summary.value("parameters", NAN);
    r.train_seconds = summary.value("train_seconds", NAN);
    Config vc = Config::load(dir + "/config.toml");
    const double tokens_per_step = static_cast<double>(vc.get_int("train.batch_size", 12) * vc.get_int("train.block_size", 64) *
                                                       vc.get_int("train.grad_accum", 1));
    r.train_tok_s = train_tokens_per_second(dir, tokens_per_step);
    return r;
  }

  // Decoding speed of every variant at every context, or the saved rows when every variant's
  // decode.json was measured with these settings. The repeats are interleaved: round r times each
  // variant at each context once, so a slow spell of the machine lands on all of them alike.
  void measure_decoding_all(RunContext& ctx, std::vector<TextModel>& models, std::vector<Result>& results) {
    std::vector<nlohmann::json> settings, saved;
    bool all_saved = true;
    for (size_t i = 0; i < variants_.size(); ++i) {
      settings.push_back(decode_settings(models[i].checkpoint));
      saved.push_back(read_json(ctx.dir->file(variants_[i].name) + "/decode.json"));
      all_saved = all_saved && saved[i].is_object() && saved[i].value("settings", nlohmann::json()) == settings[i];
    }
    if (all_saved) {
      log::info("arch_compare: decoding already measured (decode.json of every variant)");
      for (size_t i = 0; i < variants_.size(); ++i)
        for (const auto& row : saved[i]["rows"]) results[i].decode.push_back(from_json(row));
      return;
    }
    DecodeSpeedOptions opt;
    opt.prefill_chunk = prefill_chunk_;
    std::vector<std::vector<PrefilledContext>> prefilled(variants_.size());
    for (size_t i = 0; i < variants_.size(); ++i)
      for (int64_t L : contexts_) {
        prefilled[i].push_back(prefill_context(models[i].model, L, new_tokens_, {}, opt));
        const auto& d = prefilled[i].back().speed;
        log::info("arch_compare: " + variants_[i].name + " context " + std::to_string(L) + ": cache " + mb(d.cache_bytes) +
                  " MB (prefill " + fixed(d.prefill_seconds, 2) + " s)");
      }
    for (int64_t r = 0; r < repeats_; ++r) {
      for (size_t i = 0; i < variants_.size(); ++i)
        for (auto& p : prefilled[i]) time_decoding_repeat(models[i].model, p);
      log::info("arch_compare: decoding round " + std::to_string(r + 1) + " of " + std::to_string(repeats_) + " timed");
    }
    for (size_t i = 0; i < variants_.size(); ++i) {
      nlohmann::json rows = nlohmann::json::array();
      for (auto& p : prefilled[i]) {
        summarise_repeats(p.speed);
        log::info("arch_compare: " + variants_[i].name + " context " + std::to_string(p.speed.context) + ": " +
                  fixed(p.speed.tokens_per_second, 1) + " tok/s");
        results[i].decode.push_back(p.speed);
        rows.push_back(to_json(p.speed));
      }
      write_file_atomic(ctx.dir->file(variants_[i].name) + "/decode.json",
                        nlohmann::json{{"settings", settings[i]}, {"rows", rows}}.dump(2));
    }
  }

  static void add_metrics(const Variant& v, const Result& r, Metrics& m) {
    const std::string p = v.name + "_";
    m[p + "val_loss"] = r.val_loss;
    m[p + "val_bpc"] = r.val_bpc;
    m[p + "parameters"] = r.parameters;
    m[p + "train_tok_s"] = r.train_tok_s;
    for (const auto& d : r.decode) {
      const std::string L = std::to_string(d.context);
      m[p + "decode_tok_s_" + L] = d.tokens_per_second;
      m[p + "decode_ms_" + L] = d.ms_per_token;
      m[p + "prefill_s_" + L] = d.prefill_seconds;
      m[p + "cache_bytes_" + L] = static_cast<double>(d.cache_bytes);
      m[p + "cache_formula_bytes_" + L] = static_cast<double>(d.formula_bytes);
    }
  }

  // Cache growth from the shortest to the longest context, in bytes.
  static double growth(const Result& r) {
    return static_cast<double>(r.decode.back().cache_bytes - r.decode.front().cache_bytes);
  }
  // Decoding speed at the shortest context over the speed at the longest (1: flat).
  static double slowdown(const Result& r) { return r.decode.front().tokens_per_second / r.decode.back().tokens_per_second; }

  // The config's claims, against the first variant: similar validation loss; each hybrid's cache
  // (linear or sliding layers beside full ones) grows by about a quarter of the reference's; its
  // decoding slows down less with context.
  void check_claims(const std::vector<Result>& results, Metrics& m) {
    const Result& ref = results.front();
    claims_.clear();
    bool similar = true;
    for (const auto& r : results) similar = similar && std::abs(r.val_loss - ref.val_loss) <= loss_tolerance_ * ref.val_loss;
    claims_.push_back({"every variant's validation loss within " + fixed(100 * loss_tolerance_, 0) + "% of " +
                           variants_.front().label + "'s",
                       similar});
    m["claim_similar_val_loss"] = similar;
    if (contexts_.size() < 2) return;
    bool quarter = true, flatter = true, any = false;
    std::string quarter_detail, flatter_detail;
    for (size_t i = 1; i < results.size(); ++i) {
      // A hybrid has layers whose cache stays bounded: linear attention, a sliding window, chunks.
      if (results[i].layers.find_first_of("LSC") == std::string::npos) continue;
      any = true;
      const double share = growth(results[i]) / growth(ref);
      quarter = quarter && std::abs(share - 0.25) <= 0.05;
      flatter = flatter && slowdown(results[i]) < slowdown(ref);
      quarter_detail += " " + variants_[i].label + " " + fixed(share, 3) + ";";
      flatter_detail += " " + variants_[i].label + " " + fixed(slowdown(results[i]), 2) + "x;";
    }
    if (!any) return;
    claims_.push_back({"the hybrids' cache grows by 1/4 (± 0.05) of " + variants_.front().label + "'s from " +
                           context_label(contexts_.front()) + " to " + context_label(contexts_.back()) + " tokens:" +
                           quarter_detail,
                       quarter});
    claims_.push_back({"the hybrids' decoding slows down less than " + variants_.front().label + "'s (" +
                           fixed(slowdown(ref), 2) + "x) from " + context_label(contexts_.front()) + " to " +
                           context_label(contexts_.back()) + ":" + flatter_detail,
                       flatter});
    m["claim_hybrid_cache_quarter_growth"] = quarter;
    m["claim_hybrid_decode_flatter"] = flatter;
  }

  // arch_compare.json: what scripts/plot_arch_compare.py draws (it also reads each variant's metrics.jsonl).
  void write_plot_data(RunContext& ctx, const std::vector<Result>& results) const {
    nlohmann::json variants = nlohmann::json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& d : results[i].decode) rows.push_back(to_json(d));
      variants.push_back({{"name", variants_[i].name}, {"label", variants_[i].label}, {"layers", results[i].layers},
                          {"val_loss", results[i].val_loss}, {"decode", rows}});
    }
    write_file_atomic(ctx.dir->file("arch_compare.json"),
                      nlohmann::json{{"contexts", contexts_}, {"new_tokens", new_tokens_}, {"threads", at::get_num_threads()},
                                     {"variants", variants}}
                          .dump(2));
  }

  std::string report(const std::vector<Result>& results, bool plotted) const {
    std::string md = "## Architectures compared\n\nEvery variant is the base config (`base.toml`) with its overrides, trained as a "
                     "text_lm run in `<variant>/` with the same data, size and budget. Train tok/s counts batch × block tokens per "
                     "step over the logged training intervals (evaluations left out).\n\n"
                     "| variant | layers | overrides | val loss (nats) | val bits/char | parameters | train tok/s | train s |\n"
                     "|---|---|---|---|---|---|---|---|\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::string overrides;
      for (const auto& o : variants_[i].overrides) overrides += (overrides.empty() ? "`" : ", `") + o + "`";
      md += "| " + variants_[i].label + " | " + r.layers + " | " + (overrides.empty() ? "–" : overrides) + " | " +
            fixed(r.val_loss, 4) + " | " + fixed(r.val_bpc, 4) + " | " + fixed(r.parameters, 0) + " | " +
            fixed(r.train_tok_s, 0) + " | " + fixed(r.train_seconds, 1) + " |\n";
    }
    std::string head = "| variant |", rule = "|---|";
    for (int64_t L : contexts_) {
      head.append(" ").append(context_label(L)).append(" |");
      rule += "---|";
    }
    md += "\n## Decoding against context\n\nBatch 1, " + std::to_string(at::get_num_threads()) + " thread(s): the cache is filled by " +
          "prefilling the context (random tokens, " + std::to_string(prefill_chunk_) + " per call), then " +
          std::to_string(new_tokens_) + " greedy single-token steps are timed; the median of " + std::to_string(repeats_) +
          " repeats, interleaved over variants and contexts.\n\nDecoding tokens per second:\n\n" + head + "\n" + rule + "\n";
    for (size_t i = 0; i < results.size(); ++i) {
      md += "| " + variants_[i].label + " |";
      for (const auto& d : results[i].decode) md.append(" ").append(fixed(d.tokens_per_second, 1)).append(" |");
      md += "\n";
    }
    md += "\nCache MiB after the prefill, measured (`KVCache::bytes()`) / the formula of `core/cache_memory.h`. Sliding "
          "layers keep the last window - 1 positions between calls, the formula counts the window (the peak within a "
          "step):\n\n" +
          head + "\n" + rule + "\n";
    for (size_t i = 0; i < results.size(); ++i) {
      md += "| " + variants_[i].label + " |";
      for (const auto& d : results[i].decode) md.append(" ").append(mb(d.cache_bytes)).append(" / ").append(mb(d.formula_bytes)).append(" |");
      md += "\n";
    }
    md += "\n## Claims\n\n";
    int held = 0;
    for (const auto& [text, ok] : claims_) {
      md += "- " + std::string(ok ? "held" : "did not hold") + ": " + text + "\n";
      held += ok ? 1 : 0;
    }
    md.append("\n").append(std::to_string(held)).append(" of ").append(std::to_string(claims_.size())).append(" claims held.\n");
    if (plotted)
      md += "\n![decoding speed and cache memory against context (log x), validation loss curves](arch_compare.png)\n";
    return md;
  }

  std::string base_toml_;
  std::vector<int64_t> contexts_;
  int64_t new_tokens_ = 32, repeats_ = 3, prefill_chunk_ = 512;
  double loss_tolerance_ = 0.05;
  std::vector<Variant> variants_;
  std::vector<std::pair<std::string, bool>> claims_;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_arch_compare() { return std::make_unique<ArchCompare>(); }

}  // namespace beyond
