// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution on the CPU (conv2d_winograd_cpu.cpp): the
// pieces conv2d_cpu dispatches to (see CpuConvAlgo in conv2d.h). Internal to kernels/; users go
// through conv2d_cpu and the switch in conv2d.h.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"

namespace dice {

// Whether a conv has the shape this path handles: 3x3, stride 1 or 2, pad 1, offsets within int32.
// (A residual fusion is not handled either; conv2d_cpu checks that per call.)
bool conv2d_winograd_shape(const Conv2dParams& p);

// Whether Winograd is faster than the direct GEMM for this call, as measured on ResNet-50's and
// DenseNet-BC's 3x3 convs (2 cores, AVX-512; see the .cpp): not for few output channels
// (DenseNet's 12: the transforms then outweigh the saved products) and not for fewer than 16
// 2x2 tiles per image.
bool conv2d_winograd_pays(const Conv2dParams& p);

// F(4x4, 3x3) instead of F(2x2, 3x3): where an image has at least 16 4x4 tiles and they cover at
// most 35% more than the map: ResNet-50's 56x56 and 28x28 3x3s (whole tiles) and its 14x14 ones
// (16 tiles, 31% past the map, run in the transposed orientation, conv2d_winograd_transposed);
// not its 7x7 ones (4 tiles: 36 filter matrices to stream for them at batch 1; F(2x2) there).
// Measured with `dice features --profile` (2 EPYC cores, AVX-512), F(2x2) -> F(4x4) per layer:
// batch 32, layer1 32-35 -> 20-23 ms, layer2 22-27 -> 15-16; batch 1, layer1 0.80-0.82 ->
// 0.64-0.69, layer2 0.86 -> 0.72-0.93. 14x14 was left out while F(4x4) ran it with tiles as
// columns (batch 1: 0.86-1.02 -> 1.0-1.2 ms); transposed, layer3 F(2x2) -> F(4x4) at batch 1 is
// 0.99-1.0 -> 0.74-0.89 ms, at batch 32 20 -> 15.3-18.4.
bool conv2d_winograd4_pays(const Conv2dParams& p);

// F(2x2, 3x3) at stride 2 (25 products per 2x2 output tile and input channel instead of 36: see
// wino2s_bt in gemm_kernels.inc) instead of the direct GEMM (phase or batch mode): for at least 32
// output channels and at least 49 tiles per image (ResNet-50's layer2.0 and layer3.0 3x3/2, whose
// outputs are 28x28 and 14x14; not layer4.0's 7x7: see the .cpp).
bool conv2d_winograd_s2_pays(const Conv2dParams& p);

// The output tile conv2d_cpu runs this call with: 0 (the direct GEMM), 2 (F(2x2, 3x3)) or 4
// (F(4x4, 3x3)), from the shape, the residual (not handled) and the CpuConvAlgo setting
// (kWinograd: F(4x4) where conv2d_winograd4_pays, else F(2x2) where conv2d_winograd_pays;
// kWinogradAll / kWinograd4All: F(2x2) / F(4x4) wherever the shape allows). conv2d_cpu_pack asks
// with residual = false to decide which filters to pack.
int conv2d_winograd_tile(const Conv2dParams& p, bool residual);

// The (m+2)^2 transformed filters U_xi = (G g G^T)(xi) of F(m x m, 3x3), m = 2 or 4, each an
// [out_channels x in_channels] matrix packed for micro-kernels of `mr` rows (pack_weights), one
// after another; at stride 2 (m = 2, 5x5 transforms) the 16 distinct ones of the 25 (U(r, s) =
// U(min(r, 3), min(s, 3))).
// In the transposed orientation (see conv2d_winograd_transposed): each U_xi^T as B panels
// [ceil(M/nr)][in_channels][nr] for isa.nr.
std::vector<float> conv2d_winograd_pack(const Conv2dParams& p, const float* weight,
                                        const GemmIsa& isa, int m, bool transposed);

// Whether F(m x m) runs its GEMMs transposed (tiles as the micro-kernel's rows, output channels as
// its lanes): where an image has fewer tiles than a micro-tile has columns (nr), so that batch 1
// does not run most columns empty. Bitwise the same results either way; a property of the map,
// not the batch.
bool conv2d_winograd_transposed(const Conv2dParams& p, int m, int nr);

// The convolution with the fusions of ConvFusion except the residual; u from conv2d_winograd_pack
// for isa.mr and the same m.
void conv2d_winograd_cpu(const Conv2dParams& p, const float* in, const float* u, float* out,
                         const ConvFusion& f, const GemmIsa& isa, int m, bool transposed);

}  // namespace dice
