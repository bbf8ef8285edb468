// The rows of the conv kernel registry (kernels/conv_variants.cuh). Each row calls its family's
// launcher with an explicit variant number; the order within a (role, precision) reproduces the
// families' former "-1" choices: fp32 the 128-pixel tiles, bf16 wgmma-3wg where usable else
// mma.sync, tf32 the widest output-channel slice that fits the device's shared memory.
#include "kernels/conv_variants.cuh"

#include <cuda_bf16.h>

#include "engine/cuda_check.h"
#include "engine/device.h"
#include "engine/error.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv3x3_bwd_data.cuh"
#include "kernels/conv3x3_bwd_data_bf16.cuh"
#include "kernels/conv3x3_bwd_weight.cuh"
#include "kernels/conv3x3_bwd_weight_bf16.cuh"
#include "kernels/conv3x3_fwd.cuh"
#include "kernels/conv3x3_fwd_bf16.cuh"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/conv3x3_thin_bf16.cuh"
#include "kernels/conv_fwd_general.cuh"
#include "kernels/kernel_launch.cuh"

namespace vdsr {

namespace {

const float* f32(const void* p) { return static_cast<const float*>(p); }
float* f32(void* p) { return static_cast<float*>(p); }
const __nv_bfloat16* bf(const void* p) { return static_cast<const __nv_bfloat16*>(p); }
__nv_bfloat16* bf(void* p) { return static_cast<__nv_bfloat16*>(p); }

// The families' usability checks look at the current device; make `device` current for them.
struct CurrentDevice {
  int saved = -1;
  explicit CurrentDevice(int device) {
    VDSR_CUDA_CHECK(cudaGetDevice(&saved));
    make_current(Device::cuda(device));
  }
  ~CurrentDevice() {
    if (saved >= 0) cudaSetDevice(saved);
  }
};

bool is_64x64(const ConvShape& s) { return s.is_3x3_zero() && s.C == 64 && s.K == 64; }

// fp32: the 3x3 zero-padded kernels for any C, K (variant v of conv3x3_tiles.cuh's family), and
// the general kernel for every other kernel size or padding.
template <int V>
bool fp32_3x3_usable(const ConvShape& s, int) { return s.is_3x3_zero(); }
bool general_usable(const ConvShape&, int) { return true; }
template <int V>
void fp32_fwd(const ConvLaunch& a) { conv3x3_fwd_cuda(a.s, f32(a.x), f32(a.wt), a.b, a.relu, f32(a.y), a.stream, V); }
void general_fwd(const ConvLaunch& a) { conv_fwd_general_cuda(a.s, f32(a.x), f32(a.wt), a.b, a.relu, f32(a.y), a.stream); }
template <int V>
void fp32_bwd_data(const ConvLaunch& a) {
  conv3x3_bwd_data_cuda(a.s, f32(a.dy), f32(a.wt), f32(a.relu_src), f32(a.y), a.stream, V);
}
template <int V>
void fp32_bwd_weight(const ConvLaunch& a) {
  conv3x3_bwd_weight_cuda(a.s, f32(a.x), f32(a.dy), a.dw, a.db, a.stream, a.device, V);
}

// bf16, 64 -> 64: V = 3, 2, 1 the wgmma kernels with V warpgroups, 4 wgmma-3wg with the mask
// prefetch, 0 mma.sync, 5 mma.sync in slices of 32 output channels.
template <int V>
bool bf16_usable(const ConvShape& s, int device) {
  CurrentDevice d(device);
  return is_64x64(s) && conv3x3_bf16_variant_usable(V, s);
}
template <int V>
bool bf16_wgrad_usable(const ConvShape& s, int device) {
  CurrentDevice d(device);
  return is_64x64(s) && conv3x3_bf16_wgrad_variant_usable(V, s);
}
template <int V>
void bf16_fwd(const ConvLaunch& a) {
  conv3x3_fwd_bf16_cuda(a.s, bf(a.x), bf(a.wt), a.b, a.relu, bf(a.y), a.stream, V, a.weights_ready);
}
template <int V>
void bf16_bwd_data(const ConvLaunch& a) {
  conv3x3_bwd_data_bf16_cuda(a.s, bf(a.dy), bf(a.wt), bf(a.relu_src), bf(a.y), a.stream, V, a.weights_ready);
}
template <int V>
void bf16_bwd_weight(const ConvLaunch& a) {
  conv3x3_bwd_weight_bf16_cuda(a.s, bf(a.x), bf(a.dy), a.dw, a.db, a.stream, a.device, V);
}

// tf32, 64 -> 64: V = the output-channel slice (0: 64, 1: 32, 2: 16 per CTA).
template <int V>
bool tf32_usable(const ConvShape& s, int device) {
  CurrentDevice d(device);
  return is_64x64(s) && conv3x3_tf32_variant_usable(V, s);
}
bool tf32_wgrad_usable(const ConvShape& s, int device) {
  CurrentDevice d(device);
  return is_64x64(s) && conv3x3_bwd_weight_tf32_usable(s);
}
template <int V>
void tf32_fwd(const ConvLaunch& a) { conv3x3_fwd_tf32_cuda(a.s, f32(a.x), f32(a.wt), a.b, a.relu, f32(a.y), a.stream, V); }
template <int V>
void tf32_bwd_data(const ConvLaunch& a) {
  conv3x3_bwd_data_tf32_cuda(a.s, f32(a.dy), f32(a.wt), f32(a.relu_src), f32(a.y), a.stream, V);
}
void tf32_bwd_weight(const ConvLaunch& a) {
  conv3x3_bwd_weight_tf32_cuda(a.s, f32(a.x), f32(a.dy), a.dw, a.db, a.stream, a.device);
}

// The bf16 mode's thin layers (kernels/conv3x3_thin_bf16.cuh): V = 0 the pixel kernels, 1 the
// column kernels; one weight-gradient kernel. Usable at the first layer's shape (1 -> 64) and the
// last's (64 -> 1; backward-data only there: the first layer's input needs no gradient).
bool is_thin_first(const ConvShape& s) { return s.is_3x3_zero() && s.C == 1 && s.K == 64; }
bool is_thin_last(const ConvShape& s) { return s.is_3x3_zero() && s.C == 64 && s.K == 1; }
bool thin_usable(const ConvShape& s, int device) {
  CurrentDevice d(device);
  return (is_thin_first(s) || is_thin_last(s)) && current_device_cc() >= 80;
}
bool thin_bwd_data_usable(const ConvShape& s, int device) { return is_thin_last(s) && thin_usable(s, device); }
template <int V>
void thin_fwd(const ConvLaunch& a) {
  if (a.s.C == 1)
    conv3x3_first_fwd_bf16_cuda(a.s, f32(a.x), f32(a.wt), a.b, a.relu, bf(a.y), a.stream, V);
  else
    conv3x3_last_fwd_bf16_cuda(a.s, bf(a.x), f32(a.wt), a.b, a.skip, f32(a.y), a.stream, V);
}
template <int V>
void thin_bwd_data(const ConvLaunch& a) {
  conv3x3_last_bwd_data_bf16_cuda(a.s, f32(a.dy), f32(a.wt), bf(a.relu_src), bf(a.y), a.stream, V);
}
void thin_bwd_weight(const ConvLaunch& a) {
  if (a.s.C == 1)
    conv3x3_first_bwd_weight_bf16_cuda(a.s, f32(a.x), bf(a.dy), a.dw, a.db, a.stream, a.device);
  else
    conv3x3_last_bwd_weight_bf16_cuda(a.s, bf(a.x), f32(a.dy), a.dw, a.db, a.stream, a.device);
}

using R = ConvRole;
using P = Precision;

}  // namespace

const char* conv_role_name(ConvRole r) {
  return r == R::Fwd ? "fwd" : r == R::BwdData ? "bwd_data" : "bwd_weight";
}

const std::vector<ConvVariant>& conv_variants() {
  static const std::vector<ConvVariant> rows = {
      {"tiled-128x64", R::Fwd, P::Fp32, fp32_3x3_usable<1>, fp32_fwd<1>},
      {"tiled-64x64", R::Fwd, P::Fp32, fp32_3x3_usable<2>, fp32_fwd<2>},
      {"tiled-256x64", R::Fwd, P::Fp32, fp32_3x3_usable<3>, fp32_fwd<3>},
      {"direct", R::Fwd, P::Fp32, fp32_3x3_usable<0>, fp32_fwd<0>},
      {"general", R::Fwd, P::Fp32, general_usable, general_fwd},
      {"tiled-128x64", R::BwdData, P::Fp32, fp32_3x3_usable<1>, fp32_bwd_data<1>},
      {"tiled-64x64", R::BwdData, P::Fp32, fp32_3x3_usable<2>, fp32_bwd_data<2>},
      {"tiled-256x64", R::BwdData, P::Fp32, fp32_3x3_usable<3>, fp32_bwd_data<3>},
      {"direct", R::BwdData, P::Fp32, fp32_3x3_usable<0>, fp32_bwd_data<0>},
      {"tiled-64x192", R::BwdWeight, P::Fp32, fp32_3x3_usable<1>, fp32_bwd_weight<1>},
      {"direct-chunked", R::BwdWeight, P::Fp32, fp32_3x3_usable<0>, fp32_bwd_weight<0>},
      {"wgmma-3wg", R::Fwd, P::Bf16, bf16_usable<3>, bf16_fwd<3>},
      {"wgmma-2wg", R::Fwd, P::Bf16, bf16_usable<2>, bf16_fwd<2>},
      {"wgmma-1wg", R::Fwd, P::Bf16, bf16_usable<1>, bf16_fwd<1>},
      {"mma.sync", R::Fwd, P::Bf16, bf16_usable<0>, bf16_fwd<0>},
      {"mma.sync-co32", R::Fwd, P::Bf16, bf16_usable<5>, bf16_fwd<5>},
      {"wgmma-3wg", R::BwdData, P::Bf16, bf16_usable<3>, bf16_bwd_data<3>},
      {"wgmma-3wg-maskpf", R::BwdData, P::Bf16, bf16_usable<4>, bf16_bwd_data<4>},
      {"wgmma-2wg", R::BwdData, P::Bf16, bf16_usable<2>, bf16_bwd_data<2>},
      {"wgmma-1wg", R::BwdData, P::Bf16, bf16_usable<1>, bf16_bwd_data<1>},
      {"mma.sync", R::BwdData, P::Bf16, bf16_usable<0>, bf16_bwd_data<0>},
      {"mma.sync-co32", R::BwdData, P::Bf16, bf16_usable<5>, bf16_bwd_data<5>},
      {"wgmma-3wg", R::BwdWeight, P::Bf16, bf16_wgrad_usable<1>, bf16_bwd_weight<1>},
      {"wgmma-3wg-cluster2", R::BwdWeight, P::Bf16, bf16_wgrad_usable<2>, bf16_bwd_weight<2>},
      {"wgmma-3wg-cluster4", R::BwdWeight, P::Bf16, bf16_wgrad_usable<3>, bf16_bwd_weight<3>},
      {"wgmma-3wg-cluster8", R::BwdWeight, P::Bf16, bf16_wgrad_usable<4>, bf16_bwd_weight<4>},
      {"mma.sync", R::BwdWeight, P::Bf16, bf16_wgrad_usable<0>, bf16_bwd_weight<0>},
      {"thin-pixels", R::Fwd, P::Bf16, thin_usable, thin_fwd<0>},
      {"thin-columns", R::Fwd, P::Bf16, thin_usable, thin_fwd<1>},
      {"thin-pixels", R::BwdData, P::Bf16, thin_bwd_data_usable, thin_bwd_data<0>},
      {"thin-columns", R::BwdData, P::Bf16, thin_bwd_data_usable, thin_bwd_data<1>},
      {"thin-chunked", R::BwdWeight, P::Bf16, thin_usable, thin_bwd_weight},
      {"mma.sync-co64", R::Fwd, P::Tf32, tf32_usable<0>, tf32_fwd<0>},
      {"mma.sync-co32", R::Fwd, P::Tf32, tf32_usable<1>, tf32_fwd<1>},
      {"mma.sync-co16", R::Fwd, P::Tf32, tf32_usable<2>, tf32_fwd<2>},
      {"mma.sync-co64", R::BwdData, P::Tf32, tf32_usable<0>, tf32_bwd_data<0>},
      {"mma.sync-co32", R::BwdData, P::Tf32, tf32_usable<1>, tf32_bwd_data<1>},
      {"mma.sync-co16", R::BwdData, P::Tf32, tf32_usable<2>, tf32_bwd_data<2>},
      {"mma.sync", R::BwdWeight, P::Tf32, tf32_wgrad_usable, tf32_bwd_weight},
  };
  return rows;
}

std::vector<const ConvVariant*> usable_conv_variants(ConvRole role, Precision p, const ConvShape& s, int device) {
  std::vector<const ConvVariant*> out;
  for (const ConvVariant& v : conv_variants())
    if (v.role == role && v.precision == p && v.usable(s, device)) out.push_back(&v);
  return out;
}

const ConvVariant& default_conv_variant(ConvRole role, Precision p, const ConvShape& s, int device) {
  for (const ConvVariant& v : conv_variants())
    if (v.role == role && v.precision == p && v.usable(s, device)) return v;
  // tf32's tiles need more shared memory at some shapes than GPUs of compute 8.6 / 8.9 grant
  // (docs/kernels.md): a limit of this device the user can step around, not a fault of ours.
  VDSR_USER_CHECK(p != P::Tf32 || !is_64x64(s),
                  "--precision tf32 has no " << conv_role_name(role) << " kernel for " << s.H << " x " << s.W
                                             << " images on CUDA device " << device
                                             << ": its tiles need more shared memory there than this GPU grants; "
                                                "use --precision bf16 or fp32");
  const char* math = p == P::Fp32 ? "fp32" : p == P::Tf32 ? "tf32" : "bf16";
  VDSR_FAIL("no " << math << " " << conv_role_name(role) << " kernel for " << s.C << " -> " << s.K << " channels, "
                  << s.R << "x" << s.R << " " << s.H << " x " << s.W << " images on CUDA device " << device);
}

const ConvVariant& conv_variant(ConvRole role, Precision p, const std::string& name) {
  for (const ConvVariant& v : conv_variants())
    if (v.role == role && v.precision == p && name == v.name) return v;
  VDSR_FAIL("no " << (p == P::Fp32 ? "fp32" : p == P::Tf32 ? "tf32" : "bf16") << " " << conv_role_name(role)
                  << " kernel named '" << name << "'");
}

void launch_default_conv(ConvRole role, Precision p, const ConvLaunch& a) {
  default_conv_variant(role, p, a.s, a.device).launch(a);
}

}  // namespace vdsr
