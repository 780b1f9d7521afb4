// Portable instantiation of the conv GEMM kernels (gemm_kernels.inc), for CPUs without AVX2+FMA.
// It uses no intrinsics and no -m flags: the "vector" is a 4-float GCC/Clang vector extension,
// which compiles to the baseline SIMD of any target (SSE2 on x86-64, NEON on arm64), with
// multiply and add kept separate as the baseline has no FMA. A micro-tile is 6 rows x 8 pixels =
// 12 accumulators, 15 of the 16 registers SSE2 has. It is the fallback (DICE_CPU_ISA=scalar) and
// the baseline the AVX2 / AVX-512 paths are tested against.
#include <cstdint>
#include <vector>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

typedef float V __attribute__((vector_size(16)));
typedef int32_t VI __attribute__((vector_size(16)));
constexpr int kW = 4;
constexpr int kMR = 6;
constexpr int kNR = 8;
constexpr const char* kIsaName = "scalar";
constexpr CpuIsa kIsa = CpuIsa::kScalar;

inline V vzero() { return V{0.0f, 0.0f, 0.0f, 0.0f}; }
inline V vset1(float x) { return V{x, x, x, x}; }
inline V vload(const float* p) {
  V x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline void vstore(float* p, V x) { std::memcpy(p, &x, sizeof x); }
inline V vloadn(const float* p, int n) {
  V x = vzero();
  std::memcpy(&x, p, sizeof(float) * static_cast<size_t>(n));
  return x;
}
inline void vstoren(float* p, V x, int n) {
  std::memcpy(p, &x, sizeof(float) * static_cast<size_t>(n));
}
inline V vkeep(V x, int n) {
  for (int i = n < 0 ? 0 : n; i < kW; ++i) x[i] = 0.0f;
  return x;
}
inline V vfma(V a, V b, V c) { return a * b + c; }
inline void vhold(V) {}  // see gemm_avx512_ops.inc
inline V vdot(V a, V b, V c) { return vfma(a, b, c); }  // fp32: no bf16 pairs here
constexpr void (*kBf16Pairs)(const float*, const float*, int64_t, float*) = nullptr;
inline V vadd(V a, V b) { return a + b; }
inline V vsub(V a, V b) { return a - b; }
inline void vzip(V a, V b, V* lo, V* hi) {
  *lo = V{a[0], b[0], a[1], b[1]};
  *hi = V{a[2], b[2], a[3], b[3]};
}
inline void vunzip(V a, V b, V* even, V* odd) {
  *even = V{a[0], a[2], b[0], b[2]};
  *odd = V{a[1], a[3], b[1], b[3]};
}
// Lane-wise a > b ? a : b through the comparison mask (NaN in a gives b, like maxps).
inline V vmax(V a, V b) {
  const VI m = a > b;
  return reinterpret_cast<V>((reinterpret_cast<VI>(a) & m) | (reinterpret_cast<VI>(b) & ~m));
}
inline VI viload(const int32_t* p) {
  VI x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline V vgather(const float* base, VI idx) {
  return V{base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]]};
}

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_scalar() { return kTable; }

}  // namespace dice
