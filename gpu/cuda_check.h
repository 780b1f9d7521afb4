// CUDA availability and the check macros every CUDA/cuBLAS/cuDNN call goes through.
// cuda_device_count() exists in every build (0 without CUDA or without a GPU), so tests and tools
// can ask "is there a GPU?" without #ifdefs. DICE_CUDA_CHECK reports file:line and the library's
// error string, then throws dice::Error (host code only; device code never throws).
#pragma once
#include <string>

#include "core/error.h"

namespace dice {

// Number of usable CUDA devices; 0 when built without CUDA or when no driver/device is present.
int cuda_device_count();
// One line naming the device (for benchmark and report headers); "" without a device.
std::string cuda_device_name(int device = 0);
// Makes device `index` current for this thread (cudaSetDevice), where models made afterwards
// live; a one-line dice::Error naming the devices there are when it does not exist.
void select_cuda_device(int index);
// The current device's index (0 without CUDA).
int current_cuda_device();
// Why no CUDA device can be used, in one line ("" when one can): no CUDA backend in this build,
// no driver, a driver older than the runtime (both versions named), no device, or the runtime's
// own error string. GPU tests print it when they skip, and fail with it under DICE_REQUIRE_GPU=1.
std::string cuda_unavailable_reason();
// "13.0" from CUDA's 1000 * major + 10 * minor version encoding.
std::string cuda_version_string(int version);

}  // namespace dice

#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>
#define DICE_CUDA_CHECK(call)                                                          \
  do {                                                                                 \
    cudaError_t dice_err_ = (call);                                                    \
    if (dice_err_ != cudaSuccess)                                                      \
      ::dice::throw_error(__FILE__, ":", __LINE__, ": ", #call, " failed: ",           \
                          cudaGetErrorString(dice_err_));                              \
  } while (0)
// After every kernel launch: launch-configuration errors surface here, not later.
#define DICE_CUDA_CHECK_LAUNCH() DICE_CUDA_CHECK(cudaGetLastError())
#endif
