// The bf16 mode's thin first and last layers (kernels/conv3x3_thin_bf16.cu: the first, 1 -> 64,
// and the last, 64 -> 1), the registry's bf16 "thin-*" rows, every row against the double
// references and against the default bit for bit. They run on the CUDA cores as fp32 FMA chains;
// their one-channel side (image, residual) is fp32 and used as is, only the 64-channel map is
// rounded to bf16 first, so the reference sees the values multiplied.
//
// Bounds (tests/gpu/conv_test_support.h, Bound), as the tensor-core precisions' in
// test_conv_cuda.cpp: chain 2^-21 sum|terms| (4x the recursive-summation bound), + 2^-8 |want|
// when the output is a bf16 map (the final rounding, 2^-9, doubled for the fp32 error in the value
// rounded). First forward (bias + 9 taps, rounded to bf16) chain 9 + 2; last backward-data (9 taps,
// rounded) chain 9; last forward (fp32 out: 9*64 products, the lanes' butterfly, bias, skip) chain
// 9*64 + 3 and no rounding term; weight gradients (fp32 sums per chunk of pixels, chunks added in
// double) chain = the pixels + 2. Exact on small integers, bit for bit: bf16 maps equal the exact
// sum rounded to bf16, fp32 outputs the exact sum.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "kernels/conv3x3_thin_bf16.cuh"
#include "kernels/ops.h"
#include "tests/gpu/conv_suite.h"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvRole;
using vdsr::ConvShape;
using vdsr::DType;
using vdsr::Precision;
using namespace vdsr::test;  // NOLINT: the suite's vocabulary (conv_suite.h, conv_test_support.h)

namespace {

__nv_bfloat16* bf(const GpuArray& a) { return static_cast<__nv_bfloat16*>(a.get()); }

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
  d.map = rounded(gen(P * 64, 2), round_bf16);
  d.wt = gen(64 * 9, 2);
  d.b = gen(64, ints ? 4 : 1);
  d.skip = gen(P, 2);
  d.src = rounded(relu_source(P * 64, ++seed), round_bf16);
  return d;
}

// The thin rows of the registry (kernels/conv_variants.cu, "thin-*") for a role at s: one at least.
std::vector<Row> thin_rows(ConvRole role, const ConvShape& s) {
  const std::vector<Row> rows = vdsr::usable_conv_variants(role, Precision::Bf16, s, kGpu);
  INFO(vdsr::conv_role_name(role) << " " << shape_str(s));
  REQUIRE(!rows.empty());
  for (Row r : rows) CHECK(std::string(r->name).rfind("thin-", 0) == 0);
  return rows;
}
std::string tag(Row r) { return std::string(" [") + r->name + "]"; }

std::vector<float> run_first_fwd(Row row, const Thin& d, bool bias, bool relu) {
  const GpuArray x(d.plane), wt(d.wt), b(d.b), y(size_t(d.first().out_elems()), DType::BF16);
  row->launch(vdsr::fwd_launch(d.first(), x.f32(), wt.f32(), bias ? b.f32() : nullptr, relu, y.get(), gpu_stream(),
                               kGpu));
  return y.download();
}
std::vector<float> run_last_fwd(Row row, const Thin& d, bool bias, bool skip) {
  const GpuArray x(d.map, DType::BF16), wt(d.wt), b(std::vector<float>{d.b[0]}), sk(d.skip),
      y(size_t(d.last().out_elems()));
  vdsr::ConvLaunch a =
      vdsr::fwd_launch(d.last(), x.get(), wt.f32(), bias ? b.f32() : nullptr, false, y.get(), gpu_stream(), kGpu);
  a.skip = skip ? sk.f32() : nullptr;
  row->launch(a);
  return y.download();
}
std::vector<float> run_last_bwd_data(Row row, const Thin& d, bool masked) {
  const GpuArray dy(d.plane), wt(d.wt), src(d.src, DType::BF16),
      dx(size_t(d.last().in_elems()), DType::BF16);
  row->launch(vdsr::bwd_data_launch(d.last(), dy.f32(), wt.f32(), masked ? src.get() : nullptr, dx.get(),
                                    gpu_stream(), kGpu));
  return dx.download();
}
// db is left empty when with_db is false (the launcher then gets a null db).
void run_first_wgrad(Row row, const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const GpuArray x(d.plane), dy(d.map, DType::BF16), dwd(64 * 9), dbd(64);
  row->launch(vdsr::bwd_weight_launch(d.first(), x.f32(), dy.get(), dwd.f32(), with_db ? dbd.f32() : nullptr,
                                      gpu_stream(), kGpu));
  *dw = dwd.download();
  *db = with_db ? dbd.download() : std::vector<float>();
}
void run_last_wgrad(Row row, const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const GpuArray x(d.map, DType::BF16), dy(d.plane), dwd(64 * 9), dbd(1);
  row->launch(vdsr::bwd_weight_launch(d.last(), x.get(), dy.f32(), dwd.f32(), with_db ? dbd.f32() : nullptr,
                                      gpu_stream(), kGpu));
  *dw = dwd.download();
  *db = with_db ? dbd.download() : std::vector<float>();
}

// The references, through the suite's (tests/gpu/conv_suite.h) on the thin shapes.
Ref ref_first_fwd(const Thin& d, bool bias, bool relu) {
  return ref_fwd({d.first(), d.plane, d.wt, d.b, {}, {}}, bias, relu);
}
// y = skip + (b + conv): the conv reference with the bias, plus the skip (in sumabs too).
Ref ref_last_fwd(const Thin& d, bool bias, bool skip) {
  Ref r = ref_fwd({d.last(), d.map, d.wt, {d.b[0]}, {}, {}}, bias, false);
  if (skip)
    for (size_t p = 0; p < r.want.size(); ++p) {
      r.want[p] += double(d.skip[p]);
      r.sumabs[p] += std::fabs(double(d.skip[p]));
    }
  return r;
}
Ref ref_last_bwd_data(const Thin& d, bool masked) {
  return ref_bwd_data({d.last(), {}, d.wt, {}, d.plane, d.src}, masked);
}
// The first layer's weight gradient with (x, dy) = (plane, map), the last layer's with (map,
// plane).
WgradRef ref_first_wgrad(const Thin& d) {
  return ref_bwd_weight({d.first(), d.plane, {}, {}, d.map, {}});
}
WgradRef ref_last_wgrad(const Thin& d) {
  return ref_bwd_weight({d.last(), d.map, {}, {}, d.plane, {}});
}

// got against want within chain 2^-21 sum|terms| (+ 2^-8 |want| for a bf16 map).
void require_thin_close(const std::vector<float>& got, const Ref& r, double chain, bool bf16_out,
                        const std::string& what) {
  require_within(got, r.want, r.sumabs, {chain * 0x1p-21, bf16_out ? 0x1p-8 : 0}, what);
}
void require_thin_exact(const std::vector<float>& got, const std::vector<double>& want,
                        bool bf16_out, const std::string& what) {
  require_exactly(got, want, {bf16_out, true}, what);
}

// The weight gradient of the first layer or the last one against the reference on every thin
// shape, with and without db, every row.
void check_thin_wgrad(bool last, uint32_t seed) {
  const std::string layer = last ? "last" : "first";
  for (const Pixels& n : kThinShapes)
    for (const bool with_db : {false, true}) {
      const Thin d = make_thin(n, false, seed += 10);
      const ConvShape s = last ? d.last() : d.first();
      const WgradRef r = last ? ref_last_wgrad(d) : ref_first_wgrad(d);
      for (Row row : thin_rows(ConvRole::BwdWeight, s)) {
        std::vector<float> dw, db;
        (last ? run_last_wgrad : run_first_wgrad)(row, d, with_db, &dw, &db);
        const double chain = double(s.pixels()) + 2;
        const std::string what = " " + shape_str(s) + (with_db ? "" : " (null db)") + tag(row);
        require_thin_close(dw, r.dw, chain, false, layer + " wgrad dw" + what);
        if (with_db) require_thin_close(db, r.db, chain, false, layer + " wgrad db" + what);
      }
    }
}

}  // namespace

TEST_CASE("bf16 thin layers: first-layer forward matches the reference") {
  require_gpu();
  uint32_t seed = 18000;
  for (const Pixels& n : kThinShapes)
    for (int v = 0; v < 4; ++v) {
      const bool bias = (v & 1) != 0, relu = (v & 2) != 0;
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_first_fwd(d, bias, relu);
      for (Row row : thin_rows(ConvRole::Fwd, d.first()))
        require_thin_close(
            run_first_fwd(row, d, bias, relu), r, 9 + 2, true,
            "first fwd " + shape_str(d.first()) + (bias ? " bias" : "") + (relu ? " relu" : "") + tag(row));
    }
}

TEST_CASE("bf16 thin layers: first-layer backward-weight matches the reference") {
  require_gpu();
  check_thin_wgrad(false, 19000);
}

TEST_CASE("bf16 thin layers: last-layer forward with the residual matches the reference") {
  require_gpu();
  uint32_t seed = 20000;
  for (const Pixels& n : kThinShapes)
    for (int v = 0; v < 4; ++v) {
      const bool bias = (v & 1) != 0, skip = (v & 2) != 0;
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_last_fwd(d, bias, skip);
      for (Row row : thin_rows(ConvRole::Fwd, d.last()))
        require_thin_close(
            run_last_fwd(row, d, bias, skip), r, 9.0 * 64 + 3, false,
            "last fwd " + shape_str(d.last()) + (bias ? " bias" : "") + (skip ? " skip" : "") + tag(row));
    }
}

TEST_CASE("bf16 thin layers: last-layer backward-data matches the reference") {
  require_gpu();
  uint32_t seed = 21000;
  for (const Pixels& n : kThinShapes)
    for (int masked = 0; masked < 2; ++masked) {
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_last_bwd_data(d, masked != 0);
      for (Row row : thin_rows(ConvRole::BwdData, d.last()))
        require_thin_close(run_last_bwd_data(row, d, masked != 0), r, 9, true,
                           "last bwd_data " + shape_str(d.last()) + (masked ? " masked" : "") + tag(row));
    }
}

TEST_CASE("bf16 thin layers: last-layer backward-weight matches the reference") {
  require_gpu();
  check_thin_wgrad(true, 22000);
}

TEST_CASE("bf16 thin layers are exact on small integers (training shape and a wide image)") {
  require_gpu();
  // |plane|, |map|, |w|, |skip| <= 2, |b| <= 4: first forward sums are integers of at most 9*4 + 4,
  // last forward 9*64*4 + 4 + 2, last backward-data 9*4, weight gradients 64*41*41*4 < 2^24:
  // exact in fp32 in any order (the chunks' double sums too), so any indexing slip shows.
  const Pixels shapes[] = {{64, 41, 41}, {1, 37, 203}};
  uint32_t seed = 23000;
  for (const Pixels& n : shapes) {
    const Thin d = make_thin(n, true, seed += 10);
    const std::string at = " " + shape_str(d.first());
    for (Row row : thin_rows(ConvRole::Fwd, d.first()))
      require_thin_exact(run_first_fwd(row, d, true, true), ref_first_fwd(d, true, true).want, true,
                         "first fwd bias relu" + at + tag(row));
    for (Row row : thin_rows(ConvRole::Fwd, d.last()))
      require_thin_exact(run_last_fwd(row, d, true, true), ref_last_fwd(d, true, true).want, false,
                         "last fwd bias skip" + at + tag(row));
    for (Row row : thin_rows(ConvRole::BwdData, d.last()))
      require_thin_exact(run_last_bwd_data(row, d, true), ref_last_bwd_data(d, true).want, true,
                         "last bwd_data masked" + at + tag(row));
    std::vector<float> dw, db;
    const WgradRef rf = ref_first_wgrad(d), rl = ref_last_wgrad(d);
    for (Row row : thin_rows(ConvRole::BwdWeight, d.first())) {
      run_first_wgrad(row, d, true, &dw, &db);
      require_thin_exact(dw, rf.dw.want, false, "first wgrad dw" + at + tag(row));
      require_thin_exact(db, rf.db.want, false, "first wgrad db" + at + tag(row));
    }
    for (Row row : thin_rows(ConvRole::BwdWeight, d.last())) {
      run_last_wgrad(row, d, true, &dw, &db);
      require_thin_exact(dw, rl.dw.want, false, "last wgrad dw" + at + tag(row));
      require_thin_exact(db, rl.db.want, false, "last wgrad db" + at + tag(row));
    }
  }
}

TEST_CASE("bf16 thin layers: every row gives the default's bits") {
  require_gpu();
  // The column kernels sum in the pixel kernels' order (kernels/conv3x3_thin_bf16.cu), so on real
  // values (not only small integers) every row must match the default bit for bit. Shapes: the
  // training batch, a tile's edges (16 x 32) crossed on both axes, single rows and columns.
  const Pixels shapes[] = {{64, 41, 41}, {2, 33, 17}, {1, 1, 40}, {1, 70, 1}, {1, 65, 49}};
  uint32_t seed = 25000;
  for (const Pixels& n : shapes) {
    const Thin d = make_thin(n, false, seed += 10);
    const std::vector<Row> fwd_first = thin_rows(ConvRole::Fwd, d.first()),
                           fwd_last = thin_rows(ConvRole::Fwd, d.last()),
                           bwd = thin_rows(ConvRole::BwdData, d.last());
    const std::string at = " " + shape_str(d.first());
    for (Row row : fwd_first)
      for (const bool relu : {false, true})
        require_same_bits(run_first_fwd(row, d, true, relu), run_first_fwd(fwd_first.front(), d, true, relu),
                          "first fwd" + at + tag(row));
    for (Row row : fwd_last)
      for (const bool skip : {false, true})
        require_same_bits(run_last_fwd(row, d, true, skip), run_last_fwd(fwd_last.front(), d, true, skip),
                          "last fwd" + at + tag(row));
    for (Row row : bwd)
      for (const bool masked : {false, true})
        require_same_bits(run_last_bwd_data(row, d, masked), run_last_bwd_data(bwd.front(), d, masked),
                          "last bwd_data" + at + tag(row));
  }
}

TEST_CASE("bf16 thin layers: weight gradients are deterministic") {
  require_gpu();
  // Interleaved, so the shared scratch block is reused between the two launchers as in training.
  const Thin d = make_thin({64, 41, 41}, false, 24000);
  const Row row = thin_rows(ConvRole::BwdWeight, d.first()).front();
  std::vector<float> fdw1, fdb1, ldw1, ldb1, fdw2, fdb2, ldw2, ldb2;
  run_first_wgrad(row, d, true, &fdw1, &fdb1);
  run_last_wgrad(row, d, true, &ldw1, &ldb1);
  run_first_wgrad(row, d, true, &fdw2, &fdb2);
  run_last_wgrad(row, d, true, &ldw2, &ldb2);
  CHECK(same_bits(fdw1, fdw2));
  CHECK(same_bits(fdb1, fdb2));
  CHECK(same_bits(ldw1, ldw2));
  CHECK(same_bits(ldb1, ldb2));
}

TEST_CASE("bf16 thin layers check their preconditions") {
  require_gpu();
  // Big enough for any 3x3 shape below, should a check be missing and a kernel run.
  const GpuArray m(64 * 64 * 9, DType::BF16), p(64 * 64 * 9), w(64 * 64 * 9);
  const ConvShape first{1, 3, 3, 1, 64}, last{1, 3, 3, 64, 1};
  const ConvShape c64{1, 3, 3, 64, 64}, k32{1, 3, 3, 1, 32}, k2{1, 3, 3, 64, 2},
      c32{1, 3, 3, 32, 1};
  const auto thin = Catch::Contains("thin layers");
  const cudaStream_t st = gpu_stream();
  for (const int v : {0, 1}) {  // the pixel and the column variants check the same things
    INFO("variant " << v);
    CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(c64, p.f32(), w.f32(), nullptr, false, bf(m), st, v), thin);
    CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(k32, p.f32(), w.f32(), nullptr, false, bf(m), st, v), thin);
    CHECK_THROWS_WITH(vdsr::conv3x3_last_fwd_bf16_cuda(k2, bf(m), w.f32(), nullptr, nullptr, p.f32(), st, v), thin);
    CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_data_bf16_cuda(first, p.f32(), w.f32(), nullptr, bf(m), st, v), thin);
    CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda({0, 3, 3, 1, 64}, p.f32(), w.f32(), nullptr, false, bf(m), st, v),
                      Catch::Contains("bad shape"));
    CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(first, nullptr, w.f32(), nullptr, false, bf(m), st, v),
                      Catch::Contains("null"));
    CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_data_bf16_cuda(last, p.f32(), nullptr, nullptr, bf(m), st, v),
                      Catch::Contains("null"));
    // The map side moves 16 bytes at a time: a map pointer off by one bf16 is refused.
    CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(first, p.f32(), w.f32(), nullptr, false, bf(m) + 1, st, v),
                      Catch::Contains("misaligned"));
    CHECK_THROWS_WITH(vdsr::conv3x3_last_fwd_bf16_cuda(last, bf(m) + 1, w.f32(), nullptr, nullptr, p.f32(), st, v),
                      Catch::Contains("misaligned"));
  }
  CHECK_THROWS_WITH(vdsr::conv3x3_last_fwd_bf16_cuda(last, bf(m), w.f32(), nullptr, nullptr, p.f32(), st, 2),
                    Catch::Contains("variant 2"));
  CHECK_THROWS_WITH(vdsr::conv3x3_first_bwd_weight_bf16_cuda(last, p.f32(), bf(m), w.f32(), nullptr, st, kGpu), thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(c32, bf(m), p.f32(), w.f32(), nullptr, st, kGpu), thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(last, bf(m), p.f32(), nullptr, nullptr, st, kGpu),
                    Catch::Contains("null"));
  // The ops refuse bf16 math on BF16 maps at the thin shapes (the thin rows read an F32 plane on
  // their one-channel side), and the registry offers the thin rows at the thin shapes only.
  const vdsr::Device gpu = vdsr::Device::cuda(kGpu);
  CHECK_THROWS_WITH(vdsr::ops::conv_fwd(gpu, Precision::Bf16, first, {m.get(), DType::BF16}, w.get(), nullptr, false,
                                        nullptr, {m.get(), DType::BF16}),
                    Catch::Contains("F32 plane"));
  CHECK_THROWS_WITH(vdsr::ops::conv_bwd_weight(gpu, Precision::Bf16, last, {m.get(), DType::BF16},
                                               {m.get(), DType::BF16}, w.f32(), nullptr),
                    Catch::Contains("F32 plane"));
  CHECK(vdsr::usable_conv_variants(ConvRole::BwdData, Precision::Bf16, first, kGpu).empty());
  CHECK(vdsr::usable_conv_variants(ConvRole::Fwd, Precision::Bf16, k32, kGpu).empty());
  for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdWeight})
    for (Row r : vdsr::usable_conv_variants(role, Precision::Bf16, ConvShape{1, 3, 3, 64, 64}, kGpu))
      CHECK(std::string(r->name).rfind("thin-", 0) != 0);
}
