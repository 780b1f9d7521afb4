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

constexpr const char* kIsaName = "avx512";
constexpr CpuIsa kIsa = CpuIsa::kAvx512;
#include "kernels/gemm_avx512_ops.inc"
// The micro-kernel's multiply-add: plain fp32.
inline V vdot(V a, V b, V c) { return vfma(a, b, c); }
constexpr void (*kBf16Pairs)(const float*, const float*, int64_t, float*) = nullptr;

#include "kernels/gemm_kernels.inc"

}  // namespace

const GemmIsa& gemm_isa_avx512() { return kTable; }

}  // namespace dice
