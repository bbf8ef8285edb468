// vdsr_sr: upscales an image file, standard input (-i -) or a folder of images (optionally its
// whole tree, -r) into a file, standard output (-o -) or a folder, with VDSR,
// or bicubic with --bicubic, by one factor (-s) or each image by its own (--width / --height: a
// target size). Luma through the network, chroma and alpha bicubic, grey stays grey, 16-bit stays
// 16-bit (PNG, TIFF), the EXIF orientation applied, colour profile and EXIF carried to the output.
// Every folder rule is checked before any work; then decoding, upscaling and encoding run on their
// own threads (io/batch_pipeline.h), each process worker with its own model. A bad image is
// reported with its name and cause while the others go on; the exit status is 0 only if every
// image succeeded (2 if some failed, 1 for an error before any work).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"
#include "image/image_io.h"
#include "image/imresize.h"
#include "io/batch_pipeline.h"
#include "io/file_plan.h"
#include "io/std_streams.h"
#include "model/model_files.h"
#include "model/upscale.h"
#include "model/weights_io.h"
#include "tools/batch_report.h"
#include "tools/cli.h"

namespace fs = std::filesystem;
using namespace vdsr;

namespace {

// True when folder `dir` holds a folder that -r would walk (links to folders it does not follow).
bool has_subfolder(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!it->is_symlink(ec) && it->is_directory(ec)) return true;
  return false;
}

struct Options {
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
  bool tta = false;
  int tile = 0;
  PipelineThreads threads;
  bool threads_given = false;  // -j given: used as it is (GPUs still get one process worker each)
  bool recursive = false;
  bool skip_existing = false;
  std::string shard;  // --shard; "" = from a Slurm job array when inside one
  std::string json;   // --json FILE
  bool json_events = false;  // --progress json
};

// The -g list's own checks, which hold whether or not a network runs.
std::vector<int> parse_gpu_list(const std::string& text) {
  const std::vector<int> ids = cli::parse_int_list(text, -1, 1023, "--gpu");
  VDSR_USER_CHECK(std::set<int>(ids.begin(), ids.end()).size() == ids.size() &&
                 (ids.size() == 1 || ids.end() == std::find(ids.begin(), ids.end(), -1)),
             "-g " << text << ": a list names distinct GPUs (-1, the CPU, stands alone)");
  return ids;
}

// -g: "" (the default device), "-1" (the CPU), "N" or a list "0,1" of distinct GPUs.
std::vector<Device> resolve_devices(const std::string& text) {
  if (text.empty()) return {select_device(kDefaultDevice)};
  const std::vector<int> ids = parse_gpu_list(text);
  if (ids.size() == 1 && ids[0] == -1) return {Device::cpu()};
  VDSR_USER_CHECK(cuda_compiled(), "-g " << text << ": this vdsr_sr was built without CUDA (CPU only); "
                                    "use -g -1 or leave -g out");
  std::vector<Device> devices;
  for (const int id : ids) devices.push_back(select_device(id));
  return devices;
}

// --width / --height: a whole number of output pixels.
int parse_target(const std::string& v, const char* flag) {
  const int n = cli::parse_int(v, flag);
  VDSR_USER_CHECK(n >= 1, flag << " takes the output's size in pixels (at least 1), got " << v);
  return n;
}

// "--width 1920", "--height 1080" or both: how the target was asked for, in the user's words.
std::string target_words(int width, int height) {
  std::string t;
  if (width > 0) t = "--width " + std::to_string(width);
  if (height > 0) t += (t.empty() ? "" : " ") + std::string("--height ") + std::to_string(height);
  return t;
}

// The factor that takes an image of in_width x in_height to --width / --height, or why it cannot:
// vdsr_sr only enlarges, by at most kMaxUpscale.
double image_scale(int in_width, int in_height, int width, int height) {
  const double s = fit_scale(in_width, in_height, width, height);
  const std::string size = std::to_string(in_width) + "x" + std::to_string(in_height);
  VDSR_USER_CHECK(s > 1, size << " already reaches " << target_words(width, height) << " (" << format_scale(s)
                              << "); vdsr_sr only enlarges");
  VDSR_USER_CHECK(s <= kMaxUpscale, size << " would need " << format_scale(s) << " to reach "
                                         << target_words(width, height) << "; the largest factor is "
                                         << format_scale(kMaxUpscale));
  return s;
}

int run(int argc, char** argv) {
  Options o;
  cli::Parser p("vdsr_sr", "upscale images with VDSR",
                "vdsr_sr -i INPUT -o OUTPUT [-s S | --width W --height H] [-m MODEL | --bicubic] [-r]\n"
                "               [--skip-existing] [-f png|jpg|webp|tif|bmp|same] [--suffix TEXT] [-t TILE]\n"
                "               [-g GPU[,GPU...]] [--precision P] [-j L:P:S] [-x] [--shard I/N] [--json FILE]\n"
                "               [--progress json]");
  p.add({"-i", "--input", "PATH", "an image file or a folder of images; - for standard input",
         [&](const std::string& v) { o.input = v; }});
  p.add({"-o", "--output", "PATH",
         "output file, or folder (created) for a folder input; - for standard output (-f, else png)",
         [&](const std::string& v) { o.output = v; }});
  p.add({"-s", "--scale", "S", "upscale factor: 2, 3 or 4 (the paper's), or any other above 1 up to 8, e.g. 2.5 [2]",
         [&](const std::string& v) {
           const double s = cli::parse_double(v, "--scale");
           VDSR_USER_CHECK(s > 1 && s <= kMaxUpscale,
                           "--scale must be above 1 and at most " << kMaxUpscale << " (2, 3, 4 or e.g. 2.5), got " << v);
           o.scale = s;
           o.scale_given = true;
         }});
  p.add({"", "--width", "W", "instead of -s: each image's factor makes it W pixels wide (aspect kept)",
         [&](const std::string& v) { o.width = parse_target(v, "--width"); }});
  p.add({"", "--height", "H",
         "instead of -s: each image's factor makes it H pixels high; with --width, the largest that fits W x H",
         [&](const std::string& v) { o.height = parse_target(v, "--height"); }});
  p.add({"-m", "--model", "FILE", "weights (safetensors, or the authors' .mat) or a checkpoint [the bundled model]",
         [&](const std::string& v) { o.model = v; }});
  p.add({"", "--bicubic", "", "bicubic upscaling only (MATLAB imresize), no network",
         [&](const std::string&) { o.bicubic = true; }});
  p.add({"-t", "--tile", "N", "tile size in output pixels, halo not included; 0 = auto [0]",
         [&](const std::string& v) { o.tile = cli::parse_int(v, "--tile"); }});
  p.add({"-g", "--gpu", "N|-1|0,1",
         "GPU index, -1 for the CPU, or a list of GPUs [0 if usable, else -1]",
         [&](const std::string& v) { o.gpu = v; }});
  p.add({"-j", "--threads", "L:P:S",
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
         "output format png, jpg, webp, tif or bmp, or same (each input's own; .tga as png) [the -o file's "
         "extension, else png]",
         [&](const std::string& v) { o.format = v; }});
  p.add({"", "--suffix", "TEXT",
         "added to the name of each output vdsr_sr names (a folder's): photo.jpg -> photoTEXT.png [none]",
         [&](const std::string& v) {
           VDSR_USER_CHECK(v.find('/') == std::string::npos,
                           "--suffix '" << v << "' may not hold a '/' (it is part of a file name)");
           o.suffix = v;
         }});
  p.add({"", "--jpg-quality", "Q", "JPEG quality 1-100 [95]",
         [&](const std::string& v) { o.save.jpeg_quality = cli::parse_int(v, "--jpg-quality"); }});
  p.add({"", "--png-level", "L", "PNG (and TIFF Deflate) compression level 0-9; 1 is fast (run-length), 9 small [1]",
         [&](const std::string& v) { o.save.png_level = cli::parse_int(v, "--png-level"); }});
  p.add({"", "--webp-quality", "Q", "WebP quality 1-100, or 101 for lossless [90]",
         [&](const std::string& v) { o.save.webp_quality = cli::parse_int(v, "--webp-quality"); }});
  p.add({"", "--shard", "I/N|auto|auto/N",
         "this process's share of the files: I of N by a hash of each path; auto: from a Slurm job array "
         "(auto/N: or a Kubernetes Indexed Job) [auto inside a Slurm job array, else all]",
         [&](const std::string& v) { o.shard = v; }});
  p.add({"", "--json", "FILE", "also write a report: every file (input, output, status, reason, sizes, seconds) and the totals",
         [&](const std::string& v) { o.json = cli::json_file(v); }});
  p.add({"", "--progress", "json", "progress as JSON events on stderr, one per line (start, progress, image, done)",
         [&](const std::string& v) {
           VDSR_USER_CHECK(v == "json", "--progress: the only form is 'json', got '" << v << "'");
           o.json_events = true;
         }});
  p.add({"-x", "--tta", "", "test-time augmentation: average of the 8 rotations/flips",
         [&](const std::string&) { o.tta = true; }});
  p.add_common();
  p.parse(argc, argv);

  const bool fit = o.width > 0 || o.height > 0;
  VDSR_USER_CHECK(!(fit && o.scale_given), "-s and " << target_words(o.width, o.height)
                                                     << " exclude each other: give a factor, or the output's size");
  VDSR_USER_CHECK(!(o.bicubic && !o.model.empty()), "--bicubic and -m exclude each other");
  VDSR_USER_CHECK(!(o.bicubic && o.tta), "--tta applies to a model, not to --bicubic");
  // Each tile also runs its halo (VDSR: 20 pixels on every side on a GPU, 56 on the CPU, model/tiled.h):
  // a tile of 1 would compute 1,681 pixels or more for every pixel it keeps.
  VDSR_USER_CHECK(o.tile == 0 || o.tile >= 16, "--tile must be 0 (auto) or at least 16 output pixels (each tile "
                                                "also runs a halo on every side: for VDSR 20 pixels on a GPU, 56 on "
                                                "the CPU), got " << o.tile);
  VDSR_USER_CHECK(o.save.jpeg_quality >= 1 && o.save.jpeg_quality <= 100,
             "--jpg-quality must be 1..100, got " << o.save.jpeg_quality);
  VDSR_USER_CHECK(o.save.png_level >= 0 && o.save.png_level <= 9,
             "--png-level must be 0..9, got " << o.save.png_level);
  VDSR_USER_CHECK(o.save.webp_quality >= 1 && o.save.webp_quality <= 101,
             "--webp-quality must be 1..100, or 101 for lossless, got " << o.save.webp_quality);
  const std::string format_name = output_format(o.input, o.output, o.format);
  const bool same_format = format_name == kSameFormat;
  const ImageFormat one_format = same_format ? ImageFormat::PNG : parse_image_format(format_name);
  const std::string ext = same_format ? format_name : image_format_extension(one_format);
  // Before planning, which makes the output folder: a --shard that cannot be used leaves nothing.
  const Shard shard = parse_shard(o.shard, [](const char* name) { return std::getenv(name); });
  FilePlan plan = plan_files(o.input, o.output, ext, o.recursive, o.skip_existing, o.suffix);
  for (const auto& s : plan.skipped) log_verbose("skipping " + printable(s.path) + " (" + s.reason + ")");
  VDSR_USER_CHECK(!plan.jobs.empty() || !plan.existing.empty() || !plan.problems.empty(),
                  "no images in '" << o.input << "'"
                                   << (!o.recursive && has_subfolder(o.input)
                                           ? " (it has sub-folders: -r walks them)"
                                           : ""));
  // Kubernetes does not say how many pods an Indexed Job has, so it cannot be the default.
  if (o.shard.empty() && shard.count == 1 && std::getenv("JOB_COMPLETION_INDEX") != nullptr)
    log_warning(
        "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but --shard is not: this process "
        "upscales every file; give --shard auto/N (N: the Job's completions) to share them");
  // The whole tree was planned (so every shard agrees on the collision checks); keep this share.
  if (shard.count > 1) {
    const size_t all = plan.jobs.size() + plan.existing.size() + plan.problems.size();
    apply_shard(plan, o.input, shard);
    log_info("vdsr_sr: shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + " (from " +
             shard.source + "): " + std::to_string(plan.jobs.size() + plan.existing.size() + plan.problems.size()) +
             " of " + std::to_string(all) + " image(s)");
  }
  VDSR_USER_CHECK(o.output != kStdStream || !stdout_is_terminal(),
                  "-o -: standard output is a terminal, where image bytes do not belong; redirect it to a file "
                  "or a pipe (vdsr_sr ... -o - > out.png)");
  // Temporaries that killed runs of this host left in the output folder (never another host's:
  // shards elsewhere may be writing there now).
  if (o.output != kStdStream) {
    const fs::path out_dir = plan.folder_mode || fs::is_directory(o.output) ? fs::path(o.output)
                                                                              : fs::path(o.output).parent_path();
    // Only an image's: the folder may hold anything else, whatever its name.
    const auto removed = remove_stale_temporaries(out_dir.empty() ? "." : out_dir.string(), plan.folder_mode && o.recursive,
                                                  [](const std::string& name) { return has_image_extension(name); });
    for (const auto& r : removed) log_verbose("removed " + printable(r) + " (left by a process of this host that is gone)");
    if (!removed.empty())
      log_info("vdsr_sr: removed " + std::to_string(removed.size()) + " temporary file(s) of interrupted runs");
  }

  // Each job's output format, from its output's extension: one format for all, or with -f same
  // each input's own (a format this build cannot write stops the run here, before any work). The
  // GPU pipeline's save threads are sized for the most common one.
  std::vector<ImageFormat> formats;
  std::map<ImageFormat, size_t> format_count;
  for (const auto& j : plan.jobs) {
    // -f same names every output <stem>.<its input's extension> (plan_files); otherwise one format.
    formats.push_back(same_format ? parse_image_format(fs::path(j.output).extension().string().substr(1))
                                  : one_format);
    ++format_count[formats.back()];
  }
  ImageFormat format = ImageFormat::PNG;
  size_t most = 0;
  for (const auto& [f, n] : format_count)
    if (n > most) {
      most = n;
      format = f;
    }

  BatchReport report(plan.jobs.size(), o.json_events);

  // One model per process worker (Vdsr is not thread-safe), loaded before any image is read: on the
  // CPU, P workers; on GPUs, one per listed device (a device's ops share its stream and workspace).
  std::vector<std::unique_ptr<Vdsr>> models;
  std::string model_name = "bicubic", what;
  const std::string how = !fit             ? format_scale(o.scale)
                          : o.height == 0 ? "to " + std::to_string(o.width) + " pixels wide"
                          : o.width == 0  ? "to " + std::to_string(o.height) + " pixels high"
                                          : "to fit " + std::to_string(o.width) + "x" + std::to_string(o.height);
  VdsrWeights weights;  // the model's; with --width / --height, for the trained-scales warning per factor
  PipelineThreads threads = o.threads;
  if (!o.bicubic) {
    const std::vector<Device> devices = resolve_devices(o.gpu);
    const Precision precision = cli::check_precision(o.precision, devices[0].is_cuda());
    const std::string path = o.model.empty() ? bundled_model_path() : o.model;
    weights = load_weights(path);
    const VdsrWeights& w = weights;
    if (!fit) check_model_scale(w, path, o.scale, network_scale(o.scale));
    VDSR_USER_CHECK(!fit || model_scale(w) == 0,
                    printable(path) << " is an SRCNN model (one model per scale); with "
                                    << target_words(o.width, o.height)
                                    << " each image gets its own factor: give the model's with -s");
    if (devices[0].is_cuda()) {
      threads.process = int(devices.size());
      if (!o.threads_given) {
        threads = gpu_pipeline_threads(int(std::thread::hardware_concurrency()), int(devices.size()),
                                       save_cost_ratio(format, o.save));
        log_verbose("vdsr_sr: -j " + std::to_string(threads.load) + ":" + std::to_string(threads.process) + ":" +
                    std::to_string(threads.save) + " (from the " + std::to_string(std::thread::hardware_concurrency()) +
                    " hardware threads; -j sets it)");
      }
    }
    std::string names;
    for (int k = 0; k < threads.process; ++k) {
      const Device dev = devices[size_t(k) % devices.size()];
      models.push_back(std::make_unique<Vdsr>(w.config, dev));
      models.back()->set_params(w.params);
      models.back()->set_precision(precision);
      if (k < int(devices.size())) names += (names.empty() ? "" : ", ") + dev.name();
    }
    model_name = path;
    what = "model " + path + " on " + names + " in " + precision_name(precision) + ", " + how;
  } else {
    // Bicubic runs on the CPU whatever -g says: a malformed list is still refused, and a GPU asked
    // for gets a warning rather than an error (a script may pass the same -g to both modes).
    if (!o.gpu.empty() && parse_gpu_list(o.gpu) != std::vector<int>{-1})
      log_warning("-g " + o.gpu + " has no effect with --bicubic: no network runs, the CPU upscales");
    if (o.precision != "fp32") log_warning("--precision " + o.precision + " has no effect with --bicubic: no network runs");
    what = "BICUBIC baseline (no network), " + how;
  }
  log_info("vdsr_sr: " + what);
  report.start(what);
  // Files settled by the plan: what it could not use counts as failed, existing outputs as skipped.
  // Reasons are escaped as the pipeline's are (engine/error.h describe_error): they quote names.
  for (const auto& pr : plan.problems) report.planned({pr.path, "", "failed", "plan", printable(pr.reason)});
  for (const auto& j : plan.existing) report.planned({j.input, j.output, "skipped", "", printable(j.output) + " exists"});

  const auto& jobs = plan.jobs;
  std::atomic<int64_t> out_pixels{0};
  // One record per job; each field is written by the one stage that owns it, in stage order.
  std::vector<FileRecord> records(jobs.size());
  std::vector<std::chrono::steady_clock::time_point> started(jobs.size());

  // The CPU work around the network runs on the load threads (colour split, luma bicubic) and the
  // save threads (chroma bicubic, back to RGB, encode), so a process worker only runs the network:
  // on a GPU there is one per device, and it must not wait for the CPU.
  UpscaleOptions up;
  up.scale = o.scale;
  up.tta = o.tta;
  up.tile = o.tile;
  // --width / --height: the trained-scales warning once for each factor the network comes to run at.
  std::mutex warned_mu;
  std::set<double> warned;
  const auto warn_network_scale = [&](double s) {
    if (models.empty()) return;
    const double net = network_scale(s);
    const std::lock_guard<std::mutex> lock(warned_mu);
    if (warned.insert(net).second) check_model_scale(weights, model_name, net);
  };
  PipelineStages<UpscaleWork> stages;
  stages.load = [&](size_t i) {
    started[i] = std::chrono::steady_clock::now();
    const Image in = jobs[i].input == kStdStream ? decode_image(read_stdin(), kStdinName) : load_image(jobs[i].input);
    records[i].in_w = in.width;
    records[i].in_h = in.height;
    double s = o.scale;
    if (fit) {
      s = image_scale(in.width, in.height, o.width, o.height);
      warn_network_scale(s);
    }
    // A format's size limit, before the work rather than at the encoder after it.
    const int out_w = imresize_length(s, in.width), out_h = imresize_length(s, in.height);
    const std::string big = save_size_problem(formats[i], out_w, out_h);
    VDSR_USER_CHECK(big.empty(),
                    "its " << format_scale(s) << " output, " << out_w << "x" << out_h << ", would be " << big);
    // Staged for the models' device (every worker's is a GPU, or every one the CPU).
    return prepare_upscale(in, s, models.empty() ? nullptr : models.front().get());
  };
  stages.process = [&](int worker, size_t i, UpscaleWork work) {
    UpscaleOptions mine = up;
    mine.on_progress = [&report, &jobs, i](double f) { report.progress(jobs[i].input, f); };
    run_network(work, models.empty() ? nullptr : models[size_t(worker)].get(), mine);
    return work;
  };
  stages.save = [&](size_t i, UpscaleWork& work) {
    records[i].out_w = work.out_width;
    records[i].out_h = work.out_height;
    records[i].scale = work.scale;
    Image out = finish_upscale(work);
    work = UpscaleWork();  // its planes back to the heap and the staging pool before encoding
    if (out.bits == 16 && formats[i] != ImageFormat::PNG && formats[i] != ImageFormat::TIFF) {
      // Only PNG and TIFF store 16 bits; other formats get the 8-bit rounding of the result.
      for (auto& v : out.pixels) v = static_cast<uint16_t>((v + 128) / 257);
      out.bits = 8;
    }
    const fs::path dir = fs::path(jobs[i].output).parent_path();
    if (!dir.empty()) {
      std::error_code ec;  // several savers may create the same sub-folder at once
      fs::create_directories(dir, ec);
      VDSR_USER_CHECK(fs::is_directory(dir), "cannot create folder '" << dir.string() << "': "
                                                                 << ec.message());
    }
    if (jobs[i].output == kStdStream)
      write_stdout(encode_image(out, formats[i], o.save, kStdoutName));
    else
      save_image(jobs[i].output, out, formats[i], o.save);
    out_pixels += int64_t(out.width) * out.height;
  };

  run_pipeline(jobs.size(), threads, stages, [&](size_t i, const JobOutcome& r) {
    FileRecord& rec = records[i];
    rec.input = jobs[i].input;
    rec.output = jobs[i].output;
    rec.status = r.ok ? "done" : "failed";
    rec.stage = r.ok ? "" : r.stage;
    rec.reason = r.reason;  // already in words (engine/error.h describe_error)
    if (r.ok) rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started[i]).count();
    report.finished(rec);
  });
  const int failed = report.finish(double(out_pixels.load()) / 1e6);
  if (!o.json.empty()) report.write_json(o.json, model_name, fit ? 0 : o.scale, o.width, o.height);
  return failed == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
