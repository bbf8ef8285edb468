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
#include "image/plane.h"
#include "model/net_plane.h"
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

// model == nullptr: bicubic only. The same as finish_upscale(run_network(prepare_upscale(...))).
Image upscale_image(const Image& in, Vdsr* model, const UpscaleOptions& opt);

// upscale_image in three parts, so that a pipeline keeps the network's worker for the network
// alone (on a GPU there is one such worker, and the CPU work around the network would otherwise
// set the pace): prepare on the loading threads, the network on the model's worker, finish on the
// saving threads. Bit-identical to upscale_image.
struct UpscaleWork {
  Image info;   // the input's size, channels, bit depth, colour profile and EXIF; no pixels
  int scale = 2;
  // The luma (or grey) at the output's size, in one of two forms. For a network: `net`, the bicubic
  // upscale rounded to the network's floats and staged for its device (model/net_plane.h), and
  // after run_network its output there; with TTA the output is the mean of eight, in double, in
  // `luma`. For bicubic alone: `luma`, the bicubic upscale in double.
  Plane luma;
  NetPlane net;
  Plane cb, cr, alpha;  // at the input's size: chroma (colour images), alpha (when present)
};
// Splits the colour (rgb2ycbcr) and upscales the luma (bicubic): the input of `model`, staged for
// its device (nullptr: bicubic alone, kept in double).
UpscaleWork prepare_upscale(const Image& in, int scale, const Vdsr* model = nullptr);
// The network on the luma (model == nullptr: nothing; opt.scale is w.scale). All it does besides
// the forward is copy the staged input to the device and the output back (Vdsr::forward_host).
void run_network(UpscaleWork& w, Vdsr* model, const UpscaleOptions& opt);
// Upscales chroma and alpha (bicubic), goes back to RGB, rounds and saturates to the input's depth.
Image finish_upscale(const UpscaleWork& w);

}  // namespace vdsr
