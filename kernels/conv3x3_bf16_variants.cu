// Which bf16 64 -> 64 forward / backward-data implementation runs (see the header).
#include "kernels/conv3x3_bf16_variants.cuh"

#include <string>

#include "engine/error.h"
#include "kernels/conv3x3_mma.cuh"
#include "kernels/kernel_launch.cuh"
#ifdef VDSR_HAVE_WGMMA
#include "kernels/conv3x3_wgmma.cuh"
#endif

namespace vdsr {

namespace {

constexpr int kBf16ConvVariants = 6;

const char* conv3x3_bf16_variant_name(int variant) {
  switch (variant) {
    case 0:
      return "mma.sync";
    case 1:
      return "wgmma-1wg";
    case 2:
      return "wgmma-2wg";
    case 3:
      return "wgmma-3wg";
    case 4:
      return "wgmma-3wg-maskpf";
    case 5:
      return "mma.sync-co32";
    default:
      return "?";
  }
}

bool is_mma_sync(int variant) { return variant == 0 || variant == 5; }

// The shared memory of an mma.sync variant's CTA at shape s: all 64 output channels' weights, or
// a slice of 32, plus the staged tile.
size_t mma_sync_smem(int variant, const ConvShape& s) {
  using mma::Bf16Math;
  return variant == 0 ? mma::conv_smem_bytes<Bf16Math, 64>(mma::conv_tiles<Bf16Math, 64>(s))
                      : mma::conv_smem_bytes<Bf16Math, 32>(mma::conv_tiles<Bf16Math, 32>(s));
}

// What an unusable mma.sync variant lacks at shape s ("" for the wgmma ones, which need sm_90a).
std::string smem_note(int variant, const ConvShape& s) {
  if (!is_mma_sync(variant)) return "";
  return " for " + std::to_string(s.H) + " x " + std::to_string(s.W) + " images (it needs " +
         std::to_string(mma_sync_smem(variant, s)) + " bytes of shared memory per CTA; this GPU grants " +
         std::to_string(max_dynamic_smem()) + ")";
}

// The wgmma kernels are compiled for sm_90a, whose code runs on compute 9.0 devices only.
bool wgmma_here() {
#ifdef VDSR_HAVE_WGMMA
  return current_device_cc() == 90;
#else
  return false;
#endif
}

}  // namespace

bool conv3x3_bf16_variant_usable(int variant, const ConvShape& s) {
  if (variant < 0 || variant >= kBf16ConvVariants) return false;
  if (!is_mma_sync(variant)) {
#ifdef VDSR_HAVE_WGMMA
    if (!wgmma_here()) return false;
    // variant v <= 3 runs v warpgroups per CTA; 4 is 3 with the mask prefetch. A shape past the
    // kernels' 32-bit indexing (2^31 pixels) is not offered, so mma.sync takes it.
    try {
      return wgmma::conv_smem_bytes(variant == 4 ? 3 : variant, s) <= max_dynamic_smem();
    } catch (const Error&) {
      return false;
    }
#else
    return false;
#endif
  }
  return current_device_cc() >= 80 && mma_sync_smem(variant, s) <= max_dynamic_smem();
}

bool conv3x3_bf16_wgrad_variant_usable(int variant, const ConvShape& s) {
  if (variant < 0 || variant > 4) return false;
  if (variant == 0)
    return current_device_cc() >= 80 &&
           mma::wgrad_smem_bytes<mma::Bf16Math>(mma::wgrad_tiles<mma::Bf16Math>(s)) <= max_dynamic_smem();
  if (!wgmma_here()) return false;
#ifdef VDSR_HAVE_WGMMA
  try {
    if (variant >= 2) return wgmma::wgrad_cluster_fits(s, 1 << (variant - 1));
    return wgmma::wgrad_smem_bytes(s, 1) <= max_dynamic_smem();
  } catch (const Error&) {  // past the kernels' 32-bit indexing: mma.sync takes it
    return false;
  }
#else
  return false;
#endif
}

void require_bf16_tensor_cores(const char* who) {
  const int cc = current_device_cc();
  VDSR_CHECK(cc >= 80, who << ": bf16 tensor cores need a GPU of compute capability 8.0 or later "
                              "(this one is "
                           << cc / 10 << "." << cc % 10 << ")");
}

void conv3x3_bf16_launch(int variant, const ConvShape& s, const __nv_bfloat16* x,
                         const __nv_bfloat16* wg, const float* bias, const __nv_bfloat16* mask,
                         bool relu, __nv_bfloat16* y, bool weights_ready, cudaStream_t stream,
                         const char* who) {
  mma::check_conv_args(s, x, wg, y, who);
  require_bf16_tensor_cores(who);
  VDSR_CHECK(variant >= 0 && variant < kBf16ConvVariants,
             who << ": no bf16 variant " << variant << " (there are " << kBf16ConvVariants << ")");
  VDSR_CHECK(conv3x3_bf16_variant_usable(variant, s),
             who << ": the " << conv3x3_bf16_variant_name(variant)
                 << " variant is not usable on this device or in this build" << smem_note(variant, s));
  if (is_mma_sync(variant)) {
    (void)weights_ready;  // mma.sync is launched plainly (no programmatic dependent launch)
    if (variant == 0)
      mma::launch_conv<mma::Bf16Math, 64>(s, x, wg, bias, mask, relu, y, stream, who);
    else
      mma::launch_conv<mma::Bf16Math, 32>(s, x, wg, bias, mask, relu, y, stream, who);
    return;
  }
#ifdef VDSR_HAVE_WGMMA
  // variant v <= 3 runs v warpgroups per CTA; 4 is 3 with the mask prefetch
  wgmma::launch_conv(variant == 4 ? 3 : variant, variant == 4, s, x, wg, bias, mask, relu, y, weights_ready, stream,
                     who);
#endif
}

bool conv3x3_bf16_probes_usable() { return wgmma_here(); }

namespace {

void require_probes(const char* who) {
  VDSR_CHECK(conv3x3_bf16_probes_usable(), who << ": the wgmma kernels are not usable on this device or in this build");
}

}  // namespace

void conv3x3_bf16_probe_conv(int probe, const ConvShape& s, const __nv_bfloat16* x,
                             const __nv_bfloat16* wg, const float* bias, const __nv_bfloat16* mask,
                             bool relu, __nv_bfloat16* y, cudaStream_t stream) {
  const char* who = "conv3x3_bf16_probe_conv";
  mma::check_conv_args(s, x, wg, y, who);
  require_probes(who);
#ifdef VDSR_HAVE_WGMMA
  wgmma::launch_conv_probe(probe, s, x, wg, bias, mask, relu, y, stream);
#else
  (void)probe, (void)bias, (void)mask, (void)relu, (void)stream;
#endif
}

int conv3x3_bf16_probe_wgrad_chunks(const ConvShape& s) {
  const char* who = "conv3x3_bf16_probe_wgrad_chunks";
  mma::check_mma_shape(s, who);
  require_probes(who);
#ifdef VDSR_HAVE_WGMMA
  return wgmma::wgrad_chunks(s, 1, who).chunks;
#else
  return 0;
#endif
}

void conv3x3_bf16_probe_wgrad(int probe, const ConvShape& s, const __nv_bfloat16* x,
                              const __nv_bfloat16* dy, float* part, float* part_b, cudaStream_t stream) {
  const char* who = "conv3x3_bf16_probe_wgrad";
  mma::check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && dy != nullptr && part != nullptr && part_b != nullptr, who << ": null pointer");
  require_probes(who);
#ifdef VDSR_HAVE_WGMMA
  wgmma::launch_wgrad_probe(probe, s, x, dy, part, part_b, stream);
#else
  (void)probe, (void)stream;
#endif
}

}  // namespace vdsr
