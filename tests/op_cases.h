// The op cases: one table per op (conv2d, 2-D pools, global average pool, head) that every kernel
// test runs on every implementation the build has, and that the kernel benchmarks time (the
// CUTLASS habit of testing and timing exactly the problems the networks run). Each table holds
//   - the network rows, derived from the architectures rather than typed in: DenseNet-BC (depth,
//     growth) on 32x32 CIFAR images as nn/densenet.cpp runs it, and torchvision's ResNet-50
//     (bottleneck blocks {3, 4, 6, 3}, stride on the 3x3) at 224x224;
//   - odd sizes that cut every tile edge: prime channel counts, 1x1 images, strides and kernels
//     whose windows do not divide the input, batches of 3 and 5, channel slices in and out.
// Each row gives the buffers as the network lays them out (DenseNet builds its concatenation in
// place, so a bottleneck 1x1 reads the first channels of a wider block buffer and a 3x3 writes its
// `growth` channels into a slice of one) and a batch for the tests; benchmarks choose their own
// batch through params(batch). `count` says how many of the network's ops a row stands for, so a
// table of per-row times, each times its count, sums to the network's time for that op.
// Header-only and in tests/ (not kernels/, which knows nothing of models) so that bench/ can
// include it as "tests/op_cases.h" without a library of its own. tests/kernels/op_cases_test.cpp
// checks the network rows against the convs of the plans nn/ builds for those networks.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/head.h"
#include "kernels/pool.h"

namespace dice::test {

enum class Net { kDenseNet, kResNet, kOdd };

// Which members of ConvFusion a run sets.
enum ConvFusionBits : int {
  kFuseInBn = 1,  // relu(x * in_scale + in_shift) on the input (DenseNet's pre-activation)
  kFuseBias = 2,
  kFuseOutBn = 4,  // y * out_scale + out_shift (the next layer's BN, folded)
  kFuseResidual = 8,
  kFuseRelu = 16,
  kFuseEvery = 31,
};

// The vectors a fusion set may use (host or device pointers, as the implementation run takes);
// `residual` points at the residual's first element, laid out like the output.
struct ConvFusionVectors {
  const float *in_scale = nullptr, *in_shift = nullptr, *bias = nullptr;
  const float *out_scale = nullptr, *out_shift = nullptr, *residual = nullptr;
};

// The ConvFusion of fusion set `set` (ConvFusionBits) over `v`.
inline ConvFusion conv_fusion(int set, const ConvFusionVectors& v) {
  ConvFusion f;
  if (set & kFuseInBn) f.in_scale = v.in_scale, f.in_shift = v.in_shift;
  if (set & kFuseBias) f.bias = v.bias;
  if (set & kFuseOutBn) f.out_scale = v.out_scale, f.out_shift = v.out_shift;
  if (set & kFuseResidual) f.residual = v.residual;
  f.out_relu = (set & kFuseRelu) != 0;
  return f;
}

struct ConvCase {
  std::string name;
  Net net = Net::kOdd;
  int64_t batch = 1;  // the tests' batch
  int64_t in_channels = 0, out_channels = 0, height = 0, width = 0;
  int64_t kernel = 1, stride = 1, pad = 0;
  // The input is channels [in_offset, in_offset + in_channels) of a buffer of in_buffer_channels
  // per image; the output (and the residual) channels [out_offset, ...) of out_buffer_channels.
  int64_t in_buffer_channels = 0, in_offset = 0, out_buffer_channels = 0, out_offset = 0;
  // The fusions the network runs the conv with. ResNet rows all say bias + residual + ReLU, the
  // heaviest epilogue its convs have (a bottleneck's last conv; the others drop the residual or
  // the ReLU), as several of its convs may share a row. On an odd row, the set chosen for it.
  int fusion = 0;
  int count = 0;  // network convolutions this row stands for (0 on odd rows)

  // Batch strides are 0 (the dense default) where the buffer holds just this tensor.
  Conv2dParams params(int64_t n) const {
    Conv2dParams p;
    p.batch = n, p.in_channels = in_channels, p.height = height, p.width = width;
    p.out_channels = out_channels, p.kernel = kernel, p.stride = stride, p.pad = pad;
    if (in_buffer_channels != in_channels) p.in_batch_stride = in_buffer_channels * height * width;
    if (out_buffer_channels != out_channels)
      p.out_batch_stride = out_buffer_channels * p.out_height() * p.out_width();
    return p;
  }
  Conv2dParams params() const { return params(batch); }
};

namespace detail {
inline std::string join(const std::string& a, int64_t b) { return a + std::to_string(b); }
}  // namespace detail

// DenseNet-BC for 32x32 images (Huang et al. 2017; depth 100 and growth 12 in the DICE paper):
// n = (depth - 4) / 6 bottleneck layers per block, each relu(bn) -> 1x1 conv to 4 * growth ->
// relu(bn) -> 3x3 conv to `growth` channels appended to the block; a stem 3x3 conv to 2 * growth;
// between blocks a transition halving the channels with a 1x1 conv and the resolution with a 2x2
// average pool. nn/densenet.cpp pools first (pool and conv commute, and pooling first is a
// quarter of the arithmetic), so the transition convs run at 16x16 and 8x8 on the pooled,
// already relu(bn)'d input, and that is what is tested and timed here.
// A block's 1x1 convs read growth more channels each; their cost is linear in that width, so the
// first and the last, each counting n/2 (plus the middle one once when n is odd), add up to the
// block's exactly. Its 3x3 convs are all alike but for the slice written (the last layer's here).
inline std::vector<ConvCase> densenet_conv_cases(int depth = 100, int growth = 12,
                                                 int64_t batch = 3) {
  const int64_t n = (depth - 4) / 6, k = growth, inter = 4 * k;
  std::vector<int64_t> in(3), width(3);
  in[0] = 2 * k;
  for (int b = 0; b < 3; ++b) {
    width[static_cast<size_t>(b)] = in[static_cast<size_t>(b)] + n * k;
    if (b < 2) in[static_cast<size_t>(b + 1)] = width[static_cast<size_t>(b)] / 2;
  }
  std::vector<ConvCase> v;
  auto add = [&](std::string name, int64_t c, int64_t o, int64_t side, int64_t kern, int64_t in_buf,
                 int64_t out_buf, int64_t out_off, int fusion, int count) {
    ConvCase r;
    r.name = "densenet_" + name + "_" + std::to_string(side);
    r.net = Net::kDenseNet, r.batch = batch;
    r.in_channels = c, r.out_channels = o, r.height = r.width = side;
    r.kernel = kern, r.pad = kern / 2;
    r.in_buffer_channels = in_buf, r.out_buffer_channels = out_buf, r.out_offset = out_off;
    r.fusion = fusion, r.count = count;
    v.push_back(r);
  };
  const int bottleneck = kFuseInBn | kFuseOutBn | kFuseRelu;  // relu(bn1) in, relu(bn2) out
  add(detail::join("conv1_3x3_3to", 2 * k), 3, 2 * k, 32, 3, 3, width[0], 0, 0, 1);
  int64_t side = 32;
  for (int b = 0; b < 3; ++b) {
    const int64_t c0 = in[static_cast<size_t>(b)], w = width[static_cast<size_t>(b)];
    const std::string blk = "b" + std::to_string(b + 1) + "_";
    auto bottleneck_1x1 = [&](int64_t layer, int count) {
      const int64_t c = c0 + layer * k;
      add(blk + "1x1_" + std::to_string(c) + "to" + std::to_string(inter), c, inter, side, 1, w,
          inter, 0, bottleneck, count);
    };
    bottleneck_1x1(0, static_cast<int>(n / 2));
    if (n % 2) bottleneck_1x1(n / 2, 1);
    bottleneck_1x1(n - 1, static_cast<int>(n / 2));
    add(blk + "3x3_" + std::to_string(inter) + "to" + std::to_string(k), inter, k, side, 3, inter,
        w, c0 + (n - 1) * k, 0, static_cast<int>(n));
    if (b < 2) {
      const int64_t o = in[static_cast<size_t>(b + 1)];
      side /= 2;
      add("trans" + std::to_string(b + 1) + "_1x1_" + std::to_string(w) + "to" + std::to_string(o),
          w, o, side, 1, w, width[static_cast<size_t>(b + 1)], 0, 0, 1);
    }
  }
  return v;
}

// torchvision's ResNet-50 (v1.5: the stride on the 3x3) at 224x224: a 7x7/2 stem to 64 channels
// and a 3x3/2 max pool to 56x56, then four layers of {3, 4, 6, 3} bottlenecks of width 64 << i
// (1x1 reduce, 3x3, 1x1 expand to 4x the width), each layer's first block striding by 2 (but the
// first layer's) and adding a 1x1 downsample on its shortcut. Identical shapes are one row.
// Row names follow the modules (conv1, layerN -> lN). Tests batch 1 at 56x56 and above, else 2.
inline std::vector<ConvCase> resnet50_conv_cases() {
  std::vector<ConvCase> v;
  auto add = [&](const std::string& name, int64_t c, int64_t o, int64_t side, int64_t kern,
                 int64_t stride) {
    for (ConvCase& r : v)
      if (r.in_channels == c && r.out_channels == o && r.height == side && r.kernel == kern &&
          r.stride == stride) {
        ++r.count;
        return;
      }
    ConvCase r;
    r.name = name, r.net = Net::kResNet, r.batch = side >= 56 ? 1 : 2;
    r.in_channels = r.in_buffer_channels = c, r.out_channels = r.out_buffer_channels = o;
    r.height = r.width = side, r.kernel = kern, r.stride = stride, r.pad = kern / 2;
    r.fusion = kFuseBias | kFuseResidual | kFuseRelu, r.count = 1;
    v.push_back(r);
  };
  add("conv1_7x7s2_3to64", 3, 64, 224, 7, 2);
  const int blocks[4] = {3, 4, 6, 3};
  int64_t c = 64, side = 56;
  for (int l = 0; l < 4; ++l) {
    const int64_t width = int64_t{64} << l, out = 4 * width;
    const std::string layer = "l" + std::to_string(l + 1) + "_";
    for (int b = 0; b < blocks[l]; ++b) {
      const int64_t s = (b == 0 && l > 0) ? 2 : 1;
      const std::string s2 = s == 2 ? "s2" : "";
      add(layer + "1x1_" + std::to_string(c) + "to" + std::to_string(width), c, width, side, 1, 1);
      add(layer + "3x3" + s2 + "_" + std::to_string(width), width, width, side, 3, s);
      add(layer + "1x1_" + std::to_string(width) + "to" + std::to_string(out), width, out, side / s,
          1, 1);
      if (b == 0)
        add(layer + "down_1x1" + s2 + "_" + std::to_string(c) + "to" + std::to_string(out), c, out,
            side, 1, s);
      c = out;
      side /= s;
    }
  }
  return v;
}

// Odd sizes. The first group reads channels [1, 1+C) of C+3 and writes [2, 2+M) of M+5, with
// every fusion; the others have their own slices and fusions (names say what they cut).
inline std::vector<ConvCase> odd_conv_cases() {
  struct Row {
    const char* name;
    int64_t batch, c, h, w, o, k, s, p;
    int64_t in_buf, in_off, out_buf, out_off;  // in_buf 0: c + 3, offset 1; out_buf 0: o + 5, 2
    int fusion;
  };
  constexpr int I = kFuseInBn, B = kFuseBias, O = kFuseOutBn, R = kFuseResidual, U = kFuseRelu;
  constexpr int E = kFuseEvery;
  // clang-format off
  const Row rows[] = {
    {"odd_1x1_c1_m1_s1x1",          1,  1,  1,  1,  1, 1, 1, 0,  0, 0,  0, 0, E},
    {"odd_1x1_c13_m7_s1x1",         3, 13,  1,  1,  7, 1, 1, 0,  0, 0,  0, 0, E},
    {"odd_3x3p1_on_1x1",            2,  3,  1,  1,  5, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_3x3p1_c5_m13_5x7",        2,  5,  5,  7, 13, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_3x3s2p1_c13_m5_5x7",      2, 13,  5,  7,  5, 3, 2, 1,  0, 0,  0, 0, E},
    {"odd_3x3s2p1_c3_m13_9x11",     3,  3,  9, 11, 13, 3, 2, 1,  0, 0,  0, 0, E},
    {"odd_7x7s2p3_c3_m1_7x5",       1,  3,  7,  5,  1, 7, 2, 3,  0, 0,  0, 0, E},
    {"odd_7x7s2p3_c5_m13_15x13",    2,  5, 15, 13, 13, 7, 2, 3,  0, 0,  0, 0, E},
    {"odd_1x1s2_c5_m3_9x11",        2,  5,  9, 11,  3, 1, 2, 0,  0, 0,  0, 0, E},
    {"odd_5x5s2p2_c3_m9_11x9",      2,  3, 11,  9,  9, 5, 2, 2,  0, 0,  0, 0, E},
    {"odd_1x1p1_c5_m13_6x6",        2,  5,  6,  6, 13, 1, 1, 1,  0, 0,  0, 0, E},
    {"odd_5x5p2_c3_m13_5x7",        1,  3,  5,  7, 13, 5, 1, 2,  0, 0,  0, 0, E},
    {"odd_3x3p0_c13_m70_33x33",     1, 13, 33, 33, 70, 3, 1, 0,  0, 0,  0, 0, E},
    {"odd_2x2s2_c5_m3_4x4",         2,  5,  4,  4,  3, 2, 2, 0,  0, 0,  0, 0, E},
    {"odd_3x3p1_c7_m37_13x13_b5",   5,  7, 13, 13, 37, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_1x1_c37_m49_17x3_b5",     5, 37, 17,  3, 49, 1, 1, 0,  0, 0,  0, 0, E},
    {"odd_3x3s1p2_c5_m13_3x3",      2,  5,  3,  3, 13, 3, 1, 2,  0, 0,  0, 0, E},
    // ResNet-like: the 7x7/2 stem, a strided 1x1 downsample, a 3x3 with the shortcut.
    {"odd_stem_7x7s2_45x37",        2,  3, 45, 37, 64, 7, 2, 3,  3, 0, 64, 0, O | U},
    {"odd_down_1x1s2_64to128_15",   2, 64, 15, 15,128, 1, 2, 0, 64, 0,128, 0, O},
    {"odd_3x3_residual_13x11",      2, 32, 13, 11, 40, 3, 1, 1, 32, 0, 40, 0, B | O | R | U},
    // Tile edges in M (out channels just past 16/32/64/128), N (pixels) and K (C*k*k).
    {"odd_3x3s2_all_fusions",       3,  5,  9, 11,  7, 3, 2, 1,  6, 0,  9, 1, E},
    {"odd_5x5s3",                   2,  3, 14, 14, 17, 5, 3, 2,  3, 0, 17, 0, I | B},
    {"odd_1x1_pad1",                2,  4,  5,  6, 33, 1, 1, 1,  4, 0, 35, 2, I | B | O | U},
    {"odd_1x1_single",              1,  1,  1,  1,  1, 1, 1, 0,  1, 0,  1, 0, 0},
    {"odd_m65_n_tail",              5, 19, 17, 13, 65, 3, 1, 1, 21, 0, 66, 1, I | O | R},
    {"odd_2x2s2",                   2,  7, 10,  8, 31, 2, 2, 0,  7, 0, 31, 0, I | B | U},
    {"odd_1x1_m65_slices",          5, 19, 17, 13, 65, 1, 1, 0, 21, 0, 66, 1, B | R},
    {"odd_7x7s2_k147",              2,  3, 23, 19, 70, 7, 2, 3,  3, 0, 70, 0, B | U},
    {"odd_3x3_k33x9",               3, 33, 10, 10,129, 3, 1, 1, 33, 0,130, 1, I | R | U},
    // conv2d_cpu's batch mode (columns across images) with more than one K block: a strided 1x1
    // whose prologue is applied while gathering, and a padded 3x3 on a map smaller than a chunk.
    {"odd_batch_1x1s2_k2100_13x13", 3,2100,13, 13, 64, 1, 2, 0,  0, 0,  0, 0, E},
    {"odd_batch_3x3p1_k4140_5x5",   3,460,  5,  5, 64, 3, 1, 1,  0, 0,  0, 0, E},
    // conv2d_cpu's rows mode across images (1x1 on a map that is no multiple of nr): micro-tiles
    // that span two images, slices of wider buffers.
    {"odd_rows_batch_1x1_k300_7x7", 4,300,  7,  7, 70, 1, 1, 0,301, 1, 72, 1, E},
    // conv2d_thin's shapes (3x3/1 pad 1 with width % 4 == 0, 1x1/1 with H*W % 4 == 0): rows of 1,
    // 3 and 5 quads (3 and 5 straddle warps, so lanes load their halo themselves), 1 to 16 groups
    // of 12 output channels (3 groups straddle warps), weight chunks (3x3 with 12 outputs takes
    // 75 input channels per chunk, 36 outputs 25, 1x1 with 150 outputs 52), and 193 outputs, one
    // past its limit (the implicit GEMM then).
    {"odd_thin_3x3_w4_m12",         5,  5,  3,  4, 12, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_thin_3x3_w12_m13",        3,  7,  5, 12, 13, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_thin_3x3_w8_m40",         3, 20,  4,  8, 40, 3, 1, 1,  0, 0,  0, 0, E},
    {"odd_thin_3x3_w16_m36_k50",    2, 50,  6, 16, 36, 3, 1, 1, 50, 0, 40, 4, B | R | U},
    {"odd_thin_3x3_w20_k100",       3,100,  7, 20, 12, 3, 1, 1,104, 4, 24, 8, I | O | U},
    {"odd_thin_1x1_k300_m150",      3,300,  4,  5,150, 1, 1, 0,  0, 0,  0, 0, I | O | U},
    {"odd_thin_1x1_m192",           2,  9,  4,  4,192, 1, 1, 0,  0, 0,  0, 0, E},
    {"odd_thin_1x1_m193",           2,  9,  4,  4,193, 1, 1, 0,  0, 0,  0, 0, B | R},
  };
  // clang-format on
  std::vector<ConvCase> v;
  for (const Row& r : rows) {
    ConvCase c;
    c.name = r.name, c.net = Net::kOdd, c.batch = r.batch;
    c.in_channels = r.c, c.out_channels = r.o, c.height = r.h, c.width = r.w;
    c.kernel = r.k, c.stride = r.s, c.pad = r.p;
    c.in_buffer_channels = r.in_buf ? r.in_buf : r.c + 3;
    c.in_offset = r.in_buf ? r.in_off : 1;
    c.out_buffer_channels = r.out_buf ? r.out_buf : r.o + 5;
    c.out_offset = r.out_buf ? r.out_off : 2;
    c.fusion = r.fusion;
    v.push_back(c);
  }
  return v;
}

// Every conv case: DenseNet-BC-100 (k = 12), ResNet-50, odd sizes.
inline std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> v = densenet_conv_cases();
  for (std::vector<ConvCase> more : {resnet50_conv_cases(), odd_conv_cases()})
    v.insert(v.end(), more.begin(), more.end());
  return v;
}

// ---- 2-D pools (average and max) ----

struct PoolCase {
  std::string name;
  Net net = Net::kOdd;
  int64_t batch = 1, channels = 0, height = 0, width = 0, kernel = 2, stride = 2, pad = 0;
  int64_t in_buffer_channels = 0, in_offset = 0, out_buffer_channels = 0, out_offset = 0;
  int count = 0;

  Pool2dParams params(int64_t n) const {
    Pool2dParams p;
    p.batch = n, p.channels = channels, p.height = height, p.width = width;
    p.kernel = kernel, p.stride = stride, p.pad = pad;
    if (in_buffer_channels != channels) p.in_batch_stride = in_buffer_channels * height * width;
    if (out_buffer_channels != channels)
      p.out_batch_stride = out_buffer_channels * p.out_height() * p.out_width();
    return p;
  }
  Pool2dParams params() const { return params(batch); }
};

// DenseNet-BC's transition pools (2x2/2 of relu(bn(x)) over a whole block buffer, into the dense
// buffer the transition conv reads), ResNet-50's stem max pool, odd sizes. The first odd group
// reads channels [2, 2+C) of C+3 and writes [1, 1+C) of C+2.
inline std::vector<PoolCase> pool_cases(int depth = 100, int growth = 12) {
  std::vector<PoolCase> v;
  auto add = [&](std::string name, Net net, int64_t batch, int64_t c, int64_t h, int64_t w,
                 int64_t k, int64_t s, int64_t p, int64_t in_buf, int64_t in_off, int64_t out_buf,
                 int64_t out_off) {
    PoolCase r;
    r.name = std::move(name), r.net = net, r.batch = batch, r.channels = c, r.height = h;
    r.width = w, r.kernel = k, r.stride = s, r.pad = p;
    r.in_buffer_channels = in_buf ? in_buf : c + 3, r.in_offset = in_buf ? in_off : 2;
    r.out_buffer_channels = out_buf ? out_buf : c + 2, r.out_offset = out_buf ? out_off : 1;
    r.count = net == Net::kOdd ? 0 : 1;
    v.push_back(r);
  };
  int trans = 0;
  for (const ConvCase& c : densenet_conv_cases(depth, growth)) {
    if (c.name.rfind("densenet_trans", 0) != 0) continue;  // the pool precedes each transition
    const int64_t ch = c.in_channels, side = 2 * c.height;
    add("densenet_trans" + std::to_string(++trans) + "_pool_2x2s2_" + std::to_string(ch) + "_" +
            std::to_string(side),
        Net::kDenseNet, 3, ch, side, side, 2, 2, 0, ch, 0, ch, 0);
  }
  add("resnet_maxpool_3x3s2p1_64_112", Net::kResNet, 1, 64, 112, 112, 3, 2, 1, 64, 0, 64, 0);
  // clang-format off
  add("odd_2x2s2_7x5",      Net::kOdd, 3,  5,  7,  5, 2, 2, 0, 0, 0, 0, 0);
  add("odd_3x3s1p1_5x7",    Net::kOdd, 2,  3,  5,  7, 3, 1, 1, 0, 0, 0, 0);
  add("odd_3x3s2p1_9x7",    Net::kOdd, 2, 13,  9,  7, 3, 2, 1, 0, 0, 0, 0);
  add("odd_1x1s1_1x1",      Net::kOdd, 2,  1,  1,  1, 1, 1, 0, 0, 0, 0, 0);
  add("odd_5x5s3p2_11x13",  Net::kOdd, 1,  3, 11, 13, 5, 3, 2, 0, 0, 0, 0);
  add("odd_3x3s2p1_64_23x17", Net::kOdd, 2, 64, 23, 17, 3, 2, 1, 64, 0, 64, 0);
  add("odd_3x3s2p1_7x9",    Net::kOdd, 2,  5,  7,  9, 3, 2, 1,  7, 0,  6, 0);
  add("odd_3x3s1p1_5x4",    Net::kOdd, 1,  3,  5,  4, 3, 1, 1,  3, 0,  3, 0);
  add("odd_2x2s1_6x5",      Net::kOdd, 3,  7,  6,  5, 2, 1, 0,  8, 0,  9, 0);
  // clang-format on
  return v;
}

// ---- global average pool ----

struct GapCase {
  std::string name;
  Net net = Net::kOdd;
  int64_t batch = 1, channels = 0, hw = 0;
  int64_t in_buffer_channels = 0, in_offset = 0;  // in_buffer_channels == channels: dense
  int64_t in_batch_stride() const {
    return in_buffer_channels == channels ? 0 : in_buffer_channels * hw;
  }
};

// The two heads' pools (DenseNet: relu(bn(x)) of the last block's whole buffer over 8x8; ResNet-50:
// 2048 channels over 7x7) and odd sizes, dense and as channel slices.
inline std::vector<GapCase> gap_cases(int depth = 100, int growth = 12) {
  const std::vector<ConvCase> dn = densenet_conv_cases(depth, growth);
  const ConvCase& last = dn.back();  // block 3's 3x3: its output buffer is the feature map
  const int64_t features = last.out_buffer_channels;
  // clang-format off
  return {
    {"densenet_head_" + std::to_string(features) + "_8x8", Net::kDenseNet, 5, features, last.height * last.width, features, 0},
    {"resnet_head_2048_7x7", Net::kResNet, 2, 2048, 49, 2048, 0},
    {"odd_slice_7_hw33",     Net::kOdd, 3,   7, 33,   9, 1},
    {"odd_single",           Net::kOdd, 1,   1,  1,   1, 0},
    {"odd_342_hw1",          Net::kOdd, 3, 342,  1, 342, 0},
    {"odd_342_hw1_slice",    Net::kOdd, 3, 342,  1, 349, 0},
    {"odd_342_hw49",         Net::kOdd, 3, 342, 49, 342, 0},
    {"odd_342_hw49_slice",   Net::kOdd, 3, 342, 49, 349, 0},
    {"odd_342_hw64_slice",   Net::kOdd, 3, 342, 64, 349, 5},
  };
  // clang-format on
}

// ---- the classifier head ----

struct HeadCase {
  std::string name;
  Net net = Net::kOdd;
  int64_t batch = 1, features = 0, classes = 0;
  double mask_keep = 0;  // 0: no DICE mask; else the fraction of weights the mask keeps
  bool bias = true;
  float clip = std::numeric_limits<float>::infinity();  // ReAct; +inf: off
};

// DenseNet-BC-100 on CIFAR-10/100 (DICE p = 90 keeps 10%), ResNet-50 on ImageNet (p = 70 keeps
// 30%, with and without ReAct's clip), odd sizes.
inline std::vector<HeadCase> head_cases(int depth = 100, int growth = 12) {
  const int64_t f = densenet_conv_cases(depth, growth).back().out_buffer_channels;
  const float inf = std::numeric_limits<float>::infinity();
  const std::string dn = "densenet_" + std::to_string(f) + "_";
  // clang-format off
  return {
    {dn + "c10_energy",    Net::kDenseNet, 7, f,   10, 0,   true,  inf},
    {dn + "c10_dice",      Net::kDenseNet, 7, f,   10, 0.1, true,  inf},
    {dn + "c100_dice",     Net::kDenseNet, 5, f,  100, 0.1, true,  inf},
    {"resnet_dice_react",  Net::kResNet,   3, 2048, 1000, 0.3, true, 1.0f},
    {"resnet_react",       Net::kResNet,   3, 2048, 1000, 0,   true, 1.5f},
    {"odd_small",          Net::kOdd,      2,    5,    3, 0.3, true,  0.5f},
    {"odd_small_no_bias",  Net::kOdd,      4,    7,    3, 0.3, false, 0.5f},
    {"odd_single",         Net::kOdd,      1,    1,    1, 0,   true,  inf},
    {"odd_single_no_bias", Net::kOdd,      1,    1,    1, 0,   false, inf},
    {"odd_33_classes",     Net::kOdd,      4,   65,   33, 0,   true,  0.3f},
  };
  // clang-format on
}

}  // namespace dice::test
