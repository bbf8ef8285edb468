#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "engine/error.h"
#include "kernels/bf16.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/euclidean_loss.h"
#include "kernels/grad_norm.h"
#include "kernels/residual_add.h"

#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "kernels/conv3x3_gemm_weights.cuh"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/conv3x3_thin_bf16.cuh"
#include "kernels/conv_variants.cuh"
#include "kernels/small_ops.cuh"
#endif

namespace vdsr::ops {

namespace {
#ifdef VDSR_HAVE_CUDA
cudaStream_t stream_of(Device d) { return cuda_stream(d.index); }
// Launch errors (bad configuration, no kernel image) surface here; asynchronous faults surface at
// the next synchronisation.
void check_launch() { VDSR_CUDA_CHECK(cudaGetLastError()); }
#define VDSR_ON_CUDA(d, call)                  \
  if ((d).is_cuda()) {                         \
    VDSR_CUDA_CHECK(cudaSetDevice((d).index)); \
    call;                                      \
    check_launch();                            \
    return;                                    \
  }
// The bf16 and tf32 ops exist on CUDA devices only.
#define VDSR_MODE_ONLY_ON_CUDA(mode, d, what, call) \
  VDSR_ON_CUDA(d, call);                            \
  VDSR_FAIL(what << ": the " mode " mode needs a CUDA device, not " << (d).name());
#define VDSR_BF16_ONLY_ON_CUDA(d, what, call) VDSR_MODE_ONLY_ON_CUDA("bf16", d, what, call)
#define VDSR_TF32_ONLY_ON_CUDA(d, what, call) VDSR_MODE_ONLY_ON_CUDA("tf32", d, what, call)
template <typename T>
auto nv(T* p) {  // Bf16 -> __nv_bfloat16, const kept
  using B = std::conditional_t<std::is_const_v<T>, const __nv_bfloat16, __nv_bfloat16>;
  static_assert(sizeof(T) == sizeof(B));
  return reinterpret_cast<B*>(p);
}
#else
#define VDSR_ON_CUDA(d, call) \
  VDSR_CHECK((d).is_cpu(), "device " << (d).name() << " needs a CUDA build");
#define VDSR_MODE_ONLY_ON_CUDA(mode, d, what, call) \
  VDSR_FAIL(what << ": the " mode " mode needs a CUDA build and device, not " << (d).name());
#define VDSR_BF16_ONLY_ON_CUDA(d, what, call) VDSR_MODE_ONLY_ON_CUDA("bf16", d, what, call)
#define VDSR_TF32_ONLY_ON_CUDA(d, what, call) VDSR_MODE_ONLY_ON_CUDA("tf32", d, what, call)
#endif
}  // namespace

void residual_add(Device d, int64_t n, const float* x, const float* r, float* y) {
  VDSR_ON_CUDA(d, residual_add_cuda(n, x, r, y, stream_of(d)));
  residual_add_cpu(n, x, r, y);
}

void euclidean_loss(Device d, int64_t batch, int64_t n, const float* pred, const float* target,
                    float* grad, double* loss) {
  VDSR_CHECK(loss != nullptr, "euclidean_loss needs somewhere to write the loss");
  VDSR_ON_CUDA(d, euclidean_loss_cuda(batch, n, pred, target, grad, loss, stream_of(d), d.index));
  *loss = euclidean_loss_cpu(batch, n, pred, target, grad);
}

void grad_norm(Device d, int64_t n, const float* g, double* norm) {
  VDSR_CHECK(norm != nullptr, "grad_norm needs somewhere to write the norm");
  VDSR_ON_CUDA(d, grad_norm_cuda(n, g, norm, stream_of(d), d.index));
  *norm = grad_norm_cpu(n, g);
}

void flag_nonfinite(Device d, const double* value, int64_t step, int64_t* first_bad_step) {
  VDSR_CHECK(value != nullptr && first_bad_step != nullptr, "flag_nonfinite: null pointer");
  VDSR_ON_CUDA(d, flag_nonfinite_cuda(value, step, first_bad_step, stream_of(d)));
  if (!std::isfinite(*value) && *first_bad_step < 0) *first_bad_step = step;
}

void set_optim_scalars(Device d, const OptimScalars& s, OptimScalars* dst) {
  VDSR_CHECK(dst != nullptr, "set_optim_scalars: null destination");
  VDSR_CHECK(s.lr >= 0 && std::isfinite(s.lr), "the learning rate must be 0 or more, got " << s.lr);
  VDSR_CHECK(s.bc1 > 0 && s.bc2 > 0, "Adam's bias corrections must be positive");
  VDSR_ON_CUDA(d, set_optim_scalars_cuda(s, dst, stream_of(d)));
  *dst = s;
}

void optim_step(Device d, const OptimConfig& c, const OptimScalars* s, const double* norm,
                int64_t n, int64_t n_decay, float* w, float* g, float* m, float* v, float* e) {
  VDSR_CHECK(n >= 0, "optim_step: negative element count " << n);
  VDSR_CHECK(n_decay >= 0 && n_decay <= n, "optim_step: n_decay " << n_decay << " outside [0, " << n << "]");
  VDSR_CHECK(n == 0 || (w != nullptr && g != nullptr && m != nullptr), "optim_step: null buffer pointer");
  VDSR_CHECK(n == 0 || !c.uses_second_moment() || v != nullptr,
             "optim_step: " << optimizer_name(c.kind) << " needs the second-moment buffer");
  VDSR_CHECK(n == 0 || c.ema == 0 || e != nullptr, "optim_step: the EMA needs its buffer");
  VDSR_CHECK(c.ema >= 0 && c.ema < 1, "optim_step: EMA decay " << c.ema << " outside [0, 1)");
  VDSR_CHECK(s != nullptr, "optim_step: the step's scalars are missing");
  VDSR_CHECK(c.clip_mode != ClipMode::Norm || norm != nullptr, "norm clipping needs the gradient norm");
  VDSR_ON_CUDA(d, optim_step_cuda(c, s, norm, n, n_decay, w, g, m, v, e, stream_of(d)));
  optim_step_cpu(c, *s, norm != nullptr ? *norm : 0.0, n, n_decay, w, g, m, v, e);
}

// The conv entries. The plain cases (fp32 math on F32 maps, tf32 on F32, bf16 on BF16) run on the
// CPU kernels or, on CUDA, the registry's default row for the role, math and shape
// (kernels/conv_variants.cuh); the bf16 mode's thin first and last layers are shape cases with one
// kernel each.
namespace {

#ifndef VDSR_HAVE_CUDA
// Without CUDA the bf16 and tf32 ops only throw, so their arguments go unused.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif

void weights_bf16(Device d, const float* wt, int layers, int K, int C, bool flip,
                  Bf16* wg) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_weights (bf16)",
                         conv3x3_weights_bf16_cuda(wt, K, C, flip, nv(wg), stream_of(d), layers));
}

void weights_tf32(Device d, const float* wt, int layers, int K, int C, bool flip,
                  float* wg) {
  VDSR_TF32_ONLY_ON_CUDA(d, "conv_weights (tf32)",
                         conv3x3_weights_tf32_cuda(wt, K, C, flip, wg, stream_of(d), layers));
}

#ifdef VDSR_HAVE_CUDA
// The bf16 mode's thin layers: the registry's default "thin-*" row for the role at a.s.
void run_thin(Device d, ConvRole role, ConvLaunch a, const float* skip = nullptr) {
  a.skip = skip;
  a.stream = stream_of(d);
  a.device = d.index;
  default_conv_variant(role, Precision::Bf16, a.s, d.index).launch(a);
}
#endif

void first_fwd_bf16(Device d, const ConvShape& s, const float* x, const float* wt,
                    const float* b, bool relu, Bf16* y) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_fwd (bf16 first layer)",
                         run_thin(d, ConvRole::Fwd, fwd_launch(s, x, wt, b, relu, y, nullptr, 0)));
}

void first_bwd_weight_bf16(Device d, const ConvShape& s, const float* x, const Bf16* dy,
                           float* dw, float* db) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_bwd_weight (bf16 first layer)",
                         run_thin(d, ConvRole::BwdWeight, bwd_weight_launch(s, x, dy, dw, db, nullptr, 0)));
}

void last_fwd_bf16(Device d, const ConvShape& s, const Bf16* x, const float* wt,
                   const float* b, const float* skip, float* y) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_fwd (bf16 last layer)",
                         run_thin(d, ConvRole::Fwd, fwd_launch(s, x, wt, b, false, y, nullptr, 0), skip));
}

void last_bwd_data_bf16(Device d, const ConvShape& s, const float* dy, const float* wt,
                        const Bf16* relu_src, Bf16* dx) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_bwd_data (bf16 last layer)",
                         run_thin(d, ConvRole::BwdData, bwd_data_launch(s, dy, wt, relu_src, dx, nullptr, 0)));
}

void last_bwd_weight_bf16(Device d, const ConvShape& s, const Bf16* x, const float* dy,
                          float* dw, float* db) {
  VDSR_BF16_ONLY_ON_CUDA(d, "conv_bwd_weight (bf16 last layer)",
                         run_thin(d, ConvRole::BwdWeight, bwd_weight_launch(s, x, dy, dw, db, nullptr, 0)));
}

#ifndef VDSR_HAVE_CUDA
#pragma GCC diagnostic pop
#endif

template <typename T>
const T* as(ConstMapView m) { return static_cast<const T*>(m.data); }
template <typename T>
T* as(MapView m) { return static_cast<T*>(m.data); }

const char* dtype_name(DType t) { return t == DType::F32 ? "F32" : "BF16"; }
const char* math_name(Precision p) { return p == Precision::Fp32 ? "fp32" : p == Precision::Tf32 ? "tf32" : "bf16"; }

[[noreturn]] void unsupported(const char* op, Precision math, const ConvShape& s, DType a, DType b) {
  VDSR_FAIL(op << ": no kernel for " << math_name(math) << " math with " << dtype_name(a) << " -> "
               << dtype_name(b) << " maps at " << s.C << " -> " << s.K << " channels, " << s.R << "x" << s.R
               << (s.pad == Padding::Zero ? "" : " replicate-padded"));
}

// Training (the backward passes) and the tensor-core modes exist for VDSR's 3x3 zero-padded layers
// only; other kernel sizes (SRCNN) are fp32 inference.
void require_3x3(const char* op, Precision math, const ConvShape& s, DType a, DType b) {
  if (!s.is_3x3_zero()) unsupported(op, math, s, a, b);
}

// The plain case of each role: every map in the math's own type.
bool plain_case(Precision math, DType a, DType b) {
  const DType t = math == Precision::Bf16 ? DType::BF16 : DType::F32;
  return a == t && b == t;
}

// Runs the plain case of `role` on the device: the CPU kernel (fp32 only), or the registry's default
// CUDA kernel with the operands `a` (its stream and device filled in here).
#ifdef VDSR_HAVE_CUDA
template <typename Cpu>
void run_plain(Device d, ConvRole role, Precision math, ConvLaunch a, const Cpu& cpu) {
  if (d.is_cuda()) {
    // The bf16 rows at one-channel shapes are the thin layers, whose one-channel side is F32.
    VDSR_CHECK(math != Precision::Bf16 || (a.s.C != 1 && a.s.K != 1),
               "conv_" << conv_role_name(role) << ": bf16 math on BF16 maps has no kernel for " << a.s.C << " -> "
                       << a.s.K << " channels (the thin layers take an F32 plane on their one-channel side)");
    VDSR_CUDA_CHECK(cudaSetDevice(d.index));
    a.stream = stream_of(d);
    a.device = d.index;
    default_conv_variant(role, math, a.s, d.index).launch(a);
    check_launch();
    return;
  }
  VDSR_CHECK(math == Precision::Fp32, "conv_" << conv_role_name(role) << ": the " << math_name(math)
                                              << " mode needs a CUDA device, not " << d.name());
  cpu();
}
#else
template <typename Cpu>
void run_plain(Device d, const char* role, Precision math, const Cpu& cpu) {
  VDSR_CHECK(d.is_cpu(), "device " << d.name() << " needs a CUDA build");
  VDSR_CHECK(math == Precision::Fp32, "conv_" << role << ": the " << math_name(math)
                                              << " mode needs a CUDA build and device, not " << d.name());
  cpu();
}
#endif

}  // namespace

bool conv_math_available(Device d, Precision math) {
  if (math == Precision::Fp32) return true;
  bool all = d.is_cuda();
#ifdef VDSR_HAVE_CUDA
  const ConvShape s{1, 41, 41, 64, 64};
  for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight})
    all = all && !usable_conv_variants(role, math, s, d.index).empty();
#else
  all = false;
#endif
  return all;
}

int conv_fwd_reach(Device d, const ConvShape& s) { return d.is_cpu() ? cpu_conv_fwd_reach(s) : int(s.R / 2); }

int64_t conv_max_image_pixels(Device d, int64_t widest) {
  VDSR_CHECK(widest >= 1, "conv_max_image_pixels: " << widest << " channels");
  return d.is_cpu() ? INT64_MAX : ((int64_t(1) << 31) - 1) / widest;
}

std::string conv_kernels_text(Device d, Precision math, const ConvShape& s, DType in, DType out) {
  if (d.is_cpu()) {  // each role's method (backward-data runs the forward with C and K swapped)
    ConvShape t = s;
    std::swap(t.C, t.K);
    const auto method = [](int tile) {
      return tile == 0 ? std::string("cpu-direct") : "cpu-winograd-f" + std::to_string(tile);
    };
    return "fwd " + method(cpu_conv_fwd_tile(s)) + ", bwd_data " +
           (s.is_3x3_zero() ? method(cpu_conv_fwd_tile(t)) : "-") + ", bwd_weight " +
           (s.is_3x3_zero() ? method(cpu_conv_bwd_weight_tile(s)) : "-");
  }
  std::string text;
#ifdef VDSR_HAVE_CUDA
  // The bf16 mode's thin layers (fp32 math with a bf16 side) are the registry's bf16 "thin-*" rows.
  const Precision rows_of = plain_case(math, in, out) ? math : Precision::Bf16;
  for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight}) {
    const auto rows = usable_conv_variants(role, rows_of, s, d.index);
    text += std::string(text.empty() ? "" : ", ") + conv_role_name(role) + " " + (rows.empty() ? "-" : rows.front()->name);
  }
#else
  (void)math;
  (void)s;
  (void)in;
  (void)out;
#endif
  return text;
}

void conv_weights(Device d, Precision math, const float* wt, int layers, int K, int C, bool flip,
                  void* wg) {
  if (math == Precision::Bf16) return weights_bf16(d, wt, layers, K, C, flip, static_cast<Bf16*>(wg));
  if (math == Precision::Tf32) return weights_tf32(d, wt, layers, K, C, flip, static_cast<float*>(wg));
  VDSR_FAIL("conv_weights: fp32 math reads the master weights, it has no GEMM copy");
}

void conv_fwd(Device d, Precision math, const ConvShape& s, ConstMapView x, const void* wt,
              const float* b, bool relu, const float* skip, MapView y, bool weights_ready) {
  const DType in = x.dtype, out = y.dtype;
  if (math != Precision::Fp32) require_3x3("conv_fwd", math, s, in, out);
  VDSR_CHECK(skip == nullptr || out == DType::F32, "conv_fwd: a skip input needs an F32 output");
  if (plain_case(math, in, out) && (skip == nullptr || math == Precision::Fp32)) {
    const auto cpu = [&] { conv_fwd_cpu(s, as<float>(x), static_cast<const float*>(wt), b, relu, as<float>(y)); };
#ifdef VDSR_HAVE_CUDA
    ConvLaunch a = fwd_launch(s, x.data, wt, b, relu, y.data, nullptr, 0);
    a.weights_ready = weights_ready;
    run_plain(d, ConvRole::Fwd, math, a, cpu);
#else
    (void)weights_ready;
    run_plain(d, "fwd", math, cpu);
#endif
    if (skip != nullptr) residual_add(d, s.out_elems(), skip, as<float>(y), as<float>(y));
    return;
  }
  require_3x3("conv_fwd", math, s, in, out);
  const auto w = static_cast<const float*>(wt);
  if (math == Precision::Fp32 && in == DType::F32 && out == DType::BF16 && s.C == 1 && skip == nullptr)
    return first_fwd_bf16(d, s, as<float>(x), w, b, relu, as<Bf16>(y));
  if (math == Precision::Fp32 && in == DType::BF16 && out == DType::F32 && s.K == 1 && !relu)
    return last_fwd_bf16(d, s, as<Bf16>(x), w, b, skip, as<float>(y));
  unsupported("conv_fwd", math, s, in, out);
}

void conv_bwd_data(Device d, Precision math, const ConvShape& s, ConstMapView dy, const void* wt,
                   ConstMapView relu_src, MapView dx, bool weights_ready) {
  const DType in = dy.dtype, out = dx.dtype;
  VDSR_CHECK(relu_src.data == nullptr || relu_src.dtype == out,
             "conv_bwd_data: the ReLU source must have the gradient's type");
  require_3x3("conv_bwd_data", math, s, in, out);
  if (plain_case(math, in, out)) {
    const auto cpu = [&] {
      conv3x3_bwd_data_cpu(s, as<float>(dy), static_cast<const float*>(wt), as<float>(relu_src), as<float>(dx));
    };
#ifdef VDSR_HAVE_CUDA
    ConvLaunch a = bwd_data_launch(s, dy.data, wt, relu_src.data, dx.data, nullptr, 0);
    a.weights_ready = weights_ready;
    return run_plain(d, ConvRole::BwdData, math, a, cpu);
#else
    (void)weights_ready;
    return run_plain(d, "bwd_data", math, cpu);
#endif
  }
  if (math == Precision::Fp32 && in == DType::F32 && out == DType::BF16 && s.K == 1)
    return last_bwd_data_bf16(d, s, as<float>(dy), static_cast<const float*>(wt), as<Bf16>(relu_src), as<Bf16>(dx));
  unsupported("conv_bwd_data", math, s, in, out);
}

void conv_bwd_weight(Device d, Precision math, const ConvShape& s, ConstMapView x, ConstMapView dy,
                     float* dw, float* db) {
  const DType in = x.dtype, grad = dy.dtype;
  require_3x3("conv_bwd_weight", math, s, in, grad);
  if (plain_case(math, in, grad)) {
    const auto cpu = [&] { conv3x3_bwd_weight_cpu(s, as<float>(x), as<float>(dy), dw, db); };
#ifdef VDSR_HAVE_CUDA
    return run_plain(d, ConvRole::BwdWeight, math, bwd_weight_launch(s, x.data, dy.data, dw, db, nullptr, 0), cpu);
#else
    return run_plain(d, "bwd_weight", math, cpu);
#endif
  }
  if (math == Precision::Fp32 && in == DType::F32 && grad == DType::BF16 && s.C == 1)
    return first_bwd_weight_bf16(d, s, as<float>(x), as<Bf16>(dy), dw, db);
  if (math == Precision::Fp32 && in == DType::BF16 && grad == DType::F32 && s.K == 1)
    return last_bwd_weight_bf16(d, s, as<Bf16>(x), as<float>(dy), dw, db);
  unsupported("conv_bwd_weight", math, s, in, grad);
}

}  // namespace vdsr::ops
