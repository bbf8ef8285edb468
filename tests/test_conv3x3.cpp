// The three 3x3 convolution ops on the CPU: the threaded kernels against the double references on
// awkward shapes (every vector path this machine has, and both forward methods: Winograd where it
// suits and direct), bit-exact on small integers, the references' gradients against finite
// differences, position independence (crop == whole image, bit for bit; for Winograd, crops at even
// coordinates), determinism across thread counts, preconditions. A hidden [.perf] case measures GFLOP/s:
//   VDSR_THREADS=2 build/bin/test_conv3x3 "[.perf]"
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using vdsr::test::random_floats;
using vdsr::test::random_ints;
using vdsr::test::to_double;
using vdsr::test::abs_of;
using vdsr::test::relu_source;
using vdsr::test::require_close;
using vdsr::test::require_exact;
using vdsr::test::same_bits;
using vdsr::test::shape_str;
using vdsr::test::isa_paths;
using vdsr::test::IsaScope;
using vdsr::test::cpu_conv_algos;
using vdsr::test::CpuConvScope;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct ThreadsScope {
  int saved = vdsr::ThreadPool::global().size();
  explicit ThreadsScope(int threads) { vdsr::ThreadPool::set_global_threads(threads); }
  ~ThreadsScope() { vdsr::ThreadPool::set_global_threads(saved); }
};

const ConvShape kShapes[] = {
    {1, 1, 1, 1, 1},   {1, 1, 7, 3, 5},   {3, 5, 3, 1, 64},   {1, 13, 17, 64, 64},
    {3, 7, 9, 64, 1},  {1, 5, 3, 3, 5},   {2, 4, 19, 5, 3},   {1, 6, 11, 64, 17},
    {1, 9, 2, 16, 48}, {2, 3, 130, 4, 4}, {3, 40, 41, 8, 16}, {2, 5, 9, 7, 1},
    {1, 4, 7, 1, 13},
    // AVX-512 holds 33..48 output channels in three vectors, with its own tile of 8 rows j in
    // backward-weight: K = 40 stores a partial block, and 3 C = 15 fills no whole tile. K = 1 with
    // C > 1 and W > 64 takes backward-weight's second segment of pixels through the K = 1 tile.
    {1, 5, 6, 5, 40},  {1, 3, 70, 5, 1},
    // Winograd (C and K >= 32) with channels that fill no whole vector, a partial last block of
    // tiles and sizes that leave partial tiles of F(2x2) and of F(4x4) (one, two or three rows or
    // columns) on the right and the bottom.
    {2, 7, 9, 37, 45}, {1, 5, 6, 40, 33}, {3, 3, 3, 32, 32}, {2, 13, 14, 37, 45}, {1, 10, 15, 40, 33},
};

}  // namespace

TEST_CASE("conv_fwd_cpu matches the reference on awkward shapes, every vector path") {
  // Winograd (the shapes with C and K >= 32 under "auto") passes the direct sum's bound on these
  // fixed data; its worst case is looser (the transforms add terms that cancel exactly).
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    uint32_t seed = 100;
    for (const ConvShape& s : kShapes)
      for (int variant = 0; variant < 2; ++variant) {
        const bool bias = variant == 0, relu = variant == 0;
        const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
        const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
        const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
        std::vector<float> y(size_t(s.out_elems()), kNaN);
        vdsr::conv_fwd_cpu(s, x.data(), wt.data(), bias ? b.data() : nullptr, relu, y.data());
        const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b);
        std::vector<double> want(y.size()), sumabs(y.size());
        vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bias ? bd.data() : nullptr, relu,
                              want.data());
        const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd);
        vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias ? ba.data() : nullptr, false,
                              sumabs.data());
        require_close(y, want, sumabs, double(9 * s.C + 1),
                      algo + " " + isa + " fwd " + shape_str(s) + (bias ? " bias relu" : ""));
      }
  }
}

TEST_CASE("conv3x3_bwd_data_cpu matches the reference on awkward shapes, every vector path") {
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    uint32_t seed = 200;
    for (const ConvShape& s : kShapes)
      for (int masked = 0; masked < 2; ++masked) {
        const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
        const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
        const auto src = relu_source(size_t(s.in_elems()), ++seed);
        std::vector<float> dx(size_t(s.in_elems()), kNaN);
        vdsr::conv3x3_bwd_data_cpu(s, dy.data(), wt.data(), masked ? src.data() : nullptr,
                                   dx.data());
        const auto dyd = to_double(dy), wd = to_double(wt), srcd = to_double(src);
        std::vector<double> want(dx.size()), sumabs(dx.size());
        vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), masked ? srcd.data() : nullptr,
                                   want.data());
        const auto dya = abs_of(dyd), wa = abs_of(wd);
        vdsr::conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, sumabs.data());
        require_close(dx, want, sumabs, double(9 * s.K),
                      algo + " " + isa + " bwd_data " + shape_str(s) + (masked ? " masked" : ""));
      }
  }
}

TEST_CASE("conv3x3_bwd_weight_cpu matches the reference on awkward shapes, every vector path") {
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    uint32_t seed = 300;
    for (const ConvShape& s : kShapes)
      for (int with_db = 0; with_db < 2; ++with_db) {
        const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
        const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
        std::vector<float> dw(size_t(s.weight_elems()), kNaN), db(size_t(s.K), kNaN);
        vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(),
                                     with_db ? db.data() : nullptr);
        const auto xd = to_double(x), dyd = to_double(dy);
        std::vector<double> want_w(dw.size()), want_b(db.size()), abs_w(dw.size()),
            abs_b(db.size());
        vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), want_w.data(), want_b.data());
        const auto xa = abs_of(xd), dya = abs_of(dyd);
        vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), abs_w.data(), abs_b.data());
        // Float partials over blocks of pixels, added in double: at most `pixels` float additions
        // (Winograd: fewer, over tiles, with its looser worst case; it passes this bound on these data).
        const double chain = double(s.pixels());
        require_close(dw, want_w, abs_w, chain, algo + " " + isa + " bwd_weight dw " + shape_str(s));
        if (with_db) {
          require_close(db, want_b, abs_b, chain, algo + " " + isa + " bwd_weight db " + shape_str(s));
        } else {
          CHECK(std::isnan(db[0]));  // untouched without db
        }
      }
  }
}

TEST_CASE("conv3x3 CPU ops match the reference bit for bit on small integers") {
  // |x| <= 3, |w| <= 2, |b| <= 5, |dy| <= 3: every partial sum is an integer far below 2^24 (at
  // most 9 * 64 * 6 + 5 for the forward, 3 * 40 * 41 * 9 for the weight gradient), so float is
  // exact. Winograd's forward intermediates are multiples of 1/4 (G's halves, twice) of at most
  // 9 * 64 * (4 * 3) * (9 / 4 * 2) = 31,104, and its weight gradient's tile sums integers of at most
  // 60 tiles * (4 * 3) * (4 * 3) = 8,640 here, also exact.
  const ConvShape shapes[] = {{1, 1, 1, 1, 1},   {2, 9, 11, 64, 64}, {1, 5, 7, 3, 5},
                              {3, 4, 6, 1, 64},  {1, 6, 5, 64, 1},   {3, 40, 41, 8, 16},
                              {2, 3, 130, 4, 4}, {1, 7, 13, 64, 17}, {2, 5, 9, 7, 1},
                              {1, 4, 7, 1, 13},  {1, 6, 7, 37, 45}};
  // F(4x4) ("auto" at C, K >= 32) is not exact (G's sixths): its forward and backward-data are held
  // to a rounding bound by the awkward-shape tests instead; its weight gradient is F(2x2)'s.
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    uint32_t seed = 400;
    for (const ConvShape& s : shapes) {
      const auto x = random_ints(size_t(s.in_elems()), -3, 3, ++seed);
      const auto wt = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
      const auto b = random_ints(size_t(s.K), -5, 5, ++seed);
      const auto dy = random_ints(size_t(s.out_elems()), -3, 3, ++seed);
      const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b), dyd = to_double(dy);
      const std::string tag = algo + " " + isa + " " + shape_str(s);

      std::vector<float> y(size_t(s.out_elems()), kNaN);
      std::vector<double> y_ref(y.size());
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data());
      vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), true, y_ref.data());
      if (vdsr::cpu_conv_fwd_tile(s) != 4) require_exact(y, y_ref, "fwd " + tag);

      std::vector<float> dx(size_t(s.in_elems()), kNaN);
      std::vector<double> dx_ref(dx.size());
      vdsr::conv3x3_bwd_data_cpu(s, dy.data(), wt.data(), x.data(), dx.data());
      vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), xd.data(), dx_ref.data());
      ConvShape transposed = s;  // backward-data's forward
      std::swap(transposed.C, transposed.K);
      if (vdsr::cpu_conv_fwd_tile(transposed) != 4) require_exact(dx, dx_ref, "bwd_data " + tag);

      std::vector<float> dw(size_t(s.weight_elems()), kNaN), db(size_t(s.K), kNaN);
      std::vector<double> dw_ref(dw.size()), db_ref(db.size());
      vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
      vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
      require_exact(dw, dw_ref, "bwd_weight dw " + tag);
      require_exact(db, db_ref, "bwd_weight db " + tag);
    }
  }
}

TEST_CASE("conv3x3_bwd_weight_cpu adds every block once when the blocks take more than one wave") {
  // The weight gradient sums blocks of about 4096 pixels (whole rows) in waves of 32 blocks. Wide
  // rows make blocks of a few rows, so these shapes have 45 and 38 blocks: a full wave and a
  // partial one, whose stale slots of the first wave must not be added again. Small integers
  // (|x|, |dy| <= 3, at most 9 x 184,320 in a sum) keep float exact, so the sums must equal the
  // reference exactly. Winograd sums blocks of 1,024 tiles in waves of 16 blocks: 1 x 2 x 33,000 at
  // 32 -> 32 has 16,500 tiles, 17 blocks (tile sums of at most 16,500 * 12 * 12, exact too).
  const ConvShape shapes[] = {{1, 45, 4096, 1, 1}, {1, 150, 1024, 2, 3}, {1, 2, 33000, 32, 32}};
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    uint32_t seed = 450;
    for (const ConvShape& s : shapes) {
      const auto x = random_ints(size_t(s.in_elems()), -3, 3, ++seed);
      const auto dy = random_ints(size_t(s.out_elems()), -3, 3, ++seed);
      const auto xd = to_double(x), dyd = to_double(dy);
      std::vector<float> dw(size_t(s.weight_elems()), kNaN), db(size_t(s.K), kNaN);
      std::vector<double> dw_ref(dw.size()), db_ref(db.size());
      vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
      vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
      const std::string tag = isa + " " + shape_str(s);
      require_exact(dw, dw_ref, "bwd_weight dw " + tag);
      require_exact(db, db_ref, "bwd_weight db " + tag);
    }
  }
}

TEST_CASE("conv3x3 reference gradients match finite differences") {
  // L = sum(conv(x, w, b) * g) in double. L is linear in each of x, w, b, so a central difference
  // with step 1e-6 is exact up to rounding (about 1e-16 * |L| / 1e-6): a 1e-7 relative tolerance
  // leaves a wide margin and still catches any wrong tap, flip or transpose.
  const ConvShape shapes[] = {{2, 4, 5, 3, 2}, {1, 3, 1, 1, 4}, {1, 2, 6, 4, 1}};
  uint32_t seed = 500;
  for (const ConvShape& s : shapes) {
    auto x = to_double(random_floats(size_t(s.in_elems()), -1, 1, ++seed));
    auto wt = to_double(random_floats(size_t(s.weight_elems()), -1, 1, ++seed));
    auto b = to_double(random_floats(size_t(s.K), -1, 1, ++seed));
    const auto g = to_double(random_floats(size_t(s.out_elems()), -1, 1, ++seed));
    std::vector<double> y(size_t(s.out_elems()));
    auto loss = [&]() {
      vdsr::conv_fwd_ref(s, x.data(), wt.data(), b.data(), false, y.data());
      double l = 0.0;
      for (size_t i = 0; i < y.size(); ++i) l += y[i] * g[i];
      return l;
    };
    const double step = 1e-6;
    auto check_grad = [&](std::vector<double>& param, const std::vector<double>& grad,
                          const char* what) {
      for (size_t i = 0; i < param.size(); ++i) {
        const double keep = param[i];
        param[i] = keep + step;
        const double lp = loss();
        param[i] = keep - step;
        const double lm = loss();
        param[i] = keep;
        const double fd = (lp - lm) / (2 * step);
        INFO(what << " " << shape_str(s) << " element " << i << ": analytic " << grad[i]
                  << ", finite difference " << fd);
        REQUIRE(std::fabs(fd - grad[i]) <= 1e-7 * std::max(1.0, std::fabs(grad[i])));
      }
    };
    std::vector<double> dx(x.size()), dw(wt.size()), db(b.size());
    vdsr::conv3x3_bwd_data_ref(s, g.data(), wt.data(), nullptr, dx.data());
    vdsr::conv3x3_bwd_weight_ref(s, x.data(), g.data(), dw.data(), db.data());
    check_grad(x, dx, "dL/dx");
    check_grad(wt, dw, "dL/dw");
    check_grad(b, db, "dL/db");
  }
}

TEST_CASE("conv3x3 masked backward-data is the chain rule through the ReLU below") {
  // z = relu(u) feeds the conv; L = sum(conv(z, w, b) * g). dL/du = (z > 0) * dL/dz, which is what
  // bwd_data with relu_src = z returns. |u| >= 0.05, so a 1e-6 step never crosses the kink.
  const ConvShape s{2, 5, 4, 3, 4};
  auto u = to_double(random_floats(size_t(s.in_elems()), 0.05f, 1.0f, 601));
  const auto sign = random_ints(size_t(s.in_elems()), 0, 1, 602);
  for (size_t i = 0; i < u.size(); ++i)
    if (sign[i] == 0.0f) u[i] = -u[i];
  const auto wt = to_double(random_floats(size_t(s.weight_elems()), -1, 1, 603));
  const auto b = to_double(random_floats(size_t(s.K), -1, 1, 604));
  const auto g = to_double(random_floats(size_t(s.out_elems()), -1, 1, 605));
  std::vector<double> z(u.size()), y(size_t(s.out_elems()));
  auto loss = [&]() {
    for (size_t i = 0; i < u.size(); ++i) z[i] = u[i] > 0 ? u[i] : 0.0;
    vdsr::conv_fwd_ref(s, z.data(), wt.data(), b.data(), false, y.data());
    double l = 0.0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * g[i];
    return l;
  };
  loss();
  const std::vector<double> z0 = z;
  std::vector<double> du(u.size());
  vdsr::conv3x3_bwd_data_ref(s, g.data(), wt.data(), z0.data(), du.data());
  int masked = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    const double keep = u[i];
    u[i] = keep + 1e-6;
    const double lp = loss();
    u[i] = keep - 1e-6;
    const double lm = loss();
    u[i] = keep;
    const double fd = (lp - lm) / 2e-6;
    INFO("element " << i << ": analytic " << du[i] << ", finite difference " << fd);
    REQUIRE(std::fabs(fd - du[i]) <= 1e-7 * std::max(1.0, std::fabs(du[i])));
    masked += du[i] == 0.0;
  }
  CHECK(masked > 0);  // the mask did something

  // And the CPU kernel applies the same mask.
  std::vector<float> gf(g.begin(), g.end()), wf(wt.begin(), wt.end()), zf(z0.begin(), z0.end());
  std::vector<float> dx(u.size(), kNaN);
  vdsr::conv3x3_bwd_data_cpu(s, gf.data(), wf.data(), zf.data(), dx.data());
  for (size_t i = 0; i < dx.size(); ++i) {
    if (z0[i] > 0) {
      CHECK(std::fabs(double(dx[i]) - du[i]) <= 1e-5);
    } else {
      CHECK(dx[i] == 0.0f);
    }
  }
}

TEST_CASE("conv_fwd_cpu passes NaN through the ReLU, every vector path") {
  // As in PyTorch (kernels/conv_fwd.h): relu(NaN) is NaN, not 0, so a non-finite value reaches the
  // loss and stops training. One NaN input pixel makes NaN the outputs whose 3x3 window holds it, in
  // every channel. The direct method and F(2x2) ("winograd2"; its transforms only add) make NaN
  // exactly those; F(4x4) ("auto" at C, K >= 32) may also make NaN the other outputs of the 4 x 4
  // tiles that read the pixel (its exact cancellations do not cancel a NaN), and no others. K = 1
  // has its own block; C = 36, K = 40 runs Winograd. The NaN at (5, 6) is read by one F(4x4) tile
  // (rows and columns 4 .. 7) and by four F(2x2) tiles.
  const int64_t H = 12, W = 13, h0 = 5, w0 = 6;
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    for (const auto& ck : {std::pair<int64_t, int64_t>{3, 1}, {3, 5}, {3, 40}, {36, 40}}) {
      const int64_t K = ck.second;
      const ConvShape s{1, H, W, ck.first, K};
      auto x = random_floats(size_t(s.in_elems()), -1, 1, 720);
      x[size_t((h0 * W + w0) * s.C + 1)] = kNaN;
      const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, 721);
      const auto b = random_floats(size_t(s.K), -1, 1, 722);
      std::vector<float> y(size_t(s.out_elems()), 0.0f);
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data());
      const bool f4 = vdsr::cpu_conv_fwd_tile(s) == 4;
      int64_t missing = 0, spread = 0, tile_nans = 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t k = 0; k < K; ++k) {
            const bool sees_nan = std::abs(h - h0) <= 1 && std::abs(w - w0) <= 1;
            const bool in_tile = f4 && h / 4 == 1 && w / 4 == 1;
            const float v = y[size_t((h * W + w) * K + k)];
            if (sees_nan)
              missing += !std::isnan(v);
            else if (in_tile)
              tile_nans += std::isnan(v);
            else
              spread += !std::isfinite(v);
          }
      INFO(algo << " " << isa << " " << shape_str(s) << ": " << tile_nans
                << " NaN outside the windows, inside the tile");
      CHECK(missing == 0);
      CHECK(spread == 0);
    }
  }
}

TEST_CASE("conv3x3 CPU output does not depend on where a pixel sits (crops equal the image)") {
  // The whole image against sub-images: a core rectangle plus a halo of the method's reach
  // (cpu_conv_fwd_reach: 1, the 3x3 window, for the direct method and F(2x2); 3 for F(4x4), whose
  // outputs round terms from further away), clipped at the image border, where the zero padding is
  // what the whole image sees too. Every core pixel then has every input that can change its bits,
  // so it must equal the whole-image result bit for bit: always for the direct method; for Winograd
  // (C and K >= 32: F(4x4) under "auto", F(2x2) under "winograd2") when the sub-image starts at a
  // row and column that are multiples of its tile, and elsewhere it differs (which is why
  // model/tiled.cpp aligns its regions and sizes its halo by the reach).
  struct Crop {
    int64_t h0, h1, w0, w1;  // the core, [h0, h1) x [w0, w1)
  };
  const int64_t H = 23, W = 29;
  // Cores whose crops start (the core's start less the reach, clipped at 0) at multiples of 4, of 2
  // only and at odd coordinates, for a reach of 1 and of 3.
  const Crop crops[] = {{0, 23, 0, 29},  {5, 12, 7, 20},  {0, 4, 0, 6},   {19, 23, 25, 29}, {10, 11, 0, 29},
                        {0, 23, 13, 14}, {3, 9, 0, 1},    {1, 2, 27, 28}, {4, 9, 2, 8},     {7, 15, 9, 21},
                        {9, 14, 5, 17},  {3, 8, 11, 24}};
  const std::pair<int64_t, int64_t> channels[] = {{64, 64}, {1, 64}, {64, 1}, {3, 5}, {7, 1}, {40, 36}};
  for (const std::string& algo : cpu_conv_algos())
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    CpuConvScope method(algo);
    for (const auto& ck : channels) {
      const ConvShape s{1, H, W, ck.first, ck.second};
      const auto x = random_floats(size_t(s.in_elems()), -1, 1, 701);
      const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, 702);
      const auto b = random_floats(size_t(s.K), -1, 1, 703);
      const auto dy = random_floats(size_t(s.out_elems()), -1, 1, 704);
      const auto src = relu_source(size_t(s.in_elems()), 705);
      std::vector<float> y(size_t(s.out_elems()), kNaN), dx(size_t(s.in_elems()), kNaN);
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data());
      vdsr::conv3x3_bwd_data_cpu(s, dy.data(), wt.data(), src.data(), dx.data());

      ConvShape transposed = s;
      std::swap(transposed.C, transposed.K);  // backward-data's forward
      const int64_t reach = std::max(vdsr::cpu_conv_fwd_reach(s), vdsr::cpu_conv_fwd_reach(transposed));
      int aligned_crops = 0, other_crops = 0;
      for (const Crop& c : crops) {
        const int64_t sh0 = std::max<int64_t>(0, c.h0 - reach), sh1 = std::min(H, c.h1 + reach);
        const int64_t sw0 = std::max<int64_t>(0, c.w0 - reach), sw1 = std::min(W, c.w1 + reach);
        const ConvShape t{1, sh1 - sh0, sw1 - sw0, s.C, s.K};
        auto crop = [&](const std::vector<float>& full, int64_t ch) {
          std::vector<float> out;
          for (int64_t h = sh0; h < sh1; ++h)
            out.insert(out.end(), full.begin() + (h * W + sw0) * ch,
                       full.begin() + (h * W + sw1) * ch);
          return out;
        };
        const auto xc = crop(x, s.C), dyc = crop(dy, s.K), srcc = crop(src, s.C);
        std::vector<float> yc(size_t(t.out_elems()), kNaN), dxc(size_t(t.in_elems()), kNaN);
        vdsr::conv_fwd_cpu(t, xc.data(), wt.data(), b.data(), true, yc.data());
        vdsr::conv3x3_bwd_data_cpu(t, dyc.data(), wt.data(), srcc.data(), dxc.data());
        int64_t bad_y = 0, bad_dx = 0;
        for (int64_t h = c.h0; h < c.h1; ++h)
          for (int64_t w = c.w0; w < c.w1; ++w) {
            const int64_t i = h * W + w, ic = (h - sh0) * t.W + (w - sw0);
            bad_y += std::memcmp(&y[size_t(i * s.K)], &yc[size_t(ic * s.K)],
                                 size_t(s.K) * sizeof(float)) != 0;
            bad_dx += std::memcmp(&dx[size_t(i * s.C)], &dxc[size_t(ic * s.C)],
                                  size_t(s.C) * sizeof(float)) != 0;
          }
        INFO(algo << " " << isa << " " << shape_str(s) << " crop rows " << c.h0 << ".." << c.h1 << " cols " << c.w0
                  << ".." << c.w1);
        // Equal exactly when the method is the direct one or the crop starts at multiples of its tile.
        const auto aligned = [&](const ConvShape& shape) {
          const int tile = vdsr::cpu_conv_fwd_tile(shape);
          return tile == 0 || (sh0 % tile == 0 && sw0 % tile == 0);
        };
        CHECK((bad_y == 0) == aligned(s));
        CHECK((bad_dx == 0) == aligned(transposed));
        (aligned(s) ? aligned_crops : other_crops) += 1;
      }
      // Both outcomes are tested wherever Winograd runs.
      INFO(algo << " " << shape_str(s) << ": " << aligned_crops << " aligned crops, " << other_crops << " others");
      CHECK(aligned_crops > 0);
      CHECK((other_crops > 0) == (vdsr::cpu_conv_fwd_tile(s) != 0));
    }

    // An image inside a batch equals the image alone.
    const ConvShape batch{3, 7, 10, 16, 24}, one{1, 7, 10, 16, 24};
    const auto x = random_floats(size_t(batch.in_elems()), -1, 1, 706);
    const auto wt = random_floats(size_t(batch.weight_elems()), -1, 1, 707);
    std::vector<float> y(size_t(batch.out_elems()), kNaN), y1(size_t(one.out_elems()), kNaN);
    vdsr::conv_fwd_cpu(batch, x.data(), wt.data(), nullptr, false, y.data());
    vdsr::conv_fwd_cpu(one, x.data() + 2 * one.in_elems(), wt.data(), nullptr, false, y1.data());
    CHECK(std::memcmp(y.data() + 2 * one.out_elems(), y1.data(), y1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("conv3x3 CPU ops give bit-identical results for any thread count") {
  // 1x64x64x64 is 262,144 input elements: four chunks of the ReLU mask's pass (grain 65,536) at
  // two and three threads, where the others take one.
  // 1 x 70 x 64 at 32 -> 40 has 1,120 Winograd tiles: two blocks of the weight gradient.
  const ConvShape shapes[] = {{3, 40, 41, 16, 16}, {2, 13, 17, 64, 64}, {1, 70, 90, 4, 8},
                              {1, 64, 64, 64, 8},  {1, 70, 64, 32, 40}};
  for (const std::string& algo : cpu_conv_algos())
  for (const ConvShape& s : shapes) {
    CpuConvScope method(algo);
    const auto x = random_floats(size_t(s.in_elems()), -1, 1, 801);
    const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, 802);
    const auto b = random_floats(size_t(s.K), -1, 1, 803);
    const auto dy = random_floats(size_t(s.out_elems()), -1, 1, 804);
    std::vector<float> y1, dx1, dw1, db1;
    for (int threads : {1, 2, 3}) {
      ThreadsScope scope(threads);
      std::vector<float> y(size_t(s.out_elems()), kNaN), dx(size_t(s.in_elems()), kNaN);
      std::vector<float> dw(size_t(s.weight_elems()), kNaN), db(size_t(s.K), kNaN);
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data());
      vdsr::conv3x3_bwd_data_cpu(s, dy.data(), wt.data(), x.data(), dx.data());
      vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
      if (threads == 1) {
        y1 = y, dx1 = dx, dw1 = dw, db1 = db;
        continue;
      }
      INFO(algo << " " << shape_str(s) << " with " << threads << " threads");
      CHECK(same_bits(y, y1));
      CHECK(same_bits(dx, dx1));
      CHECK(same_bits(dw, dw1));
      CHECK(same_bits(db, db1));
    }
  }
}

TEST_CASE("the CPU forward and weight gradient run Winograd on layers of 32 or more channels each side, else the direct method") {
  // The dispatch itself: "auto" gives F(4x4)'s bits where Winograd suits, whatever the image's size
  // (the three methods differ from each other in rounding), and the direct method's elsewhere;
  // "winograd2" gives F(2x2)'s where Winograd suits; "direct" the direct method's everywhere. The
  // weight gradient: F(2x2) where Winograd suits unless "direct".
  struct Case {
    ConvShape s;
    int auto_tile;  // conv_fwd_cpu's tile under "auto": 4 or 0 (direct)
  };
  for (const Case& c : {Case{{1, 12, 12, 64, 64}, 4}, Case{{2, 13, 15, 32, 32}, 4}, Case{{1, 9, 10, 64, 64}, 4},
                        Case{{2, 5, 6, 32, 32}, 4}, Case{{1, 1, 3, 32, 40}, 4}, Case{{1, 19, 20, 31, 64}, 0},
                        Case{{1, 19, 20, 64, 31}, 0}, Case{{1, 19, 20, 1, 64}, 0}, Case{{1, 19, 20, 64, 64, 5}, 0}}) {
    const ConvShape& s = c.s;
    INFO(shape_str(s));
    CHECK(vdsr::conv3x3_winograd_suits(s) == (c.auto_tile != 0));
    CHECK(vdsr::cpu_conv_fwd_tile(s) == c.auto_tile);
    CHECK(vdsr::cpu_conv_bwd_weight_tile(s) == (c.auto_tile != 0 ? 2 : 0));
    const auto x = random_floats(size_t(s.in_elems()), -1, 1, 901);
    const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, 902);
    const auto b = random_floats(size_t(s.K), -1, 1, 903);
    const auto run = [&](const std::string& algo) {
      CpuConvScope method(algo);
      std::vector<float> y(size_t(s.out_elems()), kNaN);
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), false, y.data());
      return y;
    };
    const auto got = run("auto"), f2_only = run("winograd2"), forced = run("direct");
    std::vector<float> direct(got.size(), kNaN);
    vdsr::conv_fwd_direct_cpu(s, x.data(), wt.data(), b.data(), false, direct.data());
    CHECK(same_bits(forced, direct));
    if (c.auto_tile != 0) {
      std::vector<float> f2(got.size(), kNaN), f4(got.size(), kNaN);
      vdsr::conv3x3_fwd_winograd_cpu(s, x.data(), wt.data(), b.data(), false, f2.data(), 2);
      vdsr::conv3x3_fwd_winograd_cpu(s, x.data(), wt.data(), b.data(), false, f4.data(), 4);
      CHECK(same_bits(got, c.auto_tile == 4 ? f4 : f2));
      CHECK(same_bits(f2_only, f2));
      CHECK_FALSE(same_bits(f2, direct));
      CHECK_FALSE(same_bits(f4, direct));
      CHECK_FALSE(same_bits(f4, f2));
    } else {
      CHECK(same_bits(got, direct));
      CHECK(same_bits(f2_only, direct));
    }
    if (!s.is_3x3_zero()) continue;
    // The weight gradient: F(2x2) where Winograd suits, under "auto" and "winograd2" alike.
    const auto dy = random_floats(size_t(s.out_elems()), -1, 1, 904);
    std::vector<float> dw(size_t(s.weight_elems()), kNaN), dw_direct(dw.size(), kNaN), db(size_t(s.K), kNaN);
    vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data());
    vdsr::conv3x3_bwd_weight_direct_cpu(s, x.data(), dy.data(), dw_direct.data(), nullptr);
    if (c.auto_tile != 0) {
      std::vector<float> dw_wino(dw.size(), kNaN), dw_f2_only(dw.size(), kNaN);
      vdsr::conv3x3_bwd_weight_winograd_cpu(s, x.data(), dy.data(), dw_wino.data(), nullptr);
      {
        CpuConvScope method("winograd2");
        vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw_f2_only.data(), db.data());
      }
      CHECK(same_bits(dw, dw_wino));
      CHECK(same_bits(dw_f2_only, dw_wino));
      CHECK_FALSE(same_bits(dw, dw_direct));
    } else {
      CHECK(same_bits(dw, dw_direct));
    }
  }
  // A value of VDSR_CPU_CONV that names no method is the user's error, said in words.
  CpuConvScope method("fast");
  const ConvShape s{1, 2, 2, 32, 32};
  std::vector<float> x(size_t(s.in_elems()), 1.0f), wt(size_t(s.weight_elems()), 1.0f), y(size_t(s.out_elems()));
  CHECK_THROWS_WITH(vdsr::conv_fwd_cpu(s, x.data(), wt.data(), nullptr, false, y.data()),
                    Catch::Contains("VDSR_CPU_CONV=fast is not one of auto, winograd2, direct"));
}

TEST_CASE("conv3x3 ops check their preconditions") {
  const ConvShape ok{1, 2, 3, 4, 5};
  std::vector<float> a(1000, 1.0f), b(1000, 1.0f), c(1000, 1.0f);
  std::vector<double> ad(1000, 1.0), bd(1000, 1.0), cd(1000, 1.0);
  for (const ConvShape& bad :
       {ConvShape{0, 2, 3, 4, 5}, ConvShape{1, 0, 3, 4, 5}, ConvShape{1, 2, -3, 4, 5},
        ConvShape{1, 2, 3, 0, 5}, ConvShape{1, 2, 3, 4, 0}}) {
    CHECK_THROWS_AS(vdsr::conv_fwd_cpu(bad, a.data(), b.data(), nullptr, false, c.data()),
                    vdsr::Error);
    CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cpu(bad, a.data(), b.data(), nullptr, c.data()),
                    vdsr::Error);
    CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cpu(bad, a.data(), b.data(), c.data(), nullptr),
                    vdsr::Error);
    CHECK_THROWS_AS(vdsr::conv_fwd_ref(bad, ad.data(), bd.data(), nullptr, false, cd.data()),
                    vdsr::Error);
    CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_ref(bad, ad.data(), bd.data(), nullptr, cd.data()),
                    vdsr::Error);
    CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_ref(bad, ad.data(), bd.data(), cd.data(), nullptr),
                    vdsr::Error);
  }
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(ok, nullptr, b.data(), nullptr, false, c.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(ok, a.data(), nullptr, nullptr, false, c.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(ok, a.data(), b.data(), nullptr, false, nullptr),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(ok, a.data(), b.data(), nullptr, false, a.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cpu(ok, nullptr, b.data(), nullptr, c.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cpu(ok, a.data(), nullptr, nullptr, c.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cpu(ok, a.data(), b.data(), nullptr, nullptr),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cpu(ok, nullptr, b.data(), c.data(), nullptr),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cpu(ok, a.data(), nullptr, c.data(), nullptr),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cpu(ok, a.data(), b.data(), nullptr, nullptr),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv_fwd_ref(ok, nullptr, bd.data(), nullptr, false, cd.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_ref(ok, ad.data(), nullptr, nullptr, cd.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_ref(ok, ad.data(), bd.data(), nullptr, nullptr),
                  vdsr::Error);
  {
    IsaScope scope("no-such-isa");
    CHECK_THROWS_AS(vdsr::conv_fwd_cpu(ok, a.data(), b.data(), nullptr, false, c.data()),
                    vdsr::Error);
  }
}

namespace {

// Median seconds of `reps` runs of fn after one warm-up run.
template <class Fn>
double median_seconds(int reps, Fn fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

TEST_CASE("conv3x3 CPU throughput", "[.perf]") {
  const char* isa = std::getenv("VDSR_CPU_ISA");
  std::printf("threads %d, path %s\n", vdsr::ThreadPool::global().size(),
              isa != nullptr ? isa : "auto");
  // 64->64 on a training batch and on an image, then the first and last layers' shapes.
  const ConvShape shapes[] = {
      {64, 41, 41, 64, 64}, {1, 256, 256, 64, 64}, {64, 41, 41, 1, 64}, {64, 41, 41, 64, 1}};
  for (const ConvShape& s : shapes) {
    const auto x = random_floats(size_t(s.in_elems()), -1, 1, 1);
    const auto wt = random_floats(size_t(s.weight_elems()), -0.1f, 0.1f, 2);
    const auto b = random_floats(size_t(s.K), -1, 1, 3);
    const auto dy = random_floats(size_t(s.out_elems()), -1, 1, 4);
    std::vector<float> y(size_t(s.out_elems())), dx(size_t(s.in_elems()));
    std::vector<float> dw(size_t(s.weight_elems())), db(size_t(s.K));
    const double gflop = 2 * s.macs() * 1e-9;
    const double tf = median_seconds(
        5, [&] { vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data()); });
    const double td = median_seconds(
        5, [&] { vdsr::conv3x3_bwd_data_cpu(s, dy.data(), wt.data(), x.data(), dx.data()); });
    const double tw = median_seconds(
        5, [&] { vdsr::conv3x3_bwd_weight_cpu(s, x.data(), dy.data(), dw.data(), db.data()); });
    std::printf("%s: fwd %.1f GFLOP/s (%.1f ms), bwd_data %.1f GFLOP/s, bwd_weight %.1f GFLOP/s\n",
                shape_str(s).c_str(), gflop / tf, tf * 1e3, gflop / td, gflop / tw);
  }

  // The whole network forward (1->64, 18 x 64->64, 64->1, ReLU on all but the last) on one image.
  const int64_t H = 256, W = 256;
  std::vector<ConvShape> layers;
  for (int i = 0; i < 20; ++i) layers.push_back({1, H, W, i == 0 ? 1 : 64, i == 19 ? 1 : 64});
  std::vector<std::vector<float>> wts, biases;
  double gflop = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const float scale = std::sqrt(2.0f / float(9 * layers[i].C));
    wts.push_back(random_floats(size_t(layers[i].weight_elems()), -scale, scale, uint32_t(10 + i)));
    biases.push_back(random_floats(size_t(layers[i].K), -0.01f, 0.01f, uint32_t(50 + i)));
    gflop += 2 * layers[i].macs() * 1e-9;
  }
  const auto input = random_floats(size_t(H * W), 0, 1, 5);
  std::vector<float> a(size_t(H * W * 64)), b(size_t(H * W * 64));
  const double t = median_seconds(3, [&] {
    const float* in = input.data();
    for (size_t i = 0; i < layers.size(); ++i) {
      float* out = (i % 2 == 0) ? a.data() : b.data();
      vdsr::conv_fwd_cpu(layers[i], in, wts[i].data(), biases[i].data(), i + 1 < layers.size(),
                            out);
      in = out;
    }
  });
  std::printf("VDSR forward 1x%lldx%lld (20 layers, %.1f GFLOP): %.1f ms, %.1f GFLOP/s\n",
              static_cast<long long>(H), static_cast<long long>(W), gflop, t * 1e3, gflop / t);
}
