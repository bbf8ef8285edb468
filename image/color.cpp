// MATLAB rgb2ycbcr / ycbcr2rgb (see color.h).
//
// The evaluation Y is computed in integers: Y = 16 + N / 255000 with
// N = 65481 R + 128553 G + 24966 B, rounded half away from zero, i.e. 16 + floor((N + 127500) / 255000).
// Why not in double: 194 of the 2^24 RGB triples land exactly on a .5 tie, and the double formula
// 16 + (65.481 R + 128.553 G + 24.966 B) / 255 evaluates 39 of them to just below the tie (for
// example R, G, B = 22, 206, 0 gives 125.49999999999999 for the exact 125.5), rounding them down.
#include "image/color.h"

#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "engine/cpu_features.h"
#include "engine/error.h"
#include "image/quantize.h"

namespace vdsr {

namespace {

// MATLAB's matrix (rows Y, Cb, Cr; columns R, G, B) on the 0..255 scale, and its offset.
constexpr double kT[3][3] = {{65.481, 128.553, 24.966},
                             {-37.797, -74.203, 112.0},
                             {112.0, -93.786, -18.214}};
constexpr double kOffset[3] = {16.0, 128.0, 128.0};

struct Mat3 {
  double m[3][3];
};

// The exact (adjugate / determinant) inverse of kT.
Mat3 inverse_t() {
  const auto& a = kT;
  const double c00 = a[1][1] * a[2][2] - a[1][2] * a[2][1];
  const double c01 = a[1][2] * a[2][0] - a[1][0] * a[2][2];
  const double c02 = a[1][0] * a[2][1] - a[1][1] * a[2][0];
  const double det = a[0][0] * c00 + a[0][1] * c01 + a[0][2] * c02;
  Mat3 r{};
  r.m[0][0] = c00 / det;
  r.m[0][1] = (a[0][2] * a[2][1] - a[0][1] * a[2][2]) / det;
  r.m[0][2] = (a[0][1] * a[1][2] - a[0][2] * a[1][1]) / det;
  r.m[1][0] = c01 / det;
  r.m[1][1] = (a[0][0] * a[2][2] - a[0][2] * a[2][0]) / det;
  r.m[1][2] = (a[0][2] * a[1][0] - a[0][0] * a[1][2]) / det;
  r.m[2][0] = c02 / det;
  r.m[2][1] = (a[0][1] * a[2][0] - a[0][0] * a[2][1]) / det;
  r.m[2][2] = (a[0][0] * a[1][1] - a[0][1] * a[1][0]) / det;
  return r;
}

}  // namespace

bool rgb_with_equal_channels(const Image& img) {
  if (img.channels < 3) return false;
  for (size_t i = 0; i < img.pixels.size(); i += size_t(img.channels))
    if (img.pixels[i] != img.pixels[i + 1] || img.pixels[i] != img.pixels[i + 2]) return false;
  return true;
}

Plane y_channel_u8(const Image& img) {
  VDSR_CHECK(img.bits == 8, "the evaluation Y needs an 8-bit image, got " << img.bits << " bits");
  VDSR_CHECK(img.channels >= 1 && img.channels <= 4 &&
                 img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "invalid image (" << img.width << "x" << img.height << ", " << img.channels
                               << " channels)");
  Plane y(img.height, img.width);
  const size_t n = size_t(img.width) * size_t(img.height), c = size_t(img.channels);
  if (img.channels <= 2) {
    for (size_t i = 0; i < n; ++i) y.v[i] = img.pixels[i * c];
  } else {
    for (size_t i = 0; i < n; ++i) {
      const uint16_t* p = img.pixels.data() + i * c;
      const int64_t num = 65481 * int64_t(p[0]) + 128553 * int64_t(p[1]) + 24966 * int64_t(p[2]);
      y.v[i] = double(16 + (num + 127500) / 255000);
    }
  }
  return y;
}

YCbCr rgb_to_ycbcr(const Image& img) {
  VDSR_CHECK(img.channels >= 1 && img.channels <= 4 && (img.bits == 8 || img.bits == 16) &&
                 img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "invalid image (" << img.width << "x" << img.height << ", " << img.channels
                               << " channels, " << img.bits << " bits)");
  YCbCr out{Plane(img.height, img.width), Plane(img.height, img.width), Plane(img.height, img.width)};
  const size_t n = size_t(img.width) * size_t(img.height), c = size_t(img.channels);
  const double maxv = img.max_value();
  const bool grey = img.channels <= 2;  // treated as R = G = B
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* p = img.pixels.data() + i * c;
    const double r = p[0] / maxv, g = (grey ? p[0] : p[1]) / maxv, b = (grey ? p[0] : p[2]) / maxv;
    out.y.v[i] = kOffset[0] / 255.0 + (kT[0][0] * r + kT[0][1] * g + kT[0][2] * b) / 255.0;
    out.cb.v[i] = kOffset[1] / 255.0 + (kT[1][0] * r + kT[1][1] * g + kT[1][2] * b) / 255.0;
    out.cr.v[i] = kOffset[2] / 255.0 + (kT[2][0] * r + kT[2][1] * g + kT[2][2] * b) / 255.0;
  }
  return out;
}

namespace {

void ycbcr_to_rgb_generic(const double* y, const double* cb, const double* cr, size_t n, double maxv, uint16_t* out,
                          size_t stride) {
  static const Mat3 inv = inverse_t();
  for (size_t i = 0; i < n; ++i) {
    // ycbcr2rgb: rgb = 255 * inv(T) * (ycbcr - offset / 255), on the [0, 1] scale.
    const double d[3] = {y[i] - kOffset[0] / 255.0, cb[i] - kOffset[1] / 255.0, cr[i] - kOffset[2] / 255.0};
    uint16_t* o = out + i * stride;
    for (int k = 0; k < 3; ++k) {
      const double x = 255.0 * (inv.m[k][0] * d[0] + inv.m[k][1] * d[1] + inv.m[k][2] * d[2]);
      o[k] = static_cast<uint16_t>(round_saturate(x * maxv, maxv));
    }
  }
}

#if defined(__x86_64__)
// The same four pixels at a time with AVX2 (half the finish stage's time was this loop: perf,
// docs/perf.md): the same operations in the same order and no FMA (which would round once where
// the loop above rounds twice), so the same bits. round_saturate without branches: clamped to
// [0, max] first (a NaN to 0: max_pd returns its second operand when either is a NaN), truncated
// (exact below 65536), plus one where the fraction left is at least 0.5.
__attribute__((target("avx2"))) void ycbcr_to_rgb_avx2(const double* y, const double* cb, const double* cr, size_t n,
                                                       double maxv, uint16_t* out, size_t stride) {
  static const Mat3 inv = inverse_t();
  const __m256d off0 = _mm256_set1_pd(kOffset[0] / 255.0), off1 = _mm256_set1_pd(kOffset[1] / 255.0),
                off2 = _mm256_set1_pd(kOffset[2] / 255.0);
  const __m256d k255 = _mm256_set1_pd(255.0), vmax = _mm256_set1_pd(maxv), zero = _mm256_setzero_pd(),
                half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1.0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d d0 = _mm256_sub_pd(_mm256_loadu_pd(y + i), off0), d1 = _mm256_sub_pd(_mm256_loadu_pd(cb + i), off1),
                  d2 = _mm256_sub_pd(_mm256_loadu_pd(cr + i), off2);
    alignas(16) int32_t q[3][4];
    for (int k = 0; k < 3; ++k) {
      const __m256d dot = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(inv.m[k][0]), d0),
                                                      _mm256_mul_pd(_mm256_set1_pd(inv.m[k][1]), d1)),
                                        _mm256_mul_pd(_mm256_set1_pd(inv.m[k][2]), d2));
      const __m256d x = _mm256_mul_pd(_mm256_mul_pd(k255, dot), vmax);
      const __m256d v = _mm256_min_pd(_mm256_max_pd(x, zero), vmax);
      const __m256d t = _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(v));
      const __m256d up = _mm256_and_pd(_mm256_cmp_pd(_mm256_sub_pd(v, t), half, _CMP_GE_OQ), one);
      _mm_store_si128(reinterpret_cast<__m128i*>(q[k]), _mm256_cvttpd_epi32(_mm256_add_pd(t, up)));
    }
    for (size_t j = 0; j < 4; ++j) {
      uint16_t* o = out + (i + j) * stride;
      for (int k = 0; k < 3; ++k) o[k] = static_cast<uint16_t>(q[k][j]);
    }
  }
  ycbcr_to_rgb_generic(y + i, cb + i, cr + i, n - i, maxv, out + i * stride, stride);
}
#endif

}  // namespace

void ycbcr_to_rgb_row(const double* y, const double* cb, const double* cr, size_t n, int bits, uint16_t* out,
                      size_t stride) {
  VDSR_CHECK(bits == 8 || bits == 16, "bits must be 8 or 16, got " << bits);
  const double maxv = double((1 << bits) - 1);
#if defined(__x86_64__)
  if (cpu_isa() != Isa::kGeneric) return ycbcr_to_rgb_avx2(y, cb, cr, n, maxv, out, stride);
#endif
  ycbcr_to_rgb_generic(y, cb, cr, n, maxv, out, stride);
}

Image ycbcr_to_rgb(const YCbCr& ycc, int bits) {
  VDSR_CHECK(bits == 8 || bits == 16, "bits must be 8 or 16, got " << bits);
  const int h = ycc.y.height, w = ycc.y.width;
  VDSR_CHECK(ycc.cb.height == h && ycc.cb.width == w && ycc.cr.height == h && ycc.cr.width == w,
             "Y, Cb and Cr sizes differ: " << h << "x" << w << ", " << ycc.cb.height << "x"
                                           << ycc.cb.width << ", " << ycc.cr.height << "x"
                                           << ycc.cr.width);
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.bits = bits;
  const size_t n = size_t(w) * size_t(h);
  img.pixels.resize(n * 3);
  ycbcr_to_rgb_row(ycc.y.v.data(), ycc.cb.v.data(), ycc.cr.v.data(), n, bits, img.pixels.data(), 3);
  return img;
}

}  // namespace vdsr
