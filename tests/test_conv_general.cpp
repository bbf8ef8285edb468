// The convolution forward for kernel sizes other than 3 and for replicate padding (SRCNN's layers,
// kernels/conv_fwd.h) on the CPU: the threaded kernel against the double reference on every vector
// path, bit-exact on small integers, the padding's meaning checked by hand (not only against the
// reference), and position independence (an interior crop equals the whole image's interior).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "kernels/conv_fwd.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using vdsr::Padding;
using vdsr::test::abs_of;
using vdsr::test::IsaScope;
using vdsr::test::isa_paths;
using vdsr::test::random_floats;
using vdsr::test::random_ints;
using vdsr::test::require_close;
using vdsr::test::require_exact;
using vdsr::test::same_bits;
using vdsr::test::shape_str;
using vdsr::test::to_double;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

ConvShape shape(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t R, Padding pad) {
  ConvShape s{N, H, W, C, K};
  s.R = R;
  s.pad = pad;
  return s;
}

// SRCNN's three layers (9-5-5: 1 -> 64, 64 -> 32, 32 -> 1), a 1x1 middle layer (9-1-5), images
// smaller than the kernel (every tap clamps or falls outside), K that fills no whole vector block.
std::vector<ConvShape> shapes() {
  std::vector<ConvShape> v;
  for (const Padding pad : {Padding::Replicate, Padding::Zero}) {
    v.push_back(shape(1, 11, 13, 1, 64, 9, pad));
    v.push_back(shape(2, 7, 6, 64, 32, 5, pad));
    v.push_back(shape(1, 9, 10, 32, 1, 5, pad));
    v.push_back(shape(1, 5, 8, 64, 32, 1, pad));
    v.push_back(shape(1, 2, 3, 3, 5, 9, pad));
    v.push_back(shape(3, 1, 1, 2, 17, 5, pad));
    v.push_back(shape(1, 6, 4, 5, 1, 7, pad));
    v.push_back(shape(1, 4, 5, 7, 3, 3, pad));
  }
  return v;
}

}  // namespace

TEST_CASE("conv_fwd_cpu matches the reference for kernel sizes 1 to 9 and both paddings") {
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    uint32_t seed = 900;
    for (const ConvShape& s : shapes())
      for (const bool relu : {false, true}) {
        const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
        const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
        const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
        std::vector<float> y(size_t(s.out_elems()), kNaN);
        vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), relu, y.data());
        const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b);
        std::vector<double> want(y.size()), sumabs(y.size());
        vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), relu, want.data());
        const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd);
        vdsr::conv_fwd_ref(s, xa.data(), wa.data(), ba.data(), false, sumabs.data());
        require_close(y, want, sumabs, double(s.R * s.R * s.C + 1),
                      isa + " " + shape_str(s) + (relu ? " relu" : ""));
      }
  }
}

TEST_CASE("conv_fwd_cpu is exact on small integers for kernel sizes 1 to 9") {
  // |x| <= 3, |w| <= 2, |b| <= 5: partial sums stay integers below 81 * 64 * 6 + 5 << 2^24.
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    uint32_t seed = 950;
    for (const ConvShape& s : shapes()) {
      const auto x = random_ints(size_t(s.in_elems()), -3, 3, ++seed);
      const auto wt = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
      const auto b = random_ints(size_t(s.K), -5, 5, ++seed);
      std::vector<float> y(size_t(s.out_elems()), kNaN);
      std::vector<double> want(y.size());
      vdsr::conv_fwd_cpu(s, x.data(), wt.data(), b.data(), true, y.data());
      const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b);
      vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), true, want.data());
      require_exact(y, want, isa + " " + shape_str(s));
    }
  }
}

TEST_CASE("replicate padding repeats the edge pixel, zero padding does not") {
  // A constant image: with replicate padding every output is b + v * sum(w), corners included;
  // with zero padding a corner of a 9x9 kernel sees 25 of its 81 taps. Checked by hand, so a
  // reference that pads wrongly fails here too.
  const int64_t R = 9, H = 6, W = 7;
  std::vector<float> wt(size_t(R * R)), x(size_t(H * W), 2.0f);
  for (size_t i = 0; i < wt.size(); ++i) wt[i] = float(i % 5) - 1.0f;  // integers: exact sums
  double sum_w = 0, corner_w = 0;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t s = 0; s < R; ++s) {
      sum_w += double(wt[size_t(r * R + s)]);
      if (r >= 4 && s >= 4) corner_w += double(wt[size_t(r * R + s)]);  // taps inside the image at (0, 0)
    }
  const float b = 0.5f;
  for (const std::string& isa : isa_paths()) {
    IsaScope scope(isa);
    std::vector<float> y(size_t(H * W), kNaN);
    vdsr::conv_fwd_cpu(shape(1, H, W, 1, 1, R, Padding::Replicate), x.data(), wt.data(), &b, false, y.data());
    for (const float v : y) REQUIRE(v == float(0.5 + 2.0 * sum_w));
    vdsr::conv_fwd_cpu(shape(1, H, W, 1, 1, R, Padding::Zero), x.data(), wt.data(), &b, false, y.data());
    REQUIRE(y[0] == float(0.5 + 2.0 * corner_w));
    REQUIRE(corner_w != sum_w);
  }
  // The reference agrees with the same hand computation.
  std::vector<double> yd(size_t(H * W));
  const auto xd = to_double(x), wd = to_double(wt);
  const double bd = b;
  vdsr::conv_fwd_ref(shape(1, H, W, 1, 1, R, Padding::Replicate), xd.data(), wd.data(), &bd, false, yd.data());
  for (const double v : yd) REQUIRE(v == 0.5 + 2.0 * sum_w);
}

TEST_CASE("conv_fwd_cpu with replicate padding: an interior crop equals the whole image's interior") {
  // Pixels at least R/2 from every edge of the crop read only pixels inside it, so their outputs
  // must match the whole image's bit for bit (the arithmetic does not depend on the position).
  const ConvShape whole = shape(1, 30, 27, 8, 16, 9, Padding::Replicate);
  const auto x = random_floats(size_t(whole.in_elems()), -1, 1, 990);
  const auto wt = random_floats(size_t(whole.weight_elems()), -1, 1, 991);
  const auto b = random_floats(size_t(whole.K), -1, 1, 992);
  std::vector<float> y(size_t(whole.out_elems()));
  vdsr::conv_fwd_cpu(whole, x.data(), wt.data(), b.data(), true, y.data());
  const int64_t y0 = 5, x0 = 3, ch = 17, cw = 19, P = 4, C = whole.C, K = whole.K;
  ConvShape crop = whole;
  crop.H = ch;
  crop.W = cw;
  std::vector<float> xc(size_t(crop.in_elems())), yc(size_t(crop.out_elems()));
  for (int64_t h = 0; h < ch; ++h)
    for (int64_t w = 0; w < cw; ++w)
      for (int64_t c = 0; c < C; ++c)
        xc[size_t((h * cw + w) * C + c)] = x[size_t(((y0 + h) * whole.W + x0 + w) * C + c)];
  vdsr::conv_fwd_cpu(crop, xc.data(), wt.data(), b.data(), true, yc.data());
  std::vector<float> got, want;
  for (int64_t h = P; h < ch - P; ++h)
    for (int64_t w = P; w < cw - P; ++w)
      for (int64_t k = 0; k < K; ++k) {
        got.push_back(yc[size_t((h * cw + w) * K + k)]);
        want.push_back(y[size_t(((y0 + h) * whole.W + x0 + w) * K + k)]);
      }
  REQUIRE(same_bits(got, want));
}

TEST_CASE("conv_fwd_cpu refuses even and oversized kernels") {
  std::vector<float> a(64, 1.0f), w(16 * 16, 1.0f), y(64);
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(shape(1, 8, 8, 1, 1, 4, Padding::Zero), a.data(), w.data(), nullptr, false, y.data()),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv_fwd_cpu(shape(1, 8, 8, 1, 1, 17, Padding::Zero), a.data(), w.data(), nullptr, false, y.data()),
                  vdsr::Error);
}
