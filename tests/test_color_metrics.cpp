// Colour conversion (the protocol's 8-bit Y, double YCbCr round trip), the samples' rounding, and
// the protocol's scores (quantisation, shave, PSNR, SSIM against a direct 11x11-window
// implementation).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "engine/cpu_features.h"
#include "engine/error.h"
#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/metrics.h"
#include "image/quantize.h"
#include "tests/support/test_support.h"

using vdsr::Image;
using vdsr::Plane;

using vdsr::test::random_image;

namespace {

Image make_image(int h, int w, int c, int bits, const std::vector<int>& values) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.bits = bits;
  img.pixels.assign(values.begin(), values.end());
  REQUIRE(img.pixels.size() == size_t(h) * size_t(w) * size_t(c));
  return img;
}

Plane random_plane(int h, int w, int lo, int hi, uint32_t seed) {
  Plane p(h, w);
  p.v = vdsr::test::to_double(vdsr::test::random_ints(size_t(h) * size_t(w), lo, hi, seed));
  return p;
}

// ssim_index written out: fspecial's 11x11 window (exp(-(x^2 + y^2) / (2 sigma^2)), normalised),
// direct 'valid' correlation, the map, its mean.
double naive_ssim(const Plane& a, const Plane& b) {
  double win[11][11], sum = 0;
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j) {
      win[i][j] = std::exp(-double((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
      sum += win[i][j];
    }
  for (auto& row : win)
    for (double& v : row) v /= sum;
  const double C1 = (0.01 * 255) * (0.01 * 255), C2 = (0.03 * 255) * (0.03 * 255);
  double total = 0;
  const int oh = a.height - 10, ow = a.width - 10;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      double m1 = 0, m2 = 0, e11 = 0, e22 = 0, e12 = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          const double p = a.at(y + i, x + j), q = b.at(y + i, x + j), w = win[i][j];
          m1 += w * p;
          m2 += w * q;
          e11 += w * p * p;
          e22 += w * q * q;
          e12 += w * p * q;
        }
      const double s1 = e11 - m1 * m1, s2 = e22 - m2 * m2, s12 = e12 - m1 * m2;
      total += ((2 * m1 * m2 + C1) * (2 * s12 + C2)) / ((m1 * m1 + m2 * m2 + C1) * (s1 + s2 + C2));
    }
  return total / (double(oh) * ow);
}

}  // namespace

TEST_CASE("y_channel_u8 is MATLAB's uint8 rgb2ycbcr Y") {
  // Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255), half away from zero.
  const Image img = make_image(1, 9, 3, 8,
                               {0,   0,   0,     // 16
                                255, 255, 255,   // 16 + 219 = 235
                                255, 0,   0,     // 81.481 -> 81
                                0,   255, 0,     // 144.553 -> 145
                                0,   0,   255,   // 40.966 -> 41
                                22,  206, 0,     // exactly 125.5 -> 126 (the double formula gives 125.49999999999999)
                                253, 34,  147,   // 112.49998823... -> 112
                                253, 78,  186,   // 138.50001176... -> 139
                                100, 100, 100}); // 16 + 21900 / 255 = 101.882... -> 102
  const Plane y = vdsr::y_channel_u8(img);
  REQUIRE(y.height == 1);
  REQUIRE(y.width == 9);
  const double expected[9] = {16, 235, 81, 145, 41, 126, 112, 139, 102};
  for (int x = 0; x < 9; ++x) {
    INFO("pixel " << x);
    CHECK(y.at(0, x) == expected[x]);
  }
  SECTION("alpha is ignored") {
    const Image rgba = make_image(1, 2, 4, 8, {22, 206, 0, 7, 255, 0, 0, 0});
    const Plane ya = vdsr::y_channel_u8(rgba);
    CHECK(ya.at(0, 0) == 126);
    CHECK(ya.at(0, 1) == 81);
  }
  SECTION("grey is its own Y") {
    const Image g = make_image(2, 2, 1, 8, {0, 17, 200, 255});
    CHECK(vdsr::y_channel_u8(g).v == std::vector<double>{0, 17, 200, 255});
    const Image ga = make_image(1, 3, 2, 8, {5, 255, 66, 0, 250, 9});
    CHECK(vdsr::y_channel_u8(ga).v == std::vector<double>{5, 66, 250});
  }
  SECTION("16-bit input is refused") {
    CHECK_THROWS_AS(vdsr::y_channel_u8(random_image(2, 2, 3, 16, 1)), vdsr::Error);
  }
}

TEST_CASE("rgb_with_equal_channels: three channels alike in every pixel, nothing else") {
  Image grey = random_image(5, 4, 1, 8, 3);
  Image rgb;
  rgb.width = grey.width;
  rgb.height = grey.height;
  rgb.channels = 3;
  rgb.bits = 8;
  for (const auto v : grey.pixels) rgb.pixels.insert(rgb.pixels.end(), {v, v, v});
  CHECK(vdsr::rgb_with_equal_channels(rgb));
  rgb.pixels.back() = uint16_t(rgb.pixels.back() ^ 1);  // B alone differs in one pixel
  CHECK(!vdsr::rgb_with_equal_channels(rgb));
  rgb.pixels.back() = uint16_t(rgb.pixels.back() ^ 1);
  rgb.pixels[1] = uint16_t(rgb.pixels[1] ^ 1);  // G alone differs
  CHECK(!vdsr::rgb_with_equal_channels(rgb));
  // A grey image (one channel, or grey and alpha) is not RGB, however flat.
  CHECK(!vdsr::rgb_with_equal_channels(grey));
  Image flat = grey;
  std::fill(flat.pixels.begin(), flat.pixels.end(), uint16_t(7));
  CHECK(!vdsr::rgb_with_equal_channels(flat));
  CHECK(!vdsr::rgb_with_equal_channels(random_image(5, 4, 2, 8, 4)));
}

TEST_CASE("rgb_to_ycbcr and ycbcr_to_rgb") {
  SECTION("8-bit round trip is exact") {
    Image img = random_image(64, 48, 3, 8, 7);
    // Every 8-bit value in every channel, plus the cube's corners.
    for (int v = 0; v < 256; ++v)
      for (int c = 0; c < 3; ++c) img.pixels[size_t(v) * 3 + size_t(c)] = uint16_t((v + 85 * c) % 256);
    const int corners[8][3] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255},
                               {255, 255, 0}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255}};
    for (int k = 0; k < 8; ++k)
      for (int c = 0; c < 3; ++c) img.pixels[size_t(300 + k) * 3 + size_t(c)] = uint16_t(corners[k][c]);
    const Image back = vdsr::ycbcr_to_rgb(vdsr::rgb_to_ycbcr(img), 8);
    CHECK(back.channels == 3);
    CHECK(back.bits == 8);
    CHECK(back.pixels == img.pixels);
  }
  SECTION("16-bit round trip is exact") {
    const Image img = random_image(40, 30, 3, 16, 9);
    CHECK(vdsr::ycbcr_to_rgb(vdsr::rgb_to_ycbcr(img), 16).pixels == img.pixels);
  }
  SECTION("MATLAB's double values") {
    const Image img = make_image(1, 2, 3, 8, {255, 255, 255, 255, 0, 0});
    const auto ycc = vdsr::rgb_to_ycbcr(img);
    CHECK(std::fabs(ycc.y.at(0, 0) - 235.0 / 255) < 1e-15);
    CHECK(std::fabs(ycc.cb.at(0, 0) - 128.0 / 255) < 1e-14);
    CHECK(std::fabs(ycc.cr.at(0, 0) - 128.0 / 255) < 1e-14);
    CHECK(std::fabs(ycc.y.at(0, 1) - (16 + 65.481) / 255) < 1e-15);
    CHECK(std::fabs(ycc.cb.at(0, 1) - (128 - 37.797) / 255) < 1e-15);
    CHECK(std::fabs(ycc.cr.at(0, 1) - (128 + 112.0) / 255) < 1e-15);
  }
  SECTION("grey is treated as R = G = B") {
    const Image g = make_image(1, 3, 1, 8, {0, 128, 255});
    const Image rgb = make_image(1, 3, 3, 8, {0, 0, 0, 128, 128, 128, 255, 255, 255});
    const auto a = vdsr::rgb_to_ycbcr(g), b = vdsr::rgb_to_ycbcr(rgb);
    CHECK(a.y.v == b.y.v);
    CHECK(a.cb.v == b.cb.v);
    CHECK(a.cr.v == b.cr.v);
    CHECK(vdsr::ycbcr_to_rgb(a, 8).pixels == rgb.pixels);
  }
  SECTION("out-of-range values saturate") {
    vdsr::YCbCr ycc{Plane(1, 2, 0.0), Plane(1, 2, 0.5), Plane(1, 2, 0.5)};
    ycc.y.at(0, 1) = 2.0;
    const Image rgb = vdsr::ycbcr_to_rgb(ycc, 8);
    CHECK(rgb.pixels == std::vector<uint16_t>{0, 0, 0, 255, 255, 255});
  }
}

TEST_CASE("ycbcr_to_rgb_row: the vector path gives the generic path's bits, ties and edge values included") {
  // Inputs: random values around [0, 1], NaN, infinities, huge and negative values, and, with Cb and
  // Cr at their offsets (so the other terms are exact zeros), Y values a few ulps around those whose
  // R lands on a rounding tie k + 0.5.
  std::vector<double> y, cb, cr;
  std::mt19937_64 g(7);
  std::uniform_real_distribution<double> u(-0.2, 1.2);
  for (int i = 0; i < 4000; ++i) {
    y.push_back(u(g));
    cb.push_back(u(g));
    cr.push_back(u(g));
  }
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(), 1e300, -1e300, -0.0, 0.0, 1.0};
  for (const double a : specials)
    for (const double b : specials) {
      y.push_back(a);
      cb.push_back(b);
      cr.push_back(0.5);
    }
  const double c_off = 128.0 / 255.0;
  for (const int bits : {8, 16}) {
    const double maxv = double((1 << bits) - 1);
    for (int k = 0; k < 256; ++k) {
      // R = 255 * (y - 16/255) / 219 * 255 / 255 ... solved for the tie, then nudged by ulps.
      const double target = (double(k) * (maxv / 255.0) + 0.5) / maxv;  // R / max on the [0, 1] scale
      double v = 16.0 / 255.0 + target * 219.0 / 255.0;
      for (int step = 0; step < 8; ++step) v = std::nextafter(v, 0.0);
      for (int step = 0; step < 17; ++step, v = std::nextafter(v, 2.0)) {
        y.push_back(v);
        cb.push_back(c_off);
        cr.push_back(c_off);
      }
    }
  }
  const char* saved = std::getenv("VDSR_CPU_ISA");
  const std::string keep = saved != nullptr ? saved : "";
  const bool vector_path = vdsr::cpu_isa() != vdsr::Isa::kGeneric;
  if (!vector_path) WARN("this CPU runs the generic path only: the comparison is with itself");
  for (const int bits : {8, 16})
    for (const size_t stride : {size_t(3), size_t(4)})
      for (const size_t n : {size_t(0), size_t(1), size_t(3), size_t(5), size_t(7), y.size()}) {
        INFO(bits << " bits, stride " << stride << ", " << n << " pixels");
        std::vector<uint16_t> best(n * stride + 1, 7), generic(n * stride + 1, 7);
        vdsr::ycbcr_to_rgb_row(y.data(), cb.data(), cr.data(), n, bits, best.data(), stride);
        setenv("VDSR_CPU_ISA", "generic", 1);
        vdsr::ycbcr_to_rgb_row(y.data(), cb.data(), cr.data(), n, bits, generic.data(), stride);
        if (keep.empty()) unsetenv("VDSR_CPU_ISA");
        else setenv("VDSR_CPU_ISA", keep.c_str(), 1);
        CHECK(best == generic);  // alpha slots (stride 4) and the sentinel after the row untouched too
        CHECK(best.back() == 7);
      }
}

TEST_CASE("quantize_u8 rounds half away from zero and saturates") {
  Plane x(1, 7);
  x.v = {0.0, 128.0 / 256, 129.0 / 256, 1.0, 384.0 / 256, -1.0 / 256, -1.0};
  // 255 x = 0, 127.5, 128.496..., 255, 382.5, -0.996..., -255
  const Plane q = vdsr::quantize_u8(x);
  CHECK(q.v == std::vector<double>{0, 128, 128, 255, 255, 0, 0});
  // Every exact tie m + 0.5 goes up (half to even would send the even m down).
  int ties = 0;
  for (int m = 0; m < 255; ++m) {
    Plane t(1, 1, (m + 0.5) / 255);
    if (255.0 * t.v[0] != m + 0.5) continue;
    ++ties;
    INFO("m = " << m);
    CHECK(vdsr::quantize_u8(t).v[0] == m + 1);
  }
  CHECK(ties > 50);
  CHECK(vdsr::quantize_u8(Plane(1, 1, std::nan(""))).v[0] == 0);
}

TEST_CASE("round_saturate is the C library's round, clamped to 0..max, NaN to 0") {
  // The definition it replaces in the colour and upscale paths (image/quantize.h).
  const auto want = [](double v, double max) {
    double q = std::round(v);
    if (!(q >= 0.0)) q = 0.0;
    return q > max ? max : q;
  };
  const double inf = std::numeric_limits<double>::infinity();
  for (const double max : {255.0, 65535.0}) {
    std::vector<double> values = {0.0, -0.0, -0.3, -0.5, -0.7, 0.49999999999999994, 0.5, max - 0.5,
                                  max, max + 0.49, max + 0.5, 1e300, -1e300, inf, -inf, std::nan(""),
                                  std::nextafter(0.5, 1.0), std::nextafter(0.5, 0.0), 5e-324};
    for (int m = -2; m <= int(max) + 2; m += max > 255 ? 97 : 1)  // every tie and its neighbours
      for (const double v : {m + 0.5, std::nextafter(m + 0.5, -1e9), std::nextafter(m + 0.5, 1e9), double(m)})
        values.push_back(v);
    for (const double v : values) {
      INFO("v = " << v << ", max " << max);
      CHECK(vdsr::round_saturate(v, max) == want(v, max));
    }
  }
}

TEST_CASE("shave and psnr") {
  const Plane p = random_plane(10, 12, 0, 255, 4);
  const Plane s = vdsr::shave(p, 3);
  REQUIRE(s.height == 4);
  REQUIRE(s.width == 6);
  CHECK(s.at(0, 0) == p.at(3, 3));
  CHECK(s.at(3, 5) == p.at(6, 8));
  CHECK_THROWS_AS(vdsr::shave(p, 5), vdsr::Error);

  Plane a(10, 10, 100.0), b(10, 10, 105.0);  // MSE 25
  CHECK(vdsr::psnr(a, b) == Approx(10 * std::log10(255.0 * 255.0 / 25.0)).epsilon(1e-14));
  Plane c = a;
  c.at(4, 4) = 110;  // MSE 100 / 100 = 1: 20 log10(255)
  CHECK(vdsr::psnr(a, c) == Approx(20 * std::log10(255.0)).epsilon(1e-14));
  CHECK(vdsr::psnr(a, a) == std::numeric_limits<double>::infinity());
  CHECK_THROWS_AS(vdsr::psnr(a, Plane(10, 11)), vdsr::Error);
}

TEST_CASE("ssim matches Wang et al.'s ssim_index") {
  SECTION("identical planes give 1") {
    const Plane a = random_plane(30, 40, 0, 255, 1);
    CHECK(std::fabs(vdsr::ssim(a, a) - 1.0) < 1e-15);
  }
  SECTION("constant planes: luminance term only") {
    const Plane a(20, 25, 100.0), b(20, 25, 110.0);
    const double C1 = 2.55 * 2.55;
    const double expected = (2 * 100.0 * 110.0 + C1) / (100.0 * 100.0 + 110.0 * 110.0 + C1);
    CHECK(std::fabs(vdsr::ssim(a, b) - expected) < 1e-12);
  }
  SECTION("a direct 11x11-window implementation agrees") {
    const Plane a = random_plane(37, 45, 0, 255, 2);
    Plane b = a;
    const Plane noise = random_plane(37, 45, -20, 20, 3);
    for (size_t i = 0; i < b.v.size(); ++i) b.v[i] = std::min(255.0, std::max(0.0, b.v[i] + noise.v[i]));
    const double s = vdsr::ssim(a, b), n = naive_ssim(a, b);
    CHECK(s < 0.99);
    CHECK(std::fabs(s - n) < 1e-12);
    CHECK(std::fabs(vdsr::ssim(b, a) - s) < 1e-14);
    const Plane c = random_plane(11, 11, 0, 255, 5), d = random_plane(11, 11, 0, 255, 6);
    CHECK(std::fabs(vdsr::ssim(c, d) - naive_ssim(c, d)) < 1e-12);
  }
  SECTION("too small") {
    CHECK_THROWS_AS(vdsr::ssim(Plane(10, 20), Plane(10, 20)), vdsr::Error);
  }
}

TEST_CASE("evaluation protocol helpers") {
  const Image img = random_image(50, 39, 3, 8, 21);
  const vdsr::EvalSample s = vdsr::make_eval_sample(img, 4, "random");
  CHECK(s.scale == 4);
  CHECK(s.hr.height == 48);
  CHECK(s.hr.width == 36);
  CHECK(s.input.height == 48);
  CHECK(s.input.width == 36);
  const Plane y = vdsr::y_channel_u8(img);
  CHECK(s.hr.at(47, 35) == y.at(47, 35));
  // A perfect output scores an infinite PSNR and SSIM 1.
  Plane perfect = s.hr;
  for (double& v : perfect.v) v /= 255;
  const auto best = vdsr::score_output(perfect, s.hr, 4);
  CHECK(best.psnr == std::numeric_limits<double>::infinity());
  CHECK(std::fabs(best.ssim - 1) < 1e-15);
  // The bicubic score, computed here step by step: round(255 x) half away from zero and saturated,
  // 4 pixels shaved on every side, PSNR of the rest.
  const auto bic = vdsr::score_output(s.input, s.hr, 4);
  double se = 0;
  int count = 0;
  for (int r = 4; r < 48 - 4; ++r)
    for (int c = 4; c < 36 - 4; ++c, ++count) {
      const double q = std::min(255.0, std::max(0.0, std::round(255.0 * s.input.at(r, c))));
      se += (q - s.hr.at(r, c)) * (q - s.hr.at(r, c));
    }
  CHECK(bic.psnr == Approx(10 * std::log10(255.0 * 255.0 * count / se)).epsilon(1e-12));
  CHECK(bic.ssim < 1);
  // An error confined to the shaved border does not count; one pixel inside does.
  Plane border = perfect;
  for (int c = 0; c < 36; ++c) border.at(0, c) = border.at(47, c) = 1.0 - border.at(0, c);
  for (int r = 0; r < 48; ++r) border.at(r, 3) = border.at(r, 32) = 0.0;
  CHECK(vdsr::score_output(border, s.hr, 4).psnr == std::numeric_limits<double>::infinity());
  Plane inside = perfect;
  inside.at(4, 4) = inside.at(4, 4) > 0.5 ? 0.0 : 1.0;
  CHECK(std::isfinite(vdsr::score_output(inside, s.hr, 4).psnr));
  CHECK_THROWS_AS(vdsr::score_output(Plane(10, 10), s.hr, 4), vdsr::Error);
}

TEST_CASE("require_scorable asks for a shave of the scale on each side plus SSIM's 11x11 window") {
  // At x2 the smallest scorable side is 2 + 11 + 2 = 15, so 16 after modcrop: 14 is one pixel short.
  for (const int side : {14, 16}) {
    INFO("side " << side);
    const vdsr::EvalSample low = vdsr::make_eval_sample(random_image(side, 40, 3, 8, 5), 2, "low");
    const vdsr::EvalSample narrow = vdsr::make_eval_sample(random_image(40, side, 3, 8, 6), 2, "narrow");
    if (side < 15) {
      CHECK_THROWS_WITH(vdsr::require_scorable(low), Catch::Contains("15x15"));
      CHECK_THROWS_WITH(vdsr::require_scorable(narrow), Catch::Contains("15x15"));
    } else {
      CHECK_NOTHROW(vdsr::require_scorable(low));
      CHECK_NOTHROW(vdsr::require_scorable(narrow));
      const auto sc = vdsr::score_output(low.input, low.hr, 2);  // 12 x 36 left after the shave
      CHECK(std::isfinite(sc.psnr));
      CHECK(sc.ssim < 1);
    }
  }
}
