// MATLAB colour conversion (docs/evaluation.md).
//   Evaluation Y (rgb2ycbcr on uint8 input, which returns uint8):
//     Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255), R, G, B in 0..255, half away from 0.
//   A one-channel image is its own Y; RGB images with equal channels still go through the formula.
//   Double conversion (rgb2ycbcr / ycbcr2rgb on double input in [0, 1]):
//     Y  =  16/255 + ( 65.481 R + 128.553 G +  24.966 B) / 255
//     Cb = 128/255 + (-37.797 R -  74.203 G + 112.0   B) / 255
//     Cr = 128/255 + (112.0   R -  93.786 G -  18.214 B) / 255
//   and its exact matrix inverse.
#pragma once

#include "image/image_io.h"
#include "image/plane.h"

namespace vdsr {

// The evaluation protocol's 8-bit Y on the 0..255 scale (integers stored as double). 8-bit images
// only; grey (1 or 2 channels) is its own Y; alpha is ignored.
Plane y_channel_u8(const Image& img);
// True for an image of 3 or 4 channels whose R, G and B are equal in every pixel: grey stored as
// colour, which y_channel_u8 still takes through the formula.
bool rgb_with_equal_channels(const Image& img);

struct YCbCr {
  Plane y, cb, cr;  // double, MATLAB's ranges on the [0, 1] scale
};

// Double rgb2ycbcr of an RGB(A) image of any bit depth (values divided by max_value()).
YCbCr rgb_to_ycbcr(const Image& img);
// ycbcr2rgb, then round half away from zero and saturate to `bits` (8 or 16): a 3-channel image.
Image ycbcr_to_rgb(const YCbCr& ycc, int bits);
// The same for n pixels given as rows of Y, Cb and Cr: pixel i's R, G, B go to out[i * stride + 0..2]
// (stride 3 for RGB, 4 for RGBA, whose alpha is left alone). AVX2 where engine/cpu_features.h's
// path is not the generic one, with the same bits.
void ycbcr_to_rgb_row(const double* y, const double* cb, const double* cr, size_t n, int bits, uint16_t* out,
                      size_t stride);

}  // namespace vdsr
