// CUDA launcher of the bf16 tensor-core 3x3 convolution backward-data with the ReLU mask fused,
// 64 -> 64 channels (math: kernels/conv3x3_bwd_data.h; kernels: kernels/conv3x3_bf16_variants.cuh):
// dx = conv(dy, flipped transposed weights), zero where relu_src <= 0. The weights are the bf16
// GEMM copy made by conv3x3_weights_bf16_cuda with flip = true. Device pointers; on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_bwd_data_bf16_cuda(const ConvShape& s,
                                const __nv_bfloat16* dy,        // [N][H][W][64]
                                const __nv_bfloat16* wg_flip,   // [64 c][9][64 k]
                                const __nv_bfloat16* relu_src,  // [N][H][W][64] or nullptr
                                __nv_bfloat16* dx,              // [N][H][W][64]
                                cudaStream_t stream,
                                int variant,  // kernels/conv3x3_bf16_variants.cuh
                                bool weights_ready = false);  // as conv3x3_fwd_bf16_cuda

}  // namespace vdsr
