// Device discovery (see cuda_check.h). Compiled in every build; the CUDA runtime is only touched
// when the project was built with CUDA, so CPU-only builds link without it.
#include "kernels/cuda_check.h"

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
#else
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { return ""; }
#endif

}  // namespace dice
