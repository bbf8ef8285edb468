// Verification of vdsr_bench's CPU rows at the very shapes they time, before timing:
//   convs: sampled outputs of the 64 -> 64 forward, backward-data and backward-weight (and every
//     bias gradient) against sums written out here in double, each within 2e-5 of the sum of the
//     absolute values of its terms (float accumulation error stays far below that; a wrong index
//     or tap errs by about the sum itself, ~1/sqrt(terms) of that bound and more);
//   network forward: the centre and the top-left pixel of the timed image against a double
//     reference network (the *_ref convs) on the 41 x 41 window around the pixel: the receptive
//     field is 41 x 41, so that window gives the pixel exactly; within 1e-4 (the forward's float
//     error, tests/gpu/test_model_cuda.cpp's reasoning);
//   training step: its loss against the double Euclidean loss of the model's own inference
//     forward at the same shape (1e-5 relative), and the last layer's bias gradient against
//     sum (pred - target) / N in double (1e-4 relative), both read after one step with lr 0.
// Each throws vdsr::Error naming the row and the error found.
#pragma once

#include <cstdint>

#include "kernels/conv_shape.h"
#include "model/vdsr.h"

namespace vdsr::bench {

// x [N][H][W][C], wt [K][C][3][3], b [K], y [N][H][W][K] = relu(conv(x) + b);
// dy [N][H][W][K], dx [N][H][W][C] = mask(x > 0) conv_t(dy); dw [K][C][3][3], db [K].
void verify_conv_rows(const ConvShape& s, const float* x, const float* wt, const float* b,
                      const float* y, const float* dy, const float* dx, const float* dw,
                      const float* db, int samples);
// in, out [H][W]: out = the model's forward of in.
void verify_network_forward(const Vdsr& model, int H, int W, const float* in, const float* out);
// One training step of `model` (changed: weights stay, gradients are written) on x, target
// [N][41][41].
void verify_training_step(Vdsr& model, int N, const float* x, const float* target);

}  // namespace vdsr::bench
