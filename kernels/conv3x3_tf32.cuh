// CUDA launchers of the tf32 tensor-core 3x3 convolutions, 64 -> 64 channels (the --precision
// tf32 mode's hidden layers; math: kernels/conv_fwd.h, conv3x3_bwd_data.h,
// conv3x3_bwd_weight.h). fp32 NHWC activations and fp32 weights, rounded to tf32 (10-bit mantissa)
// as they enter the tensor cores (mma.sync.m16n8k8, kernels/conv3x3_mma.cuh with Tf32Math), fp32
// accumulation and fp32 results. Compute 8.0 and later. Device pointers; queued on `stream`.
//
// The forward and backward-data are one kernel, as in bf16: the forward reads the GEMM copy
// conv3x3_weights_tf32_cuda(flip = false) makes, with bias and ReLU in the epilogue; the
// backward-data the flip = true copy, with the ReLU mask of the layer below.
// The weights stay resident in shared memory as in the bf16 kernel, but fp32 takes twice the room
// (145 KB for all 64 output channels), so the variants differ in how many output channels one CTA
// computes, blockIdx.y picking the slice:
//   0 "mma.sync-co64": all 64 (Hopper-class shared memory, 227 KB);
//   1 "mma.sync-co32": 32 (A100's 163 KB);
//   2 "mma.sync-co16": 16 (the 99 KB of compute 8.6 / 8.9 parts, for most shapes).
// Smaller slices stage each input tile once per slice. The registry (kernels/conv_variants.cuh)
// names them and picks the widest slice that fits the shape on the device.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

// Whether the current device has tf32 tensor cores and enough shared memory per CTA for the
// variant on shape s.
bool conv3x3_tf32_variant_usable(int variant, const ConvShape& s);

// An Error naming `who` unless the current device has tf32 tensor cores (compute 8.0 or later).
void require_tf32_tensor_cores(const char* who);

// variant: 0, 1 or 2 (see above); an Error when it is out of range or not usable on this device
// for this shape.
void conv3x3_fwd_tf32_cuda(const ConvShape& s,
                           const float* x,   // [N][H][W][64]
                           const float* wg,  // [64 k][9][64 c], tf32-rounded
                           const float* b,   // [64] or nullptr
                           bool relu,
                           float* y,  // [N][H][W][64]
                           cudaStream_t stream, int variant);
void conv3x3_bwd_data_tf32_cuda(const ConvShape& s,
                                const float* dy,        // [N][H][W][64]
                                const float* wg_flip,   // [64 c][9][64 k], tf32-rounded
                                const float* relu_src,  // [N][H][W][64] or nullptr
                                float* dx,              // [N][H][W][64]
                                cudaStream_t stream, int variant);

// Whether the current device has tf32 tensor cores and enough shared memory per CTA for the weight
// gradient on shape s (compute 8.6 / 8.9 parts grant 99 KB: not enough for images 55 to 64 pixels
// wide and at least 2 high, among others).
bool conv3x3_bwd_weight_tf32_usable(const ConvShape& s);

// The weight gradient: the bf16 kernel's split reduction (chunks x 3 tap rows of CTAs, then the
// ordered finish, so results are bit-identical run to run) with both operands read one word per
// register and rounded to tf32; db sums the unrounded dy. One variant.
void conv3x3_bwd_weight_tf32_cuda(const ConvShape& s,
                                  const float* x,   // [N][H][W][64]
                                  const float* dy,  // [N][H][W][64]
                                  float* dw,        // [64][64][3][3]
                                  float* db,        // [64] or nullptr
                                  cudaStream_t stream, int device);

}  // namespace vdsr
