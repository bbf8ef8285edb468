// CUDA launcher of the 3x3 convolution backward-data with the ReLU mask fused (math and shapes:
// kernels/conv3x3_bwd_data.h). Device pointers; queued on `stream`; variants as the forward's
// (kernels/conv3x3_fwd.cuh; the registry kernels/conv_variants.cuh names them).
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_bwd_data_cuda(const ConvShape& s, const float* dy, const float* wt,
                           const float* relu_src, float* dx, cudaStream_t stream, int variant);

}  // namespace vdsr
