// Protocol scores (see metrics.h). SSIM follows Wang et al.'s ssim_index.m:
//   window = fspecial('gaussian', 11, 1.5), normalised to sum 1; C1 = (0.01 L)^2, C2 = (0.03 L)^2
//   mu = filter2(window, x, 'valid'); sigma_xy = filter2(window, x.*y, 'valid') - mu_x mu_y
//   map = ((2 mu1 mu2 + C1)(2 sigma12 + C2)) / ((mu1^2 + mu2^2 + C1)(sigma1^2 + sigma2^2 + C2))
// The Gaussian is separable (exp(-(i^2 + j^2) / 2s^2) = g(i) g(j)), so the window is applied as an
// 11-tap column pass then an 11-tap row pass; this equals the 2-D window to rounding (~1e-16).
#include "image/metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>
#include <limits>

#include "engine/error.h"

namespace vdsr {

namespace {

void check_same(const Plane& a, const Plane& b, const char* what) {
  VDSR_CHECK(a.height == b.height && a.width == b.width,
             what << " of planes of different sizes: " << a.height << "x" << a.width << " and "
                  << b.height << "x" << b.width);
  VDSR_CHECK(a.height > 0 && a.width > 0, what << " of empty planes");
}

}  // namespace

Plane quantize_u8(const Plane& x01) {
  Plane out(x01.height, x01.width);
  for (size_t i = 0; i < x01.v.size(); ++i) {
    double q = std::round(255.0 * x01.v[i]);  // half away from zero
    if (!(q >= 0.0)) q = 0.0;                 // NaN too, as MATLAB's uint8(NaN)
    if (q > 255.0) q = 255.0;
    out.v[i] = q;
  }
  return out;
}

Plane shave(const Plane& p, int s) {
  VDSR_CHECK(s >= 0 && 2 * s < p.height && 2 * s < p.width,
             "cannot shave " << s << " pixels from a " << p.height << "x" << p.width << " plane");
  return crop(p, s, s, p.height - 2 * s, p.width - 2 * s);
}

Plane crop(const Plane& p, int y0, int x0, int h, int w) {
  VDSR_CHECK(h >= 0 && w >= 0 && y0 >= 0 && x0 >= 0 && y0 + h <= p.height && x0 + w <= p.width,
             "cannot crop " << h << "x" << w << " at (" << y0 << ", " << x0 << ") from a " << p.height << "x"
                            << p.width << " plane");
  Plane out(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) out.at(y, x) = p.at(y0 + y, x0 + x);
  return out;
}

double psnr(const Plane& a, const Plane& b) {
  check_same(a, b, "PSNR");
  double sum = 0.0;
  for (size_t i = 0; i < a.v.size(); ++i) {
    const double d = a.v[i] - b.v[i];
    sum += d * d;
  }
  const double mse = sum / double(a.v.size());
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const Plane& a, const Plane& b) {
  check_same(a, b, "SSIM");
  constexpr int kWin = 11, kR = 5;
  VDSR_CHECK(a.height >= kWin && a.width >= kWin,
             "SSIM needs at least 11x11 pixels, got " << a.height << "x" << a.width);
  double g[kWin], gsum = 0.0;
  for (int i = 0; i < kWin; ++i) {
    const double t = i - kR;
    g[i] = std::exp(-(t * t) / (2.0 * 1.5 * 1.5));
    gsum += g[i];
  }
  for (double& v : g) v /= gsum;

  const int w = a.width, oh = a.height - kWin + 1, ow = w - kWin + 1;
  const double L = 255.0, C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  // Column pass for one output row at a time: the five moments of the 11 rows below it, [w] each.
  const size_t n = size_t(w);
  std::vector<double> m1(n), m2(n), m11(n), m22(n), m12(n);
  double total = 0.0;
  for (int y = 0; y < oh; ++y) {
    std::fill(m1.begin(), m1.end(), 0.0);
    std::fill(m2.begin(), m2.end(), 0.0);
    std::fill(m11.begin(), m11.end(), 0.0);
    std::fill(m22.begin(), m22.end(), 0.0);
    std::fill(m12.begin(), m12.end(), 0.0);
    for (int k = 0; k < kWin; ++k) {
      const double gk = g[k];
      const double* pa = &a.v[size_t(y + k) * size_t(w)];
      const double* pb = &b.v[size_t(y + k) * size_t(w)];
      for (int x = 0; x < w; ++x) {
        const double va = pa[x], vb = pb[x];
        m1[size_t(x)] += gk * va;
        m2[size_t(x)] += gk * vb;
        m11[size_t(x)] += gk * (va * va);
        m22[size_t(x)] += gk * (vb * vb);
        m12[size_t(x)] += gk * (va * vb);
      }
    }
    double row_sum = 0.0;
    for (int x = 0; x < ow; ++x) {
      double mu1 = 0, mu2 = 0, e11 = 0, e22 = 0, e12 = 0;
      for (int k = 0; k < kWin; ++k) {
        const size_t i = size_t(x + k);
        mu1 += g[k] * m1[i];
        mu2 += g[k] * m2[i];
        e11 += g[k] * m11[i];
        e22 += g[k] * m22[i];
        e12 += g[k] * m12[i];
      }
      const double mu1_sq = mu1 * mu1, mu2_sq = mu2 * mu2, mu1_mu2 = mu1 * mu2;
      const double s1 = e11 - mu1_sq, s2 = e22 - mu2_sq, s12 = e12 - mu1_mu2;
      row_sum += ((2.0 * mu1_mu2 + C1) * (2.0 * s12 + C2)) /
                 ((mu1_sq + mu2_sq + C1) * (s1 + s2 + C2));
    }
    total += row_sum;
  }
  return total / (double(oh) * double(ow));
}

}  // namespace vdsr
