// CUDA launcher of the bf16 tensor-core 3x3 convolution backward-weight and bias, 64 -> 64
// (math: kernels/conv3x3_bwd_weight.h; kernels: conv3x3_mma.cuh, conv3x3_wgmma_sm90a.cu). bf16
// activations and gradients in, fp32 dw (OIHW, the master layout) and db out. The reduction over
// N*H*W is split into chunks whose sums (in `device`'s workspace) a second kernel adds in a fixed
// order, so results are bit-identical run to run. Device pointers; queued on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_bwd_weight_bf16_cuda(const ConvShape& s,
                                  const __nv_bfloat16* x,   // [N][H][W][64]
                                  const __nv_bfloat16* dy,  // [N][H][W][64]
                                  float* dw,                // [64][64][3][3]
                                  float* db,                // [64] or nullptr
                                  cudaStream_t stream, int device,
                                  int variant);  // kernels/conv3x3_bf16_variants.cuh

}  // namespace vdsr
