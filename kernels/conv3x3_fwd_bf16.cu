// bf16 tensor-core 3x3 convolution forward, 64 -> 64: the implicit GEMM of conv3x3_mma.cuh or,
// on Hopper, of conv3x3_wgmma_sm90a.cu, with bias and ReLU in the epilogue.
#include "kernels/conv3x3_fwd_bf16.cuh"

#include "kernels/conv3x3_bf16_variants.cuh"

namespace vdsr {

void conv3x3_fwd_bf16_cuda(const ConvShape& s, const __nv_bfloat16* x, const __nv_bfloat16* wg,
                           const float* b, bool relu, __nv_bfloat16* y, cudaStream_t stream,
                           int variant, bool weights_ready) {
  conv3x3_bf16_launch(variant, s, x, wg, b, nullptr, relu, y, weights_ready, stream,
                      "conv3x3_fwd_bf16_cuda");
}

}  // namespace vdsr
