// CUDA launcher of the 3x3 convolution forward (math and shapes: kernels/conv_fwd.h). All
// pointers are device memory; the launch is queued on `stream`. Variants live side by side:
// variant 0 is the simplest correct kernel; the default (-1) is the fastest verified one.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

void conv3x3_fwd_cuda(const ConvShape& s, const float* x, const float* wt, const float* b,
                      bool relu, float* y, cudaStream_t stream, int variant = -1);
int conv3x3_fwd_cuda_variants();                 // number of variants
const char* conv3x3_fwd_cuda_variant_name(int);  // e.g. "0:direct", "1:tiled-64x64"

}  // namespace vdsr
