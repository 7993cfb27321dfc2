// trace_worldmodel: a small causal transformer learns to execute random PyLite programs, and we
// ask whether writing the execution trace beats answering directly (Scratchpads: 20% -> 41.5%
// on synthetic programs; CWM: 88% vs 58% on CruxEval-O).
//
// One run generates the programs (worldmodel/generator.h; [data.generator] in distribution,
// [data.ood] longer programs and loops, kept only when longer than every training program and
// not a training program), writes them to <run>/data/, and trains four models of the same
// architecture as sub-runs in the run folder (each an ordinary, resumable run of this experiment
// with worldmodel.role set; a finished one is reused):
//   trace            encode_full_trace, loss on the frames and the output, train.steps steps
//   direct_programs  encode_direct, loss on the output: the same steps, batch and seed, so the
//                    same programs in the same groups of steps (equal programs)
//   direct_tokens    encode_direct for as many training tokens as the trace model (more steps)
//   markov           encode_markov_steps (next full frame from the call stack), as many tokens
// "Training tokens" are the tokens fed to the model: every token of a sequence but its last,
// padding excluded (prompt tokens count: the model reads them).
// Each sub-run evaluates its model on eval.programs held-out programs in distribution and
// length-OOD: greedy output accuracy; for trace and markov the greedy trace against the
// interpreter's (exact match, first wrong frame, share of frames right before it) and the
// teacher-forced next-frame exact match split into event, line, locals and return value; for the
// trace model also the output asked for right after the call (Scratchpads' ablation). The parent
// run's summary.json and report.md put them side by side, with accuracy-against-length plots
// (scripts/plot_worldmodel.py) from each sub-run's eval_id.jsonl / eval_ood.jsonl.
#include "experiments/worldmodel/trace_worldmodel.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "autoregressive/lm_objective.h"
#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "experiments/runner.h"
#include "worldmodel/generator.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

using namespace wm;

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }  // a TOML basic string

// The generator settings that decide the data (a changed one means other programs).
nlohmann::json describe(const GeneratorOptions& o) {
  return {{"n_statements", o.n_statements}, {"max_depth", o.max_depth}, {"max_loop_iters", o.max_loop_iters},
          {"n_vars", o.n_vars}, {"n_params", o.n_params}, {"digits", o.digits}, {"value_digits", o.value_digits},
          {"p_if", o.p_if}, {"p_loop", o.p_loop}, {"allow_lists", o.allow_lists}, {"max_list_len", o.max_list_len},
          {"allow_calls", o.allow_calls}, {"allow_recursion", o.allow_recursion}, {"allow_errors", o.allow_errors},
          {"fuel", o.fuel}, {"max_trace_events", o.max_trace_events}, {"max_attempts", o.max_attempts}};
}

struct Data {
  std::vector<TraceExample> train, test_id, test_ood;
  nlohmann::json stats;
};

// The first n examples (the evaluated ones).
std::vector<TraceExample> head(const std::vector<TraceExample>& v, int64_t n) {
  return {v.begin(), v.begin() + std::min<int64_t>(n, static_cast<int64_t>(v.size()))};
}

struct SubRun {
  const char* name;
  const char* role;
};
constexpr SubRun kSubRuns[] = {
    {"trace", "trace"}, {"direct_programs", "direct"}, {"direct_tokens", "direct"}, {"markov", "markov"}};

// Summary keys of a role run, per evaluated split (suffix "" or "_ood").
const std::vector<std::string> kEvalKeys = {"output_accuracy", "exact_match", "parse_rate", "mean_first_wrong_frame",
                                            "mean_right_share", "tf_frame_em", "tf_event_em", "tf_line_em",
                                            "tf_locals_em", "tf_value_em", "direct_answer_accuracy", "answer_loss"};

class TraceWorldModel : public Experiment {
 public:
  void configure(Config& c) override {
    role_ = c.get_choice("worldmodel.role", "all", {"all", "trace", "direct", "markov"});
    data_dir_ = c.get_string("worldmodel.data_dir", "");
    programs_ = c.get_int("data.programs", 20000, 10, 10000000);
    test_fraction_ = c.get_float("data.test_fraction", 0.1, 0.001, 0.9);
    ood_programs_ = c.get_int("data.ood_programs", 2000, 1, 10000000);
    data_seed_ = c.get_int("data.seed", 1, 0);
    mode_ = c.get_choice("data.state", "diff", {"diff", "full"}) == "diff" ? StateMode::Diff : StateMode::Full;
    gen_ = GeneratorOptions::from_config(c, "data.generator");
    ood_ = GeneratorOptions::from_config(c, "data.ood");

    TransformerConfig defaults;
    defaults.vocab_size = tokenizer_.vocab_size();
    defaults.max_seq_len = 512;
    defaults.d_model = 128;
    defaults.n_layers = 3;
    defaults.n_heads = 4;
    model_cfg_ = TransformerConfig::from_config(c, "model", defaults);
    if (!model_cfg_.causal) throw c.error("model.causal", "trace_worldmodel decodes left to right: model.causal must be true");
    if (model_cfg_.vocab_size < tokenizer_.vocab_size())
      throw c.error("model.vocab_size", "model.vocab_size " + std::to_string(model_cfg_.vocab_size) +
                                            " is smaller than the trace tokenizer's " +
                                            std::to_string(tokenizer_.vocab_size()));
    train_ = TrainOptions::from_config(c);
    batch_ = c.get_int("train.batch_size", 32, 1, 1 << 16);
    eval_.batch_size = c.get_int("eval.batch_size", 64, 1, 1 << 16);
    eval_.max_frames = c.get_int("eval.max_frames", 400, 2, 1 << 20);
    eval_.max_frame_tokens = c.get_int("eval.max_frame_tokens", 128, 4, 1 << 16);
    eval_.max_answer_tokens = c.get_int("eval.max_answer_tokens", 48, 2, 1 << 16);
    eval_programs_ = c.get_int("eval.programs", 200, 1, 1 << 20);
    val_sequences_ = c.get_int("eval.val_sequences", 64, 1, 1 << 20);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    return role_ == "all" ? run_all(ctx, interrupted) : run_role(ctx, interrupted);
  }

  std::string report_markdown() const override { return report_; }

 private:
  // --- Data ------------------------------------------------------------------------------------

  nlohmann::json fingerprint() const {
    return {{"generator", describe(gen_)}, {"ood", describe(ood_)}, {"programs", programs_},
            {"test_fraction", test_fraction_}, {"ood_programs", ood_programs_}, {"seed", data_seed_},
            {"max_seq_len", model_cfg_.max_seq_len}, {"state", mode_ == StateMode::Diff ? "diff" : "full"}};
  }

  // Every sequence the models read fits the model's window.
  bool fits(const TraceExample& ex) const {
    const auto window = static_cast<size_t>(model_cfg_.max_seq_len);
    if (encode_full_trace(tokenizer_, ex, mode_).tokens.size() > window) return false;
    if (encode_direct(tokenizer_, ex).tokens.size() > window) return false;
    for (const auto& s : encode_markov_steps(tokenizer_, ex))
      if (s.tokens.size() > window) return false;
    return true;
  }

  Data make_data() const {
    Data d;
    int64_t long_train = 0, long_test = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& ex : generate_examples(gen_, programs_, static_cast<uint64_t>(data_seed_))) {
      const bool test = split_hash(ex.source) < test_fraction_;
      if (!fits(ex)) {
        ++(test ? long_test : long_train);
        continue;
      }
      (test ? d.test_id : d.train).push_back(std::move(ex));
    }
    std::set<std::string> train_sources;
    int max_statements = 0, max_loops = 0;
    for (const auto& ex : d.train) {
      train_sources.insert(ex.source);
      max_statements = std::max(max_statements, ex.n_statements);
      max_loops = std::max(max_loops, ex.loop_iters);
    }
    int64_t ood_in_train = 0, ood_not_longer = 0, long_ood = 0;
    for (auto& ex : generate_examples(ood_, ood_programs_, static_cast<uint64_t>(data_seed_) + 0x00d)) {
      if (train_sources.count(ex.source)) ++ood_in_train;
      else if (ex.n_statements <= max_statements && ex.loop_iters <= max_loops) ++ood_not_longer;
      else if (!fits(ex)) ++long_ood;
      else d.test_ood.push_back(std::move(ex));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    d.stats = {{"fingerprint", fingerprint()},
               {"generated", programs_},
               {"train", d.train.size()},
               {"test_id", d.test_id.size()},
               {"too_long_train", long_train},
               {"too_long_test", long_test},
               {"train_max_statements", max_statements},
               {"train_max_loop_iters", max_loops},
               {"ood_generated", ood_programs_},
               {"ood_in_train", ood_in_train},
               {"ood_not_longer", ood_not_longer},
               {"too_long_ood", long_ood},
               {"test_ood", d.test_ood.size()},
               {"seconds", seconds}};
    return d;
  }

  // The run's programs: read from `dir`, or generated into it when `may_generate`.
  Data load_data(const std::string& dir, bool may_generate) const {
    const std::string stats_path = dir + "/stats.json";
    Data d;
    d.stats = read_json(stats_path);
    if (d.stats.is_object()) {
      if (d.stats.value("fingerprint", nlohmann::json()) != fingerprint())
        throw InputError("the programs in " + dir + " were generated with other [data] or model.max_seq_len settings; "
                         "start a new run.dir for this config");
      d.train = read_jsonl(dir + "/train.jsonl");
      d.test_id = read_jsonl(dir + "/test_id.jsonl");
      d.test_ood = read_jsonl(dir + "/test_ood.jsonl");
      return d;
    }
    if (!may_generate) throw InputError("worldmodel.data_dir '" + dir + "' holds no generated programs (no stats.json)");
    log::info("generating " + std::to_string(programs_) + " programs and " + std::to_string(ood_programs_) +
              " length-OOD candidates");
    d = make_data();
    fs::create_directories(dir);
    write_jsonl(dir + "/train.jsonl", d.train);
    write_jsonl(dir + "/test_id.jsonl", d.test_id);
    write_jsonl(dir + "/test_ood.jsonl", d.test_ood);
    write_file_atomic(stats_path, d.stats.dump(2) + "\n");  // last: its presence means the data is complete
    return d;
  }

  static void check_data(const Data& d) {
    if (d.train.empty()) throw InputError("no training programs survived (data.programs too small, or every trace too long "
                                          "for model.max_seq_len)");
    if (d.test_id.empty()) throw InputError("no in-distribution test programs: raise data.programs or data.test_fraction");
    if (d.test_ood.empty())
      throw InputError("no length-OOD test programs: [data.ood] must allow more statements or loop iterations than "
                       "[data.generator] (and traces that fit model.max_seq_len)");
  }

  // --- One model (a sub-run) -------------------------------------------------------------------

  Metrics run_role(RunContext& ctx, bool* interrupted) {
    const Data data = load_data(data_dir_.empty() ? ctx.dir->file("data") : data_dir_, data_dir_.empty());
    check_data(data);
    const TraceTask task = task_from_name(role_);
    const auto seqs = encode_task(tokenizer_, data.train, task, mode_);
    std::vector<int64_t> lengths;
    for (const auto& s : seqs) lengths.push_back(static_cast<int64_t>(s.tokens.size()));
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const BatchSchedule schedule(lengths, batch_, seed);
    const int64_t accum = train_.grad_accum;

    LanguageModel model(model_cfg_);
    model->to(ctx.device);
    const int64_t n_params = count_parameters(*model);
    log::info(role_ + " model: " + std::to_string(n_params) + " parameters; " + std::to_string(data.train.size()) +
              " training programs, " + std::to_string(seqs.size()) + " sequences");
    NextTokenObjective objective(model);
    const auto batch = [&](int64_t step, int64_t micro) {
      std::vector<const EncodedSequence*> rows;
      for (int64_t i : schedule.batch(step * accum + micro)) rows.push_back(&seqs[static_cast<size_t>(i)]);
      return make_lm_batch(rows, tokenizer_.pad(), ctx.device);
    };
    // During training: the teacher-forced answer loss on a few held-out sequences.
    auto val = encode_task(tokenizer_, head(data.test_id, val_sequences_), task, mode_);
    if (static_cast<int64_t>(val.size()) > val_sequences_) val.resize(static_cast<size_t>(val_sequences_));
    std::vector<const EncodedSequence*> val_rows;
    for (const auto& s : val) val_rows.push_back(&s);
    const auto evaluate = [&]() {
      const auto tf = teacher_forced(model, val_rows, eval_.batch_size);
      const double n = static_cast<double>(std::max<int64_t>(tf.answer_tokens, 1));
      return Metrics{{"val_answer_loss", tf.answer_nll / n}, {"val_answer_token_accuracy", tf.answer_tokens_right / n}};
    };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    if (train_.ema > 0) load_evaluation_weights(*model, ctx.dir->checkpoints());
    model->eval();
    m["parameters"] = static_cast<double>(n_params);
    m["train_tokens"] = static_cast<double>(schedule.tokens_through(train_.steps * accum));
    m["train_sequences"] = static_cast<double>(train_.steps * accum * batch_);

    const auto t0 = std::chrono::steady_clock::now();
    const auto id = head(data.test_id, eval_programs_), ood = head(data.test_ood, eval_programs_);
    const ModelEval eval_id = evaluate_model(model, tokenizer_, task, mode_, id, eval_);
    add_eval(m, eval_id, task, "");
    write_records(ctx.dir->file("eval_id.jsonl"), id, eval_id);
    const ModelEval eval_ood = evaluate_model(model, tokenizer_, task, mode_, ood, eval_);
    add_eval(m, eval_ood, task, "_ood");
    write_records(ctx.dir->file("eval_ood.jsonl"), ood, eval_ood);
    m["eval_programs"] = static_cast<double>(id.size());
    m["eval_programs_ood"] = static_cast<double>(ood.size());
    m["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report_ = role_report(task, id, eval_id);
    return m;
  }

  static void add_eval(Metrics& m, const ModelEval& e, TraceTask task, const std::string& suffix) {
    m["output_accuracy" + suffix] = e.output_accuracy();
    m["answer_loss" + suffix] = e.answer_loss();
    if (task == TraceTask::Direct) return;
    m["exact_match" + suffix] = e.exact_match();
    m["parse_rate" + suffix] = e.parse_rate();
    m["mean_first_wrong_frame" + suffix] = e.mean_first_wrong();
    m["mean_right_share" + suffix] = e.mean_right_share();
    m["tf_frame_em" + suffix] = e.teacher_forced.frame_em();
    m["tf_event_em" + suffix] = e.teacher_forced.event_em();
    m["tf_line_em" + suffix] = e.teacher_forced.line_em();
    m["tf_locals_em" + suffix] = e.teacher_forced.locals_em();
    m["tf_value_em" + suffix] = e.teacher_forced.value_em();
    if (task == TraceTask::Trace) m["direct_answer_accuracy" + suffix] = e.direct_answer_accuracy();
  }

  // One JSON line per evaluated program: its difficulty and how the model did (for the plots).
  static void write_records(const std::string& path, const std::vector<TraceExample>& examples, const ModelEval& e) {
    std::string text;
    for (size_t i = 0; i < examples.size(); ++i) {
      const auto& ex = examples[i];
      const auto& r = e.examples[i];
      nlohmann::json j = {{"n_statements", ex.n_statements}, {"n_lines", ex.n_lines}, {"depth", ex.depth},
                          {"loop_iters", ex.loop_iters}, {"n_events", ex.n_events}, {"truth", ex.trace.result},
                          {"output", r.output ? nlohmann::json(*r.output) : nlohmann::json()},
                          {"output_correct", r.output_correct}, {"exact", r.exact}, {"parsed", r.parsed},
                          {"first_wrong", r.first_wrong}, {"right_share", r.right_share}, {"frames", r.frames},
                          {"tf_frames", r.tf_frames}, {"tf_frames_right", r.tf_frames_right}};
      if (r.direct_answer_correct) j["direct_answer_correct"] = *r.direct_answer_correct;
      text += j.dump() + "\n";
    }
    write_file_atomic(path, text);
  }

  // A few held-out programs with the model's answer, for the sub-run's report.
  std::string role_report(TraceTask task, const std::vector<TraceExample>& examples, const ModelEval& e) const {
    std::string md = "## Held-out examples (" + task_name(task) + " model, greedy)\n\n";
    for (size_t i = 0; i < std::min<size_t>(3, examples.size()); ++i) {
      const auto& r = e.examples[i];
      md += "```python\n" + examples[i].source + "# " + examples[i].call + " -> " + examples[i].trace.result +
            "\n```\nmodel: " + (r.output ? "`" + *r.output + "`" : "no answer") +
            (r.output_correct ? " (right)" : " (wrong)");
      if (task != TraceTask::Direct)
        md += r.exact ? "; trace exact" : "; first wrong frame " + std::to_string(r.first_wrong) + " of " +
                                              std::to_string(examples[i].trace.events.size());
      md += "\n\n";
    }
    return md;
  }


  // --- The comparison (the parent run) ---------------------------------------------------------

  // Trains (or resumes, or reuses when finished) a sub-run; its summary, or null when interrupted.
  nlohmann::json sub_run(RunContext& ctx, const SubRun& s, int64_t steps, const std::string& data_dir) {
    const std::string dir = ctx.dir->file(s.name);
    if (run_finished(dir)) {
      log::info("sub-run " + std::string(s.name) + ": finished, reused (" + dir + ")");
    } else {
      log::info("sub-run " + std::string(s.name) + ": " + s.role + " model, " + std::to_string(steps) + " steps");
      run_experiment(ctx.dir->file("config.toml"),
                     {"run.dir=" + quoted(dir), "run.name=" + quoted(ctx.options.name + "/" + s.name),
                      "worldmodel.role=" + quoted(s.role), "worldmodel.data_dir=" + quoted(data_dir),
                      "train.steps=" + std::to_string(steps)});
      log::add_file(ctx.dir->file("log.txt"));  // the sub-run closed its own log file and ours
      if (!run_finished(dir)) return nullptr;
    }
    return read_json(dir + "/summary.json");
  }

  static double number(const nlohmann::json& summary, const std::string& run, const std::string& key) {
    if (!summary.contains(key) || !summary[key].is_number())
      throw RunError("sub-run " + run + " has no '" + key + "' in its summary.json");
    return summary[key].get<double>();
  }

  Metrics run_all(RunContext& ctx, bool* interrupted) {
    const std::string data_dir = ctx.dir->file("data");
    const Data data = load_data(data_dir, true);
    check_data(data);
    log::info("programs: " + std::to_string(data.train.size()) + " train, " + std::to_string(data.test_id.size()) +
              " test (in distribution), " + std::to_string(data.test_ood.size()) + " length-OOD test");

    // Equal programs: the trace model's steps. Equal tokens: as many steps as reach its tokens.
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const auto schedule = [&](TraceTask task) {
      std::vector<int64_t> lengths;
      for (const auto& s : encode_task(tokenizer_, data.train, task, mode_)) lengths.push_back(static_cast<int64_t>(s.tokens.size()));
      return BatchSchedule(lengths, batch_, seed);
    };
    const int64_t accum = train_.grad_accum;
    const int64_t tokens = schedule(TraceTask::Trace).tokens_through(train_.steps * accum);
    const auto steps_for = [&](TraceTask task) {
      return (schedule(task).steps_for_tokens(tokens) + accum - 1) / accum;
    };
    const std::map<std::string, int64_t> steps = {{"trace", train_.steps},
                                                  {"direct_programs", train_.steps},
                                                  {"direct_tokens", steps_for(TraceTask::Direct)},
                                                  {"markov", steps_for(TraceTask::Markov)}};
    std::map<std::string, nlohmann::json> summaries;
    for (const auto& s : kSubRuns) {
      auto summary = sub_run(ctx, s, steps.at(s.name), data_dir);
      if (summary.is_null()) {
        *interrupted = true;
        return {};
      }
      summaries[s.name] = summary;
    }
    Metrics m = collect(summaries);
    add_data_metrics(m, data);
    report_ = comparison_report(m, data, summaries);
    if (run_plot_script("plot_worldmodel.py", ctx.dir->path(), "accuracy_vs_length.png"))
      report_ += "\n![output accuracy against program length, loop iterations and trace length](accuracy_vs_length.png)\n";
    if (fs::exists(ctx.dir->file("rollouts.png")))
      report_ += "\n![free-running traces: exact match and frames right before the first wrong one](rollouts.png)\n";
    return m;
  }

  // The parent's summary: each sub-run's numbers under the names of the comparison.
  static Metrics collect(const std::map<std::string, nlohmann::json>& s) {
    Metrics m;
    for (const std::string suffix : {"", "_ood"}) {
      const auto take = [&](const std::string& run, const std::string& key, const std::string& as) {
        m[as + suffix] = number(s.at(run), run, key + suffix);
      };
      take("trace", "output_accuracy", "trace_output_accuracy");
      take("direct_tokens", "output_accuracy", "direct_output_accuracy");
      take("direct_programs", "output_accuracy", "direct_programs_output_accuracy");
      take("markov", "output_accuracy", "markov_output_accuracy");
      take("trace", "exact_match", "trace_exact_match");
      take("markov", "exact_match", "markov_trace_exact_match");
      take("trace", "direct_answer_accuracy", "trace_direct_answer_accuracy");
      for (const std::string run : {"trace", "markov"}) {
        for (const std::string key : {"tf_frame_em", "tf_event_em", "tf_line_em", "tf_locals_em", "tf_value_em",
                                      "mean_first_wrong_frame", "mean_right_share", "parse_rate"})
          take(run, key, run + "_" + key);
      }
    }
    for (const auto& [run, prefix] : std::vector<std::pair<std::string, std::string>>{
             {"trace", "trace"}, {"direct_tokens", "direct"}, {"direct_programs", "direct_programs"}, {"markov", "markov"}}) {
      m[prefix + "_train_tokens"] = number(s.at(run), run, "train_tokens");
      m[prefix + "_train_sequences"] = number(s.at(run), run, "train_sequences");
      m[prefix + "_steps"] = number(s.at(run), run, "step");
    }
    m["parameters"] = number(s.at("trace"), "trace", "parameters");
    return m;
  }

  // Program counts, and the trivial baseline: always answer the most common training output.
  void add_data_metrics(Metrics& m, const Data& d) const {
    std::map<std::string, int64_t> counts;
    for (const auto& ex : d.train) ++counts[ex.trace.result];
    std::string mode;
    int64_t best = -1;
    for (const auto& [value, n] : counts)
      if (n > best) best = n, mode = value;
    const auto accuracy = [&](const std::vector<TraceExample>& v) {
      int64_t ok = 0;
      for (const auto& ex : v) ok += ex.trace.result == mode;
      return v.empty() ? 0.0 : static_cast<double>(ok) / static_cast<double>(v.size());
    };
    m["baseline_output_accuracy"] = accuracy(head(d.test_id, eval_programs_));
    m["baseline_output_accuracy_ood"] = accuracy(head(d.test_ood, eval_programs_));
    most_common_ = mode;
    m["train_programs"] = static_cast<double>(d.train.size());
    m["test_programs"] = static_cast<double>(d.test_id.size());
    m["test_programs_ood"] = static_cast<double>(d.test_ood.size());
    m["eval_programs"] = static_cast<double>(std::min<int64_t>(eval_programs_, static_cast<int64_t>(d.test_id.size())));
    m["eval_programs_ood"] = static_cast<double>(std::min<int64_t>(eval_programs_, static_cast<int64_t>(d.test_ood.size())));
    m["filtered_too_long"] = d.stats.value("too_long_train", 0.0) + d.stats.value("too_long_test", 0.0);
    m["filtered_too_long_ood"] = d.stats.value("too_long_ood", 0.0);
  }

  struct Lengths {
    double statements = 0, loops = 0, events = 0, trace_tokens = 0, direct_tokens = 0;
  };
  Lengths mean_lengths(const std::vector<TraceExample>& v) const {
    Lengths l;
    for (const auto& ex : v) {
      l.statements += ex.n_statements, l.loops += ex.loop_iters, l.events += ex.n_events;
      l.trace_tokens += static_cast<double>(encode_full_trace(tokenizer_, ex, mode_).tokens.size());
      l.direct_tokens += static_cast<double>(encode_direct(tokenizer_, ex).tokens.size());
    }
    const double n = std::max<double>(1.0, static_cast<double>(v.size()));
    l.statements /= n, l.loops /= n, l.events /= n, l.trace_tokens /= n, l.direct_tokens /= n;
    return l;
  }

  std::string findings(const Metrics& m) const {
    std::string md;
    const auto line = [&](const std::string& s) { md += "- " + s + "\n"; };
    const double tr = m.at("trace_output_accuracy"), dt = m.at("direct_output_accuracy"),
                 dp = m.at("direct_programs_output_accuracy"), base = m.at("baseline_output_accuracy");
    const bool beats = tr > dt && tr > dp;
    line(std::string(beats ? "**Predicting the trace beats predicting the output directly**"
                           : "**Predicting the trace does not beat predicting the output directly**") +
         " on held-out programs in distribution: output accuracy " + fixed(tr) + " for the full-trace model against " +
         fixed(dt) + " for the direct model at equal training tokens and " + fixed(dp) +
         " at equal programs (Scratchpads, fine-tuned on synthetic programs: 20% direct -> 41.5% with a scratchpad).");
    line("Length OOD (more statements and loop iterations than any training program): trace " +
         fixed(m.at("trace_output_accuracy_ood")) + ", direct " + fixed(m.at("direct_output_accuracy_ood")) +
         " (equal tokens), " + fixed(m.at("direct_programs_output_accuracy_ood")) + " (equal programs), markov " +
         fixed(m.at("markov_output_accuracy_ood")) + ".");
    // "Clearly" above the trivial answer: at least 10 points and 1.5 times it.
    const bool learned = tr >= base + 0.1 && tr >= 1.5 * base;
    line(std::string(learned ? "The full-trace model learned something real: its " : "The full-trace model did NOT clearly beat the trivial baseline: its ") +
         fixed(tr) + " against " + fixed(base) + " for always answering the most common training output (`" +
         most_common_ + "`); the criterion is at least 10 points and 1.5 times the baseline.");
    line("Scratchpads' ablation: the trace-trained model asked to answer right after the call gets " +
         fixed(m.at("trace_direct_answer_accuracy")) + " (" + fixed(tr) + " when it writes the trace first).");
    line("Teacher forcing against free running: the full-trace model gets " + fixed(m.at("trace_tf_frame_em")) +
         " of next frames exactly right from the true prefix (event " + fixed(m.at("trace_tf_event_em")) + ", line " +
         fixed(m.at("trace_tf_line_em")) + ", locals " + fixed(m.at("trace_tf_locals_em")) + ", return value " +
         fixed(m.at("trace_tf_value_em")) + "), but writes the whole trace exactly for " +
         fixed(m.at("trace_exact_match")) + " of programs; its first wrong frame comes on average at frame " +
         fixed(m.at("trace_mean_first_wrong_frame"), 1) + ", with " + fixed(m.at("trace_mean_right_share")) +
         " of a trace's frames right before it.");
    line("The markov world model rolled out frame by frame: output " + fixed(m.at("markov_output_accuracy")) +
         ", trace exact " + fixed(m.at("markov_trace_exact_match")) + ", teacher-forced next frame " +
         fixed(m.at("markov_tf_frame_em")) + ", first wrong frame on average at " +
         fixed(m.at("markov_mean_first_wrong_frame"), 1) + ".");
    return md;
  }

  std::string comparison_report(const Metrics& m, const Data& d, const std::map<std::string, nlohmann::json>& s) const {
    std::string md = "## What this run shows\n\n" + findings(m) + "\n";
    const Lengths tr = mean_lengths(d.train), id = mean_lengths(head(d.test_id, eval_programs_)),
                  ood = mean_lengths(head(d.test_ood, eval_programs_));
    md += "## Data\n\n| split | programs | mean statements | mean loop iterations | mean events | mean trace sequence "
          "tokens | mean direct sequence tokens |\n|---|---|---|---|---|---|---|\n";
    const auto row = [&](const std::string& name, double n, const Lengths& l) {
      md += "| " + name + " | " + fixed(n, 0) + " | " + fixed(l.statements, 1) + " | " + fixed(l.loops, 1) + " | " +
            fixed(l.events, 1) + " | " + fixed(l.trace_tokens, 0) + " | " + fixed(l.direct_tokens, 0) + " |\n";
    };
    row("train", static_cast<double>(d.train.size()), tr);
    row("test, in distribution (evaluated)", m.at("eval_programs"), id);
    row("test, length OOD (evaluated)", m.at("eval_programs_ood"), ood);
    md += "\nThe train/test split is Learning to Execute's: a hash of the program text (split_hash < " +
          fixed(test_fraction_, 2) + " is test). Length-OOD programs come from [data.ood] and are kept only when they have "
          "more statements (> " + d.stats.value("train_max_statements", nlohmann::json(0)).dump() +
          ") or more loop iterations (> " + d.stats.value("train_max_loop_iters", nlohmann::json(0)).dump() +
          ") than every training program and their text is no training program's (" +
          d.stats.value("ood_not_longer", nlohmann::json(0)).dump() + " not longer and " +
          d.stats.value("ood_in_train", nlohmann::json(0)).dump() + " training programs dropped). Programs with a "
          "sequence longer than model.max_seq_len = " + std::to_string(model_cfg_.max_seq_len) + " were dropped: " +
          fixed(m.at("filtered_too_long"), 0) + " in distribution, " + fixed(m.at("filtered_too_long_ood"), 0) +
          " length-OOD.\n\n";
    md += "## Output accuracy\n\n**Training tokens** are the tokens fed to the model: every token of a training sequence "
          "except its last (which is only a target), prompt included, padding excluded. **Sequences presented** = steps x "
          "batch: programs for trace and direct, frames (each with its program and call stack) for markov.\n\n"
          "| model | steps | training tokens | sequences presented | in distribution | length OOD |\n|---|---|---|---|---|---|\n";
    const auto acc_row = [&](const std::string& name, const std::string& prefix, const std::string& key) {
      md += "| " + name + " | " + fixed(m.at(prefix + "_steps"), 0) + " | " + fixed(m.at(prefix + "_train_tokens"), 0) +
            " | " + fixed(m.at(prefix + "_train_sequences"), 0) + " | " + fixed(m.at(key)) + " | " +
            fixed(m.at(key + "_ood")) + " |\n";
    };
    acc_row("full trace", "trace", "trace_output_accuracy");
    acc_row("direct, equal tokens", "direct", "direct_output_accuracy");
    acc_row("direct, equal programs", "direct_programs", "direct_programs_output_accuracy");
    acc_row("markov rollout", "markov", "markov_output_accuracy");
    md += "| full trace model answering right after the call | | | | " + fixed(m.at("trace_direct_answer_accuracy")) +
          " | " + fixed(m.at("trace_direct_answer_accuracy_ood")) + " |\n";
    md += "| most common training output | | | | " + fixed(m.at("baseline_output_accuracy")) + " | " +
          fixed(m.at("baseline_output_accuracy_ood")) + " |\n\n";
    md += "## Traces written freely (greedy)\n\nFull trace: one greedy decode of the whole trace. Markov: frame by frame "
          "from the true call frame, each frame predicted from the program and the call stack the model's own frames "
          "built, until the entry function returns (at most eval.max_frames frames). First wrong frame: the index of the "
          "first frame that differs from the interpreter's (0 is the call frame), averaged over the programs that have "
          "one; frames right: the share of the true frames before it.\n\n"
          "| model | split | trace exact | all frames parsed | mean first wrong frame | frames right before it |\n"
          "|---|---|---|---|---|---|\n";
    for (const std::string run : {"trace", "markov"}) {
      for (const std::string sfx : {"", "_ood"}) {
        const std::string em = run == "trace" ? "trace_exact_match" : "markov_trace_exact_match";
        md += "| " + run + " | " + (sfx.empty() ? "in distribution" : "length OOD") + " | " + fixed(m.at(em + sfx)) +
              " | " + fixed(m.at(run + "_parse_rate" + sfx)) + " | " + fixed(m.at(run + "_mean_first_wrong_frame" + sfx), 1) +
              " | " + fixed(m.at(run + "_mean_right_share" + sfx)) + " |\n";
      }
    }
    md += "\n## Next frame under teacher forcing\n\nFrom the true prefix (full trace) or the true stack (markov), one "
          "forward pass: a frame is right when the argmax is right at each of its tokens and the token after it ends the "
          "frame, which is exactly when greedy decoding reproduces it. Locals: call and line frames (the changed "
          "variables in diff mode); value: return frames.\n\n"
          "| model | split | frame | event | line | locals | value |\n|---|---|---|---|---|---|---|\n";
    for (const std::string run : {"trace", "markov"}) {
      for (const std::string sfx : {"", "_ood"}) {
        md += "| " + run + " | " + (sfx.empty() ? "in distribution" : "length OOD") + " |";
        for (const std::string k : {"frame", "event", "line", "locals", "value"}) md += " " + fixed(m.at(run + "_tf_" + k + "_em" + sfx)) + " |";
        md += "\n";
      }
    }
    md += "\nSub-runs (each with its own report, curves and eval_id.jsonl / eval_ood.jsonl):";
    for (const auto& [name, summary] : s) md += " [" + name + "](" + name + "/report.md)";
    return md + "\n";
  }

  std::string role_, data_dir_;
  int64_t programs_ = 20000, ood_programs_ = 2000, data_seed_ = 1, batch_ = 32, eval_programs_ = 200,
          val_sequences_ = 64;
  double test_fraction_ = 0.1;
  StateMode mode_ = StateMode::Diff;
  GeneratorOptions gen_, ood_;
  TransformerConfig model_cfg_;
  TrainOptions train_;
  EvalOptions eval_;
  TraceTokenizer tokenizer_;
  mutable std::string most_common_;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_trace_worldmodel() { return std::make_unique<TraceWorldModel>(); }

namespace wm {

LoadedWorldModel load_world_model(const std::string& run) {
  const auto read_config = [](const std::string& dir) {
    if (!fs::is_regular_file(dir + "/config.toml"))
      throw InputError("'" + dir + "' is not a run folder (no config.toml)");
    return Config::load(dir + "/config.toml");
  };
  LoadedWorldModel w;
  w.run_dir = run;
  Config config = read_config(run);
  const std::string experiment = config.get_string("run.experiment", "");
  if (experiment != "trace_worldmodel")
    throw InputError("'" + run + "' is a run of '" + experiment + "', not of trace_worldmodel");
  std::string role = config.get_string("worldmodel.role", "all");
  if (role == "all") {  // the comparison run: its full-trace model
    w.run_dir = run + "/trace";
    config = read_config(w.run_dir);
    role = config.get_string("worldmodel.role", "all");
  }
  if (role == "direct")
    throw InputError("'" + w.run_dir + "' holds a direct model, which predicts outputs only; give the trace or markov sub-run");
  w.task = task_from_name(role);
  const std::string checkpoint = latest_checkpoint(w.run_dir + "/checkpoints");
  if (checkpoint.empty()) throw InputError("run folder '" + w.run_dir + "' has no checkpoint yet");
  const Checkpoint ckpt = load_checkpoint(checkpoint);
  Config trained = Config::parse(ckpt.config, checkpoint + " (__metadata__ config)");
  w.mode = trained.get_string("data.state", "diff") == "full" ? StateMode::Full : StateMode::Diff;
  w.max_frames = trained.get_int("eval.max_frames", w.max_frames, 2);
  w.max_frame_tokens = trained.get_int("eval.max_frame_tokens", w.max_frame_tokens, 4);
  w.model = LanguageModel(TransformerConfig::from_config(trained, "model"));
  try {
    load_module_state(*w.model, evaluation_weights(ckpt));
  } catch (const InputError& e) {
    throw InputError(checkpoint + ": " + e.what());
  }
  w.model->to(resolve_device(trained.get_choice("run.device", "auto", {"auto", "cpu", "cuda"})));
  w.model->eval();
  return w;
}

}  // namespace wm

}  // namespace beyond
