// The GEMM copies of the fp32 master weights that the tensor-core 64 -> 64 convolutions read
// (kernels/conv3x3_mma.cuh, conv3x3_wgmma_sm90a.cu), remade from the master weights at every
// forward:
//   flip = false (forward):       wg[k][tap][c] = wt[k][c][tap]
//   flip = true  (backward-data): wg[c][tap][k] = wt[k][c][8 - tap]
// for `layers` consecutive layers of the same shape (wt [layers][K][C][3][3] -> wg [layers][...]),
// so one launch converts every hidden layer of the model. bf16: rounded to nearest even; tf32:
// fp32 words rounded to tf32 (10-bit mantissa, nearest, ties away from zero: cvt.rna), the form
// the tf32 tensor cores take. Device pointers; queued on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace vdsr {

void conv3x3_weights_bf16_cuda(const float* wt,  // [K][C][3][3]
                               int K, int C, bool flip,
                               __nv_bfloat16* wg,  // [K][9][C], or [C][9][K] with flip
                               cudaStream_t stream, int layers = 1);
void conv3x3_weights_tf32_cuda(const float* wt, int K, int C, bool flip, float* wg,
                               cudaStream_t stream, int layers = 1);

}  // namespace vdsr
