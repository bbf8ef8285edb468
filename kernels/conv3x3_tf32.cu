// The tf32 tensor-core convolutions: which forward / backward-data slice width runs, and the
// weight gradient (see the header).
#include "kernels/conv3x3_tf32.cuh"

#include "engine/error.h"
#include "kernels/conv3x3_mma.cuh"
#include "kernels/kernel_launch.cuh"

namespace vdsr {

namespace {

constexpr int kTf32ConvVariants = 3;

// A slice's shared memory at shape s, with the tiles it would launch with (mma::conv_tiles:
// compact ones where full rows do not fit).
size_t smem_of(int variant, const ConvShape& s) {
  using mma::Tf32Math;
  switch (variant) {
    case 0:
      return mma::conv_smem_bytes<Tf32Math, 64>(mma::conv_tiles<Tf32Math, 64>(s));
    case 1:
      return mma::conv_smem_bytes<Tf32Math, 32>(mma::conv_tiles<Tf32Math, 32>(s));
    default:
      return mma::conv_smem_bytes<Tf32Math, 16>(mma::conv_tiles<Tf32Math, 16>(s));
  }
}

const char* conv3x3_tf32_variant_name(int variant) {
  switch (variant) {
    case 0:
      return "mma.sync-co64";
    case 1:
      return "mma.sync-co32";
    case 2:
      return "mma.sync-co16";
    default:
      return "?";
  }
}

}  // namespace

bool conv3x3_tf32_variant_usable(int variant, const ConvShape& s) {
  if (variant < 0 || variant >= kTf32ConvVariants || current_device_cc() < 80) return false;
  return smem_of(variant, s) <= max_dynamic_smem();
}

bool conv3x3_bwd_weight_tf32_usable(const ConvShape& s) {
  if (current_device_cc() < 80) return false;
  return mma::wgrad_smem_bytes<mma::Tf32Math>(mma::wgrad_tiles<mma::Tf32Math>(s)) <= max_dynamic_smem();
}

void require_tf32_tensor_cores(const char* who) {
  const int cc = current_device_cc();
  VDSR_CHECK(cc >= 80, who << ": tf32 tensor cores need a GPU of compute capability 8.0 or later "
                              "(this one is "
                           << cc / 10 << "." << cc % 10 << ")");
}

namespace {

// The forward (bias, relu) and backward-data (mask) of the launchers below.
void launch(int variant, const ConvShape& s, const float* x, const float* wg, const float* bias,
            const float* mask, bool relu, float* y, cudaStream_t stream, const char* who) {
  mma::check_conv_args(s, x, wg, y, who);
  require_tf32_tensor_cores(who);
  VDSR_CHECK(variant >= 0 && variant < kTf32ConvVariants,
             who << ": no tf32 variant " << variant << " (there are " << kTf32ConvVariants << ")");
  VDSR_CHECK(conv3x3_tf32_variant_usable(variant, s),
             who << ": the " << conv3x3_tf32_variant_name(variant) << " variant is not usable on this device for "
                 << s.H << " x " << s.W << " images (it needs " << smem_of(variant, s)
                 << " bytes of shared memory per CTA; this GPU grants " << max_dynamic_smem() << ")");
  switch (variant) {
    case 0:
      return mma::launch_conv<mma::Tf32Math, 64>(s, x, wg, bias, mask, relu, y, stream, who);
    case 1:
      return mma::launch_conv<mma::Tf32Math, 32>(s, x, wg, bias, mask, relu, y, stream, who);
    default:
      return mma::launch_conv<mma::Tf32Math, 16>(s, x, wg, bias, mask, relu, y, stream, who);
  }
}

}  // namespace

void conv3x3_fwd_tf32_cuda(const ConvShape& s, const float* x, const float* wg, const float* b,
                           bool relu, float* y, cudaStream_t stream, int variant) {
  launch(variant, s, x, wg, b, nullptr, relu, y, stream, "conv3x3_fwd_tf32_cuda");
}

void conv3x3_bwd_data_tf32_cuda(const ConvShape& s, const float* dy, const float* wg_flip,
                                const float* relu_src, float* dx, cudaStream_t stream,
                                int variant) {
  launch(variant, s, dy, wg_flip, nullptr, relu_src, false, dx, stream,
         "conv3x3_bwd_data_tf32_cuda");
}

void conv3x3_bwd_weight_tf32_cuda(const ConvShape& s, const float* x, const float* dy, float* dw,
                                  float* db, cudaStream_t stream, int device) {
  const char* who = "conv3x3_bwd_weight_tf32_cuda";
  mma::check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr, who << ": null pointer");
  require_tf32_tensor_cores(who);
  mma::run_wgrad<mma::Tf32Math, mma::WgradTf32>(s, x, dy, dw, db, stream, device, who);
}

}  // namespace vdsr
