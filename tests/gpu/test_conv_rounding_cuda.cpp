// How the reduced precisions round fp32 operands, bit for bit: tf32 to nearest with ties away from
// zero (cvt.rna) in the GEMM weight copy and in all three kernels' reading of activations; bf16 to
// nearest even in the fp32 <-> bf16 conversions. The suite over every precision and row
// (test_conv_cuda.cpp) feeds pre-rounded operands, so it cannot see the rounding; these tests
// feed values that need it: 1 + j 2^-12, j = 0..3, below, at and above the tie between two tf32
// values, and the bf16 ties 1 + 2^-8, 1 + 3 2^-8. Truncation, or rounding ties the other way,
// would miss by whole units of the last place kept.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "kernels/to_bf16.cuh"
#include "tests/gpu/conv_suite.h"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvRole;
using vdsr::ConvShape;
using vdsr::Precision;
using namespace vdsr::test;  // NOLINT: the suite's vocabulary (conv_suite.h, conv_test_support.h)

namespace {

// +-(1 + j 2^-12), j = 0..3 at random: tf32 keeps 10 fraction bits, so j = 1 rounds down to 1,
// j = 2 is the tie (away: 1 + 2^-10), j = 3 rounds up.
std::vector<float> needs_rounding(size_t n, uint32_t seed) {
  const auto j = random_ints(n, 0, 3, seed), sign = random_ints(n, 0, 1, seed + 1);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (sign[i] != 0 ? -1.0f : 1.0f) * (1.0f + j[i] * std::ldexp(1.0f, -12));
  return v;
}

}  // namespace

TEST_CASE(
    "tf32 GEMM weight copies are the layouts of the bf16 ones, rounded to nearest (ties away)") {
  require_gpu();
  const PrecisionCase& tf32 = precision_case(Precision::Tf32);
  const ConvShape layer{1, 1, 1, 64, 64};
  std::vector<float> wt = random_floats(64 * 64 * 9, -3, 3, 30000);
  wt[0] = 1.0f + std::ldexp(1.0f, -11);   // a tie: away from zero, 1 + 2^-10
  wt[1] = -1.0f - std::ldexp(1.0f, -11);  // and its negative
  wt[2] = 1.0f + std::ldexp(1.0f, -12);   // below the tie: 1
  for (const bool flip : {false, true}) {
    const auto got = gemm_weights(tf32, wt, layer, flip).download();
    int64_t bad = 0;
    for (int co = 0; co < 64; ++co)
      for (int tap = 0; tap < 9; ++tap)
        for (int ci = 0; ci < 64; ++ci) {
          // forward: wg[k][tap][c] = wt[k][c][tap]; backward-data: wg[c][tap][k] = wt[k][c][8 -
          // tap]
          const int k = flip ? ci : co, c = flip ? co : ci;
          const float want = round_tf32(wt[size_t((k * 64 + c) * 9 + (flip ? 8 - tap : tap))]);
          const float g = got[size_t((co * 9 + tap) * 64 + ci)];
          bad += std::memcmp(&g, &want, 4) != 0;
        }
    INFO((flip ? "flipped" : "forward") << " copy: " << bad << " words differ");
    CHECK(bad == 0);
  }
  const auto fwd = gemm_weights(tf32, wt, layer, false).download();
  CHECK(fwd[0] == 1.0f + std::ldexp(1.0f, -10));    // wt[0][0][tap 0] -> wg[0][0][0]
  CHECK(fwd[64] == -1.0f - std::ldexp(1.0f, -10));  // wt[0][0][tap 1] -> wg[0][1][0]
  CHECK(fwd[128] == 1.0f);                          // wt[0][0][tap 2] -> wg[0][2][0]
}

TEST_CASE("tf32 conv kernels round fp32 activations to nearest, ties away from zero, every row") {
  require_gpu();
  // Activations +-(1 + j 2^-12) against integer weights or gradients in [-2, 2]: the rounded
  // products are multiples of 2^-10 below 4, so every sum here is exact in fp32 and the results
  // equal the reference on host-rounded inputs; truncation, or rounding ties to even, would miss
  // by multiples of 2^-10. The bias gradient sums the unrounded dy (exact too).
  const PrecisionCase& tf32 = precision_case(Precision::Tf32);
  const ConvShape shapes[] = {{1, 13, 17, 64, 64}, {2, 9, 100, 64, 64}};
  uint32_t seed = 35000;
  for (const ConvShape& s : shapes) {
    const std::string tag = " rounding " + shape_str(s);
    Problem d = int_problem(s, seed += 10);
    d.x = needs_rounding(d.x.size(), seed + 1);
    d.dy = needs_rounding(d.dy.size(), seed + 3);
    Problem as_multiplied = d;
    as_multiplied.x = rounded(d.x, round_tf32);
    as_multiplied.dy = rounded(d.dy, round_tf32);
    const Ref y = ref_fwd(as_multiplied, true, true, Sums::Skip),
              dx = ref_bwd_data(as_multiplied, true, Sums::Skip);
    const OnGpu g = upload(tf32, d);
    for (const Row row : rows_at(tf32, ConvRole::Fwd, s))
      require_exactly(run_fwd(tf32, row, g, true), y.want, exactness(tf32, ConvRole::Fwd),
                      "fwd " + label(tf32, row) + tag);
    for (const Row row : rows_at(tf32, ConvRole::BwdData, s))
      require_exactly(run_bwd_data(tf32, row, g, true), dx.want, exactness(tf32, ConvRole::BwdData),
                      "bwd_data " + label(tf32, row) + tag);
    // The weight gradient: one side needs rounding, the other is integer.
    for (const bool x_rounded : {true, false}) {
      Problem w = d;
      (x_rounded ? w.dy : w.x) = random_ints(x_rounded ? d.dy.size() : d.x.size(), -2, 2, seed + 5);
      Problem w_multiplied = w;
      w_multiplied.x = rounded(w.x, round_tf32);
      w_multiplied.dy = rounded(w.dy, round_tf32);
      const Ref dw = ref_bwd_weight(w_multiplied, Sums::Skip).dw,
                db = ref_bwd_weight(w, Sums::Skip).db;
      const OnGpu gw = upload(tf32, w);
      const std::string what = tag + (x_rounded ? " (x rounded)" : " (dy rounded)");
      for (const Row row : rows_at(tf32, ConvRole::BwdWeight, s)) {
        const Wgrad got = run_bwd_weight(tf32, row, gw, true);
        require_exactly(got.dw, dw.want, exactness(tf32, ConvRole::BwdWeight),
                        "bwd_weight dw " + label(tf32, row) + what);
        require_exactly(got.db, db.want, exactness(tf32, ConvRole::BwdWeight),
                        "bwd_weight db " + label(tf32, row) + what);
      }
    }
  }
}

TEST_CASE("fp32 <-> bf16 conversions round to nearest even") {
  require_gpu();
  std::vector<float> v = random_floats(4097, -1000, 1000, 17000);
  v.push_back(1.0f + std::ldexp(1.0f, -8));      // a tie: rounds to even (1.0)
  v.push_back(1.0f + 3 * std::ldexp(1.0f, -8));  // a tie: rounds to even (1 + 2^-6)
  v.push_back(0.0f);
  v.push_back(-0.0f);
  const GpuArray d(v), h(v.size(), vdsr::DType::BF16), back(v.size());
  vdsr::to_bf16_cuda(d.f32(), int64_t(v.size()), static_cast<__nv_bfloat16*>(h.get()),
                     gpu_stream());
  vdsr::to_float_cuda(static_cast<const __nv_bfloat16*>(h.get()), int64_t(v.size()), back.f32(),
                      gpu_stream());
  const auto got = back.download();
  int64_t bad = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const float want = round_bf16(v[i]);
    bad += std::memcmp(&got[i], &want, 4) != 0;
  }
  CHECK(bad == 0);
  CHECK(got[4097] == 1.0f);
  CHECK(got[4098] == 1.0f + std::ldexp(1.0f, -6));
}
