// TRM on generated Sudoku: a pool of unique puzzles for training (a fresh random relabelling and
// band/stack shuffle each time one is drawn) and a disjoint held-out pool for testing, judged by
// exact accuracy (every cell right) after all test-time supervision steps.
#include "experiments/recursive/sudoku_trm.h"

#include <ATen/ATen.h>

#include <set>

#include "core/log/log.h"
#include "core/seed.h"
#include "recursive/puzzles/sudoku.h"
#include "recursive/deep_supervision.h"

namespace beyond {
namespace {

struct Pool {
  std::vector<GeneratedSudoku> puzzles;
};

Pool generate_pool(SudokuShape shape, int64_t count, int givens, uint64_t seed, const std::set<std::string>& exclude) {
  std::mt19937_64 rng(seed);
  Pool pool;
  std::set<std::string> seen = exclude;
  SudokuGenerateOptions opt;
  opt.givens = givens;
  int64_t tries = 0;
  while (static_cast<int64_t>(pool.puzzles.size()) < count && tries < count * 50) {
    ++tries;
    auto g = generate_sudoku(shape, opt, rng);
    if (!seen.insert(g.puzzle.to_string()).second) continue;  // no duplicates, none shared with `exclude`
    pool.puzzles.push_back(std::move(g));
  }
  if (static_cast<int64_t>(pool.puzzles.size()) < count)
    throw InputError("could only generate " + std::to_string(pool.puzzles.size()) + " distinct " + shape.name() +
                     " puzzles with " + std::to_string(givens) + " givens (asked for " + std::to_string(count) + ")");
  return pool;
}

at::Tensor to_tensor(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
}

std::string grid_from_tokens(SudokuShape shape, const at::Tensor& tokens) {
  SudokuGrid g(shape);
  for (int i = 0; i < shape.cells(); ++i) g.cells[i] = static_cast<uint8_t>(std::max<int64_t>(0, tokens[i].item<int64_t>() - 1));
  return pretty_sudoku(g);
}

class SudokuTRM : public Experiment {
 public:
  void configure(Config& c) override {
    const std::string size = std::to_string(c.get_int("task.size", 4, 4, 9));
    if (size != "4" && size != "6" && size != "9") throw c.error("task.size", "task.size must be 4, 6 or 9, got " + size);
    shape_ = SudokuShape::for_size(std::stoi(size));
    const int default_givens = shape_.size() == 4 ? 6 : shape_.size() == 6 ? 14 : 28;
    givens_ = static_cast<int>(c.get_int("task.givens", default_givens, min_unique_givens(shape_), shape_.cells()));
    train_puzzles_ = c.get_int("task.train_puzzles", 2000, 1, 10000000);
    test_puzzles_ = c.get_int("task.test_puzzles", 1000, 1, 10000000);
    augment_ = c.get_bool("task.augment", true);
    batch_ = c.get_int("train.batch_size", 64, 1, 1 << 16);
    eval_batch_ = c.get_int("eval.batch_size", 256, 1, 1 << 16);
    model_spec_ = read_reasoner(c, shape_.cells(), shape_.size() + 2);
    eval_steps_ = c.get_int("eval.steps", model_spec_.halting.max_steps, 1, 1024);
    train_ = TrainOptions::from_config(c);
  }

  Metrics run(RunContext& ctx, bool* interrupted) override {
    const uint64_t seed = static_cast<uint64_t>(ctx.options.seed);
    const auto train_pool = generate_pool(shape_, train_puzzles_, givens_, mix_seed(seed ^ 0x7a11), {});
    std::set<std::string> train_set;
    for (const auto& p : train_pool.puzzles) train_set.insert(p.puzzle.to_string());
    const auto test_pool = generate_pool(shape_, test_puzzles_, givens_, mix_seed(seed ^ 0x7e57), train_set);
    log::info("sudoku " + shape_.name() + ": " + std::to_string(train_puzzles_) + " train and " +
              std::to_string(test_puzzles_) + " held-out puzzles with " + std::to_string(givens_) + " givens");

    std::vector<std::vector<int64_t>> test_in, test_out;
    for (const auto& p : test_pool.puzzles) {
      test_in.push_back(sudoku_tokens(p.puzzle));
      test_out.push_back(sudoku_tokens(p.solution));
    }
    const auto test_inputs = to_tensor(test_in), test_labels = to_tensor(test_out);

    Reasoner model = model_spec_.build();  // after the run's seed is set
    model->to(ctx.device);
    const int64_t n_params = model->parameter_count();
    log::info(model->describe());
    DeepSupervisionObjective objective(model);
    const auto batch = [&](int64_t step, int64_t micro) {
      std::mt19937_64 rng(batch_seed(seed, step, micro));
      std::uniform_int_distribution<size_t> pick(0, train_pool.puzzles.size() - 1);
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      std::uniform_int_distribution<int64_t> explore_steps(2, std::max<int64_t>(2, model_spec_.halting.max_steps));
      std::vector<std::vector<int64_t>> in, out;
      std::vector<int64_t> min_steps;
      for (int64_t i = 0; i < batch_; ++i) {
        const auto& p = train_pool.puzzles[pick(rng)];
        const auto t = augment_ ? SudokuTransform::random(shape_, rng) : SudokuTransform::identity(shape_);
        in.push_back(sudoku_tokens(t.apply(p.puzzle)));
        out.push_back(sudoku_tokens(t.apply(p.solution)));
        min_steps.push_back(unit(rng) < model_spec_.halting.exploration ? explore_steps(rng) : 0);
      }
      return Batch{{"inputs", to_tensor(in)}, {"labels", to_tensor(out)}, {"min_steps", at::tensor(min_steps, at::kLong)}};
    };
    const auto evaluate = [&]() {
      last_eval_ = evaluate_reasoner(*model, test_inputs, test_labels, eval_steps_, eval_batch_);
      return Metrics{{"exact_accuracy", last_eval_.exact}, {"cell_accuracy", last_eval_.cell},
                     {"mean_halt_step", last_eval_.mean_halt_step}};
    };
    Trainer trainer(*model, objective, batch, evaluate, train_, {ctx.dir, ctx.config_toml, ctx.device});
    Metrics m = trainer.fit();
    *interrupted = trainer.interrupted();
    if (*interrupted) return m;
    m["parameters"] = static_cast<double>(n_params);
    write_report(test_inputs, test_labels);
    return m;
  }

  std::string report_markdown() const override { return report_; }

 private:
  void write_report(const at::Tensor& inputs, const at::Tensor& labels) {
    std::string md = "## Exact accuracy by test-time supervision step\n\n| step | exact |\n|---|---|\n";
    for (size_t s = 0; s < last_eval_.exact_by_step.size(); ++s)
      md += "| " + std::to_string(s + 1) + " | " + std::to_string(last_eval_.exact_by_step[s]) + " |\n";
    for (size_t i = 0; i < last_eval_.correct_by_puzzle.size(); ++i) {
      if (!last_eval_.correct_by_puzzle[i]) continue;
      const auto solved = "A held-out puzzle and the model's answer:\n\n```\n" + grid_from_tokens(shape_, inputs[i]) +
                          "\n" + grid_from_tokens(shape_, last_eval_.predictions[i]) + "```\n";
      md += "\n" + solved;
      log::info("a solved held-out puzzle:\n" + grid_from_tokens(shape_, inputs[i]) + "\n" +
                grid_from_tokens(shape_, last_eval_.predictions[i]));
      break;
    }
    report_ = md;
  }

  SudokuShape shape_;
  int givens_ = 6;
  int64_t train_puzzles_ = 2000, test_puzzles_ = 1000, batch_ = 64, eval_batch_ = 256, eval_steps_ = 16;
  bool augment_ = true;
  ReasonerSpec model_spec_;
  TrainOptions train_;
  ReasonerEvaluation last_eval_;
  std::string report_;
};

}  // namespace

std::unique_ptr<Experiment> make_sudoku_trm() { return std::make_unique<SudokuTRM>(); }

}  // namespace beyond
