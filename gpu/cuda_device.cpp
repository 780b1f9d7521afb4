// Device discovery (see cuda_check.h). Compiled in every build; the CUDA runtime is only touched
// when the project was built with CUDA, so CPU-only builds link without it.
#include "gpu/cuda_check.h"

#include <string>

namespace dice {

#ifdef DICE_HAVE_CUDA
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}
std::string cuda_device_name(int device) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "";
  return prop.name;
}
int current_cuda_device() {
  int d = 0;
  if (cudaGetDevice(&d) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return d;
}
std::string cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  cudaGetLastError();  // the error is sticky for this query only; clear it
  if (err == cudaSuccess) return n > 0 ? "" : "the CUDA runtime reports 0 devices";
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaGetLastError();
  if (err == cudaErrorNoDevice) return "no CUDA device (the driver sees no GPU)";
  if (err == cudaErrorInsufficientDriver) {
    if (driver == 0) return "no CUDA driver (libcuda.so not found or not loadable)";
    return "CUDA driver " + cuda_version_string(driver) + " is older than the runtime " +
           cuda_version_string(runtime) + " this build uses: update the driver or rebuild with "
           "an older toolkit";
  }
  return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + ": " +
         cudaGetErrorString(err) + " (driver " + cuda_version_string(driver) + ", runtime " +
         cuda_version_string(runtime) + ")";
}
#else
std::string cuda_unavailable_reason() {
  return "this build has no CUDA backend (configured without nvcc or with -DDICE_CUDA=OFF)";
}
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { return ""; }
int current_cuda_device() { return 0; }
#endif

std::string cuda_version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

void select_cuda_device(int index) {
#ifndef DICE_HAVE_CUDA
  throw_error("--device cuda:", index, ": this build has no CUDA backend; rebuild with nvcc "
              "installed (cmake -DDICE_CUDA=ON) or use --device cpu");
#else
  const int n = cuda_device_count();
  if (index < 0 || index >= n)
    throw_error("--device cuda:", index, ": this machine has ", n, " CUDA device",
                n == 1 ? "" : "s", n > 0 ? " (cuda:0 to cuda:" + std::to_string(n - 1) + ")" : "",
                "; pick one of those or use --device cpu");
  DICE_CUDA_CHECK(cudaSetDevice(index));
#endif
}

}  // namespace dice
