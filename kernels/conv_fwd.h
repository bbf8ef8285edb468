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

// The CPU forward: Winograd's F(2x2, 3x3) where it suits the shape (conv3x3_winograd_suits: 3x3,
// zero padding, at least 32 channels in and out, as VDSR's 64 -> 64 layers), else the direct method.
// VDSR_CPU_CONV=direct forces the direct method everywhere (unset or "auto": the choice above; the
// weight gradient, kernels/conv3x3_bwd_weight.h, chooses the same way).
// Both are exact on small integers and give the same bits for any thread count; the results differ
// from each other in rounding only.
void conv_fwd_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                  float* y);
// VDSR_CPU_CONV, read on every call: true for "direct", false when unset, empty or "auto"; any other
// value is the user's error, said in words (the tools check it when they start).
bool cpu_conv_direct_forced();

// Direct method (implicit GEMM), any shape. Each output pixel's arithmetic (order of the sums) does
// not depend on where the pixel sits, so any crop of an image equals it bit for bit.
void conv_fwd_direct_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                         float* y);

// Winograd F(2x2, 3x3) (kernels/conv3x3_fwd_winograd_cpu.cpp): 2.25x fewer multiply-adds. An output's
// arithmetic depends on its place in its 2 x 2 tile, so a crop equals the whole image bit for bit
// when it starts at even coordinates (model/tiled.cpp aligns its regions so). 3x3 zero padding only.
bool conv3x3_winograd_suits(const ConvShape& s);
void conv3x3_fwd_winograd_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                              float* y);

}  // namespace vdsr
