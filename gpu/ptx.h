// The device instructions dice's kernels use beyond CUDA C++, in one place: tf32 rounding, the
// tensor-core mma.sync shapes, ldmatrix, cp.async with its commit/wait groups, and sm_90a's wgmma
// with its fences. Under nvcc each is the inline PTX; under -DDICE_CUDA_EMU it is cuda_emu's
// emulation of the same instruction (cuda_emu/mma.cpp, async_copy.cpp, wgmma.cpp), written from
// the PTX ISA's tables independently of any kernel. So kernels carry no emulator #ifdef, and the
// code a GPU runs is the code the emulated tests check, fragment indexing included.
//
// Semantics are the ISA's and the emulator holds kernels to the strict reading: a cp.async's data
// is in shared memory only after the cp_async_wait_group / cp_async_wait_all that covers it, for
// the issuing thread (other threads need a __syncthreads after that wait, as for any shared
// write); ldmatrix and mma are warp collectives that all 32 lanes must reach together, wgmma a
// warpgroup collective whose results exist only after its wait. Shared addresses are generic
// pointers into DICE_SHARED / DICE_DYNAMIC_SHARED arrays. The instructions need sm_80 (ldmatrix
// sm_75, wgmma sm_90a); elsewhere they trap, and the host never launches them there.
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

// ---- named barriers: bar.sync / bar.arrive ----------------------------------------------------
// `count` threads (a multiple of 32, whole warps) meet at barrier `id` (1..15; 0 is
// __syncthreads): named_barrier_sync waits until all have arrived, named_barrier_arrive counts
// the calling warp and goes on. A producer arrives where its data is ready and its consumers
// sync, and the other way round for an emptied buffer; shared-memory writes before the arrive are
// visible to the threads after their sync (as across __syncthreads).
__device__ __forceinline__ void named_barrier_sync(int id, int count) {
#if defined(DICE_CUDA_EMU)
  emu::named_barrier(id, count, /*wait=*/true);
#else
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
#endif
}
__device__ __forceinline__ void named_barrier_arrive(int id, int count) {
#if defined(DICE_CUDA_EMU)
  emu::named_barrier(id, count, /*wait=*/false);
#else
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
#endif
}

// ---- sm_90a: wgmma (warpgroup MMA from shared memory) -------------------------------------------
// The warpgroup (128 threads, 4 consecutive warps) computes D[64 x N] += A[64 x 16] B[16 x N]
// asynchronously: wgmma_fence() before the first mma (and whenever the threads touched the
// accumulators since the last wait), wgmma_mma*() issues, wgmma_commit_group() closes a group,
// wgmma_wait_group<n>() waits until at most n groups are pending; only then may the accumulators
// be read or the operands' shared memory be rewritten. Shared memory written by cp.async (the
// generic proxy) must be followed by fence_proxy_async() in the writing thread (and a barrier)
// before a wgmma (the async proxy) reads it. D fragment: thread t (warp w = t / 32, lane l) holds
// d[4 j + e] = row 16 w + l / 4 + 8 (e / 2), column 8 j + 2 (l % 4) + (e % 2), as mma.sync's C
// repeated over N / 8. These need sm_90a (nvcc -gencode arch=compute_90a,code=sm_90a): compiled
// for anything else they trap, and conv2d_nhwc launches them only where nhwc_wgmma_unavailable()
// is empty.
#if !defined(DICE_CUDA_EMU) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define DICE_PTX_SM90A 1
#endif

// True in code compiled with wgmma (sm_90a, or the emulator): what a device probe reports.
__device__ __forceinline__ bool wgmma_compiled() {
#if defined(DICE_CUDA_EMU) || defined(DICE_PTX_SM90A)
  return true;
#else
  return false;
#endif
}

// The .shared address of a shared-memory pointer (the emulator's window address under cuda_emu).
__device__ __forceinline__ uint32_t shared_window(const void* p) {
#ifdef DICE_CUDA_EMU
  return emu::shared_window_address(p);
#else
  return shared_address(p);
#endif
}

// Descriptor of a K-major 16-bit operand in the 64-byte swizzle layout: rows of 64 bytes (32
// elements of K) whose 16-byte chunk c sits at c ^ ((row >> 1) & 3), 8-row atoms of 512 bytes
// one after another (SBO 512; LBO unused, 1 by convention). The atoms must start at multiples of
// 512 bytes of .shared address; `start` may point into an atom's row 0 at a K offset (32 bytes
// for the second k16 step).
__device__ __forceinline__ uint64_t wgmma_desc_k_sw64(const void* start) {
  const uint64_t a = shared_window(start);
  return ((a & 0x3FFFF) >> 4) | (uint64_t{1} << 16) | (uint64_t{512 >> 4} << 32) |
         (uint64_t{2} << 62);
}

__device__ __forceinline__ void wgmma_fence() {
#if defined(DICE_CUDA_EMU)
  emu::wgmma_fence();
#elif defined(DICE_PTX_SM90A)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void wgmma_commit_group() {
#if defined(DICE_CUDA_EMU)
  emu::wgmma_commit_group();
#elif defined(DICE_PTX_SM90A)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#else
  __trap();
#endif
}

template <int kPending>
__device__ __forceinline__ void wgmma_wait_group() {
  static_assert(kPending >= 0 && kPending <= 7, "wgmma.wait_group takes 0 .. 7");
#if defined(DICE_CUDA_EMU)
  emu::wgmma_wait_group(kPending);
#elif defined(DICE_PTX_SM90A)
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#else
  __trap();
#endif
}

// fence.proxy.async.shared::cta: this thread's shared-memory writes become visible to wgmma.
__device__ __forceinline__ void fence_proxy_async() {
#if defined(DICE_CUDA_EMU)
  emu::fence_proxy_async();
#elif defined(DICE_PTX_SM90A)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#else
  __trap();
#endif
}

// Keeps the compiler from moving accesses of accumulator `r` across a wgmma fence or wait (the
// registers are written behind its back): call on every accumulator before wgmma_fence() and
// after wgmma_wait_group().
__device__ __forceinline__ void wgmma_fence_operand(float& r) {
#if defined(DICE_PTX_SM90A)
  asm volatile("" : "+f"(r)::"memory");
#else
  (void)r;
#endif
}

// D[64 x kN] (+)= A B, f32 accumulators, A and B K-major in shared memory (descriptors above);
// scale_d 0 ignores D's old value. kN = 64 or 128.
template <int kN, bool kBf16>
__device__ __forceinline__ void wgmma_m64k16(float (&d)[kN / 2], uint64_t desc_a, uint64_t desc_b,
                                              int scale_d) {
  static_assert(kN == 64 || kN == 128, "wgmma_m64k16 is instantiated for N = 64 and 128");
#if defined(DICE_CUDA_EMU)
  emu::wgmma_mma(d, kN, desc_a, desc_b, kBf16, scale_d != 0);
#elif defined(DICE_PTX_SM90A)
  if constexpr (kN == 64 && !kBf16) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d)
      : "memory");
  } else if constexpr (kN == 64) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d)
      : "memory");
  } else if constexpr (!kBf16) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d)
      : "memory");
  } else {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d)
      : "memory");
  }
#else
  (void)d, (void)desc_a, (void)desc_b, (void)scale_d;
  __trap();
#endif
}

#ifdef DICE_PTX_SM90A
#undef DICE_PTX_SM90A
#endif

}  // namespace dice::ptx
