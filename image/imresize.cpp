// MATLAB imresize(x, scale, 'bicubic') in double (see imresize.h), after contributions() in MATLAB's
// imresize.m. For each output index x (1-based) along a dimension of length n:
//   h = cubic, width 4                                   when scale >= 1
//   h(t) = scale * cubic(scale * t), width 4 / scale     when scale < 1 (antialiasing)
//   u = x / scale + 0.5 (1 - 1 / scale),  left = floor(u - width / 2),  P = ceil(width) + 2
//   taps j = left + (0 .. P-1), weights h(u - j) / sum, j mirrored into 1..n (1..n, n..1)
// Each output value is sum_k w_k * in[j_k] accumulated in tap order from 0, as MATLAB's resize does.
// Taps whose weight is zero for every output are harmless here (they add exact zeros), so they are
// kept. Serial on purpose: callers parallelise over images or planes (a nested parallel_for would run serially anyway).
#include "image/imresize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine/error.h"

namespace vdsr {

namespace {

double cubic(double x) {
  const double a = std::fabs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1.0) return 1.5 * a3 - 2.5 * a2 + 1.0;
  if (a <= 2.0) return -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0;
  return 0.0;
}

struct Contributions {
  int out_len = 0, taps = 0;
  std::vector<double> w;  // [out_len][taps]
  std::vector<int> idx;   // [out_len][taps], 0-based input indices
};

Contributions contributions(int in_len, int out_len, double scale) {
  const bool shrink = scale < 1.0;
  const double width = shrink ? 4.0 / scale : 4.0;
  Contributions c;
  c.out_len = out_len;
  c.taps = int(std::ceil(width)) + 2;
  c.w.resize(size_t(out_len) * size_t(c.taps));
  c.idx.resize(c.w.size());
  const int64_t period = 2 * int64_t(in_len);
  for (int i = 0; i < out_len; ++i) {
    const double x = i + 1;
    const double u = x / scale + 0.5 * (1.0 - 1.0 / scale);
    const double left = std::floor(u - width / 2.0);
    double* w = &c.w[size_t(i) * size_t(c.taps)];
    int* idx = &c.idx[size_t(i) * size_t(c.taps)];
    double sum = 0.0;
    for (int k = 0; k < c.taps; ++k) {
      const double j = left + k;  // 1-based
      w[k] = shrink ? scale * cubic(scale * (u - j)) : cubic(u - j);
      sum += w[k];
      int64_t m = (int64_t(j) - 1) % period;
      if (m < 0) m += period;
      idx[k] = int(m < in_len ? m : period - 1 - m);
    }
    for (int k = 0; k < c.taps; ++k) w[k] /= sum;
  }
  return c;
}

// Output size ceil(scale * n), where a product within rounding of an integer counts as that integer
// (1/3 * 255 must give 85 even if the double product were 85.00000000000001).
int output_length(double scale, int n) {
  const double p = scale * n;
  const double r = std::round(p);
  if (std::fabs(p - r) <= 1e-9 * std::max(1.0, r)) return int(r);
  return int(std::ceil(p));
}

Plane resize_height(const Plane& in, int out_h, double scale) {
  const Contributions c = contributions(in.height, out_h, scale);
  Plane out(out_h, in.width);
  const size_t w = size_t(in.width);
  for (int i = 0; i < out_h; ++i) {
    double* o = &out.v[size_t(i) * w];
    for (int k = 0; k < c.taps; ++k) {
      const double wk = c.w[size_t(i) * size_t(c.taps) + size_t(k)];
      const double* src = &in.v[size_t(c.idx[size_t(i) * size_t(c.taps) + size_t(k)]) * w];
      for (size_t x = 0; x < w; ++x) o[x] += wk * src[x];
    }
  }
  return out;
}

Plane resize_width(const Plane& in, int out_w, double scale) {
  const Contributions c = contributions(in.width, out_w, scale);
  Plane out(in.height, out_w);
  const size_t taps = size_t(c.taps);
  for (int y = 0; y < in.height; ++y) {
    const double* src = &in.v[size_t(y) * size_t(in.width)];
    double* o = &out.v[size_t(y) * size_t(out_w)];
    for (int j = 0; j < out_w; ++j) {
      const double* wj = &c.w[size_t(j) * taps];
      const int* ij = &c.idx[size_t(j) * taps];
      double acc = 0.0;
      for (size_t k = 0; k < taps; ++k) acc += wj[k] * src[ij[k]];
      o[j] = acc;
    }
  }
  return out;
}

Plane resize(const Plane& in, int out_h, int out_w, double scale_h, double scale_w) {
  VDSR_CHECK(in.height > 0 && in.width > 0 && in.v.size() == size_t(in.size()),
             "imresize of an empty or malformed plane (" << in.height << "x" << in.width << ")");
  VDSR_CHECK(out_h > 0 && out_w > 0,
             "imresize output size " << out_h << "x" << out_w << " is empty");
  VDSR_CHECK(std::isfinite(scale_h) && std::isfinite(scale_w) && scale_h > 0 && scale_w > 0,
             "imresize scales must be positive, got " << scale_h << " and " << scale_w);
  const bool same_h = out_h == in.height && scale_h == 1.0;
  const bool same_w = out_w == in.width && scale_w == 1.0;
  // The dimension with the smaller scale first; height first on ties.
  if (scale_w < scale_h) {
    Plane t = same_w ? in : resize_width(in, out_w, scale_w);
    return same_h ? t : resize_height(t, out_h, scale_h);
  }
  Plane t = same_h ? in : resize_height(in, out_h, scale_h);
  return same_w ? t : resize_width(t, out_w, scale_w);
}

}  // namespace

Plane imresize(const Plane& in, double scale) {
  VDSR_CHECK(std::isfinite(scale) && scale > 0, "imresize scale must be positive, got " << scale);
  return resize(in, output_length(scale, in.height), output_length(scale, in.width), scale, scale);
}

Plane imresize_to(const Plane& in, int out_height, int out_width) {
  VDSR_CHECK(in.height > 0 && in.width > 0,
             "imresize of an empty plane (" << in.height << "x" << in.width << ")");
  return resize(in, out_height, out_width, double(out_height) / in.height,
                double(out_width) / in.width);
}

Plane modcrop(const Plane& in, int s) {
  VDSR_CHECK(s >= 1, "modcrop scale must be at least 1, got " << s);
  const int h = in.height - in.height % s, w = in.width - in.width % s;
  Plane out(h, w);
  for (int y = 0; y < h; ++y)
    std::copy_n(&in.v[size_t(y) * size_t(in.width)], size_t(w), &out.v[size_t(y) * size_t(w)]);
  return out;
}

}  // namespace vdsr
