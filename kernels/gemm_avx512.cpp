// AVX-512 instantiation of the conv GEMM kernels (gemm_kernels.inc): 12 rows x 32 pixels per
// micro-tile = 24 zmm accumulators, leaving 8 registers for the two B vectors and the broadcast.
// Built with -mavx512f/dq/bw/vl (CMake adds them to every kernels/*_avx512.cpp); only reached
// after cpu_isa_supported(kAvx512) said yes.
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

using V = __m512;
constexpr int kW = 16;
constexpr int kMR = 12;
constexpr int kNR = 32;
constexpr const char* kIsaName = "avx512";
constexpr CpuIsa kIsa = CpuIsa::kAvx512;

inline __mmask16 lane_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline V vzero() { return _mm512_setzero_ps(); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm512_storeu_ps(p, x); }
inline V vloadn(const float* p, int n) { return _mm512_maskz_loadu_ps(lane_mask(n), p); }
inline void vstoren(float* p, V x, int n) { _mm512_mask_storeu_ps(p, lane_mask(n), x); }
inline V vkeep(V x, int n) { return n <= 0 ? vzero() : _mm512_maskz_mov_ps(lane_mask(n), x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
using VI = __m512i;
inline VI viload(const int32_t* p) { return _mm512_loadu_si512(p); }
// mask form for the same -Wmaybe-uninitialized reason as vmax below
inline V vgather(const float* base, VI idx) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(0xFFFF), idx, base,
                                  4);
}
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
inline void vzip(V a, V b, V* lo, V* hi) {
  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  *lo = _mm512_permutex2var_ps(a, il, b);
  *hi = _mm512_permutex2var_ps(a, ih, b);
}
// maskz form: GCC 12's _mm512_max_ps passes _mm512_undefined_ps(), which trips
// -Wmaybe-uninitialized; with an all-ones mask the instruction is the same.
inline void vunzip(V a, V b, V* even, V* odd) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  *even = _mm512_permutex2var_ps(a, ie, b);
  *odd = _mm512_permutex2var_ps(a, io, b);
}
inline V vmax(V a, V b) { return _mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFF), a, b); }

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_avx512() { return kTable; }

}  // namespace dice
