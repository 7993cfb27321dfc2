#include "experiments/recursive/arc_experiment.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "experiments/recursive/puzzle_experiment.h"
#include "experiments/runner.h"
#include "recursive/deep_supervision.h"
#include "recursive/puzzles/arc_dataset.h"
#include "recursive/puzzles/arc_vote.h"

namespace beyond {
namespace {

// The tasks of `dir` (all, or `ids`), without those whose largest grid side exceeds `max_grid`.
std::vector<ArcTask> load_tasks(const std::string& dir, const std::vector<std::string>& ids, int max_grid,
                                const std::string& what) {
  auto tasks = load_arc_dir(dir, ids);
  const size_t before = tasks.size();
  std::erase_if(tasks, [&](const ArcTask& t) { return t.max_side() > max_grid; });
  if (tasks.size() < before)
    log::info(what + ": " + std::to_string(before - tasks.size()) + " of " + std::to_string(before) +
              " tasks in " + dir + " skipped for grids larger than " + std::to_string(max_grid) + "x" +
              std::to_string(max_grid));
  return tasks;
}

std::string pass_key(int k) { return "pass_at_" + std::to_string(k); }

// Everything one evaluation produced: the votes, their score, and the per-variant accuracy.
struct ArcEvaluation {
  ArcVote vote;
  ArcScore score;
  ReasonerEvaluation raw;  // per augmented test input, before voting
};

std::string grid_text(const ArcGrid& g) {
  std::string s;
  for (int r = 0; r < g.rows; ++r) {
    for (int c = 0; c < g.cols; ++c) s += static_cast<char>('0' + g.at(r, c));
    s += '\n';
  }
  return g.empty() ? "(empty)\n" : s;
}

class ArcExperiment : public Experiment {
 public:
  void configure(Config& c) override {
    const int max_grid = static_cast<int>(c.get_int("task.max_grid", kArcMaxGrid, 1, kArcMaxGrid));
    const auto training_dirs = c.get_string_list("task.training_dirs", {});
    const auto training_ids = c.get_string_list("task.training_ids", {});
    std::set<std::string> found;
    for (const auto& dir : training_dirs) {
      const auto wanted = training_ids.empty() ? std::vector<std::string>{} : ids_in(dir, training_ids);
      if (!training_ids.empty() && wanted.empty()) continue;
      auto more = load_tasks(dir, wanted, max_grid, "task.training_dirs");
      found.insert(wanted.begin(), wanted.end());
      training_.insert(training_.end(), more.begin(), more.end());
    }
    for (const auto& id : training_ids)
      if (!found.count(id)) throw InputError("task.training_ids: no task '" + id + "' in task.training_dirs");
    const auto eval_dir = c.get_string("task.evaluation_dir", "");
    if (eval_dir.empty()) throw InputError("task.evaluation_dir: the folder of the tasks to report on is required");
    evaluation_ = load_tasks(eval_dir, c.get_string_list("task.evaluation_ids", {}), max_grid, "task.evaluation_dir");
    if (evaluation_.empty()) throw InputError("task.evaluation_dir: no task of " + eval_dir + " is left to evaluate");
    overlap_ = warn_if_overlapping(training_, evaluation_, "task.training_dirs", "task.evaluation_dir");

    options_.canvas = static_cast<int>(c.get_int("task.canvas", kArcMaxGrid, 1, kArcMaxGrid));
    if (options_.canvas < max_grid)
      throw InputError("task.canvas (" + std::to_string(options_.canvas) + ") must hold task.max_grid (" +
                       std::to_string(max_grid) + ")");
    options_.augmentations = static_cast<int>(c.get_int("task.augmentations", 1000, 0, 100000));
    options_.translate = c.get_bool("task.translate", true);
    options_.eval_variants = static_cast<int>(c.get_int("eval.variants", 0, 0, 100000));

    batch_ = c.get_int("train.batch_size", 64, 1, 1 << 16);
    puzzle_lr_ = c.get_float("train.puzzle_emb_lr", 1e-2, 0.0, 10.0);
    puzzle_wd_ = c.get_float("train.puzzle_emb_weight_decay", 0.1, 0.0, 100.0);
    eval_batch_ = c.get_int("eval.batch_size", 256, 1, 1 << 16);
    for (const int64_t k : c.get_int_list("eval.pass_k", {1, 2, 5, 10, 100, 1000}, 1, 1 << 20))
      ks_.push_back(static_cast<int>(k));
    if (std::find(ks_.begin(), ks_.end(), 2) == ks_.end()) ks_.push_back(2);  // the headline
    if (std::find(ks_.begin(), ks_.end(), 1) == ks_.end()) ks_.insert(ks_.begin(), 1);
    std::sort(ks_.begin(), ks_.end());
    const int64_t ids = ArcDataset::num_puzzle_ids(training_.size() + evaluation_.size(), options_.augmentations);
    spec_ = read_reasoner(c, int64_t{options_.canvas} * options_.canvas, kArcVocab, ids);
    eval_steps_ = c.get_int("eval.steps", spec_.halting.max_steps, 1, 1024);
    train_ = TrainOptions::from_config(c);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    build_dataset(seed);
    Reasoner model = spec_.build();
    model->to(ctx.device);
    log::info(model->describe());
    DeepSupervisionObjective objective(model);

    const auto batch = [&](int64_t step, int64_t micro) {
      std::mt19937_64 rng(batch_seed(seed, step, micro));
      std::vector<int64_t> in, out, ids, min_steps;
      for (const int64_t e : data_->sample_batch(rng, batch_)) {
        const ArcTokens t = data_->train_tokens(e);
        in.insert(in.end(), t.inputs.begin(), t.inputs.end());
        out.insert(out.end(), t.labels.begin(), t.labels.end());
        ids.push_back(t.puzzle_id);
        min_steps.push_back(exploration_min_steps(model->halting, rng));
      }
      return Batch{{"inputs", at::tensor(in, at::kLong).view({batch_, -1})},
                   {"labels", at::tensor(out, at::kLong).view({batch_, -1})},
                   {"puzzle_ids", at::tensor(ids, at::kLong)},
                   {"min_steps", at::tensor(min_steps, at::kLong)}};
    };
    const auto evaluate = [&]() { return evaluate_and_vote(*model, eval_steps_); };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    attach_puzzle_sign_sgd(trainer, *model, puzzle_lr_, puzzle_wd_);
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    m["parameters"] = static_cast<double>(model->parameter_count());
    m["overlapping_task_ids"] = static_cast<double>(overlap_);
    write_file_atomic(ctx.dir->file("submission.json"), arc_submission_json(last_.vote, data_->evaluation_tasks()));
    report_ = report(model->describe());
    return m;
  }

  Metrics evaluate(RunContext& ctx, int64_t steps) override {
    build_dataset(static_cast<uint64_t>(ctx.options.seed));
    Reasoner model = spec_.build();
    const int64_t step = load_latest_weights(*model, ctx.dir->checkpoints());
    model->to(ctx.device);
    model->eval();
    const int64_t n = steps > 0 ? steps : eval_steps_;
    log::info("evaluating " + ctx.dir->path() + " (checkpoint step " + std::to_string(step) + ") with " +
              std::to_string(n) + " supervision steps");
    Metrics m = evaluate_and_vote(*model, n);
    m["checkpoint_step"] = static_cast<double>(step);
    m["supervision_steps"] = static_cast<double>(n);
    const std::string suffix = "_steps_" + std::to_string(n);
    write_file_atomic(ctx.dir->file("eval" + suffix + ".json"), nlohmann::json(m).dump(2) + "\n");
    write_file_atomic(ctx.dir->file("submission" + suffix + ".json"),
                      arc_submission_json(last_.vote, data_->evaluation_tasks()));
    std::printf("%s", score_table().c_str());
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  // Ids of `ids` that have a file in `dir` (a list may name tasks of several folders).
  static std::vector<std::string> ids_in(const std::string& dir, const std::vector<std::string>& ids) {
    std::vector<std::string> found;
    for (const auto& id : ids)
      if (std::filesystem::is_regular_file(dir + "/" + id + ".json")) found.push_back(id);
    return found;
  }

  void build_dataset(uint64_t seed) {
    data_ = std::make_unique<ArcDataset>(training_, evaluation_, options_, seed);
    log::info(data_->describe());
    std::vector<int64_t> in, out, ids;
    for (int64_t i = 0; i < static_cast<int64_t>(data_->held_out().size()); ++i) {
      const ArcTokens t = data_->held_out_tokens(i);
      in.insert(in.end(), t.inputs.begin(), t.inputs.end());
      out.insert(out.end(), t.labels.begin(), t.labels.end());
      ids.push_back(t.puzzle_id);
    }
    const int64_t n = static_cast<int64_t>(ids.size());
    held_inputs_ = at::tensor(in, at::kLong).view({n, -1});
    held_labels_ = at::tensor(out, at::kLong).view({n, -1});
    held_ids_ = at::tensor(ids, at::kLong);
  }

  // Every variant of every held-out test input through `steps` supervision steps, then the vote.
  Metrics evaluate_and_vote(ReasonerImpl& model, int64_t steps) {
    last_ = ArcEvaluation{};
    last_.raw = evaluate_reasoner(model, held_inputs_, held_labels_, steps, eval_batch_, held_ids_);
    const auto predictions = last_.raw.predictions.to(at::kCPU).contiguous();
    const auto confidence = at::sigmoid(last_.raw.final_q_halt.to(at::kCPU).to(at::kDouble));
    const int64_t L = predictions.size(1);
    for (int64_t i = 0; i < predictions.size(0); ++i) {
      const int64_t* p = predictions[i].data_ptr<int64_t>();
      const auto& item = data_->held_out()[static_cast<size_t>(i)];
      const auto& task = data_->tasks()[static_cast<size_t>(item.task)];
      last_.vote.add(task.id, item.test_index, data_->answer_in_task_frame(i, std::vector<int64_t>(p, p + L)),
                     confidence[i].item<double>());
    }
    last_.score = score_arc(last_.vote, data_->evaluation_tasks(), ks_);
    Metrics m{{"variant_exact_accuracy", last_.raw.exact}, {"variant_cell_accuracy", last_.raw.cell},
              {"mean_halt_step", last_.raw.mean_halt_step}, {"tasks_scored", static_cast<double>(last_.score.tasks.size())}};
    for (size_t i = 0; i < ks_.size(); ++i) m[pass_key(ks_[i])] = last_.score.pass_at[i];
    // The floor for cell accuracy: the input board copied as the answer (many ARC outputs are
    // mostly their input).
    copy_cell_ = score_cells(held_inputs_, held_labels_).cell.mean().item<double>();
    m["copy_input_cell_accuracy"] = copy_cell_;
    return m;
  }

  std::string score_table() const {
    std::string md = "| K |";
    std::string rule = "|---|", row = "| pass@K |";
    for (size_t i = 0; i < ks_.size(); ++i) {
      md += " " + std::to_string(ks_[i]) + " |";
      rule += "---|";
      row += " " + fixed(last_.score.pass_at[i]) + " |";
    }
    return md + "\n" + rule + "\n" + row + "\n";
  }

  // Rank (1-based) of the true output among a test input's candidates; 0 when it got no vote.
  int rank_of_truth(const ArcTask& task, int test_index) const {
    const auto ranked = last_.vote.ranked(task.id, test_index);
    for (size_t r = 0; r < ranked.size(); ++r)
      if (ranked[r].grid == task.test[static_cast<size_t>(test_index)].output) return static_cast<int>(r) + 1;
    return 0;
  }

  std::string task_table() const {
    std::string md =
        "| task | largest side | test input | variants voting | candidates | top votes | rank of the true output | pass@1 | pass@2 |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& task : data_->evaluation_tasks()) {
      for (size_t k = 0; k < task.test.size(); ++k) {
        const auto ranked = last_.vote.ranked(task.id, static_cast<int>(k));
        int64_t votes = 0;
        for (const auto& r : ranked) votes += r.votes;
        const int rank = task.test[k].has_output ? rank_of_truth(task, static_cast<int>(k)) : -1;
        md += "| " + task.id + " | " + std::to_string(task.max_side()) + " | " + std::to_string(k + 1) + " | " +
              std::to_string(votes) + " | " + std::to_string(ranked.size()) + " | " +
              (ranked.empty() ? "0" : std::to_string(ranked[0].votes)) + " | " +
              (rank < 0 ? "unknown" : rank == 0 ? "not voted" : std::to_string(rank)) + " | " +
              (rank == 1 ? "1" : "0") + " | " + (rank == 1 || rank == 2 ? "1" : "0") + " |\n";
      }
    }
    return md;
  }

  // One held-out test input the vote got right and one it got wrong, when there are.
  std::string examples() const {
    std::string md;
    for (const bool want_right : {true, false}) {
      for (const auto& task : data_->evaluation_tasks()) {
        bool shown = false;
        for (size_t k = 0; k < task.test.size() && !shown; ++k) {
          if (!task.test[k].has_output || (rank_of_truth(task, static_cast<int>(k)) == 1) != want_right) continue;
          const auto ranked = last_.vote.ranked(task.id, static_cast<int>(k));
          md += std::string("\n") + (want_right ? "A solved" : "An unsolved") + " test input (task " + task.id +
                ", test " + std::to_string(k + 1) + "): input, true output, the top-voted answer\n\n```\n" +
                grid_text(task.test[k].input) + "\n" + grid_text(task.test[k].output) + "\n" +
                (ranked.empty() ? "(no votes)\n" : grid_text(ranked[0].grid)) + "```\n";
          shown = true;
        }
        if (shown) break;
      }
    }
    return md;
  }

  std::string report(const std::string& model_line) const {
    std::string md = "Model: " + model_line + ". " + data_->describe() + ".\n\n";
    if (overlap_ > 0)
      md += "**Warning:** " + std::to_string(overlap_) +
            " evaluation task ids are also training tasks, so these numbers are contaminated.\n\n";
    md += "## pass@K on the held-out test inputs (voting over " +
          (options_.eval_variants > 0 ? std::to_string(options_.eval_variants) : std::string("all")) +
          " variants, " + std::to_string(eval_steps_) + " supervision steps)\n\n" + score_table();
    md += "\nBefore voting, each augmented test input alone: exact " + fixed(last_.raw.exact) + ", cell " +
          fixed(last_.raw.cell) + " (cells of the board that are not PAD; copying the input board scores " +
          fixed(copy_cell_) + ").\n";
    md += "\n## Per test input\n\n" + task_table() + examples();
    md += "\nThe top-2 answers of every test input are in submission.json (ARC Prize format).\n";
    return md;
  }

  std::vector<ArcTask> training_, evaluation_;
  size_t overlap_ = 0;
  ArcDatasetOptions options_;
  std::unique_ptr<ArcDataset> data_;
  at::Tensor held_inputs_, held_labels_, held_ids_;
  ReasonerSpec spec_;
  TrainOptions train_;
  int64_t batch_ = 64, eval_batch_ = 256, eval_steps_ = 16;
  double puzzle_lr_ = 1e-2, puzzle_wd_ = 0.1;
  std::vector<int> ks_;
  ArcEvaluation last_;
  double copy_cell_ = 0;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_arc_experiment() { return std::make_unique<ArcExperiment>(); }

}  // namespace beyond
