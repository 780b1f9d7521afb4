// cuda_emu's stand-in for the toolkit's <cuda_runtime.h>: the subset of the CUDA runtime API and of
// the device built-ins that dice's kernels and plans use, executed on the CPU.
//
// Why: the GPU is the scarce resource here (most sessions and CI have none), yet every kernel is
// index arithmetic that can be wrong in ways only running it shows. With -DDICE_CUDA_EMU=ON the .cu
// files are compiled as C++ against this header and the kernels run on the host: a block's threads
// are fibers (cuda_emu/block_runner.cpp) that switch at __syncthreads and at warp collectives
// (shuffles, mma.sync, ldmatrix), so barrier, shuffle and tensor-core semantics are the
// hardware's, and the GPU tests compare them with the CPU ops exactly as on a device. It is a
// correctness tool, not a model of performance: stream work runs late, when the host or another
// stream needs it (cuda_emu/runtime.cpp), and the blocks of a launch spread over the CPU thread
// pool of core/parallel.h.
//
// Shared memory is poisoned: every block starts with all of it, static and dynamic, filled with
// 0xFF bytes (NaN as float or half), so a kernel that reads an element no thread of its block
// wrote gets NaN or -1 rather than what the previous block left. Static shared arrays are
// declared with DICE_SHARED(type, name, dims) instead of `__shared__` (which does not compile
// here): a `__shared__` declaration can neither run code nor hand its address to the emulator,
// so it could not be poisoned per block. cp.async copies (gpu/ptx.h) land only at the
// cp.async.wait_group that covers them, their destination poisoned from issue to wait, so a
// missing wait reads poison too.
//
// Device memory is host memory (so ASan or valgrind see kernel out-of-bounds accesses), the one
// "device" reports compute capability 9.0, and unsupported uses (partial-warp shuffle masks,
// threads that leave a block while others wait at a barrier) stop the program with a message
// rather than guessing.
#pragma once
#ifndef DICE_CUDA_EMU
#error "cuda_emu/include is only on the include path of -DDICE_CUDA_EMU=ON builds"
#endif
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- declaration specifiers --------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: see DICE_SHARED and DICE_DYNAMIC_SHARED below (gpu/cuda_launch.h has their nvcc
// forms). A plain `__shared__` declaration would escape the per-block poisoning, so it fails.
#define __shared__                                                                    \
  static_assert(false,                                                                \
                "cuda_emu: declare shared memory with DICE_SHARED(type, name, dims) " \
                "or DICE_DYNAMIC_SHARED(type, name) (gpu/cuda_launch.h)");

// ---- vector types ------------------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

// ---- runtime types -----------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
};
enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};

// ---- runtime API (cuda_emu/runtime.cpp) --------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

namespace dice::emu {

// Queues `grid` blocks of `block` threads of `kernel` (a closure over the launch's arguments) on
// `stream` (see runtime.cpp on when queued work runs), or records it when `stream` is being
// captured. Launch-configuration errors set the error that cudaGetLastError() returns, as on a
// device.
void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream,
            std::function<void()> kernel);
// A kernel's pointer argument number `index`: true if it is null or points into (or just past) a
// device allocation; otherwise names it on stderr, sets cudaErrorInvalidValue and returns false.
bool check_kernel_pointer(const void* p, int index);

// The order in which a block's threads are resumed between barriers: kForward (thread 0 first) or
// kReverse. A kernel whose results depend on it reads shared memory without the barrier it needs.
// The default comes from the environment: DICE_EMU_ORDER=reverse.
enum class Order { kForward, kReverse };
Order schedule_order();
void set_schedule_order(Order order);

// ---- device side (cuda_emu/block_runner.cpp) ---------------------------------------------------
const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared();
void sync_threads();
// bar.sync (wait) / bar.arrive: `count` threads meet at named barrier `id` (1..15).
void named_barrier(int id, int count, bool wait);
[[noreturn]] void trap();

// Called by every thread that reaches a DICE_SHARED declaration: the first of each block fills the
// array's `bytes` at `p` with poison and records it as the block's shared memory (what cp.async,
// ldmatrix and wgmma may address); `block_seen` remembers which block did so last.
void enter_static_shared(void* p, size_t bytes, uint64_t* block_seen);

// One static shared array: an OS thread's copy (thread_local, zero-initialised without a
// constructor, so no per-access guard), handed out poisoned to the first thread of every block.
// It is placed at an address aligned to kAlign but deliberately not to 2 * kAlign (up to 2048),
// so a kernel that needs more alignment than it declares (a wgmma swizzle atom: 512 or 1024
// bytes) goes wrong here as it would on a GPU, where nothing promises more.
template <class T, size_t kAlign>
struct StaticShared {
  static_assert(kAlign >= 16 && (kAlign & (kAlign - 1)) == 0 && kAlign <= 2048,
                "shared arrays are aligned to a power of two from 16 to 2048 bytes");
  static constexpr size_t kOffset = kAlign * 3 % 2048;  // aligned to kAlign, not to 2 * kAlign
  alignas(2048) unsigned char bytes[kOffset + sizeof(T)];
  uint64_t block_seen;
  T& get() {
    enter_static_shared(bytes + kOffset, sizeof(T), &block_seen);
    return *reinterpret_cast<T*>(bytes + kOffset);
  }
};
// The 32-bit .shared address a GPU would give `p` (cvta.to.shared): each array of the block
// gets a window of its own whose address agrees with the host address in the low 11 bits, so
// swizzles computed on either agree (wgmma descriptors carry such addresses).
uint32_t shared_window_address(const void* p);

// A warp-wide collective: every lane of the calling thread's warp passes its own input and output;
// once all lanes have arrived, `op` runs once with all of them (lane order), then they continue.
using WarpOp = void (*)(const void* const* in, void* const* out, int lanes);
void warp_collective(WarpOp op, unsigned mask, const void* in, void* out);

// A warpgroup-wide collective (wgmma): the 128 threads of the calling thread's warpgroup pass
// their inputs and outputs; once all have arrived, `op` runs once with all of them (thread
// order) and the index of the warpgroup in the block.
using WarpgroupOp = void (*)(const void* const* in, void* const* out, int group);
void warpgroup_collective(WarpgroupOp op, const void* in, void* out);

template <class T>
struct ShflIn {
  T value;
  int arg;    // xor mask or delta
  int width;  // 32 or a smaller power of two
};
// Lane l reads lane l ^ arg (kXor) or l + arg (down; up passes a negative arg) of its width-sized
// segment, or keeps its own value where that lane is outside the segment.
template <class T, bool kXor>
void shfl_op(const void* const* in, void* const* out, int lanes) {
  for (int l = 0; l < lanes; ++l) {
    const auto* me = static_cast<const ShflIn<T>*>(in[l]);
    const int base = l & ~(me->width - 1);
    const int src = kXor ? base + ((l - base) ^ me->arg) : l + me->arg;
    const int from = src >= base && src < lanes && src < base + me->width ? src : l;
    *static_cast<T*>(out[l]) = static_cast<const ShflIn<T>*>(in[from])->value;
  }
}

// Tensor-core mma.sync, emulated from the PTX ISA's fragment tables (cuda_emu/mma.cpp): products
// exact, the K sum plus C in double, rounded once to float.
void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
// cvt.rna.tf32.f32: round to nearest, ties away from zero, to 10 mantissa bits.
uint32_t cvt_rna_tf32(float x);
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16 (cuda_emu/mma.cpp): `num` 8x8 matrices
// of 16-bit elements whose rows the warp's lanes 0 .. 8 * num - 1 address; r[i] receives this
// lane's fragment of matrix i.
void ldmatrix(uint32_t* r, int num, bool trans, const void* row);

// cp.async.{ca,cg}.shared.global with its src-size operand, commit_group, wait_group and wait_all
// (cuda_emu/async_copy.cpp): copies are queued per thread and performed at the wait that covers
// them.
void cp_async(void* dst, const void* src, int bytes, int src_bytes, bool cache_global);
void cp_async_commit_group();
void cp_async_wait_group(int n);
void cp_async_wait_all();
// fence.proxy.async.shared::cta: the calling thread's completed cp.async writes become visible
// to the async proxy (wgmma reads).
void fence_proxy_async();

// wgmma (cuda_emu/wgmma.cpp): wgmma.fence, wgmma.mma_async.m64nNk16.f32.{f16,bf16} with both
// operands in shared memory (K-major, descriptors as in the PTX ISA), wgmma.commit_group and
// wgmma.wait_group, emulated with the latest completion the ISA allows: an mma_async is performed
// at the wait_group that covers it, reading shared memory then; its accumulators hold NaN from
// the issue to that wait.
void wgmma_fence();
void wgmma_mma(float* d, int n, uint64_t desc_a, uint64_t desc_b, bool bf16, bool scale_d);
void wgmma_commit_group();
void wgmma_wait_group(int pending);

}  // namespace dice::emu

// Shared memory. DICE_SHARED(float, tile, [16][17]) is the emulator's `__shared__ float
// tile[16][17]`: `tile` is a reference to this OS thread's copy, poisoned for each block. Every
// static array starts 16-byte aligned (the nvcc form says so too: what cp.async and ldmatrix need).
#define DICE_SHARED(type, name, dims) DICE_SHARED_ALIGNED(type, name, dims, 16)
// The same aligned to `align` bytes (a power of two, 16 .. 2048).
#define DICE_SHARED_ALIGNED(type, name, dims, align)                                    \
  static thread_local ::dice::emu::StaticShared<type dims, align> dice_shared_##name; \
  auto& name = dice_shared_##name.get()
// Dynamic shared memory (`extern __shared__ T name[]` on the GPU), poisoned when a block starts.
#define DICE_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::dice::emu::dynamic_shared())

#define threadIdx (::dice::emu::thread_idx())
#define blockIdx (::dice::emu::block_idx())
#define blockDim (::dice::emu::block_dim())
#define gridDim (::dice::emu::grid_dim())
constexpr int warpSize = 32;

inline void __syncthreads() { ::dice::emu::sync_threads(); }
[[noreturn]] inline void __trap() { ::dice::emu::trap(); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdividef(float a, float b) { return a / b; }
using std::isinf;
using std::isnan;

// __syncwarp: a warp collective that does nothing but wait for all 32 lanes (the emulator knows
// full warps only), which orders the lanes' shared-memory accesses as the GPU's does.
namespace dice::emu {
inline void warp_noop(const void* const*, void* const*, int) {}
}  // namespace dice::emu
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::dice::emu::warp_collective(&::dice::emu::warp_noop, mask, nullptr, nullptr);
}

template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  const ::dice::emu::ShflIn<T> in{value, lane_mask, width};
  T out;
  ::dice::emu::warp_collective(&::dice::emu::shfl_op<T, true>, mask, &in, &out);
  return out;
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  const ::dice::emu::ShflIn<T> in{value, static_cast<int>(delta), width};
  T out;
  ::dice::emu::warp_collective(&::dice::emu::shfl_op<T, false>, mask, &in, &out);
  return out;
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  const ::dice::emu::ShflIn<T> in{value, -static_cast<int>(delta), width};
  T out;
  ::dice::emu::warp_collective(&::dice::emu::shfl_op<T, false>, mask, &in, &out);
  return out;
}
