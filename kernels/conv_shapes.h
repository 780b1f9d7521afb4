// The distinct convolution shapes of ResNet-50 (torchvision, stride on the 3x3: "v1.5") at a
// 224x224 input, as one table shared by the tests (tests/kernels/conv2d_tc_test.cu) and the
// benchmark (bench/bench_resnet_cuda.cu), the CUTLASS habit of testing and timing exactly the
// problems the network runs. `count` is how many of the 53 convolutions have the shape, so a
// table of per-shape times sums to the network's convolution time. Batch is left to the caller.
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

}  // namespace dice
