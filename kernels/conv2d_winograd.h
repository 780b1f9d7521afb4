// Winograd F(2x2, 3x3) convolution on the CPU (conv2d_winograd_cpu.cpp): the pieces conv2d_cpu
// dispatches to when cpu_conv_algo() is kWinograd. Internal to kernels/; users go through
// conv2d_cpu and the switch in conv2d.h.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"

namespace dice {

// Whether a conv has the shape this path handles: 3x3, stride 1, pad 1, offsets within int32.
// (A residual fusion is not handled either; conv2d_cpu checks that per call.)
bool conv2d_winograd_shape(const Conv2dParams& p);

// Whether Winograd is faster than the direct GEMM for this call, as measured on ResNet-50's and
// DenseNet-BC's 3x3 convs (2 cores, AVX-512; see the .cpp): not for few output channels
// (DenseNet's 12: the transforms then outweigh the saved products) and not for few tiles
// (ResNet-50's 7x7 stage at batch 1: 16 tiles against 16/9 as many weights to stream).
bool conv2d_winograd_pays(const Conv2dParams& p);

// Whether conv2d_cpu runs this call as Winograd: the shape, no residual, and the CpuConvAlgo
// setting (kWinogradAll, or kWinograd where it pays). conv2d_cpu_pack asks it with residual =
// false to decide whether to pack the transformed filters.
bool conv2d_winograd_selected(const Conv2dParams& p, bool residual);

// The 16 transformed filters U_xi = (G g G^T)(xi), each an [out_channels x in_channels] matrix
// packed for micro-kernels of `mr` rows (pack_weights), one after another.
std::vector<float> conv2d_winograd_pack(const Conv2dParams& p, const float* weight, int mr);

// The convolution with the fusions of ConvFusion except the residual; u from conv2d_winograd_pack
// for isa.mr.
void conv2d_winograd_cpu(const Conv2dParams& p, const float* in, const float* u, float* out,
                         const ConvFusion& f, const GemmIsa& isa);

}  // namespace dice
