// MATLAB-exact imresize(x, scale, 'bicubic') in double (docs/evaluation.md): Keys cubic (a = -0.5, width 4),
// widened by 1/scale when shrinking (antialiasing); output pixel x (1-based) maps to
// u = x/scale + 0.5 (1 - 1/scale); taps floor(u - width/2) + (0 .. ceil(width) + 1); weights
// normalised to sum 1; out-of-range indices mirrored (1..n, n..1); all-zero tap columns dropped;
// output size ceil(scale * n). Separable: the dimension with the smaller scale first; when equal,
// height first. No clamping or rounding anywhere.
#pragma once

#include "image/plane.h"

namespace vdsr {

Plane imresize(const Plane& in, double scale);
// Explicit per-dimension output sizes (scale = out / in per dimension), as imresize(x, [h w]).
Plane imresize_to(const Plane& in, int out_height, int out_width);

// MATLAB modcrop: keeps the top-left (height - height % s) x (width - width % s).
Plane modcrop(const Plane& in, int s);

}  // namespace vdsr
