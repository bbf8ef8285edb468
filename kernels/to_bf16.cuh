// CUDA conversions of activations fp32 <-> bf16 (round to nearest even). The weights' GEMM copies
// are kernels/conv3x3_gemm_weights.cuh. Device pointers; queued on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace vdsr {

void to_bf16_cuda(const float* x, int64_t n, __nv_bfloat16* y, cudaStream_t stream);
void to_float_cuda(const __nv_bfloat16* x, int64_t n, float* y, cudaStream_t stream);

}  // namespace vdsr
