// The bf16 tensor-core 3x3 convolutions (kernels/conv3x3_*_bf16.cu, 64 -> 64) against the double
// references: inputs and weights are rounded to bf16 first, so the reference sees exactly the
// values the tensor cores multiply (products of bf16 are exact in fp32).
//
// Tolerances. Forward and backward-data outputs are fp32 sums of 9*64 products, then rounded to
// bf16: |got - want| <= 2^-8 |want| (the final rounding, 2^-9, doubled for the fp32 error in the
// value rounded) + chain 2^-21 sum|terms|. The tensor cores' fp32 accumulation is not specified
// to round like an FMA chain, so the accumulation bound is 4x the recursive-summation one
// (chain 2^-23). The weight gradient is fp32 out (no final rounding) with chain = the pixels.
// Exact tests on small integers (every partial sum an integer below 2^24) pin the indexing down
// bit for bit: forward and backward-data equal the reference rounded to bf16, the weight gradient
// equals it exactly.
//
// The thin layers (kernels/conv3x3_thin_bf16.cu: the first, 1 -> 64, and the last, 64 -> 1) run
// on the CUDA cores as fp32 FMA chains; their one-channel side (image, residual) is fp32 and used
// as is, only the 64-channel map is rounded to bf16 first. Same kind of bound: first forward (bias
// + 9 taps, rounded to bf16) chain 9 + 2; last backward-data (9 taps, rounded) chain 9; last
// forward (fp32 out: 9*64 products, the lanes' butterfly, bias, skip) chain 9*64 + 3 and no
// rounding term; weight gradients (fp32 sums per chunk of pixels, chunks added in double) chain =
// the pixels + 2.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv_variants.cuh"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_data_bf16.cuh"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv3x3_bwd_weight_bf16.cuh"
#include "kernels/conv_fwd.h"
#include "kernels/conv3x3_fwd_bf16.cuh"
#include "kernels/conv3x3_gemm_weights.cuh"
#include "kernels/conv3x3_thin_bf16.cuh"
#include "kernels/to_bf16.cuh"
#include "tests/gpu/tensor_core_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using vdsr::test::abs_of;
using vdsr::test::Dev;
using vdsr::test::download;
using vdsr::test::kGpu;
using vdsr::test::random_floats;
using vdsr::test::random_ints;
using vdsr::test::relu_source;
using vdsr::test::same_bits;
using vdsr::test::shape_str;
using vdsr::test::tensor_core_shapes;
using vdsr::test::to_double;
using vdsr::test::upload;
using bf16 = __nv_bfloat16;

namespace {

constexpr int kDev = kGpu;
cudaStream_t stream() { return vdsr::cuda_stream(kDev); }

// Host bf16: round to nearest even, as __float2bfloat16_rn.
uint16_t bf16_bits(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7FC0;
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float bf16_value(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f = 0;
  std::memcpy(&f, &u, 4);
  return f;
}
std::vector<float> round_bf16(std::vector<float> v) {
  for (float& f : v) f = bf16_value(bf16_bits(f));
  return v;
}

Dev<bf16> upload_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = bf16_bits(v[i]);
  Dev<bf16> d(v.size());
  VDSR_CUDA_CHECK(cudaMemcpy(d.get(), h.data(), h.size() * 2, cudaMemcpyHostToDevice));
  return d;
}
std::vector<float> download(const Dev<bf16>& d) {
  vdsr::cuda_sync(kDev);
  std::vector<uint16_t> h(d.size());
  VDSR_CUDA_CHECK(cudaMemcpy(h.data(), d.get(), h.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<float> v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = bf16_value(h[i]);
  return v;
}

// The bf16 GEMM weight copy, made on the GPU from fp32 OIHW weights.
Dev<bf16> gemm_weights(const std::vector<float>& wt, bool flip) {
  const auto w = upload(wt);
  Dev<bf16> wg(wt.size());
  vdsr::conv3x3_weights_bf16_cuda(w.get(), 64, 64, flip, wg.get(), stream());
  vdsr::cuda_sync(kDev);
  return wg;
}

struct Data {  // one problem: bf16-rounded inputs, and their device copies
  ConvShape s;
  std::vector<float> x, wt, b, dy, src;
};

Data make_data(const ConvShape& s, bool ints, uint32_t seed) {
  Data d{s, {}, {}, {}, {}, {}};
  auto gen = [&](size_t n, float lim) {
    return ints ? random_ints(n, -int(lim), int(lim), ++seed)
                : round_bf16(random_floats(n, -lim, lim, ++seed));
  };
  d.x = gen(size_t(s.in_elems()), 2);
  d.wt = gen(size_t(s.weight_elems()), 2);
  d.b = ints ? random_ints(size_t(s.K), -4, 4, ++seed) : random_floats(size_t(s.K), -1, 1, ++seed);
  d.dy = gen(size_t(s.out_elems()), 2);
  d.src = round_bf16(relu_source(size_t(s.in_elems()), ++seed));
  return d;
}

// The bf16 row of the kernel registry (kernels/conv_variants.cuh) named `name` for `role`.
const vdsr::ConvVariant& row(vdsr::ConvRole role, const std::string& name) {
  return vdsr::conv_variant(role, vdsr::Precision::Bf16, name);
}

std::vector<float> run_fwd(const Data& d, bool bias_relu, const std::string& variant) {
  const auto x = upload_bf16(d.x);
  const auto wg = gemm_weights(d.wt, false);
  const auto b = upload(d.b);
  Dev<bf16> y(size_t(d.s.out_elems()));
  row(vdsr::ConvRole::Fwd, variant)
      .launch(vdsr::fwd_launch(d.s, x.get(), wg.get(), bias_relu ? b.get() : nullptr, bias_relu, y.get(), stream(), kDev));
  return download(y);
}
std::vector<float> run_bwd_data(const Data& d, bool masked, const std::string& variant) {
  const auto dy = upload_bf16(d.dy);
  const auto wg = gemm_weights(d.wt, true);
  const auto src = upload_bf16(d.src);
  Dev<bf16> dx(size_t(d.s.in_elems()));
  row(vdsr::ConvRole::BwdData, variant)
      .launch(vdsr::bwd_data_launch(d.s, dy.get(), wg.get(), masked ? src.get() : nullptr, dx.get(), stream(), kDev));
  return download(dx);
}
void run_bwd_weight(const Data& d, std::vector<float>* dw, std::vector<float>* db, const std::string& variant) {
  const auto x = upload_bf16(d.x);
  const auto dy = upload_bf16(d.dy);
  Dev<float> dwd(size_t(d.s.weight_elems())), dbd(size_t(d.s.K));
  row(vdsr::ConvRole::BwdWeight, variant)
      .launch(vdsr::bwd_weight_launch(d.s, x.get(), dy.get(), dwd.get(), dbd.get(), stream(), kDev));
  *dw = download(dwd);
  *db = download(dbd);
}

// got (bf16 values or fp32) against want; see the header for the bound.
void require_bf16_close(const std::vector<float>& got, const std::vector<double>& want,
                        const std::vector<double>& sumabs, double chain, bool rounded_out,
                        const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = (rounded_out ? std::ldexp(std::fabs(want[i]), -8) : 0.0) +
                       chain * std::ldexp(sumabs[i], -21) + 1e-30;
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, std::isfinite(got[i]) ? err / tol : 1e30);
    if (!(err <= tol) && bad++ == 0) first = int64_t(i);
  }
  INFO(what << ": " << bad << " of " << got.size() << " outside the bound; first at " << first
            << (first >= 0 ? " got " + std::to_string(got[size_t(first)]) + " want " +
                                 std::to_string(want[size_t(first)])
                           : std::string())
            << "; worst error / bound " << worst);
  CHECK(bad == 0);
}

// Exact: forward / backward-data results are the exact integer rounded to bf16.
void require_bf16_exact(const std::vector<float>& got, const std::vector<double>& want,
                        bool rounded_out, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const float w = rounded_out ? bf16_value(bf16_bits(float(want[i]))) : float(want[i]);
    if (std::memcmp(&got[i], &w, 4) != 0 && bad++ == 0) first = int64_t(i);
  }
  INFO(what << ": " << bad << " of " << got.size() << " differ; first at " << first);
  CHECK(bad == 0);
}

// The names of the bf16 registry rows of `role` this device runs (forward and backward-data share
// their kernels and names).
std::vector<std::string> usable_rows(vdsr::ConvRole role) {
  std::vector<std::string> names;
  for (const vdsr::ConvVariant* v : vdsr::usable_conv_variants(role, vdsr::Precision::Bf16, {1, 8, 8, 64, 64}, kDev))
    names.push_back(v->name);
  return names;
}
std::vector<std::string> usable_variants() { return usable_rows(vdsr::ConvRole::Fwd); }
std::vector<std::string> usable_wgrad_variants() { return usable_rows(vdsr::ConvRole::BwdWeight); }
std::string variant_tag(const std::string& v) { return " [" + v + "]"; }
std::string wgrad_tag(const std::string& v) { return variant_tag(v); }

// ---- The thin layers ----------------------------------------------------------------------------

struct Pixels {
  int64_t N, H, W;
};

// 1-pixel images, batches, a single row wider than the 8-pixel-group stride, a single column,
// pixel counts that leave partial warps (4 pixels each) and partial wgrad chunks.
const Pixels kThinShapes[] = {{1, 1, 1},   {2, 7, 5},   {1, 13, 17},
                              {2, 41, 41}, {1, 3, 130}, {1, 70, 1}};

// One thin-layer problem: `plane` is the one-channel side (the first layer's x, the last layer's
// dy), `map` the 64-channel side (the first layer's dy, the last layer's x), rounded to bf16 as
// the kernels read it. The last layer uses b[0] as its one bias.
struct Thin {
  int64_t N, H, W;
  std::vector<float> plane, map, wt, b, skip, src;
  ConvShape first() const { return {N, H, W, 1, 64}; }
  ConvShape last() const { return {N, H, W, 64, 1}; }
};

Thin make_thin(const Pixels& n, bool ints, uint32_t seed) {
  const size_t P = size_t(n.N * n.H * n.W);
  Thin d{n.N, n.H, n.W, {}, {}, {}, {}, {}, {}};
  auto gen = [&](size_t count, float lim) {
    return ints ? random_ints(count, -int(lim), int(lim), ++seed)
                : random_floats(count, -lim, lim, ++seed);
  };
  d.plane = gen(P, 2);
  d.map = round_bf16(gen(P * 64, 2));
  d.wt = gen(64 * 9, 2);
  d.b = gen(64, ints ? 4 : 1);
  d.skip = gen(P, 2);
  d.src = round_bf16(relu_source(P * 64, ++seed));
  return d;
}

std::vector<float> run_first_fwd(const Thin& d, bool bias, bool relu) {
  const auto x = upload(d.plane), wt = upload(d.wt), b = upload(d.b);
  Dev<bf16> y(size_t(d.first().out_elems()));
  vdsr::conv3x3_first_fwd_bf16_cuda(d.first(), x.get(), wt.get(), bias ? b.get() : nullptr, relu,
                                    y.get(), stream());
  return download(y);
}
std::vector<float> run_last_fwd(const Thin& d, bool bias, bool skip) {
  const auto x = upload_bf16(d.map);
  const auto wt = upload(d.wt), b = upload({d.b[0]}), sk = upload(d.skip);
  Dev<float> y(size_t(d.last().out_elems()));
  vdsr::conv3x3_last_fwd_bf16_cuda(d.last(), x.get(), wt.get(), bias ? b.get() : nullptr,
                                   skip ? sk.get() : nullptr, y.get(), stream());
  return download(y);
}
std::vector<float> run_last_bwd_data(const Thin& d, bool masked) {
  const auto dy = upload(d.plane), wt = upload(d.wt);
  const auto src = upload_bf16(d.src);
  Dev<bf16> dx(size_t(d.last().in_elems()));
  vdsr::conv3x3_last_bwd_data_bf16_cuda(d.last(), dy.get(), wt.get(), masked ? src.get() : nullptr,
                                        dx.get(), stream());
  return download(dx);
}
// db is left empty when with_db is false (the launcher then gets a null db).
void run_first_wgrad(const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const auto x = upload(d.plane);
  const auto dy = upload_bf16(d.map);
  Dev<float> dwd(64 * 9), dbd(64);
  vdsr::conv3x3_first_bwd_weight_bf16_cuda(d.first(), x.get(), dy.get(), dwd.get(),
                                           with_db ? dbd.get() : nullptr, stream(), kDev);
  *dw = download(dwd);
  *db = with_db ? download(dbd) : std::vector<float>();
}
void run_last_wgrad(const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const auto x = upload_bf16(d.map);
  const auto dy = upload(d.plane);
  Dev<float> dwd(64 * 9), dbd(1);
  vdsr::conv3x3_last_bwd_weight_bf16_cuda(d.last(), x.get(), dy.get(), dwd.get(),
                                          with_db ? dbd.get() : nullptr, stream(), kDev);
  *dw = download(dwd);
  *db = with_db ? download(dbd) : std::vector<float>();
}

// The double reference of one output and the same run on |inputs| (the bound's sum|terms|).
struct Ref {
  std::vector<double> want, sumabs;
};

Ref ref_first_fwd(const Thin& d, bool bias, bool relu) {
  const ConvShape s = d.first();
  const auto x = to_double(d.plane), wt = to_double(d.wt), b = to_double(d.b);
  const auto xa = abs_of(x), wa = abs_of(wt), ba = abs_of(b);
  Ref r{std::vector<double>(size_t(s.out_elems())), std::vector<double>(size_t(s.out_elems()))};
  vdsr::conv_fwd_ref(s, x.data(), wt.data(), bias ? b.data() : nullptr, relu, r.want.data());
  vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias ? ba.data() : nullptr, false,
                        r.sumabs.data());
  return r;
}
// y = skip + (b + conv): the conv reference with the bias, plus the skip (in sumabs too).
Ref ref_last_fwd(const Thin& d, bool bias, bool skip) {
  const ConvShape s = d.last();
  const auto x = to_double(d.map), wt = to_double(d.wt), b = to_double({d.b[0]});
  const auto xa = abs_of(x), wa = abs_of(wt), ba = abs_of(b);
  Ref r{std::vector<double>(size_t(s.out_elems())), std::vector<double>(size_t(s.out_elems()))};
  vdsr::conv_fwd_ref(s, x.data(), wt.data(), bias ? b.data() : nullptr, false, r.want.data());
  vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias ? ba.data() : nullptr, false,
                        r.sumabs.data());
  if (skip)
    for (size_t p = 0; p < r.want.size(); ++p) {
      r.want[p] += double(d.skip[p]);
      r.sumabs[p] += std::fabs(double(d.skip[p]));
    }
  return r;
}
Ref ref_last_bwd_data(const Thin& d, bool masked) {
  const ConvShape s = d.last();
  const auto dy = to_double(d.plane), wt = to_double(d.wt), src = to_double(d.src);
  const auto dya = abs_of(dy), wa = abs_of(wt);
  Ref r{std::vector<double>(size_t(s.in_elems())), std::vector<double>(size_t(s.in_elems()))};
  vdsr::conv3x3_bwd_data_ref(s, dy.data(), wt.data(), masked ? src.data() : nullptr, r.want.data());
  vdsr::conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, r.sumabs.data());
  return r;
}
// dw and db of a weight gradient: the first layer's with (x, dy) = (plane, map), the last
// layer's with (map, plane).
struct WRef {
  Ref dw, db;
};
WRef ref_wgrad(const ConvShape& s, const std::vector<float>& x, const std::vector<float>& dy) {
  const auto xd = to_double(x), dyd = to_double(dy);
  const auto xa = abs_of(xd), dya = abs_of(dyd);
  const size_t nw = size_t(s.weight_elems()), nb = size_t(s.K);
  WRef r{{std::vector<double>(nw), std::vector<double>(nw)},
         {std::vector<double>(nb), std::vector<double>(nb)}};
  vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), r.dw.want.data(), r.db.want.data());
  vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), r.dw.sumabs.data(), r.db.sumabs.data());
  return r;
}
WRef ref_first_wgrad(const Thin& d) { return ref_wgrad(d.first(), d.plane, d.map); }
WRef ref_last_wgrad(const Thin& d) { return ref_wgrad(d.last(), d.map, d.plane); }

}  // namespace

TEST_CASE("bf16 conv3x3 forward matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 11000;
  for (const ConvShape& s : tensor_core_shapes())
    for (int bias_relu = 0; bias_relu < 2; ++bias_relu) {
      const Data d = make_data(s, false, seed += 10);
      const auto xd = to_double(d.x), wd = to_double(d.wt), bd = to_double(d.b);
      std::vector<double> want(size_t(s.out_elems())), sumabs(want.size());
      vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bias_relu ? bd.data() : nullptr,
                            bias_relu != 0, want.data());
      const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd);
      vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias_relu ? ba.data() : nullptr, false,
                            sumabs.data());
      for (const std::string& v : usable_variants())
        require_bf16_close(
            run_fwd(d, bias_relu != 0, v), want, sumabs, 9.0 * 64 + 2, true,
            "fwd bf16 " + shape_str(s) + (bias_relu ? " bias relu" : "") + variant_tag(v));
    }
}

TEST_CASE("bf16 conv3x3 backward-data matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 12000;
  for (const ConvShape& s : tensor_core_shapes())
    for (int masked = 0; masked < 2; ++masked) {
      const Data d = make_data(s, false, seed += 10);
      const auto dyd = to_double(d.dy), wd = to_double(d.wt), srcd = to_double(d.src);
      std::vector<double> want(size_t(s.in_elems())), sumabs(want.size());
      vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), masked ? srcd.data() : nullptr,
                                 want.data());
      const auto dya = abs_of(dyd), wa = abs_of(wd);
      vdsr::conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, sumabs.data());
      for (const std::string& v : usable_variants())
        require_bf16_close(
            run_bwd_data(d, masked != 0, v), want, sumabs, 9.0 * 64, true,
            "bwd_data bf16 " + shape_str(s) + (masked ? " masked" : "") + variant_tag(v));
    }
}

TEST_CASE("bf16 conv3x3 backward-weight matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 13000;
  for (const ConvShape& s : tensor_core_shapes()) {
    const Data d = make_data(s, false, seed += 10);
    const auto xd = to_double(d.x), dyd = to_double(d.dy);
    std::vector<double> dw_ref(size_t(s.weight_elems())), db_ref(size_t(s.K));
    std::vector<double> dw_abs(dw_ref.size()), db_abs(db_ref.size());
    vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
    const auto xa = abs_of(xd), dya = abs_of(dyd);
    vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), dw_abs.data(), db_abs.data());
    const double chain = double(s.pixels()) + 2;
    for (const std::string& v : usable_wgrad_variants()) {
      std::vector<float> dw, db;
      run_bwd_weight(d, &dw, &db, v);
      require_bf16_close(dw, dw_ref, dw_abs, chain, false,
                         "bwd_weight bf16 dw " + shape_str(s) + wgrad_tag(v));
      require_bf16_close(db, db_ref, db_abs, chain, false,
                         "bwd_weight bf16 db " + shape_str(s) + wgrad_tag(v));
    }
  }
}

TEST_CASE("bf16 conv3x3 ops are exact on small integers (training shape, a wide image)") {
  vdsr::test::require_gpu();
  // |x|, |dy|, |w| <= 2, |b| <= 4: forward / backward-data sums are integers of at most
  // 9*64*4 + 4, weight-gradient sums at most 64*41*41*4 < 2^24: exact in fp32 in any order.
  const ConvShape shapes[] = {{64, 41, 41, 64, 64}, {1, 37, 203, 64, 64}};
  uint32_t seed = 14000;
  for (const ConvShape& s : shapes) {
    const Data d = make_data(s, true, seed += 10);
    const auto xd = to_double(d.x), wd = to_double(d.wt), bd = to_double(d.b),
               dyd = to_double(d.dy), srcd = to_double(d.src);
    const std::string tag = " " + shape_str(s);
    std::vector<double> y(size_t(s.out_elems()));
    vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), true, y.data());
    for (const std::string& v : usable_variants())
      require_bf16_exact(run_fwd(d, true, v), y, true, "fwd bf16" + tag + variant_tag(v));
    std::vector<double> dx(size_t(s.in_elems()));
    vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), srcd.data(), dx.data());
    for (const std::string& v : usable_variants())
      require_bf16_exact(run_bwd_data(d, true, v), dx, true,
                         "bwd_data bf16" + tag + variant_tag(v));
    std::vector<double> dw_ref(size_t(s.weight_elems())), db_ref(size_t(s.K));
    vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
    for (const std::string& v : usable_wgrad_variants()) {
      std::vector<float> dw, db;
      run_bwd_weight(d, &dw, &db, v);
      require_bf16_exact(dw, dw_ref, false, "bwd_weight bf16 dw" + tag + wgrad_tag(v));
      require_bf16_exact(db, db_ref, false, "bwd_weight bf16 db" + tag + wgrad_tag(v));
    }
  }
}

TEST_CASE("bf16 conv3x3 forward and backward-data are position independent (crops)") {
  vdsr::test::require_gpu();
  // Float data: a crop cut differently into tiles must give, away from its 1-pixel border (which
  // sees the crop's zero padding), the whole image's outputs bit for bit. The 20 x 60 image is
  // tiled in 2-D by the wgmma variant while its 11 x 53 crop is cut from the strip.
  const ConvShape shapes[] = {{1, 41, 41, 64, 64}, {1, 23, 150, 64, 64}, {1, 20, 60, 64, 64}};
  uint32_t seed = 15000;
  for (const ConvShape& s : shapes)
    for (const std::string& v : usable_variants()) {
      const vdsr::test::Crop crop = vdsr::test::crop_of(s);
      Data d = make_data(s, false, seed += 10);
      Data c = d;
      c.s = crop.shape();
      c.x = crop.cut(d.x);
      c.dy = crop.cut(d.dy);
      c.src = crop.cut(d.src);
      const int64_t bad_y = crop.interior_differences(run_fwd(d, true, v), run_fwd(c, true, v));
      const int64_t bad_dx =
          crop.interior_differences(run_bwd_data(d, true, v), run_bwd_data(c, true, v));
      INFO(shape_str(s) << variant_tag(v) << ": crop differs from the whole in " << bad_y
                        << " forward and " << bad_dx << " backward-data outputs");
      CHECK(bad_y == 0);
      CHECK(bad_dx == 0);
    }
}

TEST_CASE("bf16 conv3x3 backward-weight is deterministic") {
  vdsr::test::require_gpu();
  const Data d = make_data({64, 41, 41, 64, 64}, false, 16000);
  for (const std::string& v : usable_wgrad_variants()) {
    std::vector<float> dw1, db1, dw2, db2;
    run_bwd_weight(d, &dw1, &db1, v);
    run_bwd_weight(d, &dw2, &db2, v);
    INFO(wgrad_tag(v));
    CHECK(std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4) == 0);
    CHECK(std::memcmp(db1.data(), db2.data(), db1.size() * 4) == 0);
  }
}

TEST_CASE("bf16 conv3x3 launchers check their preconditions") {
  vdsr::test::require_gpu();
  Dev<bf16> a(64 * 64 * 9), b(64 * 64 * 9);
  Dev<float> w(64 * 64 * 9);
  const ConvShape c32{1, 3, 3, 32, 64}, k16{1, 3, 3, 64, 16}, ok{1, 3, 3, 64, 64};
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_bf16_cuda(c32, a.get(), b.get(), nullptr, false, a.get(), stream(), 0),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_bwd_data_bf16_cuda(k16, a.get(), b.get(), nullptr, a.get(), stream(), 0),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_bwd_weight_bf16_cuda(c32, a.get(), b.get(), w.get(), nullptr, stream(), kDev, 0),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_bf16_cuda(ok, a.get(), b.get(), nullptr, false, a.get(), stream(), 0),
      Catch::Contains("in place"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_bf16_cuda(ok, nullptr, b.get(), nullptr, false, a.get(), stream(), 0),
      Catch::Contains("null"));
  CHECK_THROWS(vdsr::conv3x3_weights_bf16_cuda(w.get(), 0, 64, false, a.get(), stream()));
  CHECK_THROWS_WITH(vdsr::conv3x3_fwd_bf16_cuda(ok, a.get(), b.get(), nullptr, false, a.get() + 64,
                                                stream(), 4),
                    Catch::Contains("no bf16 variant"));
}

TEST_CASE("fp32 <-> bf16 conversions round to nearest even") {
  vdsr::test::require_gpu();
  std::vector<float> v = random_floats(4097, -1000, 1000, 17000);
  v.push_back(1.0f + std::ldexp(1.0f, -8));      // a tie: rounds to even (1.0)
  v.push_back(1.0f + 3 * std::ldexp(1.0f, -8));  // a tie: rounds to even (1 + 2^-6)
  v.push_back(0.0f);
  v.push_back(-0.0f);
  const auto d = upload(v);
  Dev<bf16> h(v.size());
  Dev<float> back(v.size());
  vdsr::to_bf16_cuda(d.get(), int64_t(v.size()), h.get(), stream());
  vdsr::to_float_cuda(h.get(), int64_t(v.size()), back.get(), stream());
  const auto got = download(back);
  int64_t bad = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const float want = bf16_value(bf16_bits(v[i]));
    bad += std::memcmp(&got[i], &want, 4) != 0;
  }
  CHECK(bad == 0);
  CHECK(got[4097] == 1.0f);
  CHECK(got[4098] == 1.0f + std::ldexp(1.0f, -6));
}

TEST_CASE("bf16 thin layers: first-layer forward matches the reference") {
  vdsr::test::require_gpu();
  uint32_t seed = 18000;
  for (const Pixels& n : kThinShapes)
    for (int v = 0; v < 4; ++v) {
      const bool bias = (v & 1) != 0, relu = (v & 2) != 0;
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_first_fwd(d, bias, relu);
      require_bf16_close(
          run_first_fwd(d, bias, relu), r.want, r.sumabs, 9 + 2, true,
          "first fwd " + shape_str(d.first()) + (bias ? " bias" : "") + (relu ? " relu" : ""));
    }
}

TEST_CASE("bf16 thin layers: first-layer backward-weight matches the reference") {
  vdsr::test::require_gpu();
  uint32_t seed = 19000;
  for (const Pixels& n : kThinShapes)
    for (int with_db = 0; with_db < 2; ++with_db) {
      const Thin d = make_thin(n, false, seed += 10);
      const WRef r = ref_first_wgrad(d);
      std::vector<float> dw, db;
      run_first_wgrad(d, with_db != 0, &dw, &db);
      const double chain = double(d.first().pixels()) + 2;
      const std::string tag = " " + shape_str(d.first()) + (with_db ? "" : " (null db)");
      require_bf16_close(dw, r.dw.want, r.dw.sumabs, chain, false, "first wgrad dw" + tag);
      if (with_db)
        require_bf16_close(db, r.db.want, r.db.sumabs, chain, false, "first wgrad db" + tag);
    }
}

TEST_CASE("bf16 thin layers: last-layer forward with the residual matches the reference") {
  vdsr::test::require_gpu();
  uint32_t seed = 20000;
  for (const Pixels& n : kThinShapes)
    for (int v = 0; v < 4; ++v) {
      const bool bias = (v & 1) != 0, skip = (v & 2) != 0;
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_last_fwd(d, bias, skip);
      require_bf16_close(
          run_last_fwd(d, bias, skip), r.want, r.sumabs, 9.0 * 64 + 3, false,
          "last fwd " + shape_str(d.last()) + (bias ? " bias" : "") + (skip ? " skip" : ""));
    }
}

TEST_CASE("bf16 thin layers: last-layer backward-data matches the reference") {
  vdsr::test::require_gpu();
  uint32_t seed = 21000;
  for (const Pixels& n : kThinShapes)
    for (int masked = 0; masked < 2; ++masked) {
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_last_bwd_data(d, masked != 0);
      require_bf16_close(run_last_bwd_data(d, masked != 0), r.want, r.sumabs, 9, true,
                         "last bwd_data " + shape_str(d.last()) + (masked ? " masked" : ""));
    }
}

TEST_CASE("bf16 thin layers: last-layer backward-weight matches the reference") {
  vdsr::test::require_gpu();
  uint32_t seed = 22000;
  for (const Pixels& n : kThinShapes)
    for (int with_db = 0; with_db < 2; ++with_db) {
      const Thin d = make_thin(n, false, seed += 10);
      const WRef r = ref_last_wgrad(d);
      std::vector<float> dw, db;
      run_last_wgrad(d, with_db != 0, &dw, &db);
      const double chain = double(d.last().pixels()) + 2;
      const std::string tag = " " + shape_str(d.last()) + (with_db ? "" : " (null db)");
      require_bf16_close(dw, r.dw.want, r.dw.sumabs, chain, false, "last wgrad dw" + tag);
      if (with_db)
        require_bf16_close(db, r.db.want, r.db.sumabs, chain, false, "last wgrad db" + tag);
    }
}

TEST_CASE("bf16 thin layers are exact on small integers (training shape and a wide image)") {
  vdsr::test::require_gpu();
  // |plane|, |map|, |w|, |skip| <= 2, |b| <= 4: first forward sums are integers of at most 9*4 + 4,
  // last forward 9*64*4 + 4 + 2, last backward-data 9*4, weight gradients 64*41*41*4 < 2^24:
  // exact in fp32 in any order (the chunks' double sums too), so any indexing slip shows.
  const Pixels shapes[] = {{64, 41, 41}, {1, 37, 203}};
  uint32_t seed = 23000;
  for (const Pixels& n : shapes) {
    const Thin d = make_thin(n, true, seed += 10);
    const std::string tag = " " + shape_str(d.first());
    require_bf16_exact(run_first_fwd(d, true, true), ref_first_fwd(d, true, true).want, true,
                       "first fwd bias relu" + tag);
    require_bf16_exact(run_last_fwd(d, true, true), ref_last_fwd(d, true, true).want, false,
                       "last fwd bias skip" + tag);
    require_bf16_exact(run_last_bwd_data(d, true), ref_last_bwd_data(d, true).want, true,
                       "last bwd_data masked" + tag);
    std::vector<float> dw, db;
    const WRef rf = ref_first_wgrad(d);
    run_first_wgrad(d, true, &dw, &db);
    require_bf16_exact(dw, rf.dw.want, false, "first wgrad dw" + tag);
    require_bf16_exact(db, rf.db.want, false, "first wgrad db" + tag);
    const WRef rl = ref_last_wgrad(d);
    run_last_wgrad(d, true, &dw, &db);
    require_bf16_exact(dw, rl.dw.want, false, "last wgrad dw" + tag);
    require_bf16_exact(db, rl.db.want, false, "last wgrad db" + tag);
  }
}

TEST_CASE("bf16 thin layers: weight gradients are deterministic") {
  vdsr::test::require_gpu();
  // Interleaved, so the shared scratch block is reused between the two launchers as in training.
  const Thin d = make_thin({64, 41, 41}, false, 24000);
  std::vector<float> fdw1, fdb1, ldw1, ldb1, fdw2, fdb2, ldw2, ldb2;
  run_first_wgrad(d, true, &fdw1, &fdb1);
  run_last_wgrad(d, true, &ldw1, &ldb1);
  run_first_wgrad(d, true, &fdw2, &fdb2);
  run_last_wgrad(d, true, &ldw2, &ldb2);
  CHECK(same_bits(fdw1, fdw2));
  CHECK(same_bits(fdb1, fdb2));
  CHECK(same_bits(ldw1, ldw2));
  CHECK(same_bits(ldb1, ldb2));
}

TEST_CASE("bf16 thin layers check their preconditions") {
  vdsr::test::require_gpu();
  // Big enough for any 3x3 shape below, should a check be missing and a kernel run.
  Dev<bf16> m(64 * 64 * 9);
  Dev<float> p(64 * 64 * 9), w(64 * 64 * 9);
  const ConvShape first{1, 3, 3, 1, 64}, last{1, 3, 3, 64, 1};
  const ConvShape c64{1, 3, 3, 64, 64}, k32{1, 3, 3, 1, 32}, k2{1, 3, 3, 64, 2},
      c32{1, 3, 3, 32, 1};
  const auto thin = Catch::Contains("thin layers");
  CHECK_THROWS_WITH(
      vdsr::conv3x3_first_fwd_bf16_cuda(c64, p.get(), w.get(), nullptr, false, m.get(), stream()),
      thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_first_fwd_bf16_cuda(k32, p.get(), w.get(), nullptr, false, m.get(), stream()),
      thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_first_bwd_weight_bf16_cuda(last, p.get(), m.get(), w.get(),
                                                             nullptr, stream(), kDev),
                    thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_fwd_bf16_cuda(k2, m.get(), w.get(), nullptr, nullptr, p.get(), stream()),
      thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_bwd_data_bf16_cuda(first, p.get(), w.get(), nullptr, m.get(), stream()),
      thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(c32, m.get(), p.get(), w.get(), nullptr,
                                                            stream(), kDev),
                    thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda({0, 3, 3, 1, 64}, p.get(), w.get(), nullptr,
                                                      false, m.get(), stream()),
                    Catch::Contains("bad shape"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_first_fwd_bf16_cuda(first, nullptr, w.get(), nullptr, false, m.get(), stream()),
      Catch::Contains("null"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_bwd_data_bf16_cuda(last, p.get(), nullptr, nullptr, m.get(), stream()),
      Catch::Contains("null"));
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(last, m.get(), p.get(), nullptr,
                                                            nullptr, stream(), kDev),
                    Catch::Contains("null"));
  // The map side moves 16 bytes at a time: a map pointer off by one bf16 is refused.
  CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(first, p.get(), w.get(), nullptr, false,
                                                      m.get() + 1, stream()),
                    Catch::Contains("misaligned"));
  CHECK_THROWS_WITH(vdsr::conv3x3_last_fwd_bf16_cuda(last, m.get() + 1, w.get(), nullptr, nullptr,
                                                     p.get(), stream()),
                    Catch::Contains("misaligned"));
}
