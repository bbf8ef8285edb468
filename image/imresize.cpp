// MATLAB imresize(x, scale, 'bicubic') in double (see imresize.h), after contributions() in
// MATLAB's imresize.m. For each output index x (1-based) along a dimension of length n:
//   h = cubic, width 4                                   when scale >= 1
//   h(t) = scale * cubic(scale * t), width 4 / scale     when scale < 1 (antialiasing)
//   u = x / scale + 0.5 (1 - 1 / scale),  left = floor(u - width / 2),  P = ceil(width) + 2
//   taps j = left + (0 .. P-1), weights h(u - j) / sum, j mirrored into 1..n (1..n, n..1)
// Each output value is sum_k w_k * in[j_k] accumulated in tap order from 0, as MATLAB's resize
// does. Tap columns whose weight is zero for every output: MATLAB drops every such column;
// trim_zero_taps drops those at the ends (which sets the tap count), and one left inside would add
// exact zeros. Serial on purpose: callers parallelise over images or planes (a nested parallel_for
// would run serially anyway). Both imresize and ImresizeRows make every output row through the same
// two row functions, so a plane resized whole and one resized row by row are the same bits.
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

// Drops the leading and trailing taps whose weight is 0 for every output (an enlargement's first
// and last of 6: their distance is at least 2, where the cubic is 0): adding w x = +-0 to a sum
// that starts at +0 changes no bit for finite x, so the passes give the same values with a third
// less work on every enlargement.
void trim_zero_taps(Contributions& c) {
  const auto zero_column = [&](int k) {
    for (int i = 0; i < c.out_len; ++i)
      if (c.w[size_t(i) * size_t(c.taps) + size_t(k)] != 0.0) return false;
    return true;
  };
  int lo = 0, hi = c.taps;
  while (hi - lo > 1 && zero_column(lo)) ++lo;
  while (hi - lo > 1 && zero_column(hi - 1)) --hi;
  if (lo == 0 && hi == c.taps) return;
  const int taps = hi - lo;
  for (int i = 0; i < c.out_len; ++i)
    for (int k = 0; k < taps; ++k) {
      c.w[size_t(i) * size_t(taps) + size_t(k)] = c.w[size_t(i) * size_t(c.taps) + size_t(lo + k)];
      c.idx[size_t(i) * size_t(taps) + size_t(k)] = c.idx[size_t(i) * size_t(c.taps) + size_t(lo + k)];
    }
  c.taps = taps;
  c.w.resize(size_t(c.out_len) * size_t(taps));
  c.idx.resize(c.w.size());
}

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
  trim_zero_taps(c);
  return c;
}

// Output row i of the height pass over the columns of `in`: o[x] = sum_k w_ik in[j_ik][x], in tap
// order from 0 (k outer, so the row sums vectorise across x).
void height_row(const Plane& in, const Contributions& c, int i, double* o) {
  const size_t w = size_t(in.width);
  std::fill(o, o + w, 0.0);
  for (int k = 0; k < c.taps; ++k) {
    const double wk = c.w[size_t(i) * size_t(c.taps) + size_t(k)];
    const double* src = &in.v[size_t(c.idx[size_t(i) * size_t(c.taps) + size_t(k)]) * w];
    for (size_t x = 0; x < w; ++x) o[x] += wk * src[x];
  }
}

// The width pass over one row: o[j] = sum_k w_jk src[j_jk], in tap order from 0. kTaps > 0 fixes
// the tap count at compile time (every enlargement has 4 once its zero taps are dropped: the tap
// loop unrolled, without its counter and branch per tap); 0 reads it from c.
template <int kTaps>
void width_row_taps(const double* src, const Contributions& c, double* o) {
  const size_t taps = kTaps > 0 ? size_t(kTaps) : size_t(c.taps);
  for (int j = 0; j < c.out_len; ++j) {
    const double* wj = &c.w[size_t(j) * taps];
    const int* ij = &c.idx[size_t(j) * taps];
    double acc = 0.0;
    for (size_t k = 0; k < taps; ++k) acc += wj[k] * src[ij[k]];
    o[j] = acc;
  }
}

void width_row(const double* src, const Contributions& c, double* o) {
  if (c.taps == 4) return width_row_taps<4>(src, c, o);
  width_row_taps<0>(src, c, o);
}

void check_resize(const Plane& in, int out_h, int out_w, double scale_h, double scale_w) {
  VDSR_CHECK(in.height > 0 && in.width > 0 && in.v.size() == size_t(in.size()),
             "imresize of an empty or malformed plane (" << in.height << "x" << in.width << ")");
  VDSR_CHECK(out_h > 0 && out_w > 0,
             "imresize output size " << out_h << "x" << out_w << " is empty");
  VDSR_CHECK(std::isfinite(scale_h) && std::isfinite(scale_w) && scale_h > 0 && scale_w > 0,
             "imresize scales must be positive, got " << scale_h << " and " << scale_w);
}

}  // namespace

// The two passes in MATLAB's order: the dimension with the smaller scale first, height first on
// ties; a dimension whose size and scale stay is not resized. Height first (every upscale by one
// factor): each output row is its height-pass row, then its width pass, so no intermediate plane
// exists. Width first: the width pass of every input row is made once, up front (the rows of the
// height pass each combine several of them).
struct ImresizeRows::State {
  const Plane* in = nullptr;
  int out_h = 0, out_w = 0;
  bool resize_h = false, resize_w = false, width_first = false;
  Contributions ch, cw;
  Plane widened;              // width first: every input row's width pass [in.height][out_w]
  std::vector<double> tmp;    // height first: one height-pass row [in.width]
};

ImresizeRows::ImresizeRows(const Plane& in, int out_height, int out_width, double scale_h, double scale_w)
    : s_(std::make_unique<State>()) {
  check_resize(in, out_height, out_width, scale_h, scale_w);
  State& s = *s_;
  s.in = &in;
  s.out_h = out_height;
  s.out_w = out_width;
  s.resize_h = !(out_height == in.height && scale_h == 1.0);
  s.resize_w = !(out_width == in.width && scale_w == 1.0);
  s.width_first = scale_w < scale_h;
  if (s.resize_h) s.ch = contributions(in.height, out_height, scale_h);
  if (s.resize_w) s.cw = contributions(in.width, out_width, scale_w);
  if (s.width_first && s.resize_w) {
    if (s.resize_h) {
      s.widened = Plane(in.height, out_width);
      for (int y = 0; y < in.height; ++y)
        width_row(&in.v[size_t(y) * size_t(in.width)], s.cw, &s.widened.v[size_t(y) * size_t(out_width)]);
    }
  } else if (s.resize_h && s.resize_w) {
    s.tmp.resize(size_t(in.width));
  }
}

ImresizeRows::ImresizeRows(const Plane& in, int out_height, int out_width)
    : ImresizeRows(in, out_height, out_width, double(out_height) / std::max(in.height, 1),
                   double(out_width) / std::max(in.width, 1)) {}

ImresizeRows::~ImresizeRows() = default;

int ImresizeRows::height() const { return s_->out_h; }
int ImresizeRows::width() const { return s_->out_w; }

void ImresizeRows::row(int i, double* out) {
  State& s = *s_;
  VDSR_CHECK(i >= 0 && i < s.out_h, "imresize row " << i << " of " << s.out_h);
  const Plane& in = *s.in;
  if (!s.resize_h) {  // the input row itself, resized across or not
    const double* src = &in.v[size_t(i) * size_t(in.width)];
    if (s.resize_w)
      width_row(src, s.cw, out);
    else
      std::copy_n(src, size_t(in.width), out);
  } else if (!s.resize_w) {
    height_row(in, s.ch, i, out);
  } else if (s.width_first) {
    height_row(s.widened, s.ch, i, out);
  } else {
    height_row(in, s.ch, i, s.tmp.data());
    width_row(s.tmp.data(), s.cw, out);
  }
}

namespace {

Plane resize(const Plane& in, int out_h, int out_w, double scale_h, double scale_w) {
  ImresizeRows rows(in, out_h, out_w, scale_h, scale_w);
  Plane out(out_h, out_w);
  for (int i = 0; i < out_h; ++i) rows.row(i, &out.v[size_t(i) * size_t(out_w)]);
  return out;
}

}  // namespace

// Within rounding of an integer: 1/3 * 255 must give 85 even if the double product were
// 85.00000000000001.
int imresize_length(double scale, int n) {
  const double p = scale * n;
  const double r = std::round(p);
  if (std::fabs(p - r) <= 1e-9 * std::max(1.0, r)) return int(r);
  return int(std::ceil(p));
}

Plane imresize(const Plane& in, double scale) {
  VDSR_CHECK(std::isfinite(scale) && scale > 0, "imresize scale must be positive, got " << scale);
  return resize(in, imresize_length(scale, in.height), imresize_length(scale, in.width), scale, scale);
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
