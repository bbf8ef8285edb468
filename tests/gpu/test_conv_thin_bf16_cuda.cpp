// The bf16 mode's thin first and last layers (kernels/conv3x3_thin_bf16.cu: the first, 1 -> 64,
// and the last, 64 -> 1), shape cases of kernels/ops.h with one kernel each rather than registry
// rows, against the double references. They run on the CUDA cores as fp32 FMA chains; their
// one-channel side (image, residual) is fp32 and used as is, only the 64-channel map is rounded to
// bf16 first, so the reference sees the values multiplied.
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
#include "tests/gpu/conv_suite.h"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using vdsr::DType;
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

std::vector<float> run_first_fwd(const Thin& d, bool bias, bool relu) {
  const GpuArray x(d.plane), wt(d.wt), b(d.b), y(size_t(d.first().out_elems()), DType::BF16);
  vdsr::conv3x3_first_fwd_bf16_cuda(d.first(), x.f32(), wt.f32(), bias ? b.f32() : nullptr, relu,
                                    bf(y), gpu_stream());
  return y.download();
}
std::vector<float> run_last_fwd(const Thin& d, bool bias, bool skip) {
  const GpuArray x(d.map, DType::BF16), wt(d.wt), b(std::vector<float>{d.b[0]}), sk(d.skip),
      y(size_t(d.last().out_elems()));
  vdsr::conv3x3_last_fwd_bf16_cuda(d.last(), bf(x), wt.f32(), bias ? b.f32() : nullptr,
                                   skip ? sk.f32() : nullptr, y.f32(), gpu_stream());
  return y.download();
}
std::vector<float> run_last_bwd_data(const Thin& d, bool masked) {
  const GpuArray dy(d.plane), wt(d.wt), src(d.src, DType::BF16),
      dx(size_t(d.last().in_elems()), DType::BF16);
  vdsr::conv3x3_last_bwd_data_bf16_cuda(d.last(), dy.f32(), wt.f32(), masked ? bf(src) : nullptr,
                                        bf(dx), gpu_stream());
  return dx.download();
}
// db is left empty when with_db is false (the launcher then gets a null db).
void run_first_wgrad(const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const GpuArray x(d.plane), dy(d.map, DType::BF16), dwd(64 * 9), dbd(64);
  vdsr::conv3x3_first_bwd_weight_bf16_cuda(d.first(), x.f32(), bf(dy), dwd.f32(),
                                           with_db ? dbd.f32() : nullptr, gpu_stream(), kGpu);
  *dw = dwd.download();
  *db = with_db ? dbd.download() : std::vector<float>();
}
void run_last_wgrad(const Thin& d, bool with_db, std::vector<float>* dw, std::vector<float>* db) {
  const GpuArray x(d.map, DType::BF16), dy(d.plane), dwd(64 * 9), dbd(1);
  vdsr::conv3x3_last_bwd_weight_bf16_cuda(d.last(), bf(x), dy.f32(), dwd.f32(),
                                          with_db ? dbd.f32() : nullptr, gpu_stream(), kGpu);
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
// shape, with and without db.
void check_thin_wgrad(bool last, uint32_t seed) {
  const std::string layer = last ? "last" : "first";
  for (const Pixels& n : kThinShapes)
    for (const bool with_db : {false, true}) {
      const Thin d = make_thin(n, false, seed += 10);
      const ConvShape s = last ? d.last() : d.first();
      const WgradRef r = last ? ref_last_wgrad(d) : ref_first_wgrad(d);
      std::vector<float> dw, db;
      (last ? run_last_wgrad : run_first_wgrad)(d, with_db, &dw, &db);
      const double chain = double(s.pixels()) + 2;
      const std::string tag = " " + shape_str(s) + (with_db ? "" : " (null db)");
      require_thin_close(dw, r.dw, chain, false, layer + " wgrad dw" + tag);
      if (with_db) require_thin_close(db, r.db, chain, false, layer + " wgrad db" + tag);
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
      require_thin_close(
          run_first_fwd(d, bias, relu), r, 9 + 2, true,
          "first fwd " + shape_str(d.first()) + (bias ? " bias" : "") + (relu ? " relu" : ""));
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
      require_thin_close(
          run_last_fwd(d, bias, skip), r, 9.0 * 64 + 3, false,
          "last fwd " + shape_str(d.last()) + (bias ? " bias" : "") + (skip ? " skip" : ""));
    }
}

TEST_CASE("bf16 thin layers: last-layer backward-data matches the reference") {
  require_gpu();
  uint32_t seed = 21000;
  for (const Pixels& n : kThinShapes)
    for (int masked = 0; masked < 2; ++masked) {
      const Thin d = make_thin(n, false, seed += 10);
      const Ref r = ref_last_bwd_data(d, masked != 0);
      require_thin_close(run_last_bwd_data(d, masked != 0), r, 9, true,
                         "last bwd_data " + shape_str(d.last()) + (masked ? " masked" : ""));
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
    const std::string tag = " " + shape_str(d.first());
    require_thin_exact(run_first_fwd(d, true, true), ref_first_fwd(d, true, true).want, true,
                       "first fwd bias relu" + tag);
    require_thin_exact(run_last_fwd(d, true, true), ref_last_fwd(d, true, true).want, false,
                       "last fwd bias skip" + tag);
    require_thin_exact(run_last_bwd_data(d, true), ref_last_bwd_data(d, true).want, true,
                       "last bwd_data masked" + tag);
    std::vector<float> dw, db;
    const WgradRef rf = ref_first_wgrad(d);
    run_first_wgrad(d, true, &dw, &db);
    require_thin_exact(dw, rf.dw.want, false, "first wgrad dw" + tag);
    require_thin_exact(db, rf.db.want, false, "first wgrad db" + tag);
    const WgradRef rl = ref_last_wgrad(d);
    run_last_wgrad(d, true, &dw, &db);
    require_thin_exact(dw, rl.dw.want, false, "last wgrad dw" + tag);
    require_thin_exact(db, rl.db.want, false, "last wgrad db" + tag);
  }
}

TEST_CASE("bf16 thin layers: weight gradients are deterministic") {
  require_gpu();
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
  require_gpu();
  // Big enough for any 3x3 shape below, should a check be missing and a kernel run.
  const GpuArray m(64 * 64 * 9, DType::BF16), p(64 * 64 * 9), w(64 * 64 * 9);
  const ConvShape first{1, 3, 3, 1, 64}, last{1, 3, 3, 64, 1};
  const ConvShape c64{1, 3, 3, 64, 64}, k32{1, 3, 3, 1, 32}, k2{1, 3, 3, 64, 2},
      c32{1, 3, 3, 32, 1};
  const auto thin = Catch::Contains("thin layers");
  CHECK_THROWS_WITH(
      vdsr::conv3x3_first_fwd_bf16_cuda(c64, p.f32(), w.f32(), nullptr, false, bf(m), gpu_stream()),
      thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_first_fwd_bf16_cuda(k32, p.f32(), w.f32(), nullptr, false, bf(m), gpu_stream()),
      thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_first_bwd_weight_bf16_cuda(last, p.f32(), bf(m), w.f32(), nullptr,
                                                             gpu_stream(), kGpu),
                    thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_fwd_bf16_cuda(k2, bf(m), w.f32(), nullptr, nullptr, p.f32(), gpu_stream()),
      thin);
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_bwd_data_bf16_cuda(first, p.f32(), w.f32(), nullptr, bf(m), gpu_stream()),
      thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(c32, bf(m), p.f32(), w.f32(), nullptr,
                                                            gpu_stream(), kGpu),
                    thin);
  CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda({0, 3, 3, 1, 64}, p.f32(), w.f32(), nullptr,
                                                      false, bf(m), gpu_stream()),
                    Catch::Contains("bad shape"));
  CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(first, nullptr, w.f32(), nullptr, false,
                                                      bf(m), gpu_stream()),
                    Catch::Contains("null"));
  CHECK_THROWS_WITH(
      vdsr::conv3x3_last_bwd_data_bf16_cuda(last, p.f32(), nullptr, nullptr, bf(m), gpu_stream()),
      Catch::Contains("null"));
  CHECK_THROWS_WITH(vdsr::conv3x3_last_bwd_weight_bf16_cuda(last, bf(m), p.f32(), nullptr, nullptr,
                                                            gpu_stream(), kGpu),
                    Catch::Contains("null"));
  // The map side moves 16 bytes at a time: a map pointer off by one bf16 is refused.
  CHECK_THROWS_WITH(vdsr::conv3x3_first_fwd_bf16_cuda(first, p.f32(), w.f32(), nullptr, false,
                                                      bf(m) + 1, gpu_stream()),
                    Catch::Contains("misaligned"));
  CHECK_THROWS_WITH(vdsr::conv3x3_last_fwd_bf16_cuda(last, bf(m) + 1, w.f32(), nullptr, nullptr,
                                                     p.f32(), gpu_stream()),
                    Catch::Contains("misaligned"));
}
