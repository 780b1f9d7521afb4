// CudnnConv2d (see conv2d_cudnn.h): cuDNN's legacy convolution API, planned once per shape.
// The legacy API is deprecated in cuDNN 9 but still shipped and still the shortest way to a
// tuned fp32 convolution; cudnn.h only warns about it when CUDNN_WARN_DEPRECATED is defined.
#include "kernels/cudnn/conv2d_cudnn.h"

#include <climits>

#include "kernels/cuda_check.h"

namespace dice {

namespace {
int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw_error("conv2d_cudnn: ", what, " = ", v, " does not fit an int");
  return static_cast<int>(v);
}
constexpr size_t kMaxWorkspace = size_t{1} << 30;  // ignore algorithms that want more than 1 GiB
}  // namespace

CudnnConv2d::CudnnConv2d(const Conv2dParams& p, cudaStream_t stream, bool allow_tf32) {
  DICE_CUDNN_CHECK(cudnnCreate(&handle_));
  DICE_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  DICE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc_));
  DICE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc_));
  DICE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc_));
  DICE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_desc_));

  const int n = to_int(p.batch, "batch"), c = to_int(p.in_channels, "in_channels");
  const int h = to_int(p.height, "height"), w = to_int(p.width, "width");
  const int k = to_int(p.out_channels, "out_channels"), r = to_int(p.kernel, "kernel");
  const int oh = to_int(p.out_height(), "out_height"), ow = to_int(p.out_width(), "out_width");
  DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(x_desc_, CUDNN_DATA_FLOAT, n, c, h, w,
                                                to_int(p.in_stride(), "in_batch_stride"), h * w, w,
                                                1));
  DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(y_desc_, CUDNN_DATA_FLOAT, n, k, oh, ow,
                                                to_int(p.out_stride(), "out_batch_stride"), oh * ow,
                                                ow, 1));
  DICE_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(w_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, r, r));
  const int pad = to_int(p.pad, "pad"), stride = to_int(p.stride, "stride");
  DICE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc_, pad, pad, stride, stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  DICE_CUDNN_CHECK(
      cudnnSetConvolutionMathType(conv_desc_, allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));

  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  DICE_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle_, x_desc_, w_desc_, conv_desc_,
                                                        y_desc_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                        &returned, perf));
  bool found = false;
  for (int i = 0; i < returned && !found; ++i) {  // sorted fastest first
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
    if (!allow_tf32 && (perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                        perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;  // belt and braces: the descriptor already asks for FMA math
    algo_ = perf[i].algo;
    found = true;
  }
  if (!found) throw_error("conv2d_cudnn: cuDNN found no usable algorithm for this shape");
  DICE_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle_, x_desc_, w_desc_, conv_desc_,
                                                           y_desc_, algo_, &workspace_bytes_));
  if (workspace_bytes_) DICE_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

CudnnConv2d::~CudnnConv2d() {
  // Destructors do not throw: failures here only leak.
  if (workspace_) cudaFree(workspace_);
  if (conv_desc_) cudnnDestroyConvolutionDescriptor(conv_desc_);
  if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
  if (y_desc_) cudnnDestroyTensorDescriptor(y_desc_);
  if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
  if (handle_) cudnnDestroy(handle_);
}

void CudnnConv2d::run(const float* in, const float* weight, float* out) {
  const float alpha = 1.0f, beta = 0.0f;
  DICE_CUDNN_CHECK(cudnnConvolutionForward(handle_, &alpha, x_desc_, in, w_desc_, weight,
                                           conv_desc_, algo_, workspace_, workspace_bytes_, &beta,
                                           y_desc_, out));
}

std::string CudnnConv2d::algo_name() const {
  switch (algo_) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "implicit_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "implicit_precomp_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "fft_tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "winograd_nonfused";
    default:
      return "algo_" + std::to_string(static_cast<int>(algo_));
  }
}

}  // namespace dice
