// Upscaling one decoded image by an integer scale, the way vdsr_sr does it: the luma goes through
// the network (or bicubic alone), chroma and alpha are bicubic-upscaled (MATLAB imresize), grey
// stays grey, and the bit depth of the input is kept.
//   grey (1 ch):   Y = v / max;                 out = quantize(run(imresize(Y, s)))
//   RGB(A):        YCbCr = rgb2ycbcr(rgb / max) (double); Y through the network; Cb, Cr bicubic;
//                  out = ycbcr2rgb, rounded half away from zero and saturated.
//   alpha:         bicubic, rounded and saturated.
#pragma once

#include <functional>

#include "image/image_io.h"
#include "model/vdsr.h"

namespace vdsr {

struct UpscaleOptions {
  int scale = 2;
  bool tta = false;  // mean over the 8 rotations/flips (model only)
  int tile = 0;      // tile size in output pixels (halo not included); 0 = auto (model/tiled.h)
  // Called from the calling thread with the fraction of the network's work done on this image,
  // after every layer on the CPU (every tile on a GPU); not called for bicubic.
  std::function<void(double fraction)> on_progress;
};

// model == nullptr: bicubic only.
Image upscale_image(const Image& in, Vdsr* model, const UpscaleOptions& opt);

}  // namespace vdsr
