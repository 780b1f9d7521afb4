// Host side of conv2d_nhwc (kernels/conv2d_nhwc.h): the packed weight layout, built once per layer
// at plan time. Plain C++ (no CUDA), so the CPU-only build has it and its tests run everywhere.
//
// Layout: row-major [Np][Kp] 16-bit operands, Np = O rounded up to the block tile's 128 channels,
// Kp = k * k * C rounded up to the 32-wide pipeline stage, column (ky * k + kx) * C + c: the
// (ky, kx, c) order of the kernel's NHWC im2col rows. Padding (rows, columns, and the channels
// c >= real_in_channels of a padded image) is zero, so the kernel copies whole 16-byte chunks of
// B with no bounds checks (every row is a multiple of 64 bytes long).
#include "core/error.h"
#include "kernels/conv2d_nhwc.h"

namespace dice {
namespace {

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

void check_shape(const Conv2dParams& p) {
  if (p.in_channels <= 0 || p.out_channels <= 0 || p.kernel <= 0)
    throw_error("conv2d_nhwc: channels and kernel must be positive (got in ", p.in_channels,
                ", out ", p.out_channels, ", kernel ", p.kernel, ")");
}

}  // namespace

size_t conv2d_nhwc_packed_bytes(const Conv2dParams& p) {
  check_shape(p);
  const int64_t rows = round_up(p.out_channels, Conv2dNhwcTile::kN);
  const int64_t cols = round_up(p.kernel * p.kernel * p.in_channels, Conv2dNhwcTile::kK);
  return static_cast<size_t>(rows * cols) * sizeof(uint16_t);
}

std::vector<uint16_t> conv2d_nhwc_pack_weights(const Conv2dParams& p, Precision precision,
                                               const float* weight, int64_t real_in_channels) {
  check_shape(p);
  if (precision != Precision::kFp16 && precision != Precision::kBf16)
    throw_error("conv2d_nhwc: precision ", precision_name(precision),
                " is not an NHWC precision; use fp16 or bf16");
  if (real_in_channels <= 0 || real_in_channels > p.in_channels)
    throw_error("conv2d_nhwc: the weights' ", real_in_channels,
                " input channels do not fit the kernel's ", p.in_channels);
  const int64_t k = p.kernel, C = p.in_channels;
  const int64_t cols = round_up(k * k * C, Conv2dNhwcTile::kK);
  std::vector<uint16_t> out(conv2d_nhwc_packed_bytes(p) / sizeof(uint16_t), 0);
  for (int64_t o = 0; o < p.out_channels; ++o)
    for (int64_t c = 0; c < real_in_channels; ++c)
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx) {
          const float w = weight[((o * real_in_channels + c) * k + ky) * k + kx];
          out[static_cast<size_t>(o * cols + (ky * k + kx) * C + c)] = to_bits16(w, precision);
        }
  return out;
}

}  // namespace dice
