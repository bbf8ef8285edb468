// CUDA launchers of VDSR's two thin layers in the bf16 mode: the first (1 -> 64 channels) and the
// last (64 -> 1, with the global residual fused). Math: kernels/conv_fwd.h, conv3x3_bwd_data.h,
// conv3x3_bwd_weight.h with C = 1 or K = 1. Each is 1/64 of a hidden layer's work and has one
// channel on one side, too thin for a tensor-core GEMM tile, so they run on the CUDA cores in fp32:
// the one-channel side (the image, the residual, their gradients) stays fp32, the 64-channel side
// is the bf16 NHWC map the tensor-core layers read and write, and the weights are the fp32 master
// copy (OIHW). Device pointers; queued on `stream`.
//
// The forward and backward-data ops have two variants (the registry's rows "thin-pixels" and
// "thin-columns", kernels/conv_variants.cu): 0, 8 threads per pixel over the flattened pixels; 1,
// CTAs of 16 columns x 32 rows, each thread walking down a column with its weights in registers.
// They give bit-identical results. The weight gradients have one kernel.
//
// The weight gradients are split reductions over the pixels: each chunk of pixels sums its part
// in fp32, a second kernel adds the chunks in a fixed order in double. The chunking depends on the
// pixel count only, so results are bit-identical run to run and device to device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

// First layer forward, s.C == 1, s.K == 64: y = act(b + conv(x, wt)).
void conv3x3_first_fwd_bf16_cuda(const ConvShape& s,
                                 const float* x,    // [N][H][W]
                                 const float* wt,   // [64][1][3][3]
                                 const float* b,    // [64] or nullptr
                                 bool relu,
                                 __nv_bfloat16* y,  // [N][H][W][64]
                                 cudaStream_t stream, int variant);

// First layer weight gradient, s.C == 1, s.K == 64 (no backward-data: the input needs none).
void conv3x3_first_bwd_weight_bf16_cuda(const ConvShape& s,
                                        const float* x,            // [N][H][W]
                                        const __nv_bfloat16* dy,   // [N][H][W][64]
                                        float* dw,                 // [64][1][3][3]
                                        float* db,                 // [64] or nullptr
                                        cudaStream_t stream, int device);

// Last layer forward with the global residual, s.C == 64, s.K == 1:
// y = skip + (b + conv(x, wt)), or without skip when it is nullptr.
void conv3x3_last_fwd_bf16_cuda(const ConvShape& s,
                                const __nv_bfloat16* x,  // [N][H][W][64]
                                const float* wt,         // [1][64][3][3]
                                const float* b,          // [1] or nullptr
                                const float* skip,       // [N][H][W] or nullptr
                                float* y,                // [N][H][W]
                                cudaStream_t stream, int variant);

// Last layer backward-data, s.C == 64, s.K == 1: dx = conv(dy, flipped wt), zero where
// relu_src <= 0 (the ReLU of the layer below), rounded to bf16.
void conv3x3_last_bwd_data_bf16_cuda(const ConvShape& s,
                                     const float* dy,                // [N][H][W]
                                     const float* wt,                // [1][64][3][3]
                                     const __nv_bfloat16* relu_src,  // [N][H][W][64] or nullptr
                                     __nv_bfloat16* dx,              // [N][H][W][64]
                                     cudaStream_t stream, int variant);

// Last layer weight gradient, s.C == 64, s.K == 1.
void conv3x3_last_bwd_weight_bf16_cuda(const ConvShape& s,
                                       const __nv_bfloat16* x,  // [N][H][W][64]
                                       const float* dy,         // [N][H][W]
                                       float* dw,               // [1][64][3][3]
                                       float* db,               // [1] or nullptr
                                       cudaStream_t stream, int device);

}  // namespace vdsr
