// CudnnConv2d, CudnnContext and CudnnConvLayer (see conv2d_cudnn.h): cuDNN's legacy convolution
// API, planned once per shape.
// The legacy API is deprecated in cuDNN 9 but still shipped and still the shortest way to a
// tuned fp32 convolution; cudnn.h only warns about it when CUDNN_WARN_DEPRECATED is defined.
#include "kernels/cudnn/conv2d_cudnn.h"

#include <climits>
#include <sstream>

#include "gpu/cuda_check.h"

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
    // Run the variant that was timed (see CudnnContext::Algo::math); fp32 stays on FMA math.
    if (allow_tf32) DICE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc_, perf[i].mathType));
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

// ---- CudnnContext ----

CudnnContext::CudnnContext(cudaStream_t stream) : stream_(stream) {
  DICE_CUDNN_CHECK(cudnnCreate(&handle_));
  DICE_CUDNN_CHECK(cudnnSetStream(handle_, stream));
}

CudnnContext::~CudnnContext() {
  if (workspace_) cudaFree(workspace_);  // destructors do not throw: failures here only leak
  if (handle_) cudnnDestroy(handle_);
}

void CudnnContext::reserve_workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return;
  if (workspace_) {
    DICE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    DICE_CUDA_CHECK(cudaFree(workspace_));
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }
  DICE_CUDA_CHECK(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
}

const CudnnContext::Algo* CudnnContext::find_cached(const std::string& key) const {
  auto it = algos_.find(key);
  return it == algos_.end() ? nullptr : &it->second;
}

// ---- CudnnConvLayer ----

namespace {

cudnnDataType_t data_type(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return CUDNN_DATA_HALF;
    case Precision::kBf16: return CUDNN_DATA_BFLOAT16;
    case Precision::kFp32:
    case Precision::kTf32:
    case Precision::k3xTf32: break;  // refused before (check_model_options); float data
  }
  return CUDNN_DATA_FLOAT;
}

cudnnMathType_t math_type(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
    case Precision::k3xTf32: return CUDNN_FMA_MATH;    // true fp32, as conv2d_cuda
    case Precision::kTf32: return CUDNN_DEFAULT_MATH;  // float data may use TF32 tensor cores
    case Precision::kFp16:
    case Precision::kBf16: break;
  }
  return CUDNN_TENSOR_OP_MATH;
}

// cuDNN 9 refines CUDNN_STATUS_NOT_SUPPORTED (3000) into sub-codes (3001 _GRAPH_PATTERN, 3002
// _SHAPE, ...): a refused fusion may come back as any of them, and must still take the fallback.
bool is_not_supported(cudnnStatus_t st) {
#ifdef CUDNN_STATUS_CATEGORY
  return CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED;
#else
  return st == CUDNN_STATUS_NOT_SUPPORTED;
#endif
}

std::string algo_key(const Conv2dParams& p, Precision precision, CudnnLayout layout) {
  std::ostringstream k;
  k << precision_name(precision) << (layout == CudnnLayout::kNhwc ? " nhwc " : " nchw ") << p.batch << ' ' << p.in_channels << ' ' << p.height << ' '
    << p.width << ' ' << p.out_channels << ' ' << p.kernel << ' ' << p.stride << ' ' << p.pad << ' '
    << p.in_stride() << ' ' << p.out_stride();
  return k.str();
}

}  // namespace

CudnnConvLayer::CudnnConvLayer(CudnnContext& ctx, const Conv2dParams& p, Precision precision,
                               CudnnLayout layout)
    : ctx_(ctx), precision_(precision) {
  DICE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc_));
  DICE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc_));
  DICE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_desc_));
  DICE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc_));
  DICE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_desc_));
  DICE_CUDNN_CHECK(cudnnCreateActivationDescriptor(&relu_desc_));

  const int n = to_int(p.batch, "batch"), c = to_int(p.in_channels, "in_channels");
  const int h = to_int(p.height, "height"), w = to_int(p.width, "width");
  const int k = to_int(p.out_channels, "out_channels"), r = to_int(p.kernel, "kernel");
  const int oh = to_int(p.out_height(), "out_height"), ow = to_int(p.out_width(), "out_width");
  if (n < 1) throw_error("conv2d_cudnn: batch must be >= 1");
  const cudnnDataType_t dt = data_type(precision);
  if (layout == CudnnLayout::kNhwc) {
    if (p.in_stride() != p.in_channels * p.height * p.width ||
        p.out_stride() != p.out_channels * p.out_height() * p.out_width())
      throw_error("conv2d_cudnn: NHWC tensors must be dense (no channel-slice batch strides)");
    DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NHWC, dt, n, c, h, w));
    DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NHWC, dt, n, k, oh, ow));
  } else {
    DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(x_desc_, dt, n, c, h, w,
                                                  to_int(p.in_stride(), "in_batch_stride"), h * w,
                                                  w, 1));
    DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(y_desc_, dt, n, k, oh, ow,
                                                  to_int(p.out_stride(), "out_batch_stride"),
                                                  oh * ow, ow, 1));
  }
  const cudnnTensorFormat_t fmt = layout == CudnnLayout::kNhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  DICE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_desc_, fmt, dt, 1, k, 1, 1));
  DICE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_, dt, fmt, k, c, r, r));
  const int pad = to_int(p.pad, "pad"), stride = to_int(p.stride, "stride");
  DICE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc_, pad, pad, stride, stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  DICE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc_, math_type(precision)));
  DICE_CUDNN_CHECK(
      cudnnSetActivationDescriptor(relu_desc_, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));

  const std::string key = algo_key(p, precision, layout);
  if (const CudnnContext::Algo* cached = ctx.find_cached(key)) {
    algo_ = *cached;
    DICE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc_, algo_.math));
  } else {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    DICE_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(ctx.handle(), x_desc_, w_desc_,
                                                          conv_desc_, y_desc_,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &returned, perf));
    bool found = false;
    for (int i = 0; i < returned && !found; ++i) {  // sorted fastest first
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
      if (precision == Precision::kFp32 && (perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                                            perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;  // belt and braces: the descriptor already asks for FMA math
      algo_.algo = perf[i].algo;
      // Run the variant that was timed, as PyTorch does; fp32 keeps FMA math whatever is reported.
      algo_.math = precision == Precision::kFp32 ? CUDNN_FMA_MATH : perf[i].mathType;
      DICE_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc_, algo_.math));
      found = true;
    }
    if (!found)
      throw_error("conv2d_cudnn: cuDNN found no usable ", precision_name(precision),
                  " algorithm for ", key);
    DICE_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(ctx.handle(), x_desc_, w_desc_,
                                                             conv_desc_, y_desc_, algo_.algo,
                                                             &algo_.workspace_bytes));
    ctx.cache(key, algo_);
  }
  ctx.reserve_workspace(algo_.workspace_bytes);
}

CudnnConvLayer::~CudnnConvLayer() {
  if (relu_desc_) cudnnDestroyActivationDescriptor(relu_desc_);
  if (conv_desc_) cudnnDestroyConvolutionDescriptor(conv_desc_);
  if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
  if (bias_desc_) cudnnDestroyTensorDescriptor(bias_desc_);
  if (y_desc_) cudnnDestroyTensorDescriptor(y_desc_);
  if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
}

void CudnnConvLayer::run(const void* in, const void* weight, void* out) {
  const float one = 1.0f, zero = 0.0f;  // float scaling factors for float, half and bf16 data
  DICE_ASSERT(ctx_.workspace_bytes() >= algo_.workspace_bytes);
  DICE_CUDNN_CHECK(cudnnConvolutionForward(ctx_.handle(), &one, x_desc_, in, w_desc_, weight,
                                           conv_desc_, algo_.algo, ctx_.workspace(),
                                           algo_.workspace_bytes, &zero, y_desc_, out));
}

void CudnnConvLayer::run_fused(const void* in, const void* weight, void* out, const void* bias,
                               const void* residual, bool relu) {
  DICE_ASSERT(residual != out);
  const float one = 1.0f, zero = 0.0f;
  if (relu && fused_ok_) {
    // y = relu(conv(x) + alpha2 * z + bias) with z = the residual, or z = y and alpha2 = 0.
    const float alpha2 = residual ? 1.0f : 0.0f;
    const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
        ctx_.handle(), &one, x_desc_, in, w_desc_, weight, conv_desc_, algo_.algo,
        ctx_.workspace(), algo_.workspace_bytes, &alpha2, y_desc_, residual ? residual : out,
        bias_desc_, bias, relu_desc_, y_desc_, out);
    if (st == CUDNN_STATUS_SUCCESS) return;
    if (!is_not_supported(st))
      throw_error(__FILE__, ":", __LINE__, ": cudnnConvolutionBiasActivationForward failed: ",
                  cudnnGetErrorString(st));
    fused_ok_ = false;  // nothing was enqueued; use the separate calls from now on
  }
  run(in, weight, out);
  DICE_CUDNN_CHECK(cudnnAddTensor(ctx_.handle(), &one, bias_desc_, bias, &one, y_desc_, out));
  if (residual)
    DICE_CUDNN_CHECK(cudnnAddTensor(ctx_.handle(), &one, y_desc_, residual, &one, y_desc_, out));
  if (relu)
    DICE_CUDNN_CHECK(
        cudnnActivationForward(ctx_.handle(), relu_desc_, &one, y_desc_, out, &zero, y_desc_, out));
}

std::string CudnnConvLayer::algo_name() const {
  switch (algo_.algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "implicit_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "implicit_precomp_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "fft_tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "winograd_nonfused";
    default: return "algo_" + std::to_string(static_cast<int>(algo_.algo));
  }
}

}  // namespace dice
