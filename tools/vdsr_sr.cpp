// vdsr_sr: upscales an image file, standard input (-i -) or a folder of images (optionally its
// whole tree, -r) into a file, standard output (-o -) or a folder, with VDSR,
// or bicubic with --bicubic, by one factor (-s) or each image by its own (--width / --height: a
// target size). Luma through the network, chroma and alpha bicubic, grey stays grey, 16-bit stays
// 16-bit (PNG, TIFF), the EXIF orientation applied, colour profile and EXIF carried to the output.
// Every folder rule is checked before any work; then decoding, upscaling and encoding run on their
// own threads (io/batch_pipeline.h), each process worker with its own model. A bad image is
// reported with its name and cause while the others go on; the exit status is 0 only if every
// image succeeded (2 if some failed, 1 for an error before any work).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
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
#include "model/upscale.h"
#include "tools/batch_report.h"
#include "tools/cli.h"
#include "tools/sr_options.h"
#include "tools/sr_workers.h"

namespace fs = std::filesystem;
using namespace vdsr;

namespace {

// True when folder `dir` holds a folder that -r would walk (not hidden ones, nor links to folders).
bool has_subfolder(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!is_hidden_name(it->path().string()) && !it->is_symlink(ec) && it->is_directory(ec))
      return true;
  return false;
}

// The whole batch planned (every folder rule checked before any work), this process's --shard of
// it kept, and the temporaries that killed runs of this host left in the output folder removed.
// ext: the output format's extension, or kSameFormat.
FilePlan plan_batch(const SrOptions& o, const std::string& ext) {
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

  return plan;
}

// Each job's output format, from its output's extension: one format for all, or with -f same
// each input's own (a format this build cannot write stops the run here, before any work).
std::vector<ImageFormat> job_formats(const FilePlan& plan, bool same_format,
                                     ImageFormat one_format) {
  std::vector<ImageFormat> formats;
  for (const auto& j : plan.jobs)
    // -f same names every output <stem>.<its input's extension> (plan_files); otherwise one format.
    formats.push_back(same_format ? parse_image_format(fs::path(j.output).extension().string().substr(1))
                                  : one_format);
  return formats;
}

// A quality flag that no output's format reads is said, not silently ignored (--jpg-quality 50
// with PNG outputs: likely a slip for -f jpg). Nothing to write (every output exists): nothing
// said.
void warn_unused_save_flags(const SrOptions& o, const std::vector<ImageFormat>& formats) {
  if (formats.empty()) return;
  const std::set<ImageFormat> present(formats.begin(), formats.end());
  std::string outputs;
  for (const ImageFormat f : present)
    outputs += (outputs.empty() ? "" : ", ") + std::string(image_format_extension(f));
  for (const std::string& flag : o.save_flags) {
    const bool used = flag == "--jpg-quality" ? present.count(ImageFormat::JPEG) != 0
                      : flag == "--webp-quality"
                          ? present.count(ImageFormat::WEBP) != 0
                          : present.count(ImageFormat::PNG) + present.count(ImageFormat::TIFF) != 0;
    if (!used)
      log_warning(flag + " has no effect: no output is " +
                  (flag == "--jpg-quality"    ? "a JPEG"
                   : flag == "--webp-quality" ? "a WebP"
                                              : "a PNG or TIFF") +
                  " (the outputs are " + outputs +
                  (!o.format.empty()
                       ? ", by -f " + o.format + ")"
                       : ", by the -o file's extension or the default; -f chooses the format)"));
  }
}

// The most common of `formats` (PNG for none): a GPU pipeline's save threads are sized for it.
ImageFormat most_common(const std::vector<ImageFormat>& formats) {
  std::map<ImageFormat, size_t> count;
  for (const ImageFormat f : formats) ++count[f];
  ImageFormat format = ImageFormat::PNG;
  size_t most = 0;
  for (const auto& [f, n] : count)
    if (n > most) {
      most = n;
      format = f;
    }
  return format;
}

int run(int argc, char** argv) {
  const SrOptions o = parse_sr_options(argc, argv);
  const bool fit = o.fit();
  const std::string format_name = output_format(o.input, o.output, o.format);
  const bool same_format = format_name == kSameFormat;
  const ImageFormat one_format = same_format ? ImageFormat::PNG : parse_image_format(format_name);
  const std::string ext = same_format ? format_name : image_format_extension(one_format);
  const FilePlan plan = plan_batch(o, ext);
  const std::vector<ImageFormat> formats = job_formats(plan, same_format, one_format);
  warn_unused_save_flags(o, formats);

  BatchReport report(plan.jobs.size(), o.json_events);

  const std::unique_ptr<SrWorkers> workers = load_sr_workers(o, most_common(formats));
  const std::string& what = workers->what;
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
  PipelineStages<UpscaleWork> stages;
  stages.load = [&](size_t i) {
    started[i] = std::chrono::steady_clock::now();
    const Image in = jobs[i].input == kStdStream ? decode_image(read_stdin(), kStdinName) : load_image(jobs[i].input);
    records[i].in_w = in.width;
    records[i].in_h = in.height;
    double s = o.scale;
    if (fit) {
      s = image_scale(in.width, in.height, o.width, o.height);
      workers->warn_network_scale(s);
    }
    // A format's size limit, before the work rather than at the encoder after it.
    const int out_w = imresize_length(s, in.width), out_h = imresize_length(s, in.height);
    const std::string big = save_size_problem(formats[i], out_w, out_h);
    VDSR_USER_CHECK(big.empty(),
                    "its " << format_scale(s) << " output, " << out_w << "x" << out_h << ", would be " << big);
    // Written, but not read back by these tools (a second upscale, vdsr_eval --score): said now.
    if (const ImageLimits lim;
        out_w > lim.max_side || out_h > lim.max_side || int64_t(out_w) * out_h > lim.max_pixels)
      log_warning(printable(jobs[i].input) + ": its " + std::to_string(out_w) + "x" +
                  std::to_string(out_h) + " output is larger than these tools read (at most " +
                  std::to_string(lim.max_side) + " pixels a side and " +
                  std::to_string(lim.max_pixels) + " pixels), so it cannot be read back by them");
    // Staged for the models' device (every worker's is a GPU, or every one the CPU). An alpha the
    // output cannot store is left out here: the colour is then upscaled as stored, not over alpha.
    const bool keep_alpha = image_format_stores_alpha(formats[i]);
    if (!keep_alpha && in.has_alpha())
      log_verbose(printable(jobs[i].input) + ": its alpha is left out (" +
                  image_format_extension(formats[i]) + " stores none)");
    return prepare_upscale(in, s, workers->model(0), keep_alpha);
  };
  stages.process = [&](int worker, size_t i, UpscaleWork work) {
    UpscaleOptions mine = up;
    mine.on_progress = [&report, &jobs, i](double f) { report.progress(jobs[i].input, f); };
    run_network(work, workers->model(worker), mine);
    return work;
  };
  stages.save = [&](size_t i, UpscaleWork& work) {
    records[i].out_w = work.out_width;
    records[i].out_h = work.out_height;
    records[i].scale = work.scale;
    if (const int64_t bad = nonfinite_luma(work); bad > 0)
      log_warning(printable(jobs[i].input) +
                  ": the network's output is not finite (inf or NaN) at " + std::to_string(bad) +
                  (bad == 1 ? " pixel" : " pixels") +
                  ": the model's arithmetic overflows, as a diverged training run's does, so the "
                  "image written is no upscale");
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

  // A stopped run says what it leaves: a shell prints nothing for SIGTERM, ^C alone for SIGINT.
  set_signal_note(o.json.empty() ? "\nvdsr_sr: stopped by a signal; every output written so far is "
                                   "whole (no partial file is left): run the same command with "
                                   "--skip-existing to go on\n"
                                 : "\nvdsr_sr: stopped by a signal; every output written so far is "
                                   "whole (no partial file is left), and the --json report is not "
                                   "written: run the same command with --skip-existing to go on\n");
  run_pipeline(jobs.size(), workers->threads, stages, [&](size_t i, const JobOutcome& r) {
    FileRecord& rec = records[i];
    rec.input = jobs[i].input;
    rec.output = jobs[i].output;
    rec.status = r.ok ? "done" : "failed";
    rec.stage = r.ok ? "" : r.stage;
    rec.reason = r.reason;  // already in words (engine/error.h describe_error)
    if (r.ok)
      rec.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started[i]).count();
    report.finished(rec);
  });
  const int failed = report.finish(double(out_pixels.load()) / 1e6);
  if (!o.json.empty())
    report.write_json(o.json, workers->model_name, fit ? 0 : o.scale, o.width, o.height);
  return failed == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
