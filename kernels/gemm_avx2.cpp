// AVX2+FMA instantiation of the conv GEMM kernels (gemm_kernels.inc): 6 rows x 16 pixels per
// micro-tile = 12 ymm accumulators, plus two B vectors and the broadcast, within the 16 registers.
// Built with -mavx2 -mfma (CMake adds them to every kernels/*_avx2.cpp); only reached after
// cpu_isa_supported(kAvx2) said yes.
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

using V = __m256;
constexpr int kW = 8;
constexpr int kMR = 6;
constexpr int kNR = 16;
constexpr const char* kIsaName = "avx2";
constexpr CpuIsa kIsa = CpuIsa::kAvx2;

// All-ones in lanes [0, n): the mask form maskload/maskstore take.
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline V vzero() { return _mm256_setzero_ps(); }
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm256_storeu_ps(p, x); }
inline V vloadn(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
inline void vstoren(float* p, V x, int n) { _mm256_maskstore_ps(p, lane_mask(n), x); }
inline V vkeep(V x, int n) { return _mm256_and_ps(x, _mm256_castsi256_ps(lane_mask(n))); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline void vhold(V) {}  // see gemm_avx512_ops.inc (not measured on AVX2)
inline V vdot(V a, V b, V c) { return vfma(a, b, c); }  // fp32: no bf16 pairs here
constexpr void (*kBf16Pairs)(const float*, const float*, int64_t, float*) = nullptr;
using VI = __m256i;
inline VI viload(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline V vgather(const float* base, VI idx) { return _mm256_i32gather_ps(base, idx, 4); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
inline void vzip(V a, V b, V* lo, V* hi) {
  const V l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 | a4 b4 ..
  *lo = _mm256_permute2f128_ps(l, h, 0x20);
  *hi = _mm256_permute2f128_ps(l, h, 0x31);
}
inline void vunzip(V a, V b, V* even, V* odd) {
  // Per 128-bit half: a0 a2 b0 b2 | a4 a6 b4 b6; then the 64-bit pairs reordered 0 2 1 3.
  const V e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}
inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_avx2() { return kTable; }

}  // namespace dice
