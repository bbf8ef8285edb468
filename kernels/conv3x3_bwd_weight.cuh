// CUDA launcher of the 3x3 convolution backward-weight and bias (math and shapes:
// kernels/conv3x3_bwd_weight.h). The reduction over N*H*W is split across the GPU into partials
// (in `workspace`, from engine/cuda_context.h) finished deterministically by a second kernel, with no
// float atomics, so results are bit-identical run to run. Device pointers; queued on `stream`.
// Variants: 0 one thread per weight over its chunk, 1 the 64 x 192 register tiles (the registry,
// kernels/conv_variants.cuh, names them); both add in the same order.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_bwd_weight_cuda(const ConvShape& s, const float* x, const float* dy, float* dw,
                             float* db, cudaStream_t stream, int device, int variant);

}  // namespace vdsr
