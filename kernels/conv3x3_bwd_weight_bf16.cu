// bf16 tensor-core 3x3 convolution backward-weight, 64 -> 64: partial sums per chunk of tiles
// (conv3x3_mma.cuh's wgrad_kernel: chunks x 3 tap rows of CTAs; or, on Hopper,
// conv3x3_wgmma_sm90a.cu's: one CTA of three warpgroups per chunk), then the ordered finish.
#include "kernels/conv3x3_bwd_weight_bf16.cuh"

#include "engine/cuda_context.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv3x3_mma.cuh"
#ifdef VDSR_HAVE_WGMMA
#include "kernels/conv3x3_wgmma.cuh"
#endif

namespace vdsr {

void conv3x3_bwd_weight_bf16_cuda(const ConvShape& s, const __nv_bfloat16* x,
                                  const __nv_bfloat16* dy, float* dw, float* db,
                                  cudaStream_t stream, int device, int variant) {
  const char* who = "conv3x3_bwd_weight_bf16_cuda";
  mma::check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr, who << ": null pointer");
  require_bf16_tensor_cores(who);
  VDSR_CHECK(variant >= 0 && variant <= 4, who << ": no bf16 weight-gradient variant " << variant);
  VDSR_CHECK(conv3x3_bf16_wgrad_variant_usable(variant, s),
             who << ": the " << (variant == 0 ? "mma.sync" : "wgmma") << " variant " << variant
                 << " is not usable on this device or in this build");
#ifdef VDSR_HAVE_WGMMA
  if (variant >= 1) {
    const int cluster = 1 << (variant - 1);  // 1, 2, 4, 8 CTAs per thread block cluster
    const wgmma::WgradChunks c = wgmma::wgrad_chunks(s, cluster, who);
    const size_t part = size_t(c.chunks) * 3 * mma::kC * mma::kWgN;
    float* ws = static_cast<float*>(
        cuda_workspace(device, (part + size_t(c.chunks) * mma::kC) * sizeof(float)));
    wgmma::launch_wgrad(s, cluster, x, dy, ws, ws + part, stream, who);
    mma::launch_wgrad_finish(c.chunks, ws, ws + part, dw, db, stream);
    return;
  }
#endif
  mma::run_wgrad<mma::Bf16Math, mma::WgradBf16>(s, x, dy, dw, db, stream, device, who);
}

}  // namespace vdsr
