// Upscaling one decoded image the way vdsr_sr does it: the luma goes through the network (or
// bicubic alone), chroma and alpha are bicubic-upscaled (MATLAB imresize), grey stays grey, and the
// bit depth of the input is kept. The factor s is the paper's 2, 3 or 4 or any other above 1: the
// output is imresize_length(s, n) a side (ceil(s n)), chroma and alpha imresize(., s). The network
// reads imresize(luma, s) at 2, 3 and 4, and otherwise at network_scale(s) (next).
//   grey (1 ch):   Y = v / max;                 out = quantize(run(imresize(Y, s)))
//   RGB(A):        YCbCr = rgb2ycbcr(rgb / max) (double); Y through the network; Cb, Cr bicubic;
//                  out = ycbcr2rgb, rounded half away from zero and saturated.
//   alpha:         bicubic, rounded and saturated. Where some pixel is not opaque, the colour is
//                  upscaled premultiplied (Y, Cb, Cr times alpha; the network reads that luma) and
//                  divided by the upscaled alpha after; where that rounds to 0, the colour is
//                  black.
#pragma once

#include <functional>

#include "image/image_io.h"
#include "image/plane.h"
#include "model/net_plane.h"
#include "model/vdsr.h"

namespace vdsr {

// The largest factor taken. VDSR models are trained at a few factors (the bundled one at 2, 3 and
// 4) and sharpen a bicubic upscale; far beyond them there is little left for them to restore.
constexpr double kMaxUpscale = 8;

// The factor the network runs at for an upscale by `scale`, its output then resized to the target
// size when the two differ (imresize to the size, bicubic; antialiased when shrinking): `scale`
// itself at 2, 3 and 4 (the paper's factors: the network's own output); 2 below x2; 3 at any
// other factor. Measured on Set5 with the bundled model, trained at 2, 3 and 4 (docs/usage.md): at
// x1.5 the network loses to bicubic (-2.7 dB; x2 then down +3.5), probably sharpening the upscale
// as if it were blurred like a x2 one; on a non-integer upscale it gains less than at the integers
// around it (x2.5 +2.4 dB; x3 then resized +3.1, the best of x2, x3 and x4 from x2.1 to x3.9); and
// it gains little on an x5 to x8 upscale (+0.9 dB at x5, none at x8; x3 then up +2.1 / +1.8 / +1.5
// at x5 / x6 / x8, as x4 then up, on fewer pixels).
double network_scale(double scale);

// The factor that makes an in_width x in_height image `width` wide (0: no width asked) and `height`
// high (0: no height asked); with both, the largest image that fits inside width x height (the
// smaller of the two factors). Upscaled by it (imresize_length), the side it was taken from is
// exactly its target and the other ceil(factor n), at most its own target. It may lie outside
// (1, kMaxUpscale]: the caller checks.
double fit_scale(int in_width, int in_height, int width, int height);

struct UpscaleOptions {
  double scale = 2;
  bool tta = false;  // mean over the 8 rotations/flips (model only)
  int tile = 0;      // tile size in output pixels (halo not included); 0 = auto (model/tiled.h)
  // Called from the calling thread with the fraction of the network's work done on this image,
  // after every layer on the CPU (every tile on a GPU); not called for bicubic.
  std::function<void(double fraction)> on_progress;
  // false: an alpha channel is left out (the output has none; the colour is upscaled as it is
  // stored, transparent pixels' colour included), for a format that cannot store it.
  bool keep_alpha = true;
};

// model == nullptr: bicubic only. The same as finish_upscale(run_network(prepare_upscale(...))).
Image upscale_image(const Image& in, Vdsr* model, const UpscaleOptions& opt);

// upscale_image in three parts, so that a pipeline keeps the network's worker for the network
// alone (on a GPU there is one such worker, and the CPU work around the network would otherwise
// set the pace): prepare on the loading threads, the network on the model's worker, finish on the
// saving threads. Bit-identical to upscale_image.
struct UpscaleWork {
  Image info;   // the input's size, channels, bit depth, colour profile and EXIF; no pixels
  double scale = 2;
  int out_width = 0, out_height = 0;  // imresize_length(scale, the input's width / height)
  // The factor of the luma the network reads: network_scale(scale) (when it differs from scale,
  // finish_upscale resizes the network's output to out_height x out_width). Bicubic alone: scale.
  double net_scale = 2;
  // The luma (or grey) at the network's factor (net_scale), in one of two forms. For a network:
  // `net`, the bicubic upscale rounded to the network's floats and staged for its device
  // (model/net_plane.h), and after run_network its output there; with TTA the output is the mean of
  // eight, in double, in `luma`. For bicubic alone: `luma`, the bicubic upscale in double.
  Plane luma;
  NetPlane net;
  Plane cb, cr, alpha;  // at the input's size: chroma (colour images), alpha (when present)
  bool premultiplied = false;  // the luma and chroma are times alpha (some pixel is not opaque)
};
// Splits the colour (rgb2ycbcr) and upscales the luma (bicubic): the input of `model`, staged for
// its device (nullptr: bicubic alone, kept in double). keep_alpha: as UpscaleOptions'.
UpscaleWork prepare_upscale(const Image& in, double scale, const Vdsr* model = nullptr,
                            bool keep_alpha = true);
// The network on the luma (model == nullptr: nothing; opt.scale is w.scale). All it does besides
// the forward is copy the staged input to the device and the output back (Vdsr::forward_host).
// A work prepared for bicubic alone is staged here, at factors the network runs at only.
void run_network(UpscaleWork& w, Vdsr* model, const UpscaleOptions& opt);
// Upscales chroma and alpha (bicubic), goes back to RGB, rounds and saturates to the input's depth.
Image finish_upscale(const UpscaleWork& w);
// The luma values that are not finite (inf or NaN) after run_network: none from a sound model; a
// diverged run's finite weights whose arithmetic overflows give them, and the image they make is
// no upscale.
int64_t nonfinite_luma(const UpscaleWork& w);

}  // namespace vdsr
