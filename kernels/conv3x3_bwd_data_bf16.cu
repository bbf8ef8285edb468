// bf16 tensor-core 3x3 convolution backward-data, 64 -> 64: the forward's implicit GEMM over the
// flipped, transposed weights with the ReLU mask of the layer below in the epilogue.
#include "kernels/conv3x3_bwd_data_bf16.cuh"

#include "kernels/conv3x3_bf16_variants.cuh"

namespace vdsr {

void conv3x3_bwd_data_bf16_cuda(const ConvShape& s, const __nv_bfloat16* dy,
                                const __nv_bfloat16* wg_flip, const __nv_bfloat16* relu_src,
                                __nv_bfloat16* dx, cudaStream_t stream, int variant,
                                bool weights_ready) {
  conv3x3_bf16_launch(variant, s, dy, wg_flip, nullptr, relu_src, false, dx, weights_ready, stream,
                      "conv3x3_bwd_data_bf16_cuda");
}

}  // namespace vdsr
