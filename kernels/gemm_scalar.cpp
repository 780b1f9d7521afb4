// Portable instantiation of the conv GEMM kernels (gemm_kernels.inc) for CPUs without AVX2: the
// "vector" is one float and a micro-tile is 4 rows x 8 pixels (32 accumulators the compiler may
// keep in SSE registers). It is the fallback and the baseline the ISA paths are tested against.
#include <cstdint>

#include "core/error.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

using V = float;
constexpr int kW = 1;
constexpr int kMR = 4;
constexpr int kNR = 8;
constexpr const char* kIsaName = "scalar";
constexpr CpuIsa kIsa = CpuIsa::kScalar;

inline V vzero() { return 0.0f; }
inline V vset1(float x) { return x; }
inline V vload(const float* p) { return *p; }
inline void vstore(float* p, V x) { *p = x; }
inline V vloadn(const float* p, int n) { return n > 0 ? *p : 0.0f; }
inline void vstoren(float* p, V x, int n) {
  if (n > 0) *p = x;
}
inline V vkeep(V x, int n) { return n > 0 ? x : 0.0f; }
inline V vfma(V a, V b, V c) { return a * b + c; }
using VI = int32_t;
inline VI viload(const int32_t* p) { return *p; }
inline V vgather(const float* base, VI idx) { return base[idx]; }
inline V vadd(V a, V b) { return a + b; }
inline V vmax(V a, V b) { return a > b ? a : b; }

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_scalar() { return kTable; }

}  // namespace dice
