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
};

// y_channel_u8 -> modcrop -> imresize by 1/scale -> imresize by scale. 8-bit images only.
EvalSample make_eval_sample(const Image& img, int scale, const std::string& name);

struct Scores {
  double psnr = 0, ssim = 0;
};

// A UserError naming the image when it is too small to score at its scale: after the shave, SSIM
// needs an 11x11 window.
void require_scorable(const EvalSample& s);

// quantize_u8(output01) against hr, both shaved by `scale` pixels on every side.
Scores score_output(const Plane& output01, const Plane& hr, int scale);

// The 8-bit grey image of quantize_u8(output01): the pixels score_output scores, before the shave.
Image prediction_u8(const Plane& output01);

}  // namespace vdsr
