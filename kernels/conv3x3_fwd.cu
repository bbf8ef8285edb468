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
  VDSR_CHECK(variant >= 0 && variant < kConvVariants, "conv3x3_fwd_cuda has no variant " << variant);
  VDSR_CHECK(9 * s.C * s.K < (int64_t(1) << 31), "conv3x3_fwd_cuda: too many weights");
  const int64_t group = conv_images_per_launch(s.H, s.W, s.C, s.K);

  const float* B = conv_gemm_weights(wt, s.K, s.C, false, stream);
  for (int64_t n0 = 0; n0 < s.N; n0 += group) {
    const int n = int(std::min(group, s.N - n0));
    const float* xn = x + n0 * s.H * s.W * s.C;
    float* yn = y + n0 * s.H * s.W * s.K;
    const ConvGemm g{n, int(s.H), int(s.W), int(s.C), int(s.K), xn, B, b, nullptr, relu, yn};
    conv_gemm_launch(g, kConvTileOfVariant[variant], stream);
  }
}

}  // namespace vdsr
