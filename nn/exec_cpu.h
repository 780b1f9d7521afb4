// The CPU executor: a Model that runs any Plan (nn/plan.h) on the CPU ops of kernels/ (fp32 NCHW,
// conv2d_cpu's GEMM with its fusions, the pools).
//
// Weights: each conv's weights are packed for the CPU's GEMM once, when the model is made
// (conv2d_cpu_pack), and the plan's copy is then released, so a network's weights live once in
// memory. Activations: one arena of batch * plan.arena_floats() floats, placed by liveness at plan
// time, grown to the largest batch seen (a smaller batch reuses it).
// Not thread-safe: one caller at a time, as for every Model (each op is parallel inside).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "nn/model.h"
#include "nn/plan.h"

namespace dice {

class CpuModel : public Model {
 public:
  explicit CpuModel(Plan plan);

  std::string name() const override { return plan_.name; }
  int64_t feature_dim() const override { return plan_.feature_dim(); }
  int64_t num_classes() const override { return plan_.num_classes(); }
  int64_t input_size() const override { return plan_.input_size(); }
  void features(const float* x, int64_t batch, float* features) override;
  const Plan* plan() const override { return &plan_; }
  // features() with each step timed (wall clock, every thread of the step included), in plan order.
  std::vector<OpTime> profile_steps(const float* x, int64_t batch, float* features);
  std::vector<OpTime> profile(const float* x, int64_t batch) override;

 private:
  void run(const float* x, int64_t batch, float* features, std::vector<OpTime>* times);
  Plan plan_;
  std::vector<Conv2dCpuPacked> packed_;  // per step (empty for pools)
  std::vector<float> arena_;
};

}  // namespace dice
