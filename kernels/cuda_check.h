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
