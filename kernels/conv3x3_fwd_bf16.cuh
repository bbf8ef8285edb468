// CUDA launcher of the bf16 tensor-core 3x3 convolution forward, 64 -> 64 channels (math:
// kernels/conv_fwd.h; kernels: kernels/conv3x3_bf16_variants.cuh). bf16 activations, fp32
// accumulation, fp32 bias; the weights are the bf16 GEMM copy made by conv3x3_weights_bf16_cuda
// (flip = false). Device pointers; queued on `stream`; needs compute capability 8.0 or later.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_fwd_bf16_cuda(const ConvShape& s,
                           const __nv_bfloat16* x,   // [N][H][W][64]
                           const __nv_bfloat16* wg,  // [64 k][9][64 c]
                           const float* b,           // [64] or nullptr
                           bool relu,
                           __nv_bfloat16* y,  // [N][H][W][64]
                           cudaStream_t stream,
                           int variant,  // kernels/conv3x3_bf16_variants.cuh
                           bool weights_ready = false);  // wg predates the kernel ahead (pdl.cuh)

}  // namespace vdsr
