// The evaluation protocol of docs/evaluation.md as functions, shared by vdsr_eval and the tests:
//   hr    = modcrop(y_channel_u8(image), s)                        0..255 integers in double
//   input = imresize(imresize(hr / 255, 1/s), s)                   double, no clamping or rounding
//   score = psnr / ssim of shave(quantize_u8(output), s) against shave(hr, s)
// The bicubic baseline is score_output(sample.input, sample.hr, s).
#pragma once

#include <string>

#include "image/image_io.h"
#include "image/plane.h"

namespace vdsr {

struct EvalSample {
  std::string name;
  int scale = 0;
  Plane hr;     // modcropped HR Y, 0..255 integers
  Plane lr;     // imresize(hr / 255, 1/scale): the low-resolution image, [0, 1]-ish (not clamped)
  Plane input;  // bicubic down/up of hr / 255, [0, 1]-ish (not clamped), same size as hr
  // With with_chroma, for colour pictures of an output (picture_u8): the image's Cb and Cr (double
  // rgb2ycbcr of its RGB) modcropped and taken down and up by bicubic as the Y, so the colour the
  // low-resolution image carries, as vdsr_sr pairs it with the network's Y. Empty for a grey image
  // or without with_chroma. Never scored.
  Plane cb, cr;
  bool rgb_grey = false;  // the image is RGB with equal channels (rgb_with_equal_channels)
};

// y_channel_u8 -> modcrop -> imresize by 1/scale -> imresize by scale. 8-bit images only.
EvalSample make_eval_sample(const Image& img, int scale, const std::string& name, bool with_chroma = false);

struct Scores {
  double psnr = 0, ssim = 0;
};

// A UserError naming the image when the protocol cannot score it at `scale`: samples of more than 8
// bits, or too small after modcrop for a shave of `scale` pixels on each side and SSIM's 11x11
// window. From the image's size and depth alone (width and height as stored, before modcrop), so a
// whole set is checked before any image is scored.
void require_scorable(int width, int height, int bits, int scale, const std::string& name);
void require_scorable(const EvalSample& s);

// quantize_u8(output01) against hr, both shaved by `scale` pixels on every side.
Scores score_output(const Plane& output01, const Plane& hr, int scale);

// The 8-bit grey image of quantize_u8(output01): the pixels score_output scores, before the shave.
Image prediction_u8(const Plane& output01);

// An 8-bit picture of a Y plane in [0, 1] with chroma planes of its size: prediction_u8 when cb is
// empty (grey), else ycbcr2rgb, rounded and saturated. Its Y through rgb2ycbcr is within about a
// level of prediction_u8's (the RGB rounding), so it is for looking at, not for scoring.
Image picture_u8(const Plane& y01, const Plane& cb, const Plane& cr);

}  // namespace vdsr
