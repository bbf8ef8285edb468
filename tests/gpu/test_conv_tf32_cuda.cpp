// The tf32 tensor-core 3x3 convolutions (kernels/conv3x3_tf32.cuh, 64 -> 64), every variant the
// device can run for each shape, against the double references.
//
// Inputs are rounded to tf32 on the host first (nearest, ties away from zero, as cvt.rna), so the
// kernels' own rounding leaves them unchanged and the reference sees exactly the values the tensor
// cores multiply; products of tf32 are exact in fp32. Outputs are fp32 sums of 9*64 products
// (forward, backward-data; + bias) or of one product per pixel (weight gradient), with no final
// rounding: |got - want| <= 4 chain 2^-23 sum|terms|, four times the recursive-summation bound
// because the tensor cores' fp32 accumulation is not specified to round like an FMA chain (the
// same allowance as the bf16 tests).
//
// Exact tests pin the rest down bit for bit: small integers (every partial sum an integer below
// 2^24) for the indexing, and inputs that need rounding (1 + j 2^-12, j = 0..3: below, at and
// above the tie between two tf32 values) for the kernels' rounding of activations, which must be
// to nearest with ties away from zero, and the weight copy's.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/conv3x3_gemm_weights.cuh"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/conv_variants.cuh"
#include "kernels/kernel_launch.cuh"
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
using vdsr::test::require_close;
using vdsr::test::require_exact;
using vdsr::test::same_bits;
using vdsr::test::shape_str;
using vdsr::test::tensor_core_shapes;
using vdsr::test::to_double;
using vdsr::test::upload;

namespace {

cudaStream_t stream() { return vdsr::cuda_stream(kGpu); }

// Host tf32: round to nearest, ties away from zero, as cvt.rna.tf32.f32 (non-finite kept).
float tf32(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;
  std::memcpy(&f, &u, 4);
  return f;
}
std::vector<float> round_tf32(std::vector<float> v) {
  for (float& f : v) f = tf32(f);
  return v;
}

// +-(1 + j 2^-12), j = 0..3 at random: tf32 keeps 10 fraction bits, so j = 1 rounds down to 1,
// j = 2 is the tie (away: 1 + 2^-10), j = 3 rounds up.
std::vector<float> needs_rounding(size_t n, uint32_t seed) {
  const auto j = random_ints(n, 0, 3, seed), sign = random_ints(n, 0, 1, seed + 1);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (sign[i] != 0 ? -1.0f : 1.0f) * (1.0f + j[i] * std::ldexp(1.0f, -12));
  return v;
}

Dev<float> gemm_weights(const std::vector<float>& wt, bool flip) {
  const auto w = upload(wt);
  Dev<float> wg(wt.size());
  vdsr::conv3x3_weights_tf32_cuda(w.get(), 64, 64, flip, wg.get(), stream());
  vdsr::cuda_sync(kGpu);
  return wg;
}

struct Data {  // one problem, as the kernels get it (fp32)
  ConvShape s;
  std::vector<float> x, wt, b, dy, src;
};

Data make_data(const ConvShape& s, bool ints, uint32_t seed) {
  Data d{s, {}, {}, {}, {}, {}};
  auto gen = [&](size_t n, float lim) {
    return ints ? random_ints(n, -int(lim), int(lim), ++seed)
                : round_tf32(random_floats(n, -lim, lim, ++seed));
  };
  d.x = gen(size_t(s.in_elems()), 2);
  d.wt = gen(size_t(s.weight_elems()), 2);
  d.b = ints ? random_ints(size_t(s.K), -4, 4, ++seed) : random_floats(size_t(s.K), -1, 1, ++seed);
  d.dy = gen(size_t(s.out_elems()), 2);
  d.src = relu_source(size_t(s.in_elems()), ++seed);
  return d;
}

// Runs the tf32 registry row (kernels/conv_variants.cuh) of `role` named `variant`, or the
// registry's default when `variant` is empty.
void launch(vdsr::ConvRole role, const std::string& variant, const vdsr::ConvLaunch& a) {
  if (variant.empty())
    vdsr::launch_default_conv(role, vdsr::Precision::Tf32, a);
  else
    vdsr::conv_variant(role, vdsr::Precision::Tf32, variant).launch(a);
}

std::vector<float> run_fwd(const Data& d, bool bias_relu, const std::string& variant) {
  const auto x = upload(d.x), b = upload(d.b);
  const auto wg = gemm_weights(d.wt, false);
  Dev<float> y(size_t(d.s.out_elems()));
  launch(vdsr::ConvRole::Fwd, variant,
         vdsr::fwd_launch(d.s, x.get(), wg.get(), bias_relu ? b.get() : nullptr, bias_relu, y.get(), stream(), kGpu));
  return download(y);
}
std::vector<float> run_bwd_data(const Data& d, bool masked, const std::string& variant) {
  const auto dy = upload(d.dy), src = upload(d.src);
  const auto wg = gemm_weights(d.wt, true);
  Dev<float> dx(size_t(d.s.in_elems()));
  launch(vdsr::ConvRole::BwdData, variant,
         vdsr::bwd_data_launch(d.s, dy.get(), wg.get(), masked ? src.get() : nullptr, dx.get(), stream(), kGpu));
  return download(dx);
}
void run_bwd_weight(const Data& d, std::vector<float>* dw, std::vector<float>* db) {
  const auto x = upload(d.x), dy = upload(d.dy);
  Dev<float> dwd(size_t(d.s.weight_elems())), dbd(size_t(d.s.K));
  launch(vdsr::ConvRole::BwdWeight, "",
         vdsr::bwd_weight_launch(d.s, x.get(), dy.get(), dwd.get(), dbd.get(), stream(), kGpu));
  *dw = download(dwd);
  *db = download(dbd);
}

// The names of the forward / backward-data rows this device runs on shape s (the two roles share
// their kernels and names).
std::vector<std::string> usable_variants(const ConvShape& s) {
  std::vector<std::string> names;
  for (const vdsr::ConvVariant* v : vdsr::usable_conv_variants(vdsr::ConvRole::Fwd, vdsr::Precision::Tf32, s, kGpu))
    names.push_back(v->name);
  return names;
}
std::string variant_tag(const std::string& v) { return " [" + v + "]"; }

// The reference of an op and the same op on |inputs| (sum|terms|).
struct Ref {
  std::vector<double> want, sumabs;
};
Ref ref_fwd(const Data& d, bool bias_relu) {
  const ConvShape& s = d.s;
  const auto x = to_double(d.x), w = to_double(d.wt), b = to_double(d.b);
  const auto xa = abs_of(x), wa = abs_of(w), ba = abs_of(b);
  Ref r{std::vector<double>(size_t(s.out_elems())), std::vector<double>(size_t(s.out_elems()))};
  vdsr::conv_fwd_ref(s, x.data(), w.data(), bias_relu ? b.data() : nullptr, bias_relu,
                        r.want.data());
  vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias_relu ? ba.data() : nullptr, false,
                        r.sumabs.data());
  return r;
}
Ref ref_bwd_data(const Data& d, bool masked) {
  const ConvShape& s = d.s;
  const auto dy = to_double(d.dy), w = to_double(d.wt), src = to_double(d.src);
  const auto dya = abs_of(dy), wa = abs_of(w);
  Ref r{std::vector<double>(size_t(s.in_elems())), std::vector<double>(size_t(s.in_elems()))};
  vdsr::conv3x3_bwd_data_ref(s, dy.data(), w.data(), masked ? src.data() : nullptr, r.want.data());
  vdsr::conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, r.sumabs.data());
  return r;
}
struct WRef {
  Ref dw, db;
};
// x and dy as the tensor cores see them (rounded: xr, dyr); db sums the unrounded dy.
WRef ref_wgrad(const ConvShape& s, const std::vector<float>& x, const std::vector<float>& dy) {
  const auto xd = to_double(round_tf32(x)), dyr = to_double(round_tf32(dy)), dyd = to_double(dy);
  const auto xa = abs_of(xd), dya = abs_of(dyr), dyda = abs_of(dyd);
  const size_t nw = size_t(s.weight_elems()), nb = size_t(s.K);
  WRef r{{std::vector<double>(nw), std::vector<double>(nw)},
         {std::vector<double>(nb), std::vector<double>(nb)}};
  vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyr.data(), r.dw.want.data(), nullptr);
  vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), r.dw.sumabs.data(), nullptr);
  std::vector<double> unused(nw);
  vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), unused.data(), r.db.want.data());
  vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dyda.data(), unused.data(), r.db.sumabs.data());
  return r;
}

}  // namespace

TEST_CASE(
    "tf32 GEMM weight copies are the layouts of the bf16 ones, rounded to nearest (ties away)") {
  vdsr::test::require_gpu();
  std::vector<float> wt = random_floats(64 * 64 * 9, -3, 3, 30000);
  wt[0] = 1.0f + std::ldexp(1.0f, -11);   // a tie: away from zero, 1 + 2^-10
  wt[1] = -1.0f - std::ldexp(1.0f, -11);  // and its negative
  wt[2] = 1.0f + std::ldexp(1.0f, -12);   // below the tie: 1
  for (int flip = 0; flip < 2; ++flip) {
    const auto got = download(gemm_weights(wt, flip != 0));
    int64_t bad = 0;
    for (int co = 0; co < 64; ++co)
      for (int tap = 0; tap < 9; ++tap)
        for (int ci = 0; ci < 64; ++ci) {
          // forward: wg[k][tap][c] = wt[k][c][tap]; backward-data: wg[c][tap][k] = wt[k][c][8 -
          // tap]
          const int k = flip ? ci : co, c = flip ? co : ci;
          const float want = tf32(wt[size_t((k * 64 + c) * 9 + (flip ? 8 - tap : tap))]);
          const float g = got[size_t((co * 9 + tap) * 64 + ci)];
          bad += std::memcmp(&g, &want, 4) != 0;
        }
    INFO((flip ? "flipped" : "forward") << " copy: " << bad << " words differ");
    CHECK(bad == 0);
  }
  const auto fwd = download(gemm_weights(wt, false));
  CHECK(fwd[0] == 1.0f + std::ldexp(1.0f, -10));    // wt[0][0][tap 0] -> wg[0][0][0]
  CHECK(fwd[64] == -1.0f - std::ldexp(1.0f, -10));  // wt[0][0][tap 1] -> wg[0][1][0]
  CHECK(fwd[128] == 1.0f);                          // wt[0][0][tap 2] -> wg[0][2][0]
}

TEST_CASE("tf32 conv3x3 forward matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 31000;
  for (const ConvShape& s : tensor_core_shapes())
    for (int bias_relu = 0; bias_relu < 2; ++bias_relu) {
      const Data d = make_data(s, false, seed += 10);
      const Ref r = ref_fwd(d, bias_relu != 0);
      for (const std::string& v : usable_variants(s))
        require_close(
            run_fwd(d, bias_relu != 0, v), r.want, r.sumabs, 4.0 * (9 * 64 + 2),
            "fwd tf32 " + shape_str(s) + (bias_relu ? " bias relu" : "") + variant_tag(v));
    }
}

TEST_CASE("tf32 conv3x3 backward-data matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 32000;
  for (const ConvShape& s : tensor_core_shapes())
    for (int masked = 0; masked < 2; ++masked) {
      const Data d = make_data(s, false, seed += 10);
      const Ref r = ref_bwd_data(d, masked != 0);
      for (const std::string& v : usable_variants(s))
        require_close(run_bwd_data(d, masked != 0, v), r.want, r.sumabs, 4.0 * 9 * 64,
                      "bwd_data tf32 " + shape_str(s) + (masked ? " masked" : "") + variant_tag(v));
    }
}

TEST_CASE("tf32 conv3x3 backward-weight matches the reference on awkward shapes") {
  vdsr::test::require_gpu();
  uint32_t seed = 33000;
  for (const ConvShape& s : tensor_core_shapes()) {
    const Data d = make_data(s, false, seed += 10);
    const WRef r = ref_wgrad(s, d.x, d.dy);
    std::vector<float> dw, db;
    run_bwd_weight(d, &dw, &db);
    const double chain = 4.0 * (double(s.pixels()) + 2);
    require_close(dw, r.dw.want, r.dw.sumabs, chain, "bwd_weight tf32 dw " + shape_str(s));
    require_close(db, r.db.want, r.db.sumabs, chain, "bwd_weight tf32 db " + shape_str(s));
  }
}

TEST_CASE("tf32 conv3x3 ops are exact on small integers (training shape, a wide image)") {
  vdsr::test::require_gpu();
  // |x|, |dy|, |w| <= 2, |b| <= 4: every partial sum is an integer below 2^24 (the weight
  // gradient's at most 64*41*41*4), exact in fp32 in any order.
  const ConvShape shapes[] = {{64, 41, 41, 64, 64}, {1, 37, 203, 64, 64}};
  uint32_t seed = 34000;
  for (const ConvShape& s : shapes) {
    const Data d = make_data(s, true, seed += 10);
    const std::string tag = " " + shape_str(s);
    const Ref y = ref_fwd(d, true);
    for (const std::string& v : usable_variants(s))
      require_exact(run_fwd(d, true, v), y.want, "fwd tf32" + tag + variant_tag(v));
    const Ref dx = ref_bwd_data(d, true);
    for (const std::string& v : usable_variants(s))
      require_exact(run_bwd_data(d, true, v), dx.want, "bwd_data tf32" + tag + variant_tag(v));
    const WRef w = ref_wgrad(s, d.x, d.dy);
    std::vector<float> dw, db;
    run_bwd_weight(d, &dw, &db);
    require_exact(dw, w.dw.want, "bwd_weight tf32 dw" + tag);
    require_exact(db, w.db.want, "bwd_weight tf32 db" + tag);
  }
}

TEST_CASE("tf32 conv3x3 kernels round fp32 activations to nearest, ties away from zero") {
  vdsr::test::require_gpu();
  // Activations +-(1 + j 2^-12) against integer weights or gradients in [-2, 2]: the rounded
  // products are multiples of 2^-10 below 4, so every sum here is exact in fp32 and the results
  // equal the reference on host-rounded inputs bit for bit; truncation, or rounding ties to even,
  // would miss by multiples of 2^-10. The bias gradient sums the unrounded dy (exact too).
  const ConvShape shapes[] = {{1, 13, 17, 64, 64}, {2, 9, 100, 64, 64}};
  uint32_t seed = 35000;
  for (const ConvShape& s : shapes) {
    const std::string tag = " " + shape_str(s);
    Data d = make_data(s, true, seed += 10);
    d.x = needs_rounding(d.x.size(), seed + 1);
    d.dy = needs_rounding(d.dy.size(), seed + 3);
    Data rounded = d;
    rounded.x = round_tf32(d.x);
    rounded.dy = round_tf32(d.dy);
    const Ref y = ref_fwd(rounded, true);
    const Ref dx = ref_bwd_data(rounded, true);
    for (const std::string& v : usable_variants(s)) {
      require_exact(run_fwd(d, true, v), y.want, "fwd tf32 rounding" + tag + variant_tag(v));
      require_exact(run_bwd_data(d, true, v), dx.want,
                    "bwd_data tf32 rounding" + tag + variant_tag(v));
    }
    // The weight gradient: one side needs rounding, the other is integer.
    for (int side = 0; side < 2; ++side) {
      Data w = d;
      (side == 0 ? w.dy : w.x) = random_ints(side == 0 ? d.dy.size() : d.x.size(), -2, 2, seed + 5);
      const WRef r = ref_wgrad(s, w.x, w.dy);
      std::vector<float> dw, db;
      run_bwd_weight(w, &dw, &db);
      const std::string what = side == 0 ? " (x rounded)" : " (dy rounded)";
      require_exact(dw, r.dw.want, "bwd_weight tf32 rounding dw" + tag + what);
      require_exact(db, r.db.want, "bwd_weight tf32 rounding db" + tag + what);
    }
  }
}

TEST_CASE("tf32 conv3x3 forward and backward-data are position independent (crops)") {
  vdsr::test::require_gpu();
  // A crop cut differently into tiles must give, away from its 1-pixel border (which sees the
  // crop's zero padding), the whole image's outputs bit for bit.
  const ConvShape shapes[] = {{1, 41, 41, 64, 64}, {1, 23, 150, 64, 64}, {1, 20, 60, 64, 64}};
  uint32_t seed = 36000;
  for (const ConvShape& s : shapes)
    for (const std::string& v : usable_variants(s)) {
      const vdsr::test::Crop crop = vdsr::test::crop_of(s);
      Data d = make_data(s, false, seed += 10);
      Data c = d;
      c.s = crop.shape();
      c.x = crop.cut(d.x);
      c.dy = crop.cut(d.dy);
      c.src = crop.cut(d.src);
      REQUIRE(vdsr::conv_variant(vdsr::ConvRole::Fwd, vdsr::Precision::Tf32, v).usable(c.s, kGpu));
      const int64_t bad_y = crop.interior_differences(run_fwd(d, true, v), run_fwd(c, true, v));
      const int64_t bad_dx =
          crop.interior_differences(run_bwd_data(d, true, v), run_bwd_data(c, true, v));
      INFO(shape_str(s) << variant_tag(v) << ": crop differs from the whole in " << bad_y
                        << " forward and " << bad_dx << " backward-data outputs");
      CHECK(bad_y == 0);
      CHECK(bad_dx == 0);
    }
}

TEST_CASE("tf32 conv3x3 backward-weight is deterministic") {
  vdsr::test::require_gpu();
  const Data d = make_data({64, 41, 41, 64, 64}, false, 37000);
  std::vector<float> dw1, db1, dw2, db2;
  run_bwd_weight(d, &dw1, &db1);
  run_bwd_weight(d, &dw2, &db2);
  CHECK(same_bits(dw1, dw2));
  CHECK(same_bits(db1, db2));
}

TEST_CASE("tf32 conv3x3: the training shape runs with every output-channel slice on this GPU") {
  vdsr::test::require_gpu();
  // Compute 9.0 (227 KB per CTA) holds all 64 channels' fp32 weights; 8.0 holds 32; the 99 KB
  // parts 16. The default picks the widest that fits.
  const ConvShape s{64, 41, 41, 64, 64};
  const auto v = usable_variants(s);
  REQUIRE(!v.empty());
  if (vdsr::current_device_cc() == 90) CHECK(v.size() == 3);
  // The default gives the widest slice's result bit for bit (each output's sum is the same
  // sequence whichever slice computes it).
  const Data d = make_data({2, 41, 41, 64, 64}, false, 38000);
  CHECK(same_bits(run_fwd(d, true, ""), run_fwd(d, true, v.front())));
  for (const std::string& w : v) CHECK(same_bits(run_fwd(d, true, w), run_fwd(d, true, v.front())));
}

TEST_CASE("tf32 conv3x3 launchers check their preconditions") {
  vdsr::test::require_gpu();
  Dev<float> a(64 * 64 * 9), b(64 * 64 * 9), w(64 * 64 * 9);
  const ConvShape c32{1, 3, 3, 32, 64}, k16{1, 3, 3, 64, 16}, ok{1, 3, 3, 64, 64};
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_tf32_cuda(c32, a.get(), b.get(), nullptr, false, w.get(), stream(), 2),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_bwd_data_tf32_cuda(k16, a.get(), b.get(), nullptr, w.get(), stream(), 2),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_bwd_weight_tf32_cuda(c32, a.get(), b.get(), w.get(), nullptr, stream(), kGpu),
      Catch::Contains("64 -> 64"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_tf32_cuda(ok, a.get(), b.get(), nullptr, false, a.get(), stream(), 2),
      Catch::Contains("in place"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_fwd_tf32_cuda(ok, nullptr, b.get(), nullptr, false, a.get(), stream(), 2),
      Catch::Contains("null"));
  CHECK_THROWS(vdsr::conv3x3_weights_tf32_cuda(w.get(), 0, 64, false, a.get(), stream()));
  CHECK_THROWS_WITH(vdsr::conv3x3_fwd_tf32_cuda(ok, a.get(), b.get(), nullptr, false, w.get(),
                                                stream(), 3),
                    Catch::Contains("no tf32 variant"));
  CHECK(!vdsr::conv3x3_tf32_variant_usable(-1, ok));
  CHECK(!vdsr::conv3x3_tf32_variant_usable(3, ok));
}
