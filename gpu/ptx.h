// The device instructions dice's kernels use beyond CUDA C++, in one place: tf32 rounding, the
// tensor-core mma.sync shapes, ldmatrix, and cp.async with its commit/wait groups. Under nvcc each
// is the inline PTX; under -DDICE_CUDA_EMU it is cuda_emu's emulation of the same instruction
// (cuda_emu/mma.cpp, cuda_emu/async_copy.cpp), written from the PTX ISA's tables independently of
// any kernel. So kernels carry no emulator #ifdef, and the code a GPU runs is the code the
// emulated tests check, fragment indexing included.
//
// Semantics are the ISA's and the emulator holds kernels to the strict reading: a cp.async's data
// is in shared memory only after the cp_async_wait_group / cp_async_wait_all that covers it, for
// the issuing thread (other threads need a __syncthreads after that wait, as for any shared
// write); ldmatrix and mma are warp collectives that all 32 lanes must reach together. Shared
// addresses are generic pointers into DICE_SHARED / DICE_DYNAMIC_SHARED arrays. The instructions
// need sm_80 (ldmatrix sm_75); below that they trap, and the host never launches them there.
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

namespace dice::ptx {

#if !defined(DICE_CUDA_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define DICE_PTX_SM80 1
#endif

#ifndef DICE_CUDA_EMU
// A generic pointer into shared memory as the 32-bit .shared address PTX operands take.
__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
#endif

// ---- conversion ---------------------------------------------------------------------------------

// cvt.rna.tf32.f32: x rounded to 10 mantissa bits, ties away from zero, as a tf32 register.
__device__ __forceinline__ uint32_t cvt_rna_tf32(float x) {
#ifdef DICE_CUDA_EMU
  return emu::cvt_rna_tf32(x);
#else
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#endif
}

// ---- mma.sync: D = A * B + D in place, f32 accumulators, A row-major, B column-major -----------
// Fragments as in the PTX ISA (kernels/mma_fragments.h maps lanes and registers to rows/columns).

#ifdef DICE_PTX_SM80
#define DICE_PTX_MMA(types, d, a, b)                                      \
  asm volatile("mma.sync.aligned." types                                  \
               " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])           \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
#endif

// m16n8k16 with fp16 operands (two per 32-bit register, the lower K first).
__device__ __forceinline__ void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2]) {
#if defined(DICE_CUDA_EMU)
  emu::mma_m16n8k16_f16(d, a, b);
#elif defined(DICE_PTX_SM80)
  DICE_PTX_MMA("m16n8k16.row.col.f32.f16.f16.f32", d, a, b);
#else
  __trap();
#endif
}

// m16n8k16 with bf16 operands.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4],
                                                  const uint32_t (&b)[2]) {
#if defined(DICE_CUDA_EMU)
  emu::mma_m16n8k16_bf16(d, a, b);
#elif defined(DICE_PTX_SM80)
  DICE_PTX_MMA("m16n8k16.row.col.f32.bf16.bf16.f32", d, a, b);
#else
  __trap();
#endif
}

// m16n8k8 with tf32 operands (one per register; the low 13 bits are ignored).
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4],
                                                 const uint32_t (&b)[2]) {
#if defined(DICE_CUDA_EMU)
  emu::mma_m16n8k8_tf32(d, a, b);
#elif defined(DICE_PTX_SM80)
  DICE_PTX_MMA("m16n8k8.row.col.f32.tf32.tf32.f32", d, a, b);
#else
  __trap();
#endif
}

#ifdef DICE_PTX_MMA
#undef DICE_PTX_MMA
#endif

// ---- ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared.b16 ------------------------------------
// kNum 8x8 matrices of 16-bit elements. Lane 8 * i + r passes the address of row r of matrix i
// (16 bytes, 16-byte aligned; lanes past 8 * kNum pass anything); r[i] receives matrix i's
// fragment: lane l holds row l / 4, columns 2 * (l % 4) and the next (low half first), or with
// kTrans the same of the transposed matrix (column l / 4, rows 2 * (l % 4) and the next).
template <int kNum, bool kTrans = false>
__device__ __forceinline__ void ldmatrix(uint32_t (&r)[kNum], const void* row) {
  static_assert(kNum == 1 || kNum == 2 || kNum == 4, "ldmatrix loads 1, 2 or 4 matrices");
#if defined(DICE_CUDA_EMU)
  emu::ldmatrix(r, kNum, kTrans, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  const uint32_t p = shared_address(row);
  if constexpr (kNum == 1 && !kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(p));
  else if constexpr (kNum == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
                 : "=r"(r[0])
                 : "r"(p));
  else if constexpr (kNum == 2 && !kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(p));
  else if constexpr (kNum == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(p));
  else if constexpr (!kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(p));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(p));
#else
  (void)r, (void)row;
  __trap();
#endif
}
template <int kNum>
__device__ __forceinline__ void ldmatrix_trans(uint32_t (&r)[kNum], const void* row) {
  ldmatrix<kNum, true>(r, row);
}

// ---- cp.async ----------------------------------------------------------------------------------
// kBytes (4, 8 or 16) from global `src` to shared `dst`, both aligned to kBytes: the first
// src_bytes (0 .. kBytes) from src, zeros after them (src_bytes = 0 zero-fills without reading
// src: the predicate of a gather at an image border). .ca caches in L1 as well, .cg (16 bytes
// only) in L2 only.
template <int kBytes>
__device__ __forceinline__ void cp_async_ca(void* dst, const void* src, int src_bytes = kBytes) {
  static_assert(kBytes == 4 || kBytes == 8 || kBytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(DICE_CUDA_EMU)
  emu::cp_async(dst, src, kBytes, src_bytes, /*cache_global=*/false);
#elif defined(DICE_PTX_SM80)
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(shared_address(dst)),
               "l"(__cvta_generic_to_global(src)), "n"(kBytes), "r"(src_bytes)
               : "memory");
#else
  (void)dst, (void)src, (void)src_bytes;
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_cg(void* dst, const void* src, int src_bytes = 16) {
#if defined(DICE_CUDA_EMU)
  emu::cp_async(dst, src, 16, src_bytes, /*cache_global=*/true);
#elif defined(DICE_PTX_SM80)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)),
               "l"(__cvta_generic_to_global(src)), "r"(src_bytes)
               : "memory");
#else
  (void)dst, (void)src, (void)src_bytes;
  __trap();
#endif
}

// Closes the calling thread's group of cp.async issued since the last commit (possibly empty).
__device__ __forceinline__ void cp_async_commit_group() {
#if defined(DICE_CUDA_EMU)
  emu::cp_async_commit_group();
#elif defined(DICE_PTX_SM80)
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  __trap();
#endif
}

// Waits until at most the kPending most recent groups of the calling thread are incomplete; the
// data of the older ones is then in shared memory (visible to this thread; to the block after a
// __syncthreads).
template <int kPending>
__device__ __forceinline__ void cp_async_wait_group() {
  static_assert(kPending >= 0, "cp.async.wait_group takes a count of groups");
#if defined(DICE_CUDA_EMU)
  emu::cp_async_wait_group(kPending);
#elif defined(DICE_PTX_SM80)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#else
  __trap();
#endif
}

// Commits the uncommitted copies and waits for every group.
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(DICE_CUDA_EMU)
  emu::cp_async_wait_all();
#elif defined(DICE_PTX_SM80)
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#else
  __trap();
#endif
}

#ifdef DICE_PTX_SM80
#undef DICE_PTX_SM80
#endif

}  // namespace dice::ptx
