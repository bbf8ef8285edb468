// CUDA launcher of the general convolution forward: any odd kernel size R, zero or replicate
// padding, fp32 (math and shapes: kernels/conv_fwd.h). The plain, correct kernel for the shapes the
// tuned 3x3 kernels do not take (SRCNN's 9x9, 5x5 and 1x1 layers); speed is not its point. All
// pointers are device memory; the launch is queued on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv_fwd_general_cuda(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                           float* y, cudaStream_t stream);

}  // namespace vdsr
