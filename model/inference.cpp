#include "model/inference.h"

#include "model/tiled.h"

namespace vdsr {

Plane run_model(Vdsr& model, const Plane& input01) {
  return to_plane(run_model(model, to_net_plane(input01, model.device())));
}

NetPlane run_model(Vdsr& model, const NetPlane& input) {
  NetPlane out(input.height(), input.width(), model.device());
  model.forward_host(1, input.height(), input.width(), input.data(), out.data());
  return out;
}

namespace {

// The transforms on any [h][w] layout: out(y, x) = p(T(y, x)).
template <typename T>
void transform_values(const T* p, int ph, int pw, int t, T* out) {
  const bool tr = (t & 4) != 0, flip_rows = (t & 2) != 0, flip_cols = (t & 1) != 0;
  const int h = tr ? pw : ph, w = tr ? ph : pw;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int yy = flip_rows ? h - 1 - y : y, xx = flip_cols ? w - 1 - x : x;
      out[size_t(y) * size_t(w) + size_t(x)] = tr ? p[size_t(xx) * size_t(pw) + size_t(yy)]
                                                  : p[size_t(yy) * size_t(pw) + size_t(xx)];
    }
}

// The inverse of (transpose, fr, fc): flips are their own inverse, and flipping after a transpose
// equals transposing after the swapped flips, so it is (transpose, fc, fr).
int inverse_of(int t) { return (t & 4) == 0 ? t : 4 | ((t & 1) << 1) | ((t & 2) >> 1); }

}  // namespace

Plane transform_plane(const Plane& p, int t) {
  Plane out((t & 4) ? p.width : p.height, (t & 4) ? p.height : p.width);
  transform_values(p.v.data(), p.height, p.width, t, out.v.data());
  return out;
}

Plane invert_transform(const Plane& p, int t) { return transform_plane(p, inverse_of(t)); }

NetPlane transform_plane(const NetPlane& p, int t) {
  NetPlane out((t & 4) ? p.width() : p.height(), (t & 4) ? p.height() : p.width(), p.device());
  transform_values(p.data(), p.height(), p.width(), t, out.data());
  return out;
}

NetPlane invert_transform(const NetPlane& p, int t) { return transform_plane(p, inverse_of(t)); }

Plane run_model_tta(Vdsr& model, const Plane& input01) { return run_model_tta(model, input01, 0); }

Plane run_model_tta(Vdsr& model, const Plane& input01, int tile) {
  return run_model_tta(model, to_net_plane(input01, model.device()), tile);
}

Plane run_model_tta(Vdsr& model, const NetPlane& input, int tile) {
  Plane sum(input.height(), input.width());
  for (int t = 0; t < 8; ++t) {
    const NetPlane out = invert_transform(run_model_tiled(model, transform_plane(input, t), tile), t);
    const float* o = out.data();
    for (size_t i = 0; i < sum.v.size(); ++i) sum.v[i] += static_cast<double>(o[i]);
  }
  for (auto& v : sum.v) v /= 8.0;
  return sum;
}

}  // namespace vdsr
