// MATLAB-exact imresize(x, scale, 'bicubic') in double (docs/evaluation.md): Keys cubic (a = -0.5, width 4),
// widened by 1/scale when shrinking (antialiasing); output pixel x (1-based) maps to
// u = x/scale + 0.5 (1 - 1/scale); taps floor(u - width/2) + (0 .. ceil(width) + 1); weights
// normalised to sum 1; out-of-range indices mirrored (1..n, n..1); all-zero tap columns dropped;
// output size ceil(scale * n). Separable: the dimension with the smaller scale first; when equal,
// height first. No clamping or rounding anywhere.
#pragma once

#include <memory>

#include "image/plane.h"

namespace vdsr {

Plane imresize(const Plane& in, double scale);
// The length imresize(., scale) gives a dimension of n: ceil(scale * n), a product within rounding
// of an integer counting as that integer.
int imresize_length(double scale, int n);
// Explicit per-dimension output sizes (scale = out / in per dimension), as imresize(x, [h w]).
Plane imresize_to(const Plane& in, int out_height, int out_width);

// imresize_to(in, out_height, out_width) (or, with the scales given, imresize's resize at those
// scales) one output row at a time, for a caller that uses each row once: row(i, out) writes the
// out_width values of row i, the same bits as that row of the whole result, without the whole
// output or (when the height is resized first, as in every upscale by one factor) any intermediate
// plane. `in` must outlive it. Not thread-safe: one per thread.
class ImresizeRows {
 public:
  ImresizeRows(const Plane& in, int out_height, int out_width);
  ImresizeRows(const Plane& in, int out_height, int out_width, double scale_h, double scale_w);
  ~ImresizeRows();
  ImresizeRows(const ImresizeRows&) = delete;
  ImresizeRows& operator=(const ImresizeRows&) = delete;
  int height() const;
  int width() const;
  void row(int i, double* out);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// MATLAB modcrop: keeps the top-left (height - height % s) x (width - width % s).
Plane modcrop(const Plane& in, int s);

}  // namespace vdsr
