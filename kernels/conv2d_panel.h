// Activations in the GEMM's own column-panel layout, for the 1x1 convs between ResNet's
// bottleneck blocks (CPU path).
//
// conv2d_cpu reads a 1x1 conv's input as the B operand of its GEMM: the batch's pixels are the
// columns, and each block of nr columns is first copied ("packed", pack_rows) from the NCHW
// planes into a panel [channels][nr]; the output is written back as NCHW rows, with the micro-tiles
// that span two images going through a local buffer. In the panel layout the tensor already is
// those panels: the batch's pixels, image after image, cut into blocks of nr columns; block q holds
// channel after channel its nr columns, so element (image i, pixel x, channel c) of a map of HW
// pixels and C channels sits at ((i * HW + x) / nr * C + c) * nr + (i * HW + x) % nr. Where the
// batch's T = batch * HW columns do not fill the last block (ResNet-50's 28x28, 14x14 and 7x7 maps
// at batch 1), that block is only T % nr columns wide, rows T % nr floats apart
// (panel_element_offset), so a tensor always takes exactly its NCHW size. A 1x1 conv
// reading it needs no packing, and one writing it (with a residual in the same layout) stores each
// micro-tile as rows of nr floats with no per-image segments. The arithmetic is the same micro-kernel
// summing k in the same order, so the results are bitwise those of conv2d_cpu.
//
// Measured (2 EPYC cores, batch 32, both input and output in panels against conv2d_cpu on NCHW,
// best of 10): 1024->256 14x14 16.2-17.7 -> 15.1 ms, 256->1024 14x14 with its residual 17.1 -> 15.0,
// 512->128 28x28 16.6 -> 15.5, 128->512 28x28 + residual 17.5 -> 15.4, 256->64 56x56 20.5 -> 16.6,
// 64->256 56x56 + residual 18.2 -> 16.9, 2048->512 7x7 15.5 -> 14.9, 512->2048 7x7 + residual 15.8
// -> 14.9.
//
// At batch 1, maps near ResNet's that fill whole panels, both sides in panels against NCHW (2 EPYC
// cores, best of 300): 1024->256 16x16 0.62 -> 0.59-0.60 ms, 256->1024 16x16 with its residual
// 0.61-0.62 -> 0.59, 512->128 32x32 0.73-0.75 -> 0.69-0.70, 128->512 32x32 + residual 0.71 ->
// 0.62, 2048->512 8x8 0.62 -> 0.58, 512->2048 8x8 + residual even. ResNet-50 itself at batch 1
// with narrow last panels (`--profile` per-step minima, 8 alternations): layer2.x.conv1 0.58 ->
// 0.49 ms, layer3.0.conv1 1.13 -> 0.96, the 14x14 and 7x7 stages even (there, as in conv2d_cpu,
// each thread takes a slice of the output channels, and the downsamples run rows-t).
//
// nn/exec_cpu.cpp decides per tensor and batch which tensors are kept so (every writer and reader
// able to), so the layout never leaks out of the executor.
#pragma once
#include <cstdint>

#include "kernels/conv2d.h"

namespace dice {

enum class ActLayout { kNchw, kPanels };

// The panel width: the micro-kernel's columns on this CPU's instruction set (cpu_isa().nr).
int64_t cpu_panel_width();
// Whether `batch` images of `pixels` pixels fill whole panels (no narrow last block): then one
// image's panels are a block of any batch's (the depth-first prefix copies them as such).
bool cpu_panels_fit(int64_t batch, int64_t pixels);
// Where element (column col of `columns`, channel c of `channels`) sits: panel col / nr, whose
// rows are nr floats apart, or columns % nr for the narrow last one.
inline int64_t panel_element_offset(int64_t col, int64_t c, int64_t channels, int64_t columns,
                                    int64_t nr) {
  const int64_t q = col / nr, width = columns - q * nr < nr ? columns - q * nr : nr;
  return q * nr * channels + c * width + col % nr;
}
// Whether conv2d_cpu_panels runs this conv: 1x1, pad 0, stride 1 or 2, no input prologue, whole
// tensors (no batch strides), fp32 weights.
bool conv2d_panels_supported(const Conv2dParams& p, const ConvFusion& f,
                             const Conv2dCpuPacked& w);
// Panels on (the default) or off (DICE_CPU_PANELS=0): tests and A/B measurements.
bool cpu_panels_enabled();
bool set_cpu_panels_enabled(bool on);  // returns the previous setting

// conv2d_cpu for a supported conv (above) with its input and output (and the residual, which
// follows the output) in the given layouts: NCHW input only at stride 1. Bitwise the results of
// conv2d_cpu on the NCHW tensors.
void conv2d_cpu_panels(const Conv2dParams& p, ActLayout in_layout, const float* in,
                       const Conv2dCpuPacked& w, ActLayout out_layout, float* out,
                       const ConvFusion& f);

// global_avg_pool_cpu (no prologue) of a tensor in panels: out[batch][channels], bitwise the same
// sums in the same order.
void global_avg_pool_panels(int64_t batch, int64_t channels, int64_t hw, const float* in,
                            float* out);

// One image's NCHW tensor (channels x pixels) copied into its place in the panels of `batch`
// images.
void nchw_image_to_panels(const float* src, int64_t image, int64_t batch, int64_t channels,
                          int64_t pixels, float* panels);
// The whole batch in panels back to NCHW (tests and tools).
void panels_to_nchw(const float* panels, int64_t batch, int64_t channels, int64_t pixels,
                    float* dst);

}  // namespace dice
