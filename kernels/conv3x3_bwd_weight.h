// 3x3 convolution backward-weight and bias (overwrites dw and db):
//   dw[k,c,r,s] = sum_{n,h,w} dy[n,h,w,k] * x[n, h+r-1, w+s-1, c]   (x = 0 outside the image)
//   db[k]       = sum_{n,h,w} dy[n,h,w,k]
// Shapes: x [N][H][W][C], dy [N][H][W][K], dw [K][C][3][3], db [K] or nullptr.
#pragma once

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_bwd_weight_ref(const ConvShape& s, const double* x, const double* dy, double* dw,
                            double* db);

// The CPU weight gradient: Winograd's F(2x2, 3x3) where conv3x3_winograd_suits(s) (kernels/conv_fwd.h)
// and VDSR_CPU_CONV does not ask for the direct method, else the direct method. In both the
// reduction over N*H*W is split into blocks of a fixed size (independent of the thread count) and
// the partial sums are added in block order, so the result is deterministic; the two differ in
// rounding only (both exact on small integers).
void conv3x3_bwd_weight_cpu(const ConvShape& s, const float* x, const float* dy, float* dw,
                            float* db);
void conv3x3_bwd_weight_direct_cpu(const ConvShape& s, const float* x, const float* dy, float* dw,
                                   float* db);
// kernels/conv3x3_bwd_weight_winograd_cpu.cpp: 2.25x fewer multiply-adds, 3x3 zero padding only.
void conv3x3_bwd_weight_winograd_cpu(const ConvShape& s, const float* x, const float* dy, float* dw,
                                     float* db);

}  // namespace vdsr
