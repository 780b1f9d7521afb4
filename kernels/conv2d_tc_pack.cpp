// Host side of conv2d_tc (kernels/conv2d_tc.h): the packed weight layout, built once per layer at
// plan time. Plain C++ (no CUDA), so the CPU-only build has it and its tests run everywhere.
//
// Layout: a row-major [Mp][Kp] matrix of the operand type, Mp = O rounded up to the block tile's
// 64 rows, Kp = C*k*k rounded up to its 32-wide K slab. Padding rows and columns are zero, so the
// kernel loads whole 16-byte chunks of A with no bounds checks (every row is 64 or 128 bytes
// long, a multiple of 16) and the K tail contributes 0 * (the zero the im2col gather returns).
// Element bits: fp16 and bf16 as IEEE binary16 / bfloat16 (2 bytes), tf32 as a float32 whose low
// 13 mantissa bits are zero (4 bytes), each rounded exactly as round_to_precision() does; 3xtf32
// as the float32 itself (the kernel splits it into two tf32 parts).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/conv2d_tc.h"

namespace dice {
namespace {

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

size_t element_bytes(Precision precision) {
  switch (precision) {
    case Precision::kTf32:
    case Precision::k3xTf32: return 4;
    case Precision::kFp16:
    case Precision::kBf16: return 2;
    case Precision::kFp32: break;
  }
  throw_error("conv2d_tc: precision ", precision_name(precision),
              " is not a tensor-core precision (use conv2d_cuda for fp32)");
}

}  // namespace

size_t conv2d_tc_packed_bytes(const Conv2dParams& p, Precision precision) {
  const int64_t rows = round_up(p.out_channels, Conv2dTcTile::kM);
  const int64_t cols = round_up(p.in_channels * p.kernel * p.kernel, Conv2dTcTile::kK);
  return static_cast<size_t>(rows * cols) * element_bytes(precision);
}

std::vector<uint8_t> conv2d_tc_pack_weights(const Conv2dParams& p, Precision precision,
                                            const float* weight) {
  const size_t eb = element_bytes(precision);
  const int64_t k_real = p.in_channels * p.kernel * p.kernel;
  const int64_t cols = round_up(k_real, Conv2dTcTile::kK);
  std::vector<uint8_t> out(conv2d_tc_packed_bytes(p, precision), 0);
  for (int64_t o = 0; o < p.out_channels; ++o) {
    for (int64_t j = 0; j < k_real; ++j) {
      const float w = weight[o * k_real + j];
      uint8_t* dst = out.data() + static_cast<size_t>(o * cols + j) * eb;
      if (precision == Precision::kTf32 || precision == Precision::k3xTf32) {
        const float r = round_to_precision(w, precision);  // 3xtf32: w itself
        std::memcpy(dst, &r, 4);
      } else {
        const uint16_t h = to_bits16(w, precision);
        std::memcpy(dst, &h, 2);  // little-endian, as the device reads it
      }
    }
  }
  return out;
}

}  // namespace dice
