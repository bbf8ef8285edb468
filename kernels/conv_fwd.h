// Convolution forward with optional bias and fused ReLU (cross-correlation, as in PyTorch and
// MATLAB's imfilter), for any odd kernel size R and either padding (kernels/conv_shape.h):
//   y[n,h,w,k] = act( b[k] + sum_{c,r,s} x[n, h+r-P, w+s-P, c] * wt[k,c,r,s] ),  P = R / 2,
// where an x outside the image is 0 (Padding::Zero) or the nearest edge pixel (Padding::Replicate:
// the row and column indices clamped into the image), and act = ReLU when relu is true.
// Shapes: x [N][H][W][C], wt [K][C][R][R], b [K] or nullptr, y [N][H][W][K].
#pragma once

#include "kernels/conv_shape.h"

namespace vdsr {

// Plain loops, double accumulation: the oracle the tests compare against.
void conv_fwd_ref(const ConvShape& s, const double* x, const double* wt, const double* b, bool relu,
                  double* y);

// The CPU convolutions' method, VDSR_CPU_CONV (read on every call; unset or empty is "auto"):
//   auto       Winograd F(4x4, 3x3) for the forward (and backward-data, which runs the forward) of
//              the layers Winograd suits (conv3x3_winograd_suits), F(2x2, 3x3) for their weight
//              gradient, the direct method elsewhere;
//   winograd2  F(2x2, 3x3) wherever Winograd suits, the direct method elsewhere (exact on small
//              integers everywhere, as the direct method);
//   direct     the direct method everywhere.
// The choice never depends on the image's size, so a region of an image runs the same method as
// the whole image (model/tiled.cpp). Any other value is the user's error, said in words (the tools
// check it when they start). Every method gives the same bits for any thread count; they differ
// from each other in rounding only.
enum class CpuConvMethod { Auto, Winograd2, Direct };
CpuConvMethod cpu_conv_method();
const char* cpu_conv_method_name(CpuConvMethod m);  // its VDSR_CPU_CONV value: "auto", ...
// The Winograd tile conv_fwd_cpu uses for shape s under the current method: 4, 2, or 0 (direct).
int cpu_conv_fwd_tile(const ConvShape& s);
// The same for conv3x3_bwd_weight_cpu: 2 or 0.
int cpu_conv_bwd_weight_tile(const ConvShape& s);
// How far (pixels, each side) the inputs that can change an output's bits of conv_fwd_cpu reach:
// R / 2, the window, for the direct method and F(2x2) (each of its two outputs sums only the terms
// of its own window), 3 for F(4x4) (an output sums terms over 5 of its tile's 6 input rows and
// columns, which cancel in exact arithmetic but round). Tiled inference's halo (model/tiled.h).
int cpu_conv_fwd_reach(const ConvShape& s);

// The CPU forward by the method above. relu_src (backward-data's ReLU mask, or nullptr): then also
// y = relu_src > 0 ? y : +0 elementwise (relu_src has y's shape), in the Winograd kernel's output
// transform, or row by row after each output row of the direct method.
void conv_fwd_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                  float* y, const float* relu_src = nullptr);

// Direct method (implicit GEMM), any shape. Each output pixel's arithmetic (order of the sums) does
// not depend on where the pixel sits, so any crop of an image equals it bit for bit. relu_src as
// conv_fwd_cpu's.
void conv_fwd_direct_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                         float* y, const float* relu_src = nullptr);

// Winograd F(tile x tile, 3x3), tile = 2 or 4 (kernels/conv3x3_fwd_winograd_cpu.cpp): 2.25x or 4x
// fewer multiply-adds. An output's arithmetic depends on its place in its tile, so a crop equals the
// whole image bit for bit when it starts at multiples of the tile (model/tiled.cpp aligns its
// regions to multiples of 4). 3x3 zero padding only; suits layers of 32 or more channels each side.
bool conv3x3_winograd_suits(const ConvShape& s);
void conv3x3_fwd_winograd_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                              float* y, int tile, const float* relu_src = nullptr);

}  // namespace vdsr
