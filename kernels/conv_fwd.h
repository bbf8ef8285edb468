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

// Threaded, vectorised CPU implementation. Each output pixel's arithmetic (order of the sums)
// does not depend on where the pixel sits, so tiled and whole-image outputs agree bit for bit.
void conv_fwd_cpu(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                  float* y);

}  // namespace vdsr
