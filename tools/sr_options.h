// vdsr_sr's command line: its flags, parsed and checked against each other before any file is
// looked at, and the per-image factor that --width / --height ask for. In the vdsr_cli library
// so that test_cli can drive it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/device.h"
#include "image/image_io.h"
#include "io/batch_pipeline.h"

namespace vdsr {

struct SrOptions {
  std::string input, output;
  double scale = 2;
  bool scale_given = false;
  int width = 0, height = 0;  // --width / --height: a factor per image instead of -s (0: not given)
  std::string model;
  bool bicubic = false;
  std::string gpu;  // "" = the default device
  std::string precision = "fp32";
  std::string format;  // -f; "" = from the -o file's extension, else png; "same": each input's own
  std::string suffix;  // --suffix: added to the stem of the output names vdsr_sr makes
  SaveOptions save;
  std::set<std::string> save_flags;  // the output-quality flags given (--jpg-quality, ...)
  bool tta = false;
  int tile = 0;
  bool tile_given = false;
  PipelineThreads threads;
  bool threads_given = false;  // -j given: used as it is (GPUs still get one process worker each)
  bool recursive = false;
  bool skip_existing = false;
  std::string shard;         // --shard; "" = from a Slurm job array when inside one
  std::string json;          // --json FILE
  bool json_events = false;  // --progress json

  bool fit() const { return width > 0 || height > 0; }  // --width / --height instead of -s
};

// vdsr_sr's flags (and the common ones: --help exits there), each checked alone and against the
// others; an Error in words naming the flag otherwise.
SrOptions parse_sr_options(int argc, char** argv);

// The -g list's own checks, which hold whether or not a network runs: -1 (the CPU) alone, or
// distinct GPU indices.
std::vector<int> parse_gpu_list(const std::string& text);

// -g: "" (the default device), "-1" (the CPU), "N" or a list "0,1" of distinct GPUs.
std::vector<Device> resolve_devices(const std::string& text);

// "--width 1920", "--height 1080" or both: how the target was asked for, in the user's words.
std::string target_words(int width, int height);

// How the factor was asked for, for the log: "x2", "to 1920 pixels wide", "to fit 1920x1080".
std::string scale_words(const SrOptions& o);

// The factor that takes an image of in_width x in_height to --width / --height, or why it cannot:
// vdsr_sr only enlarges, by at most kMaxUpscale.
double image_scale(int in_width, int in_height, int width, int height);

}  // namespace vdsr
