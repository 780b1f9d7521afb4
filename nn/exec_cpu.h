// The CPU executor: a Model that runs any Plan (nn/plan.h) on the CPU ops of kernels/ (fp32 NCHW,
// conv2d_cpu's GEMM with its fusions, the pools).
//
// Weights: each conv's weights are packed for the CPU's GEMM once, when the model is made
// (conv2d_cpu_pack), and the plan's copy is then released, so a network's weights live once in
// memory. Activations: one arena of batch * plan.arena_floats() floats, placed by liveness at plan
// time, grown to the largest batch seen (a smaller batch reuses it).
// Depth first where activations outweigh weights: at batch >= 2 the leading steps whose weights
// are small next to one image's activations (ResNet-50's stem to layer2, all of DenseNet-BC) run
// image by image, each thread its own images on its own per-image arena (which stays in cache),
// instead of layer by layer over the whole batch, whose 100 MB tensors stream from DRAM; their
// results are then copied into the batch arena for the remaining steps, run layer by layer.
// Measured on 2 EPYC cores (bench programs, 4-6 interleaved runs each): DenseNet-101 at batch 128
// 445-486 -> 384-413 ms; ResNet-50 at batch 32 (prefix: stem .. layer2.1.conv1) 1222-1333 ->
// 1187-1303 ms (through layer2: 1250-1326, through layer3: 1273-1331).
// Fusion: a strided conv and the 3x3/2 max pool that alone reads its output (ResNet's stem and its
// pool) run as one pass, conv2d_maxpool_cpu (DICE_CPU_FUSE=0: apart).
// Layouts: every tensor is NCHW except those that only 1x1 convs, residual adds and the global
// pool touch, which are kept in column panels (panel_layouts; kernels/conv2d_panel.h): ResNet's
// block and downsample outputs. Decided per batch (the prefix's images at batch 1 on the maps
// that fill whole panels, its results rearranged as they are copied out), bitwise the same
// features either way.
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
  // precision: kFp32, or kBf16 (every conv's weights packed for conv2d_cpu's bf16 mode; throws
  // dice::Error where the CPU lacks AVX512-BF16).
  explicit CpuModel(Plan plan, Precision precision = Precision::kFp32);

  std::string name() const override { return plan_.name; }
  int64_t feature_dim() const override { return plan_.feature_dim(); }
  int64_t num_classes() const override { return plan_.num_classes(); }
  int64_t input_size() const override { return plan_.input_size(); }
  void features(const float* x, int64_t batch, float* features) override;
  const Plan* plan() const override { return &plan_; }
  // features() with each step timed, in plan order: wall clock for the steps run over the batch;
  // for the depth-first prefix (names ending in " *"), each step's time summed over the threads'
  // images and divided by the threads, plus one entry for copying the prefix's results out.
  std::vector<OpTime> profile_steps(const float* x, int64_t batch, float* features);
  std::vector<OpTime> profile(const float* x, int64_t batch) override;
  // Per tensor, whether it is kept in column panels (kernels/conv2d_panel.h) at `batch`: where
  // every step writing or reading it can (ResNet's block outputs and downsample outputs, between
  // 1x1 convs) and, with whole_panels, the batch's pixels fill whole panels (the depth-first
  // prefix's images); otherwise NCHW. Bitwise the same results.
  std::vector<char> panel_layouts(int64_t batch, bool whole_panels = false) const;

 private:
  void run(const float* x, int64_t batch, float* features, std::vector<OpTime>* times);
  // Whether conv step i and the max pool after it run as one (conv2d_maxpool_cpu: ResNet's stem
  // and its pool) at `batch`; the pool step then does nothing (its profile entry ~0, the stem's
  // holds both). DICE_CPU_FUSE=0 turns it off.
  bool fuses_pool(size_t i, int64_t batch) const;
  // A step's name in profiles: "maxpool (in stem)" for a pool that ran with its conv.
  std::string step_label(size_t i, int64_t batch) const;
  // Runs step s on the arena `arena` for `batch` images, the input x, the features at features.
  void run_step(size_t s, const float* x, int64_t batch, float* arena, float* features,
                const std::vector<char>& panels);
  // Steps [0, split_) image by image, each thread on its own arena (see above); `all`: the
  // batch's panel_layouts, which its results are copied out into.
  void run_prefix(const float* x, int64_t batch, float* features, const std::vector<char>& all,
                  std::vector<OpTime>* times);
  Plan plan_;
  Precision precision_;
  std::vector<Conv2dCpuPacked> packed_;  // per step (empty for pools)
  std::vector<float> arena_;
  size_t split_ = 0;                  // steps run depth first
  std::vector<int> live_out_;         // tensors made by steps < split_ and read after them
  std::vector<std::vector<float>> worker_arenas_;
};

}  // namespace dice
