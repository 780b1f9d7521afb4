// The convolution shapes of the two networks, as tables shared by the tests and the benchmarks
// (the CUTLASS habit of testing and timing exactly the problems the network runs):
// - ResNet-50 (torchvision, stride on the 3x3: "v1.5") at 224x224, its distinct shapes; used by
//   tests/kernels/conv2d_tc_test.cu and bench/bench_resnet_cuda.cu.
// - DenseNet-BC-100 (k=12) at 32x32, as nn/densenet*.cpp run it; used by
//   tests/kernels/conv2d_cuda_test.cu and bench/bench_kernels_cuda.cu.
// `count` is how many of the network's convolutions the row stands for, so a table of per-shape
// times, each times its count, sums to the network's convolution time. Batch is left to the caller.
#pragma once
#include <cstdint>

#include "kernels/conv2d.h"

namespace dice {

struct ConvShape2d {
  const char* name;
  int64_t in_channels, out_channels, height, width, kernel, stride, pad;
  int count;  // occurrences in ResNet-50

  Conv2dParams params(int64_t batch) const {
    Conv2dParams p;
    p.batch = batch, p.in_channels = in_channels, p.height = height, p.width = width;
    p.out_channels = out_channels, p.kernel = kernel, p.stride = stride, p.pad = pad;
    return p;
  }
};

// clang-format off
inline constexpr ConvShape2d kResNet50ConvShapes[] = {
  // name                    C     K     H    W   k  s  p  count
  {"conv1_7x7s2_3to64",       3,   64, 224, 224, 7, 2, 3, 1},
  {"l1_1x1_64to64",          64,   64,  56,  56, 1, 1, 0, 1},
  {"l1_3x3_64",              64,   64,  56,  56, 3, 1, 1, 3},
  {"l1_1x1_64to256",         64,  256,  56,  56, 1, 1, 0, 4},  // 3 conv3 + the downsample
  {"l1_1x1_256to64",        256,   64,  56,  56, 1, 1, 0, 2},
  {"l2_1x1_256to128",       256,  128,  56,  56, 1, 1, 0, 1},
  {"l2_3x3s2_128",          128,  128,  56,  56, 3, 2, 1, 1},
  {"l2_1x1_128to512",       128,  512,  28,  28, 1, 1, 0, 4},
  {"l2_down_1x1s2_256to512",256,  512,  56,  56, 1, 2, 0, 1},
  {"l2_1x1_512to128",       512,  128,  28,  28, 1, 1, 0, 3},
  {"l2_3x3_128",            128,  128,  28,  28, 3, 1, 1, 3},
  {"l3_1x1_512to256",       512,  256,  28,  28, 1, 1, 0, 1},
  {"l3_3x3s2_256",          256,  256,  28,  28, 3, 2, 1, 1},
  {"l3_1x1_256to1024",      256, 1024,  14,  14, 1, 1, 0, 6},
  {"l3_down_1x1s2_512to1024",512, 1024, 28,  28, 1, 2, 0, 1},
  {"l3_1x1_1024to256",     1024,  256,  14,  14, 1, 1, 0, 5},
  {"l3_3x3_256",            256,  256,  14,  14, 3, 1, 1, 5},
  {"l4_1x1_1024to512",     1024,  512,  14,  14, 1, 1, 0, 1},
  {"l4_3x3s2_512",          512,  512,  14,  14, 3, 2, 1, 1},
  {"l4_1x1_512to2048",      512, 2048,   7,   7, 1, 1, 0, 3},
  {"l4_down_1x1s2_1024to2048",1024,2048, 14, 14, 1, 2, 0, 1},
  {"l4_1x1_2048to512",     2048,  512,   7,   7, 1, 1, 0, 2},
  {"l4_3x3_512",            512,  512,   7,   7, 3, 1, 1, 2},
};
// clang-format on

// A DenseNet convolution also says where it reads and writes: the concatenation is built in place,
// so a 1x1 bottleneck reads the first `in_channels` of a wider block buffer and a 3x3 writes its
// 12 channels into a slice of one.
struct DenseNetConvShape {
  ConvShape2d shape;
  int64_t in_buffer_channels;   // channels per image of the buffer read (>= in_channels)
  int64_t out_buffer_channels;  // channels per image of the buffer written (>= out_channels)
  int64_t out_offset;           // first channel written
  bool bn_relu_prologue;        // relu(bn(x)) fused on the input, as every layer after the stem
};

// DenseNet-BC-100, k=12, at 32x32 (99 convolutions). Transitions pool first (avgpool and the 1x1
// conv commute; pooling first is a quarter of the work), so their convolutions run at 16x16 and
// 8x8 on the pooled, already BN+ReLU'd input. A block's 16 bottleneck 1x1 convs read 12 more
// channels each; their cost is linear in that width, so the first and the last with count 8 each
// add up to the block's 16 exactly. The 3x3 convs are alike within a block (the last's slice).
// clang-format off
inline constexpr DenseNetConvShape kDenseNet101ConvShapes[] = {
  // name                        C    K   H   W  k  s  p count  in_buf out_buf off  prologue
  {{"conv1_3x3_3to24_32",        3,  24, 32, 32, 3, 1, 1,  1},    3,  216,   0, false},
  {{"b1_1x1_24to48_32",         24,  48, 32, 32, 1, 1, 0,  8},  216,   48,   0, true},
  {{"b1_1x1_204to48_32",       204,  48, 32, 32, 1, 1, 0,  8},  216,   48,   0, true},
  {{"b1_3x3_48to12_32",         48,  12, 32, 32, 3, 1, 1, 16},   48,  216, 204, true},
  {{"trans1_1x1_216to108_16",  216, 108, 16, 16, 1, 1, 0,  1},  216,  300,   0, false},
  {{"b2_1x1_108to48_16",       108,  48, 16, 16, 1, 1, 0,  8},  300,   48,   0, true},
  {{"b2_1x1_288to48_16",       288,  48, 16, 16, 1, 1, 0,  8},  300,   48,   0, true},
  {{"b2_3x3_48to12_16",         48,  12, 16, 16, 3, 1, 1, 16},   48,  300, 288, true},
  {{"trans2_1x1_300to150_8",   300, 150,  8,  8, 1, 1, 0,  1},  300,  342,   0, false},
  {{"b3_1x1_150to48_8",        150,  48,  8,  8, 1, 1, 0,  8},  342,   48,   0, true},
  {{"b3_1x1_330to48_8",        330,  48,  8,  8, 1, 1, 0,  8},  342,   48,   0, true},
  {{"b3_3x3_48to12_8",          48,  12,  8,  8, 3, 1, 1, 16},   48,  342, 330, true},
};
// clang-format on

}  // namespace dice
