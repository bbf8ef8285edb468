// bf16 operands and the oracle of vdsr_bench's bf16 rows (bench/bf16_case.h).
#include "bench/bf16_case.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/conv_variants.cuh"
#include "kernels/conv3x3_gemm_weights.cuh"
#include "kernels/to_bf16.cuh"

namespace vdsr::bench {

// bf16 device memory -> the floats it holds (exact).
std::vector<float> download_bf16(const void* d, size_t n) {
  std::vector<uint16_t> h(n);
  VDSR_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = uint32_t(h[i]) << 16;
    std::memcpy(&f[i], &bits, sizeof(float));
  }
  return f;
}

Bf16Case make_bf16_case(const GpuCtx& ctx, const ConvCase& cc) {
  const ConvShape& s = cc.s;
  const size_t in = size_t(s.in_elems()), out = size_t(s.out_elems()), wn = size_t(s.weight_elems());
  Bf16Case bc;
  // As many sets as make_conv_case would make for 2-byte elements: the one used next was last
  // touched 2 x L2 of traffic ago.
  const double op_bytes = double(in + out) * sizeof(__nv_bfloat16);
  const int nsets = std::clamp(1 + int(std::ceil(2.0 * double(ctx.l2_bytes) / op_bytes)), 1, 8);
  auto add = [&](size_t n) {
    bc.storage.emplace_back(Device::cuda(ctx.device), std::max<size_t>(n, 1) * sizeof(__nv_bfloat16));
    return static_cast<__nv_bfloat16*>(bc.storage.back().data());
  };
  for (int i = 0; i < nsets; ++i) {
    const ConvSet& src = cc.set(i);
    __nv_bfloat16* x = add(in);
    __nv_bfloat16* w = add(wn);
    __nv_bfloat16* w_krsc = add(wn);
    __nv_bfloat16* wg = add(wn);
    __nv_bfloat16* wg_flip = add(wn);
    __nv_bfloat16* dy = add(out);
    __nv_bfloat16* y = add(out);
    __nv_bfloat16* dx = add(in);
    __nv_bfloat16* dw = add(wn);
    to_bf16_cuda(src.x, int64_t(in), x, ctx.stream);
    to_bf16_cuda(src.w, int64_t(wn), w, ctx.stream);
    to_bf16_cuda(src.w_krsc, int64_t(wn), w_krsc, ctx.stream);
    conv3x3_weights_bf16_cuda(src.w, int(s.K), int(s.C), false, wg, ctx.stream);
    conv3x3_weights_bf16_cuda(src.w, int(s.K), int(s.C), true, wg_flip, ctx.stream);
    to_bf16_cuda(src.dy, int64_t(out), dy, ctx.stream);
    bc.sets.push_back({x, w, w_krsc, wg, wg_flip, dy, y, dx, dw});
  }
  sync(ctx.stream);

  auto xh = download_bf16(bc.sets[0].x, in);
  auto wh = download_bf16(bc.sets[0].w, wn);
  auto dyh = download_bf16(bc.sets[0].dy, out);
  DevFloats x(ctx.device, in), w(ctx.device, wn), dy(ctx.device, out), y(ctx.device, out), dx(ctx.device, in),
      dw(ctx.device, wn), db(ctx.device, size_t(s.K));
  // Our default's three ops on the current host inputs; outputs poisoned first, so an element the
  // kernel does not write is NaN and caught here.
  auto ours = [&](std::vector<float>& y_out, std::vector<float>& dx_out, std::vector<float>& dw_out) {
    upload(x.get(), xh);
    upload(w.get(), wh);
    upload(dy.get(), dyh);
    poison(y.get(), out, ctx.stream);
    poison(dx.get(), in, ctx.stream);
    poison(dw.get(), wn, ctx.stream);
    poison(db.get(), size_t(s.K), ctx.stream);
    launch_default_conv(ConvRole::Fwd, Precision::Fp32,
                        fwd_launch(s, x.get(), w.get(), nullptr, false, y.get(), ctx.stream, ctx.device));
    launch_default_conv(ConvRole::BwdData, Precision::Fp32,
                        bwd_data_launch(s, dy.get(), w.get(), nullptr, dx.get(), ctx.stream, ctx.device));
    launch_default_conv(ConvRole::BwdWeight, Precision::Fp32,
                        bwd_weight_launch(s, x.get(), dy.get(), dw.get(), db.get(), ctx.stream, ctx.device));
    sync(ctx.stream);
    y_out = download(y.get(), out);
    dx_out = download(dx.get(), in);
    dw_out = download(dw.get(), wn);
    for (const auto* v : {&y_out, &dx_out, &dw_out})
      for (float f : *v) VDSR_CHECK(std::isfinite(f), "non-finite or unwritten element in a bf16 reference");
  };
  ours(bc.y_ref, bc.dx_ref, bc.dw_ref);
  bc.db_ref = download(db.get(), size_t(s.K));  // the same call's bias gradient
  for (float f : bc.db_ref)
    VDSR_CHECK(std::isfinite(f), "non-finite or unwritten element in the bf16 bias-gradient reference");
  for (auto* v : {&xh, &wh, &dyh})
    for (float& f : *v) f = std::fabs(f);
  ours(bc.y_mag, bc.dx_mag, bc.dw_mag);
  return bc;
}

Bf16Error check_bf16(const Bf16Case& bc, const ConvShape& s, int op, const std::vector<float>& got) {
  const std::vector<float>& ref = op == 0 ? bc.y_ref : op == 1 ? bc.dx_ref : bc.dw_ref;
  const std::vector<float>& mag = op == 0 ? bc.y_mag : op == 1 ? bc.dx_mag : bc.dw_mag;
  // n: products summed per output element.
  const double terms = op == 0 ? 9.0 * double(s.C) : op == 1 ? 9.0 * double(s.K) : double(s.pixels());
  VDSR_CHECK(got.size() == ref.size(), "check_bf16: " << got.size() << " outputs for " << ref.size());
  Bf16Error e;
  e.rel_l2 = rel_l2(got.data(), ref.data(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = double(ref[i]), diff = std::abs(double(got[i]) - r);
    const double bound = kBf16OutRound * std::abs(r) + kBf16SumCoef * terms * double(mag[i]);
    if (!std::isfinite(diff)) return {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    if (diff > 0.0) e.worst = std::max(e.worst, bound > 0.0 ? diff / bound : std::numeric_limits<double>::infinity());
  }
  return e;
}

}  // namespace vdsr::bench
