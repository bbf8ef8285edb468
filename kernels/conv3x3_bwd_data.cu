// CUDA 3x3 convolution backward-data with the ReLU mask fused (math: kernels/conv3x3_bwd_data.h).
// dx = forward convolution of dy with the weights flipped in space and K, C swapped (rearranged to
// B[tap][k][c] in the workspace), run by conv3x3_tiles.cuh's kernels:
//   0:direct  one thread per dx element, taps then output channels, over B.
//   1:tiled   the implicit GEMM of
//             conv3x3_tiles.cuh (128-pixel tiles; variants 2 and 3: 64 and 256) with the mask
//             (relu_src > 0) in the epilogue; C = 1 uses the 16-lanes-per-pixel kernel, K < 8
//             (the last layer) the small-input kernel, other shapes a direct kernel over B.
#include "kernels/conv3x3_bwd_data.cuh"

#include <algorithm>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_tiles.cuh"

namespace vdsr {


void conv3x3_bwd_data_cuda(const ConvShape& s, const float* dy, const float* wt,
                           const float* relu_src, float* dx, cudaStream_t stream, int variant) {
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0,
             "conv3x3_bwd_data_cuda: bad shape N=" << s.N << " H=" << s.H << " W=" << s.W
                                                   << " C=" << s.C << " K=" << s.K);
  VDSR_CHECK(dy != nullptr && wt != nullptr && dx != nullptr,
             "conv3x3_bwd_data_cuda: null pointer");
  VDSR_CHECK(dx != dy && dx != relu_src, "conv3x3_bwd_data_cuda cannot run in place");
  conv_gemm_run(s, dy, wt, true, nullptr, relu_src, false, dx, stream, variant, "conv3x3_bwd_data_cuda");
}

}  // namespace vdsr
