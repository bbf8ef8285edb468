// CUDA 3x3 convolution forward (math: kernels/conv_fwd.h).
// The weights are first rearranged to B[tap][c][k] (in the workspace); every variant reads B.
//   0:direct  one thread per output, taps then channels (conv3x3_tiles.cuh's direct kernel).
//   1:tiled   the implicit GEMM of
//             conv3x3_tiles.cuh: 128-pixel x 64-channel tiles (variants 2 and 3: 64 and 256
//             pixels), 8x8 register blocks, bias and ReLU in the epilogue. Shapes the tile
//             cannot take: K = 1 (the last layer) 16 lanes per pixel; C < 8 (the first layer)
//             one thread per pixel x 4 channels; others a direct kernel over B.
#include "kernels/conv3x3_fwd.cuh"

#include <algorithm>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_tiles.cuh"

namespace vdsr {


void conv3x3_fwd_cuda(const ConvShape& s, const float* x, const float* wt, const float* b,
                      bool relu, float* y, cudaStream_t stream, int variant) {
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0,
             "conv3x3_fwd_cuda: bad shape N=" << s.N << " H=" << s.H << " W=" << s.W
                                              << " C=" << s.C << " K=" << s.K);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "conv3x3_fwd_cuda: null pointer");
  VDSR_CHECK(x != y, "conv3x3_fwd_cuda cannot run in place");
  conv_gemm_run(s, x, wt, false, b, nullptr, relu, y, stream, variant, "conv3x3_fwd_cuda");
}

}  // namespace vdsr
