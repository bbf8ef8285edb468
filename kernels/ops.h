// Op launchers: the one entry point per op that the layer graph (model/) calls. Each checks its
// preconditions and dispatches on the device that holds the data: the CPU implementations
// (<op>_cpu.cpp) or the CUDA kernels (<op>.cu, CUDA builds). Nothing above this file knows which
// device runs an op.
//
// Scalars (the loss, the gradient norm, the first non-finite step) are float64 / int64 values in
// memory of the op's device, so a GPU training iteration never waits for the host: the host reads
// them back only when it logs. On the CPU they are plain host memory.
#pragma once

#include <cstdint>
#include <string>

#include "engine/device.h"
#include "kernels/conv_shape.h"
#include "kernels/optim_step.h"
#include "kernels/precision.h"

namespace vdsr::ops {

// The convolutions: one entry per role, precision as data (kernels/precision.h). The math and the
// shape (channels, kernel size, padding: kernels/conv_shape.h) pick the kernels (math:
// kernels/conv_fwd.h, conv3x3_bwd_data.h, conv3x3_bwd_weight.h):
//   math Fp32, F32 -> F32: any C, K; forward also any odd kernel size and zero or replicate padding
//     (SRCNN); the CPU's only case;
//   math Fp32 with a bf16 side: the thin layers of the bf16 mode on the CUDA cores: the fp32 image
//     into a BF16 map (C == 1), a BF16 map into the fp32 prediction (K == 1);
//   math Tf32, F32 -> F32, and math Bf16, BF16 -> BF16: 64 -> 64 on the tensor cores of a CUDA
//     device of compute capability 8.0+, from the GEMM copies of the weights (conv_weights).
// Everything but the fp32 forward is 3x3 with zero padding (VDSR). Any other combination is an
// Error naming it. wt: the fp32 master weights [K][C][R][R] for math Fp32, else the GEMM copy (for
// backward-data the flipped one). Shapes as in those headers.
//
// wg = the GEMM copies of `layers` consecutive K x C 3x3 layers in `math` (Tf32: float, Bf16: Bf16;
// kernels/conv3x3_gemm_weights.cuh; flip: the backward-data copy).
void conv_weights(Device d, Precision math, const float* wt, int layers, int K, int C, bool flip, void* wg);
// y = act(conv(x) + b) (+ skip, the global residual, when skip is not null; y is then F32).
// weights_ready: wt was written before the op queued just ahead of this one (kernels/conv_variants.cuh,
// ConvLaunch::weights_ready); true lets a kernel load it while that op finishes. False is always safe.
void conv_fwd(Device d, Precision math, const ConvShape& s, ConstMapView x, const void* wt, const float* b,
              bool relu, const float* skip, MapView y, bool weights_ready = false);
// dx = mask(relu_src > 0) conv_t(dy); relu_src.data null: no mask. weights_ready as conv_fwd.
void conv_bwd_data(Device d, Precision math, const ConvShape& s, ConstMapView dy, const void* wt,
                   ConstMapView relu_src, MapView dx, bool weights_ready = false);
// dw = sum dy x (fp32, overwritten), db = sum dy (when not null).
void conv_bwd_weight(Device d, Precision math, const ConvShape& s, ConstMapView x, ConstMapView dy, float* dw,
                     float* db);

// Whether d has a kernel for every role of a 64 -> 64 3x3 layer in `math` (the tensor-core modes
// need a CUDA device of compute capability 8.0 or later; fp32 runs everywhere).
bool conv_math_available(Device d, Precision math);

// Which kernels a layer of shape s in `math`, reading `in` and writing `out` maps, runs on d, for
// -v listings: "fwd tiled-128x64, bwd_data tiled-128x64, bwd_weight tiled-64x192" (the registry's
// defaults, kernels/conv_variants.cuh; "-" where none runs; the bf16 mode's thin layers: its bf16
// "thin-*" rows), or the CPU's: "fwd cpu-winograd-f4, bwd_data cpu-winograd-f4, bwd_weight cpu-winograd-f2"
// (each role's method, kernels/conv_fwd.h).
std::string conv_kernels_text(Device d, Precision math, const ConvShape& s, DType in, DType out);

// How far (pixels, each side) the inputs that can change the bits of a forward output of a layer of
// shape s on d reach: R / 2, its window, on a GPU (every output sums its own window's terms in a
// fixed order) and for the CPU's direct and F(2x2) kernels; 3 for the CPU's F(4x4) Winograd layers
// (kernels/conv_fwd.h). Tiled inference sums it over the layers for its halo (model/tiled.h).
int conv_fwd_reach(Device d, const ConvShape& s);

// The most pixels one image of a convolution with `widest` channels on its wider side may hold on
// d: the CUDA kernels index an image's elements (H x W x max(C, K)) in 32 bits, so fewer than 2^31
// of them (33,554,431 pixels at 64 channels, a 5792 x 5792 square); unbounded on the CPU. Tiled
// inference keeps every region within it (model/tiled.h).
int64_t conv_max_image_pixels(Device d, int64_t widest);

void residual_add(Device d, int64_t n, const float* x, const float* r, float* y);

// *loss = 1/(2 batch) sum (pred - target)^2; grad = (pred - target) / batch
// (kernels/euclidean_loss.h).
void euclidean_loss(Device d, int64_t batch, int64_t n, const float* pred, const float* target,
                    float* grad, double* loss);
// *norm = sqrt(sum g^2).
void grad_norm(Device d, int64_t n, const float* g, double* norm);
// If *value is not finite and *first_bad_step < 0, sets *first_bad_step = step (a sticky flag).
void flag_nonfinite(Device d, const double* value, int64_t step, int64_t* first_bad_step);

// *dst = s, queued on the device's stream: the scalars of the next optimizer step, written outside
// any recorded graph (the step reads them from there).
void set_optim_scalars(Device d, const OptimScalars& s, OptimScalars* dst);
// Clipping, the update and the EMA in one pass over the flat buffer (kernels/optim_step.h), with
// the step's scalars *s and the gradient norm *norm (for ClipMode::Norm) in the device's memory.
// w, g, m [n]; v [n] for Adam/AdamW, e [n] with c.ema > 0 (null otherwise); g is written back
// when clipped by value.
void optim_step(Device d, const OptimConfig& c, const OptimScalars* s, const double* norm,
                int64_t n, int64_t n_decay, float* w, float* g, float* m, float* v, float* e);

}  // namespace vdsr::ops
