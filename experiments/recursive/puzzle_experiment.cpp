#include "experiments/recursive/puzzle_experiment.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/checkpoint.h"
#include "core/log/log.h"
#include "core/seed.h"
#include "experiments/runner.h"
#include "recursive/deep_supervision.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

using TaskFactory = std::function<std::unique_ptr<PuzzleTask>()>;

// Exact and cell accuracy of the puzzles in each difficulty group, in held.group_order.
struct GroupAccuracy {
  std::string group;
  int64_t puzzles = 0;
  double exact = 0, cell = 0;
};

std::vector<GroupAccuracy> by_group(const ReasonerEvaluation& e, const HeldOutSet& held) {
  const auto cell_right = (e.predictions == held.labels.to(e.predictions.device())).to(at::kDouble).mean(-1);  // [P]
  std::vector<GroupAccuracy> out;
  for (const auto& g : held.group_order) {
    GroupAccuracy a{g};
    for (size_t i = 0; i < held.group.size(); ++i) {
      if (held.group[i] != g) continue;
      ++a.puzzles;
      a.exact += static_cast<double>(e.correct_by_puzzle[i]);
      a.cell += cell_right[static_cast<int64_t>(i)].item<double>();
    }
    a.exact /= static_cast<double>(a.puzzles);
    a.cell /= static_cast<double>(a.puzzles);
    out.push_back(a);
  }
  return out;
}

Metrics eval_metrics(const ReasonerEvaluation& e, const HeldOutSet& held) {
  Metrics m{{"exact_accuracy", e.exact}, {"cell_accuracy", e.cell}, {"mean_halt_step", e.mean_halt_step},
            {"exact_accuracy_step_1", e.exact_by_step.front()}};
  for (const auto& a : by_group(e, held)) {
    m["exact_accuracy[" + a.group + "]"] = a.exact;
    m["cell_accuracy[" + a.group + "]"] = a.cell;
  }
  return m;
}

std::string by_step_table(const ReasonerEvaluation& e) {
  std::string md = "| supervision step | exact | cell |\n|---|---|---|\n";
  for (size_t s = 0; s < e.exact_by_step.size(); ++s)
    md += "| " + std::to_string(s + 1) + " | " + fixed(e.exact_by_step[s]) + " | " + fixed(e.cell_by_step[s]) + " |\n";
  return md;
}

std::string by_group_table(const ReasonerEvaluation& e, const HeldOutSet& held) {
  if (held.group_order.empty()) return "";
  std::string md = "| difficulty | puzzles | exact | cell |\n|---|---|---|---|\n";
  for (const auto& a : by_group(e, held))
    md += "| " + a.group + " | " + std::to_string(a.puzzles) + " | " + fixed(a.exact) + " | " + fixed(a.cell) + " |\n";
  return md;
}

class PuzzleReasoning : public Experiment {
 public:
  explicit PuzzleReasoning(TaskFactory factory) : task_(factory()) {}

  void configure(Config& c) override {
    task_->configure(c);
    batch_ = c.get_int("train.batch_size", 64, 1, 1 << 16);
    eval_batch_ = c.get_int("eval.batch_size", 256, 1, 1 << 16);
    // Reads and checks every [model] key now; the model itself is built in run(), after seeding.
    spec_ = read_reasoner(c, task_->seq_len(), task_->vocab_size());
    eval_steps_ = c.get_int("eval.steps", spec_.halting.max_steps, 1, 1024);
    train_ = TrainOptions::from_config(c);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    task_->prepare(seed);
    log::info(task_->describe());
    Reasoner model = spec_.build();
    model->to(ctx.device);
    log::info(model->describe());
    DeepSupervisionObjective objective(model);
    const HeldOutSet& held = task_->held_out();

    const auto batch = [&](int64_t step, int64_t micro) {
      std::mt19937_64 rng(batch_seed(seed, step, micro));
      std::vector<int64_t> in, out, min_steps;
      for (int64_t i = 0; i < batch_; ++i) {
        auto ex = task_->sample(rng);
        in.insert(in.end(), ex.inputs.begin(), ex.inputs.end());
        out.insert(out.end(), ex.labels.begin(), ex.labels.end());
        min_steps.push_back(exploration_min_steps(model->halting, rng));
      }
      return Batch{{"inputs", at::tensor(in, at::kLong).view({batch_, -1})},
                   {"labels", at::tensor(out, at::kLong).view({batch_, -1})},
                   {"min_steps", at::tensor(min_steps, at::kLong)}};
    };
    const auto evaluate = [&]() {
      last_ = evaluate_reasoner(*model, held.inputs, held.labels, eval_steps_, eval_batch_);
      return eval_metrics(last_, held);
    };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    m["parameters"] = static_cast<double>(model->parameter_count());
    report_ = report(held, model->describe());
    return m;
  }

  Metrics evaluate(RunContext& ctx, int64_t steps) override {
    task_->prepare(static_cast<uint64_t>(ctx.options.seed));
    Reasoner model = spec_.build();
    const int64_t step = load_latest_weights(*model, ctx.dir->checkpoints());
    model->to(ctx.device);
    model->eval();
    const int64_t n = steps > 0 ? steps : eval_steps_;
    const HeldOutSet& held = task_->held_out();
    log::info("evaluating " + ctx.dir->path() + " (checkpoint step " + std::to_string(step) + ") with " +
              std::to_string(n) + " supervision steps on " + std::to_string(held.inputs.size(0)) + " held-out puzzles");
    last_ = evaluate_reasoner(*model, held.inputs, held.labels, n, eval_batch_);
    Metrics m = eval_metrics(last_, held);
    m["checkpoint_step"] = static_cast<double>(step);
    m["supervision_steps"] = static_cast<double>(n);
    nlohmann::json j(m);
    j["exact_by_step"] = last_.exact_by_step;
    j["cell_by_step"] = last_.cell_by_step;
    write_file_atomic(ctx.dir->file("eval_steps_" + std::to_string(n) + ".json"), j.dump(2) + "\n");
    std::printf("%s\n%s", by_step_table(last_).c_str(), by_group_table(last_, held).c_str());
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  std::string report(const HeldOutSet& held, const std::string& model_line) const {
    std::string md = "Model: " + model_line + ". " + task_->describe() + ".\n\n";
    md += "## Held-out accuracy by test-time supervision step\n\n" + by_step_table(last_);
    const std::string groups = by_group_table(last_, held);
    if (!groups.empty()) md += "\n## Accuracy by difficulty\n\n" + groups;
    // One solved and one unsolved held-out puzzle, when there are.
    for (int64_t want : {1, 0}) {
      for (size_t i = 0; i < last_.correct_by_puzzle.size(); ++i) {
        if (last_.correct_by_puzzle[i] != want) continue;
        const auto idx = static_cast<int64_t>(i);
        const std::string shown = task_->render(held.inputs[idx]) + "\n" + task_->render(last_.predictions[idx]);
        md += std::string("\n") + (want ? "A solved held-out puzzle (question, then the model's answer):"
                                        : "An unsolved held-out puzzle (question, the model's answer, the solution):") +
              "\n\n```\n" + shown + (want ? "" : "\n" + task_->render(held.labels[idx])) + "```\n";
        if (want) log::info("a solved held-out puzzle:\n" + shown);
        break;
      }
    }
    return md;
  }

  std::unique_ptr<PuzzleTask> task_;
  ReasonerSpec spec_;
  int64_t batch_ = 64, eval_batch_ = 256, eval_steps_ = 16;
  TrainOptions train_;
  ReasonerEvaluation last_;
  std::string report_;
};

TaskFactory task_factory(const std::string& experiment) {
  if (experiment == "sudoku") return make_sudoku_task;
  if (experiment == "maze") return make_maze_task;
  return nullptr;
}

}  // namespace

std::unique_ptr<Experiment> make_sudoku_experiment() { return std::make_unique<PuzzleReasoning>(make_sudoku_task); }
std::unique_ptr<Experiment> make_maze_experiment() { return std::make_unique<PuzzleReasoning>(make_maze_task); }

int64_t load_latest_weights(ReasonerImpl& model, const std::string& checkpoint_dir) {
  if (latest_checkpoint(checkpoint_dir).empty())
    throw InputError("no checkpoint in '" + checkpoint_dir + "': train the run first with `beyond run`");
  return load_evaluation_weights(model, checkpoint_dir);
}

TrainedReasoner load_trained_reasoner(const std::string& run_dir) {
  const std::string config_path = run_dir + "/config.toml";
  if (!fs::is_regular_file(config_path)) throw InputError("'" + run_dir + "' is not a run folder (no config.toml)");
  Config c = Config::load(config_path);
  TrainedReasoner t;
  t.experiment = c.get_string("run.experiment", "");
  const auto factory = task_factory(t.experiment);
  if (!factory) throw InputError(config_path + ": run.experiment '" + t.experiment + "' is not a puzzle experiment (sudoku, maze)");
  t.task = factory();
  t.task->configure(c);
  t.model = make_reasoner(c, t.task->seq_len(), t.task->vocab_size());
  t.eval_steps = c.get_int("eval.steps", t.model->halting.max_steps, 1, 1024);
  t.step = load_latest_weights(*t.model, run_dir + "/checkpoints");
  t.model->eval();
  return t;
}

}  // namespace beyond
