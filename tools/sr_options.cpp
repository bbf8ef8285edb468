// vdsr_sr's flags and their checks (tools/sr_options.h).
#include "tools/sr_options.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "engine/error.h"
#include "engine/values.h"
#include "io/std_streams.h"
#include "model/precision.h"
#include "model/upscale.h"
#include "tools/cli.h"

namespace vdsr {

namespace {

// --width / --height: a whole number of output pixels.
int parse_target(const std::string& v, const char* flag) {
  const int n = cli::parse_int(v, flag);
  VDSR_USER_CHECK(n >= 1, flag << " takes the output's size in pixels (at least 1), got " << v);
  return n;
}

}  // namespace

std::vector<int> parse_gpu_list(const std::string& text) {
  const std::vector<int> ids = cli::parse_int_list(text, -1, 1023, "--gpu");
  VDSR_USER_CHECK(std::set<int>(ids.begin(), ids.end()).size() == ids.size() &&
                      (ids.size() == 1 || ids.end() == std::find(ids.begin(), ids.end(), -1)),
                  "-g " << text << ": a list names distinct GPUs (-1, the CPU, stands alone)");
  return ids;
}

std::vector<Device> resolve_devices(const std::string& text) {
  if (text.empty()) return {select_device(kDefaultDevice)};
  const std::vector<int> ids = parse_gpu_list(text);
  if (ids.size() == 1 && ids[0] == -1) return {Device::cpu()};
  VDSR_USER_CHECK(cuda_compiled(), "-g " << text
                                         << ": this vdsr_sr was built without CUDA (CPU only); "
                                            "use -g -1 or leave -g out");
  std::vector<Device> devices;
  for (const int id : ids) devices.push_back(select_device(id));
  return devices;
}

std::string target_words(int width, int height) {
  std::string t;
  if (width > 0) t = "--width " + std::to_string(width);
  if (height > 0) t += (t.empty() ? "" : " ") + std::string("--height ") + std::to_string(height);
  return t;
}

std::string scale_words(const SrOptions& o) {
  if (!o.fit()) return format_scale(o.scale);
  if (o.height == 0) return "to " + std::to_string(o.width) + " pixels wide";
  if (o.width == 0) return "to " + std::to_string(o.height) + " pixels high";
  return "to fit " + std::to_string(o.width) + "x" + std::to_string(o.height);
}

double image_scale(int in_width, int in_height, int width, int height) {
  const double s = fit_scale(in_width, in_height, width, height);
  const std::string size = std::to_string(in_width) + "x" + std::to_string(in_height);
  // With both targets, the one that sets the factor (the smaller) is the one already reached.
  const bool both = width > 0 && height > 0;
  const bool by_width =
      height == 0 || (width > 0 && double(width) / in_width <= double(height) / in_height);
  VDSR_USER_CHECK(s > 1,
                  size << " already reaches "
                       << target_words(by_width ? width : 0, by_width ? 0 : height) << " ("
                       << format_scale(s)
                       << (both ? ", the smaller factor of " + target_words(width, height) : "")
                       << "); vdsr_sr only enlarges");
  VDSR_USER_CHECK(s <= kMaxUpscale, size << " would need " << format_scale(s) << " to reach "
                                         << target_words(width, height)
                                         << "; the largest factor is "
                                         << format_scale(kMaxUpscale));
  return s;
}

SrOptions parse_sr_options(int argc, char** argv) {
  SrOptions o;
  cli::Parser p(
      "vdsr_sr", "upscale images with VDSR",
      "vdsr_sr -i INPUT -o OUTPUT [-s S | --width W --height H] [-m MODEL | --bicubic] [-r]\n"
      "               [--skip-existing] [-f png|jpg|webp|tif|bmp|same] [--suffix TEXT] [-t TILE]\n"
      "               [-g GPU[,GPU...]] [--precision P] [-j L:P:S] [-x] [--shard I/N] [--json "
      "FILE]\n"
      "               [--progress json]");
  p.add({"-i", "--input", "PATH", "an image file or a folder of images; - for standard input",
         [&](const std::string& v) { o.input = v; }});
  p.add(
      {"-o", "--output", "PATH",
       "output file, or folder (created) for a folder input; - for standard output (-f, else png)",
       [&](const std::string& v) { o.output = v; }});
  p.add({"-s", "--scale", "S",
         "upscale factor: 2, 3 or 4 (the paper's), or any other above 1 up to 8, e.g. 2.5 [2]",
         [&](const std::string& v) {
           const double s = cli::parse_double(v, "--scale");
           VDSR_USER_CHECK(s > 1 && s <= kMaxUpscale, "--scale must be above 1 and at most "
                                                          << kMaxUpscale
                                                          << " (2, 3, 4 or e.g. 2.5), got " << v);
           o.scale = s;
           o.scale_given = true;
         }});
  p.add({"", "--width", "W",
         "instead of -s: each image's factor makes it W pixels wide (aspect kept)",
         [&](const std::string& v) { o.width = parse_target(v, "--width"); }});
  p.add({"", "--height", "H",
         "instead of -s: each image's factor makes it H pixels high; with --width, the largest "
         "that fits W x H",
         [&](const std::string& v) { o.height = parse_target(v, "--height"); }});
  p.add({"-m", "--model", "FILE",
         "weights (safetensors, or the authors' .mat) or a checkpoint [the bundled model]",
         [&](const std::string& v) { o.model = v; }});
  p.add({"", "--bicubic", "", "bicubic upscaling only (MATLAB imresize), no network",
         [&](const std::string&) { o.bicubic = true; }});
  p.add({"-t", "--tile", "N", "tile size in output pixels, halo not included; 0 = auto [0]",
         [&](const std::string& v) {
           o.tile = cli::parse_int(v, "--tile");
           o.tile_given = true;
         }});
  p.add({"-g", "--gpu", "N|-1|0,1",
         "GPU index, -1 for the CPU, or a list of GPUs [0 if usable, else -1]",
         [&](const std::string& v) { o.gpu = v; }});
  p.add(
      {"-j", "--threads", "L:P:S",
       "load:process:save threads [1:2:2; on GPUs one process each, load and save from the cores]",
       [&](const std::string& v) {
         o.threads = parse_pipeline_threads(v);
         o.threads_given = true;
       }});
  p.add({"-r", "--recursive", "", "descend into sub-folders, mirroring the tree in the output",
         [&](const std::string&) { o.recursive = true; }});
  p.add({"", "--skip-existing", "", "leave images whose output file exists (resume a batch)",
         [&](const std::string&) { o.skip_existing = true; }});
  p.add({"", "--precision", "MODE", "fp32, tf32 or bf16 (GPU only) [fp32]",
         [&](const std::string& v) { o.precision = precision_name(parse_precision(v)); }});
  p.add({"-f", "--format", "FMT",
         "output format png, jpg, webp, tif or bmp, or same (each input's own; .tga as png) [the "
         "-o file's "
         "extension, else png]",
         [&](const std::string& v) { o.format = v; }});
  p.add({"", "--suffix", "TEXT",
         "added to the name of each output vdsr_sr names (a folder's): photo.jpg -> photoTEXT.png "
         "[none]",
         [&](const std::string& v) {
           VDSR_USER_CHECK(v.find('/') == std::string::npos,
                           "--suffix '" << v << "' may not hold a '/' (it is part of a file name)");
           o.suffix = v;
         }});
  p.add({"", "--jpg-quality", "Q", "JPEG quality 1-100 [95]", [&](const std::string& v) {
           o.save.jpeg_quality = cli::parse_int(v, "--jpg-quality");
           o.save_flags.insert("--jpg-quality");
         }});
  p.add({"", "--png-level", "L",
         "PNG (and TIFF Deflate) compression level 0-9; 1 is fast (run-length), 9 small [1]",
         [&](const std::string& v) {
           o.save.png_level = cli::parse_int(v, "--png-level");
           o.save_flags.insert("--png-level");
         }});
  p.add({"", "--webp-quality", "Q", "WebP quality 1-100, or 101 for lossless [90]",
         [&](const std::string& v) {
           o.save.webp_quality = cli::parse_int(v, "--webp-quality");
           o.save_flags.insert("--webp-quality");
         }});
  p.add({"", "--shard", "I/N|auto|auto/N",
         "this process's share of the files: I of N by a hash of each path; auto: from a Slurm job "
         "array "
         "(auto/N: or a Kubernetes Indexed Job) [auto inside a Slurm job array, else all]",
         [&](const std::string& v) { o.shard = v; }});
  p.add({"", "--json", "FILE",
         "also write a report: every file (input, output, status, reason, sizes, seconds) and the "
         "totals",
         [&](const std::string& v) {
           VDSR_USER_CHECK(!v.empty(), "--json needs a file name");
           o.json = v;  // checked once -o is known (a folder it creates may hold the report)
         }});
  p.add({"", "--progress", "json",
         "progress as JSON events on stderr, one per line (start, progress, image, done)",
         [&](const std::string& v) {
           VDSR_USER_CHECK(v == "json", "--progress: the only form is 'json', got '" << v << "'");
           o.json_events = true;
         }});
  p.add({"-x", "--tta", "", "test-time augmentation: average of the 8 rotations/flips",
         [&](const std::string&) { o.tta = true; }});
  p.add_common();
  p.parse(argc, argv);

  VDSR_USER_CHECK(!(o.fit() && o.scale_given),
                  "-s and " << target_words(o.width, o.height)
                            << " exclude each other: give a factor, or the output's size");
  VDSR_USER_CHECK(!(o.bicubic && !o.model.empty()), "--bicubic and -m exclude each other");
  VDSR_USER_CHECK(!(o.bicubic && o.tta), "--tta applies to a model, not to --bicubic");
  // Each tile also runs its halo (VDSR: 20 pixels on every side on a GPU, 56 on the CPU,
  // model/tiled.h): a tile of 1 would compute 1,681 pixels or more for every pixel it keeps.
  VDSR_USER_CHECK(o.tile == 0 || o.tile >= 16,
                  "--tile must be 0 (auto) or at least 16 output pixels (each tile "
                  "also runs a halo on every side: for VDSR 20 pixels on a GPU, 56 on "
                  "the CPU), got "
                      << o.tile);
  VDSR_USER_CHECK(o.save.jpeg_quality >= 1 && o.save.jpeg_quality <= 100,
                  "--jpg-quality must be 1..100, got " << o.save.jpeg_quality);
  VDSR_USER_CHECK(o.save.png_level >= 0 && o.save.png_level <= 9,
                  "--png-level must be 0..9, got " << o.save.png_level);
  VDSR_USER_CHECK(
      o.save.webp_quality >= 1 && o.save.webp_quality <= 101,
      "--webp-quality must be 1..100, or 101 for lossless, got " << o.save.webp_quality);
  if (!o.json.empty()) {
    // The folder the run makes for its outputs: -o's for a folder of inputs or a name ending in
    // '/', else the output file's.
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool folder =
        !o.output.empty() && o.output != kStdStream &&
        (o.output.back() == '/' || (o.input != kStdStream && fs::is_directory(o.input, ec)));
    const std::string made = o.output.empty() || o.output == kStdStream ? ""
                             : folder                                   ? o.output
                                      : fs::path(o.output).parent_path().string();
    o.json = cli::json_file(o.json, made);
  }
  return o;
}

}  // namespace vdsr
