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

#include "engine/device.h"
#include "kernels/bf16.h"
#include "kernels/conv_shape.h"
#include "kernels/optim_step.h"

namespace vdsr::ops {

// See kernels/conv3x3_fwd.h, conv3x3_bwd_data.h, conv3x3_bwd_weight.h for the math and shapes.
void conv3x3_fwd(Device d, const ConvShape& s, const float* x, const float* wt, const float* b,
                 bool relu, float* y);
void conv3x3_bwd_data(Device d, const ConvShape& s, const float* dy, const float* wt,
                      const float* relu_src, float* dx);
void conv3x3_bwd_weight(Device d, const ConvShape& s, const float* x, const float* dy, float* dw,
                        float* db);
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

// The bf16 mode (CUDA devices of compute capability 8.0 or later, 64 hidden channels; an Error
// elsewhere): bf16 NHWC feature maps, fp32 accumulation, fp32 master weights. The hidden 64 -> 64
// layers run on the tensor cores (kernels/conv3x3_*_bf16.cuh) from bf16 GEMM copies of the
// weights; the first (1 -> 64) and last (64 -> 1) layers on the CUDA cores from the fp32 weights
// (kernels/conv3x3_thin_bf16.cuh), the last one with the global residual fused.
//
// wg = the GEMM copies of `layers` consecutive K x C layers (kernels/conv3x3_gemm_weights.cuh;
// flip: the backward-data copy).
void conv3x3_weights_bf16(Device d, const float* wt, int layers, int K, int C, bool flip, Bf16* wg);
void conv3x3_fwd_bf16(Device d, const ConvShape& s, const Bf16* x, const Bf16* wg, const float* b,
                      bool relu, Bf16* y);
void conv3x3_bwd_data_bf16(Device d, const ConvShape& s, const Bf16* dy, const Bf16* wg_flip,
                           const Bf16* relu_src, Bf16* dx);
void conv3x3_bwd_weight_bf16(Device d, const ConvShape& s, const Bf16* x, const Bf16* dy, float* dw,
                             float* db);
// s.C == 1: fp32 image in, bf16 map out; its weight gradient (the input needs no gradient).
void conv3x3_first_fwd_bf16(Device d, const ConvShape& s, const float* x, const float* wt,
                            const float* b, bool relu, Bf16* y);
void conv3x3_first_bwd_weight_bf16(Device d, const ConvShape& s, const float* x, const Bf16* dy,
                                   float* dw, float* db);
// s.K == 1: y = skip + b + conv(x) (skip may be null); backward-data with the ReLU mask of the
// layer below; the weight gradient.
void conv3x3_last_fwd_bf16(Device d, const ConvShape& s, const Bf16* x, const float* wt,
                           const float* b, const float* skip, float* y);
void conv3x3_last_bwd_data_bf16(Device d, const ConvShape& s, const float* dy, const float* wt,
                                const Bf16* relu_src, Bf16* dx);
void conv3x3_last_bwd_weight_bf16(Device d, const ConvShape& s, const Bf16* x, const float* dy,
                                  float* dw, float* db);

// The tf32 mode (the same devices and channel count): fp32 feature maps and weights as in fp32,
// but the hidden 64 -> 64 layers run on the tensor cores in tf32 (kernels/conv3x3_tf32.cuh:
// operands rounded to a 10-bit mantissa, fp32 accumulation) from tf32-rounded GEMM copies of the
// weights (same layouts as bf16's). The first and last layers stay on the fp32 kernels above.
void conv3x3_weights_tf32(Device d, const float* wt, int layers, int K, int C, bool flip,
                          float* wg);
void conv3x3_fwd_tf32(Device d, const ConvShape& s, const float* x, const float* wg, const float* b,
                      bool relu, float* y);
void conv3x3_bwd_data_tf32(Device d, const ConvShape& s, const float* dy, const float* wg_flip,
                           const float* relu_src, float* dx);
void conv3x3_bwd_weight_tf32(Device d, const ConvShape& s, const float* x, const float* dy,
                             float* dw, float* db);

}  // namespace vdsr::ops
