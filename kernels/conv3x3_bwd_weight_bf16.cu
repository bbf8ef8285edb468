// bf16 tensor-core 3x3 convolution backward-weight, 64 -> 64: chunks of tiles x 3 tap rows of
// CTAs (conv3x3_mma.cuh's wgrad_kernel), then the ordered finish.
#include "kernels/conv3x3_bwd_weight_bf16.cuh"

#include <algorithm>

#include "engine/cuda_context.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv3x3_mma.cuh"
#include "kernels/kernel_launch.cuh"

namespace vdsr {

void conv3x3_bwd_weight_bf16_cuda(const ConvShape& s, const __nv_bfloat16* x,
                                  const __nv_bfloat16* dy, float* dw, float* db,
                                  cudaStream_t stream, int device) {
  const char* who = "conv3x3_bwd_weight_bf16_cuda";
  mma::check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr, who << ": null pointer");
  mma::WGrad g{};
  g.t = mma::make_tiles(int(s.H), int(s.W));
  const size_t smem = mma::wgrad_smem_bytes(g.t);
  require_bf16_tensor_cores(who);
  const int sms = grant_dynamic_smem(reinterpret_cast<const void*>(mma::wgrad_kernel), smem, who);
  g.tiles = int(s.N * g.t.per_image);
  // About one chunk per multiprocessor (3 CTAs each with the 3 tap rows): enough CTAs to fill
  // the GPU, few enough partial sums to add.
  g.tiles_per_chunk = std::max(1, (g.tiles + sms - 1) / sms);
  const int chunks = (g.tiles + g.tiles_per_chunk - 1) / g.tiles_per_chunk;
  const size_t part = size_t(chunks) * 3 * mma::kC * mma::kWgN, part_b = size_t(chunks) * mma::kC;
  float* ws = static_cast<float*>(cuda_workspace(device, (part + part_b) * sizeof(float)));
  g.x = x;
  g.dy = dy;
  g.part = ws;
  g.part_b = ws + part;
  mma::wgrad_kernel<<<dim3(unsigned(chunks), 3), mma::kWgThreads, smem, stream>>>(g);
  VDSR_CUDA_CHECK(cudaGetLastError());
  const int total = mma::kC * mma::kC * mma::kTaps + mma::kC;
  mma::wgrad_finish_kernel<<<(total + 255) / 256, 256, 0, stream>>>(chunks, g.part, g.part_b, dw,
                                                                    db);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vdsr
