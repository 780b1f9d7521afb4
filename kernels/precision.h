// Arithmetic precision of the convolutions on the GPU, and host emulation of the operand rounding.
//   fp32: exact float32 FMA on CUDA cores (conv2d_cuda), the default and the reference.
//   tf32, fp16, bf16: tensor cores (conv2d_tc) with float32 accumulation; only the two GEMM
//     operands (activations and weights) are rounded to the narrow type, everything else (bias,
//     residual, ReLU, pools, the head) stays float32.
//   3xtf32: float32-accurate convolutions on the tf32 tensor cores (conv2d_tc): each float32
//     operand x is split into big = tf32(x) and small = tf32(x - big), and a*b is computed as
//     a_small*b_big + a_big*b_small + a_big*b_big (three mma; a_small*b_small, about 2^-22 of
//     the product, is dropped), so the operands are not rounded to tf32 (round_to_precision
//     leaves them as they are) and results agree with fp32 to a few float32 ulps per term.
// round_to_precision() is what the tensor-core kernels do to each operand (round to nearest even
// for fp16/bf16, round to nearest with ties away from zero for tf32 as cvt.rna.tf32.f32 does), in
// plain C++ so tests can build an exact host reference without a GPU.
#pragma once
#include <cstdint>
#include <string>

namespace dice {

enum class Precision { kFp32, kTf32, kFp16, kBf16, k3xTf32 };

// "fp32", "tf32", "fp16", "bf16", "3xtf32".
const char* precision_name(Precision p);
// Parses the names above; throws dice::Error naming the accepted values otherwise.
Precision parse_precision(const std::string& name);
// True for the tensor-core precisions (everything but fp32).
inline bool is_tensor_core(Precision p) { return p != Precision::kFp32; }

// x rounded to the operand type of `p` and widened back to float (fp32 and 3xtf32: x itself). Overflow gives
// +-inf (fp16 above 65504), as the device conversion does; NaN stays NaN.
float round_to_precision(float x, Precision p);

// The 16-bit storage of the fp16/bf16 operands and of the NHWC half activations
// (kernels/conv2d_nhwc.h): x rounded as round_to_precision does, as IEEE binary16 or bfloat16 bits;
// and those bits widened back to float (exact). `p` must be kFp16 or kBf16 (dice::Error otherwise).
uint16_t to_bits16(float x, Precision p);
float from_bits16(uint16_t bits, Precision p);

}  // namespace dice
