// conv2d_cudnn: cuDNN's forward convolution as a vendor baseline that benchmarks and tests compare
// our conv2d_cuda against. It is never on the default inference path (see STYLE.md).
//
// Only the plain convolution is offered (no BN/ReLU prologue or epilogue): that is what cuDNN's
// legacy API does in one call, so comparisons against a fused conv2d_cuda favour cuDNN slightly.
// Channel-slice strides (in/out_batch_stride) are supported through strided tensor descriptors.
// Built only with CUDA, into the dice_vendor library.
#pragma once
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "core/error.h"
#include "kernels/conv2d.h"

#define DICE_CUDNN_CHECK(call)                                         \
  do {                                                                 \
    cudnnStatus_t dice_st_ = (call);                                   \
    if (dice_st_ != CUDNN_STATUS_SUCCESS)                              \
      ::dice::throw_error(__FILE__, ":", __LINE__, ": ", #call,        \
                          " failed: ", cudnnGetErrorString(dice_st_)); \
  } while (0)

namespace dice {

// A planned cuDNN convolution for one problem size: handle, descriptors, the fastest algorithm
// found by cudnnFindConvolutionForwardAlgorithm (what PyTorch's cudnn.benchmark does) and its
// workspace. Planning runs the candidates once; run() only enqueues the convolution.
class CudnnConv2d {
 public:
  // allow_tf32: let cuDNN use TF32 tensor cores (PyTorch's default for convolutions); false keeps
  // true fp32 FMA arithmetic, the same as conv2d_cuda.
  CudnnConv2d(const Conv2dParams& p, cudaStream_t stream = nullptr, bool allow_tf32 = false);
  ~CudnnConv2d();
  CudnnConv2d(const CudnnConv2d&) = delete;
  CudnnConv2d& operator=(const CudnnConv2d&) = delete;

  // out = conv(in, weight); device pointers laid out as Conv2dParams says.
  void run(const float* in, const float* weight, float* out);
  // The chosen algorithm's enum value and workspace size, for benchmark labels.
  std::string algo_name() const;
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace dice
