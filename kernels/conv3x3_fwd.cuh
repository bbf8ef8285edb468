// CUDA launcher of the 3x3 convolution forward (math and shapes: kernels/conv_fwd.h). All
// pointers are device memory; the launch is queued on `stream`. Variants live side by side:
// 0 the direct kernel, 1..3 the implicit GEMM with 128-, 64- and 256-pixel tiles; the registry
// (kernels/conv_variants.cuh) names them and picks the default.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_fwd_cuda(const ConvShape& s, const float* x, const float* wt, const float* b,
                      bool relu, float* y, cudaStream_t stream, int variant);

}  // namespace vdsr
