// The one registry of CUDA convolution kernels: every implementation of a conv role in a precision
// is a row {name, role, precision, usable, launch}. For a role, precision and shape the default is
// the first usable row, so the rows of a (role, precision) are listed fastest first; ops.h runs the
// default, vdsr_bench times every usable row and the GPU tests check every usable row. A new kernel
// is a new row here (its launcher stays in its own file).
//
// Operands are typed by the row's precision: fp32 and tf32 rows read and write float maps, bf16
// rows __nv_bfloat16 maps (the weight gradient is fp32 in every precision); `wt` is the fp32 master
// weights [K][C][R][R] for fp32 rows and the GEMM copy for tf32 / bf16 rows (kernels/ops.h,
// conv_weights), flipped for backward-data. The bf16 rows named "thin-*" are the bf16 mode's
// thin layers, usable only at C == 1, K == 64 (the first) or C == 64, K == 1 (the last), on the
// CUDA cores in fp32: there the one-channel side is a float plane (the image, the prediction and
// their gradients: x of the first layer, y and skip of the last, dy of the last) and `wt` is the
// fp32 master weights; the 64-channel side is the bf16 map.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "kernels/conv_shape.h"
#include "kernels/precision.h"

namespace vdsr {

enum class ConvRole { Fwd, BwdData, BwdWeight };

const char* conv_role_name(ConvRole r);  // "fwd", "bwd_data", "bwd_weight"

// One launch's operands; each role reads the fields its comment names.
struct ConvLaunch {
  ConvShape s;
  const void* x = nullptr;         // Fwd, BwdWeight: the input map
  const void* wt = nullptr;        // Fwd, BwdData: the weights (see above)
  const float* b = nullptr;        // Fwd: the bias, or null
  bool relu = false;               // Fwd: ReLU fused
  const float* skip = nullptr;     // Fwd, thin last layer only: the global residual added, or null
  const void* dy = nullptr;        // BwdData, BwdWeight: the output gradient
  const void* relu_src = nullptr;  // BwdData: the ReLU mask's source (its > 0), or null
  void* y = nullptr;               // Fwd: the output; BwdData: dx
  float* dw = nullptr;             // BwdWeight: [K][C][R][R], overwritten
  float* db = nullptr;             // BwdWeight: [K], or null
  cudaStream_t stream = nullptr;
  int device = 0;                  // the CUDA device (current when launched)
  // Fwd, BwdData: wt was written before the kernel ahead of this one in the stream was queued (the
  // model's GEMM copies, made before its first layer), so a kernel may read it before waiting for
  // that kernel under programmatic dependent launch (kernels/pdl.cuh). False is always safe.
  bool weights_ready = false;
};

struct ConvVariant {
  const char* name;  // unique within its role and precision, e.g. "tiled-128x64", "wgmma-3wg"
  ConvRole role;
  Precision precision;
  // Whether this build has the kernel and `device` can run it at shape s.
  bool (*usable)(const ConvShape& s, int device);
  void (*launch)(const ConvLaunch& a);
};

// One launch's operands per role, for callers holding raw pointers (benches, tests).
// (Aggregate order: s, x, wt, b, relu, skip, dy, relu_src, y, dw, db, stream, device.)
inline ConvLaunch fwd_launch(const ConvShape& s, const void* x, const void* wt, const float* b, bool relu, void* y,
                             cudaStream_t stream, int device) {
  return {s, x, wt, b, relu, nullptr, nullptr, nullptr, y, nullptr, nullptr, stream, device};
}
inline ConvLaunch bwd_data_launch(const ConvShape& s, const void* dy, const void* wt, const void* relu_src, void* dx,
                                  cudaStream_t stream, int device) {
  return {s, nullptr, wt, nullptr, false, nullptr, dy, relu_src, dx, nullptr, nullptr, stream, device};
}
inline ConvLaunch bwd_weight_launch(const ConvShape& s, const void* x, const void* dy, float* dw, float* db,
                                    cudaStream_t stream, int device) {
  return {s, x, nullptr, nullptr, false, nullptr, dy, nullptr, nullptr, dw, db, stream, device};
}

// Every row, in preference order within each (role, precision).
const std::vector<ConvVariant>& conv_variants();

// The rows of (role, precision) usable at s on `device`, default first.
std::vector<const ConvVariant*> usable_conv_variants(ConvRole role, Precision p, const ConvShape& s, int device);

// The first usable row; an Error naming the role, precision and shape when there is none.
const ConvVariant& default_conv_variant(ConvRole role, Precision p, const ConvShape& s, int device);
// The row of (role, precision) named `name`; an Error when there is none.
const ConvVariant& conv_variant(ConvRole role, Precision p, const std::string& name);
// default_conv_variant(role, p, a.s, a.device).launch(a).
void launch_default_conv(ConvRole role, Precision p, const ConvLaunch& a);

}  // namespace vdsr
