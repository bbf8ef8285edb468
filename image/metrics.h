// Scores of the evaluation protocol (docs/evaluation.md), on 0..255 planes of equal size.
#pragma once

#include "image/plane.h"

namespace vdsr {

// round(255 * x) half away from zero, saturated to [0, 255]: the protocol's prediction.
Plane quantize_u8(const Plane& x01);

// Removes `shave` pixels from every side.
Plane shave(const Plane& p, int shave);
// The h x w rectangle whose top-left pixel is (y0, x0); it must lie inside the plane.
Plane crop(const Plane& p, int y0, int x0, int h, int w);

// PSNR = 10 log10(255^2 / MSE); infinite when the planes are equal.
double psnr(const Plane& a, const Plane& b);
// Wang et al.'s ssim_index: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255,
// 'valid' filtering, mean of the SSIM map.
double ssim(const Plane& a, const Plane& b);

}  // namespace vdsr
