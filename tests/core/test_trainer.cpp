// The trainer's guards: a non-finite loss stops the run with a clear error and keeps the last
// good checkpoint; gradient accumulation equals one big batch.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/linear.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "core/trainer.h"

namespace fs = std::filesystem;
using namespace beyond;

namespace {

// Least squares on fixed data; the loss turns NaN from step `nan_at` on.
struct Regression : Objective {
  torch::nn::Linear lin{nullptr};
  int64_t calls = 0, nan_at = -1;
  explicit Regression(torch::nn::Linear l) : lin(std::move(l)) {}
  LossOutput loss(const Batch& b) override {
    auto l = (lin(b.at("x")) - b.at("y")).pow(2).mean();
    if (nan_at >= 0 && calls >= nan_at) l = l * std::nan("");
    ++calls;
    return {l, {}};
  }
};

Batch make_batch(int64_t step, int64_t micro, int64_t rows) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(1000 * step + micro));
  auto x = at::randn({rows, 4}, gen);
  return {{"x", x}, {"y", x.sum(1, true) * 0.5}};
}

std::string fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("beyond_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

TrainOptions options(int64_t steps) {
  TrainOptions o;
  o.steps = steps;
  o.schedule.kind = "constant";
  o.schedule.lr = 1e-2;
  o.schedule.total = steps;
  o.checkpoint_every = 5;
  o.keep_checkpoints = 0;
  return o;
}

}  // namespace

TEST(Trainer, NanLossStopsAndKeepsLastGoodCheckpoint) {
  torch::manual_seed(0);
  torch::nn::Linear lin(4, 1);
  Regression obj(lin);
  obj.nan_at = 7;  // steps 0..6 are fine; step 7 is not
  const auto dir = fresh_dir("nan");
  RunDir run(dir);
  Trainer trainer(*lin, obj, [](int64_t s, int64_t m) { return make_batch(s, m, 8); }, nullptr, options(20),
                  {&run, "", c10::Device(c10::kCPU)});
  try {
    trainer.fit();
    FAIL() << "a NaN loss must stop the run";
  } catch (const RunError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("step 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not finite"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step_00000005.safetensors"), std::string::npos) << msg;
  }
  EXPECT_EQ(latest_checkpoint(run.checkpoints()), checkpoint_path(run.checkpoints(), 5));
  const auto ckpt = load_checkpoint(checkpoint_path(run.checkpoints(), 5));
  EXPECT_TRUE(at::isfinite(ckpt.tensors.at("model.weight")).all().item<bool>());
  fs::remove_all(dir);
}

TEST(Trainer, GradientAccumulationEqualsOneBigBatch) {
  // Two micro-batches of 8 rows give the same mean gradient as their 16 rows at once.
  const auto train = [](int64_t accum) {
    torch::manual_seed(0);
    torch::nn::Linear lin(4, 1);
    Regression obj(lin);
    const auto dir = fresh_dir("accum" + std::to_string(accum));
    RunDir run(dir);
    auto opt = options(6);
    opt.grad_accum = accum;
    opt.grad_clip = 0;
    const auto batch = [accum](int64_t s, int64_t m) {
      if (accum == 2) return make_batch(s, m, 8);
      const auto a = make_batch(s, 0, 8), b = make_batch(s, 1, 8);
      return Batch{{"x", at::cat({a.at("x"), b.at("x")})}, {"y", at::cat({a.at("y"), b.at("y")})}};
    };
    Trainer(*lin, obj, batch, nullptr, opt, {&run, "", c10::Device(c10::kCPU)}).fit();
    fs::remove_all(dir);
    return lin->weight.detach().clone();
  };
  const auto w1 = train(1), w2 = train(2);
  EXPECT_TRUE(at::allclose(w1, w2, 1e-5, 1e-6)) << w1 << w2;
  EXPECT_FALSE(at::allclose(w1, at::zeros_like(w1)));
}

TEST(Trainer, CheckpointMetadataIsComplete) {
  torch::manual_seed(0);
  torch::nn::Linear lin(4, 1);
  Regression obj(lin);
  const auto dir = fresh_dir("meta");
  RunDir run(dir);
  Trainer(*lin, obj, [](int64_t s, int64_t m) { return make_batch(s, m, 8); }, nullptr, options(5),
          {&run, "[train]\nsteps = 5\n", c10::Device(c10::kCPU)})
      .fit();
  const auto file = safetensors::load(checkpoint_path(run.checkpoints(), 5));
  EXPECT_EQ(file.metadata.at("step"), "5");
  EXPECT_EQ(file.metadata.at("config"), "[train]\nsteps = 5\n");
  EXPECT_EQ(file.metadata.at("version"), BEYOND_VERSION);
  EXPECT_FALSE(file.metadata.at("rng").empty());
  EXPECT_TRUE(file.tensors.count("model.weight"));
  EXPECT_TRUE(file.tensors.count("optim.weight.exp_avg"));
  EXPECT_TRUE(file.tensors.count("optim.step"));
  EXPECT_FALSE(fs::exists(checkpoint_path(run.checkpoints(), 5) + ".tmp"));
  fs::remove_all(dir);
}
