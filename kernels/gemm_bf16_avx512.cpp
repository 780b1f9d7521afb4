// AVX512-BF16 instantiation of the conv GEMM kernels (gemm_kernels.inc) for conv2d_cpu's bf16
// mode (Conv2dCpuPacked::bf16): A and B hold pairs of bfloat16 (two consecutive K steps in one
// 32-bit lane, the even one in the low half), and the micro-kernel's multiply-add is VDPBF16PS,
// which adds both pairs' products to a float32 accumulator: twice the multiply-adds per
// instruction of the fp32 kernel, at the same 12 x 32 micro-tile, with K counted in pairs. The
// other entries of the table (packing, epilogue, Winograd, pools) are the fp32 AVX-512 ones.
// Built with the AVX-512 flags plus -mavx512bf16 (CMakeLists.txt); only reached after
// cpu_isa_bf16() found the instructions on the running CPU.
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

constexpr const char* kIsaName = "avx512-bf16";
constexpr CpuIsa kIsa = CpuIsa::kAvx512;
#include "kernels/gemm_avx512_ops.inc"

// c + a.lo * b.lo + a.hi * b.hi per 32-bit lane (products exact in float32, the sum rounded to
// nearest even; bf16 denormals read as zero, as the instruction defines).
inline V vdot(V a, V b, V c) {
  return _mm512_dpbf16_ps(c, (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(b));
}

// GemmIsa::bf16_pairs: 16 lanes per step; VCVTNE2PS2BF16 puts lo's 16 values in the low half and
// hi's in the high half, and one 16-bit permute interleaves them into pairs.
void bf16_pairs(const float* lo, const float* hi, int64_t n, float* dst) {
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                       21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kInterleave);
  for (int64_t j = 0; j < n; j += 16) {
    const int lanes = n - j < 16 ? static_cast<int>(n - j) : 16;
    const __mmask16 m = lane_mask(lanes);
    const __m512 a = _mm512_maskz_loadu_ps(m, lo + j);
    const __m512 b = hi ? _mm512_maskz_loadu_ps(m, hi + j) : _mm512_setzero_ps();
    const __m512i pairs = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    _mm512_mask_storeu_epi32(dst + j, m, pairs);
  }
}
constexpr void (*kBf16Pairs)(const float*, const float*, int64_t, float*) = &bf16_pairs;

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_bf16_avx512() { return kTable; }

}  // namespace dice
