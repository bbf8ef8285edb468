// vdsr_bench --stages FOLDER: the throughput of each stage of vdsr_sr's pipeline over the images of
// a folder, one thread per stage as vdsr_sr's load and save threads run them:
//   decode          probe + decode of the file's bytes, read into memory once beforehand, by the
//                   codec row of its format (image/codec.h); stb_image's PNG / JPEG decoders beside
//                   them (bench/stb_baseline.h)
//   prepare         prepare_upscale (model/upscale.h): rgb2ycbcr and the luma's bicubic upscale,
//                   what vdsr_sr's load threads do after decoding
//   network         VDSR forward (He-initialised weights: the speed does not depend on them) on the
//                   prepared luma, on the -g device, capped at `network_pixels` output pixels (crops
//                   of the first images) since the CPU is slow: all a process worker does
//   finish          finish_upscale: chroma (and alpha) bicubic, ycbcr2rgb, rounding; what the save
//                   threads do before encoding
//   encode          each output format and setting, into memory (no file written); stb_image_write's
//                   PNG and JPEG beside them
// Each row is the sum over the images of the median of `reps` timed calls after one untimed call.
// Then, for a network rate (given, or the one measured), the load, process and save threads that
// keep it fed, per output format: the `-j L:P:S` of vdsr_sr (load = decode + prepare, process =
// the network, save = finish + encode).
#pragma once

#include <cstdint>
#include <string>

#include "engine/device.h"

namespace vdsr::bench {

struct StagesOptions {
  std::string folder;
  int images = 0;                // the first N image files by name; 0 = all
  int scale = 2;
  int reps = 3;                  // timed calls per image and row; the median counts
  int64_t network_pixels = 0;    // output pixels the network stage runs; 0 = every image whole
  double net_rate = 0.0;         // output Mpx/s the -j suggestion feeds; 0 = the rate measured here
  Device device;
  std::string precision;         // the network's compute mode; "" = fp32
  std::string json;              // also write the rows here when not empty
};

// Prints the table and the -j suggestions (stdout); returns the exit status.
int run_stages(const StagesOptions& o);

}  // namespace vdsr::bench
