// The one vocabulary for convolution shapes: N images of H x W pixels, C input channels, K output
// channels, an R x R kernel (R odd; 3 for every VDSR layer, 9 / 5 / 1 for SRCNN's), stride 1 and
// padding R / 2 on each side, so outputs are H x W too. Padding is zero (VDSR, PyTorch) or
// replicate (the edge pixel repeated: SRCNN's MATLAB imfilter(..., 'replicate')).
// Activations are NHWC ([N][H][W][C], C fastest); weights OIHW ([K][C][R][R]) as in PyTorch.
#pragma once

#include <cstdint>

namespace vdsr {

enum class Padding { Zero, Replicate };

struct ConvShape {
  int64_t N = 1, H = 1, W = 1, C = 1, K = 1;
  int64_t R = 3;
  Padding pad = Padding::Zero;

  // The VDSR case every tensor-core and training kernel is written for.
  bool is_3x3_zero() const { return R == 3 && pad == Padding::Zero; }
  int64_t pixels() const { return N * H * W; }
  int64_t in_elems() const { return N * H * W * C; }
  int64_t out_elems() const { return N * H * W * K; }
  int64_t weight_elems() const { return K * C * R * R; }
  // Multiply-adds of one pass (forward, backward-data or backward-weight): R^2 C K per pixel.
  double macs() const { return double(R * R) * double(C) * double(K) * double(pixels()); }
};

}  // namespace vdsr
