// Selection of the conv GEMM kernel table at run time, and the ISA-independent helpers (weight
// packing, row partition). See gemm_cpu.h for why the kernels are compiled three times.
#include "kernels/gemm_cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace dice {
namespace {

// -1: not decided yet; otherwise the CpuIsa value of the cap.
std::atomic<int> g_cap{-1};

CpuIsa cap_from_env() {
  const char* e = std::getenv("DICE_CPU_ISA");
  if (!e || !*e) return CpuIsa::kAvx512;
  if (!std::strcmp(e, "scalar")) return CpuIsa::kScalar;
  if (!std::strcmp(e, "avx2")) return CpuIsa::kAvx2;
  if (!std::strcmp(e, "avx512")) return CpuIsa::kAvx512;
  throw_error("DICE_CPU_ISA='", e,
              "' is not one of scalar, avx2, avx512; unset it to use the best");
}

}  // namespace

bool cpu_isa_supported(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // idempotent; needed if we are reached from a static initializer
#endif
  switch (isa) {
    case CpuIsa::kScalar:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::kAvx512:
      // The AVX-512 unit is compiled with -mavx512f/dq/bw/vl and -mavx2 -mfma: require them all.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default:
      return false;
  }
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

const GemmIsa& cpu_isa() {
  int cap = g_cap.load(std::memory_order_relaxed);
  if (cap < 0) {
    cap = static_cast<int>(cap_from_env());
    g_cap.store(cap, std::memory_order_relaxed);
  }
  if (cap >= static_cast<int>(CpuIsa::kAvx512) && cpu_isa_supported(CpuIsa::kAvx512))
    return gemm_isa_avx512();
  if (cap >= static_cast<int>(CpuIsa::kAvx2) && cpu_isa_supported(CpuIsa::kAvx2))
    return gemm_isa_avx2();
  return gemm_isa_scalar();
}

const GemmIsa* cpu_isa_bf16() {
  if (cpu_isa().isa != CpuIsa::kAvx512) return nullptr;
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx512bf16")) return &gemm_isa_bf16_avx512();
#endif
  return nullptr;
}

const GemmIsa& require_cpu_isa_bf16() {
  const GemmIsa* bf = cpu_isa_bf16();
  if (!bf)
    throw_error("--precision bf16 on the CPU needs AVX512-BF16, which this CPU lacks (or "
                "DICE_CPU_ISA caps it below avx512); use --precision fp32");
  return *bf;
}

CpuIsa force_cpu_isa(CpuIsa cap) {
  int old = g_cap.exchange(static_cast<int>(cap));
  return old < 0 ? cap_from_env() : static_cast<CpuIsa>(old);
}

int64_t gemm_row_blocks(int64_t m, int mr) { return (m + mr - 1) / mr; }

int64_t gemm_row_block_start(int64_t m, int64_t blocks, int64_t b) { return m * b / blocks; }

// Sequential; O(m*k), negligible next to the GEMM it feeds.
void pack_weights(const float* w, int64_t m, int64_t k, int mr, float* a) {
  const int64_t blocks = gemm_row_blocks(m, mr);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = gemm_row_block_start(m, blocks, blk);
    const int64_t rows = gemm_row_block_start(m, blocks, blk + 1) - r0;
    DICE_ASSERT(rows >= 1 && rows <= mr);
    float* dst = a + r0 * k;
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t i = 0; i < rows; ++i) dst[kk * rows + i] = w[(r0 + i) * k + kk];
  }
}

void unpack_weights(const float* a, int64_t m, int64_t k, int mr, float* w) {
  const int64_t blocks = gemm_row_blocks(m, mr);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = gemm_row_block_start(m, blocks, blk);
    const int64_t rows = gemm_row_block_start(m, blocks, blk + 1) - r0;
    const float* src = a + r0 * k;
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t i = 0; i < rows; ++i) w[(r0 + i) * k + kk] = src[kk * rows + i];
  }
}

}  // namespace dice
