// launch_kernel, DICE_SHARED and DICE_DYNAMIC_SHARED: the spots where a kernel file would otherwise
// need nvcc-only syntax (<<<...>>>, `__shared__` and `extern __shared__`), written once so that the
// same .cu files also build as plain C++ against cuda_emu (-DDICE_CUDA_EMU=ON), the CPU emulator
// that runs the GPU tests on machines without a GPU. Under nvcc, launch_kernel is exactly the
// triple-chevron launch; arguments convert to the kernel's parameter types as they would there.
// The shared-memory macros are plain declarations here; the emulator's forms (in its
// cuda_runtime.h) poison the memory for every block, which a bare `__shared__` could not do.
// (The device instructions beyond CUDA C++, such as mma.sync, ldmatrix and cp.async: gpu/ptx.h.)
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gpu/cuda_check.h"

#ifndef DICE_CUDA_EMU
// DICE_SHARED(float, tile, [16][17]) declares `__shared__ float tile[16][17]`, 16-byte aligned
// (what cp.async and ldmatrix need; the emulator aligns every array so).
#define DICE_SHARED(type, name, dims) __shared__ __align__(16) type name dims
// The same aligned to `align` bytes (a power of two, 16 .. 2048): a wgmma swizzle atom needs 512
// (64-byte swizzle) or 1024 (128-byte).
#define DICE_SHARED_ALIGNED(type, name, dims, align) __shared__ __align__(align) type name dims
#define DICE_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace dice {

#ifdef DICE_CUDA_EMU
template <class T>
bool emu_pointer_ok(const T& x, int index) {
  if constexpr (std::is_pointer_v<T>) return emu::check_kernel_pointer(static_cast<const void*>(x), index);
  return true;
}
#endif

#ifdef DICE_HAVE_CUDA
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                   cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch_kernel: wrong number of arguments");
#ifdef DICE_CUDA_EMU
  // The arguments are copied now, as a launch (or a graph capture of it) copies them. Pointer
  // arguments must point into device memory (the emulator's host memory would serve a host
  // pointer silently; a GPU faults): a launch with one fails as a launch error.
  std::tuple<std::decay_t<Params>...> a(std::forward<Args>(args)...);
  bool pointers_ok = true;
  int index = 0;
  std::apply(
      [&](const auto&... x) {
        ((pointers_ok = emu_pointer_ok(x, index++) && pointers_ok), ...);
      },
      a);
  if (!pointers_ok) return;
  emu::launch(grid, block, dynamic_shared_bytes, stream,
              [kernel, a = std::move(a)] { std::apply(kernel, a); });
#else
  kernel<<<grid, block, dynamic_shared_bytes, stream>>>(std::forward<Args>(args)...);
#endif
}
#endif

}  // namespace dice
