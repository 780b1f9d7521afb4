// conv2d_cudnn: cuDNN's forward convolution as a vendor baseline that benchmarks and tests compare
// our conv2d_cuda against. It is never on the default inference path (see STYLE.md).
//
// CudnnConv2d: the plain convolution (no BN/ReLU prologue or epilogue), one handle per object,
// fp32 or TF32; what the DenseNet benchmarks compare conv2d_cuda against.
// CudnnContext + CudnnConvLayer: the ResNet baseline (`--backend cudnn`, nn/exec_cuda.h). Many
// layers share one handle, one workspace and a cache of the fastest algorithm per problem (found
// once per shape by cudnnFindConvolutionForwardAlgorithm, as PyTorch's cudnn.benchmark does); a
// layer runs the ResNet epilogue y = relu(conv(x) + bias [+ residual]) through
// cudnnConvolutionBiasActivationForward, or, where cuDNN refuses that fusion for the chosen
// algorithm (and always without ReLU, since the fused call's identity activation is limited to one
// algorithm), through separate convolution, cudnnAddTensor and cudnnActivationForward calls.
// Layers also run in fp16/bf16 (half tensors, float compute) and in NHWC, cuDNN's fast layout for
// half data (PyTorch's channels_last), for the per-shape benchmark; the network itself uses NCHW
// float tensors (fp32 and tf32 only).
// NCHW supports channel-slice strides (in/out_batch_stride) through strided tensor descriptors;
// NHWC tensors are dense.
// Built only with CUDA, into the dice_vendor library.
#pragma once
#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <string>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/precision.h"

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

// One cuDNN handle on one stream, a workspace shared by every layer made from it (grown at plan
// time to the largest need), and the algorithm cache. Not thread-safe.
class CudnnContext {
 public:
  explicit CudnnContext(cudaStream_t stream = nullptr);
  ~CudnnContext();
  CudnnContext(const CudnnContext&) = delete;
  CudnnContext& operator=(const CudnnContext&) = delete;

  cudnnHandle_t handle() const { return handle_; }
  cudaStream_t stream() const { return stream_; }
  // Makes the shared workspace at least `bytes` large. It synchronises the device when it grows:
  // call it at plan time only, when no layer's work is in flight.
  void reserve_workspace(size_t bytes);
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

  struct Algo {
    cudnnConvolutionFwdAlgo_t algo;
    size_t workspace_bytes;
    // The math type cudnnFind timed the algorithm with: set on the descriptor before running, as
    // PyTorch does (an algorithm's tensor-op and FMA variants differ); always FMA for fp32.
    cudnnMathType_t math;
  };
  // The cached algorithm for `key`, or null.
  const Algo* find_cached(const std::string& key) const;
  void cache(const std::string& key, const Algo& a) { algos_[key] = a; }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::string, Algo> algos_;
};

enum class CudnnLayout { kNchw, kNhwc };

// A planned convolution of one problem size and precision on a shared CudnnContext.
// Precision: fp32 = float tensors, FMA math (no tensor cores); tf32 = float tensors, tensor-op
// math allowed; fp16 / bf16 = half / bfloat16 tensors (bias too) with float accumulation.
// Layout: NCHW (weights KCRS) or NHWC (activations N,H,W,C; weights K,R,S,C).
class CudnnConvLayer {
 public:
  CudnnConvLayer(CudnnContext& ctx, const Conv2dParams& p, Precision precision,
                 CudnnLayout layout = CudnnLayout::kNchw);
  ~CudnnConvLayer();
  CudnnConvLayer(const CudnnConvLayer&) = delete;
  CudnnConvLayer& operator=(const CudnnConvLayer&) = delete;

  // out = conv(in, weight); device pointers of the layer's data type.
  void run(const void* in, const void* weight, void* out);
  // out = [relu](conv(in, weight) + bias[o] [+ residual]); every pointer of the layer's data type.
  // residual (may be null) is laid out like out and must not alias it.
  void run_fused(const void* in, const void* weight, void* out, const void* bias,
                 const void* residual, bool relu);

  std::string algo_name() const;
  size_t workspace_bytes() const { return algo_.workspace_bytes; }
  // False once cuDNN refused cudnnConvolutionBiasActivationForward for this layer (the separate
  // calls are used from then on).
  bool fused_call_used() const { return fused_ok_; }

 private:
  CudnnContext& ctx_;
  Precision precision_;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr, bias_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnActivationDescriptor_t relu_desc_ = nullptr;
  CudnnContext::Algo algo_{};
  bool fused_ok_ = true;
};

}  // namespace dice
