// vdsr_bench --stages (bench/stages.h): per-stage throughput of the image pipeline on a folder.
#include "bench/stages.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench/bench_rows.h"
#include "bench/stb_baseline.h"
#include "engine/atomic_file.h"
#include "engine/buffer.h"
#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_context.h"
#endif
#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "image/codec.h"
#include "io/batch_pipeline.h"
#include "io/file_plan.h"
#include "io/json_text.h"
#include "model/inference.h"
#include "model/upscale.h"
#include "tools/cli.h"
#include "vdsr_version.h"

namespace vdsr::bench {

namespace {

namespace fs = std::filesystem;

struct StageRow {
  std::string stage;    // decode, prepare, network, finish, encode
  std::string setting;  // the format (and its setting), or what the network ran on
  std::string library;
  bool baseline = false;  // stb's rows
  int images = 0;
  double pixels = 0.0;  // decode: input pixels; the other stages: output pixels
  double bytes = 0.0;   // decode: the files' bytes; encode: the encoded bytes; else 0
  double seconds = 0.0;

  double mpx_per_s() const { return seconds > 0 ? pixels / seconds / 1e6 : 0.0; }
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0.0; }
  double images_per_s() const { return seconds > 0 ? images / seconds : 0.0; }
};

class Rows {
 public:
  // The row of (stage, setting), added at the end on first use.
  StageRow& at(const std::string& stage, const std::string& setting, const std::string& library, bool baseline) {
    for (auto& r : rows_)
      if (r.stage == stage && r.setting == setting && r.baseline == baseline) return r;
    rows_.push_back({stage, setting, library, baseline});
    return rows_.back();
  }
  // Times fn (median of reps after one untimed call) into the row, for one image.
  void time(StageRow& r, int reps, double pixels, double bytes, const std::function<void()>& fn) {
    r.seconds += median_seconds(reps, fn);
    r.images += 1;
    r.pixels += pixels;
    r.bytes += bytes;
  }
  std::vector<StageRow>& all() { return rows_; }

 private:
  std::vector<StageRow> rows_;
};

struct Encoding {
  const char* setting;
  ImageFormat format;
  SaveOptions options;
};

std::vector<Encoding> encodings() {
  SaveOptions png1, png6, jpg, webp, lossless;
  png1.png_level = 1;
  png6.png_level = 6;
  jpg.jpeg_quality = 95;
  webp.webp_quality = 90;
  lossless.webp_quality = 101;
  return {{"png level 1", ImageFormat::PNG, png1},  {"png level 6", ImageFormat::PNG, png6},
          {"jpg q95", ImageFormat::JPEG, jpg},       {"webp q90", ImageFormat::WEBP, webp},
          {"webp lossless", ImageFormat::WEBP, lossless}, {"tif deflate 1", ImageFormat::TIFF, png1},
          {"bmp", ImageFormat::BMP, SaveOptions{}}};
}

// The image files of the folder (not its sub-folders, not hidden ones) by name, the first `limit`
// (0: all). A name like an image's that is no file to read (a broken link, a FIFO, a device) is
// skipped with a warning, as every file that cannot be timed is, and not counted toward the limit.
std::vector<std::string> image_files(const std::string& folder, int limit) {
  std::error_code ec;
  VDSR_USER_CHECK(fs::is_directory(folder, ec), "--stages: '" << folder << "' is not a folder");
  std::vector<std::string> files;
  fs::directory_iterator it(folder, ec);
  VDSR_USER_CHECK(!ec, "--stages: cannot read the folder '" << folder << "': " << ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().string();
    std::error_code dir_ec;
    if (has_image_extension(name) && !is_hidden_name(name) && !it->is_directory(dir_ec))
      files.push_back(name);
  }
  VDSR_USER_CHECK(!ec, "--stages: reading the folder '" << folder << "' failed: " << ec.message());
  std::sort(files.begin(), files.end());
  // In name order up to --images: a file past them is neither checked nor warned of.
  std::vector<std::string> kept;
  for (const std::string& f : files) {
    if (limit > 0 && kept.size() == size_t(limit)) break;
    const std::string why = not_a_file(f);
    if (why.empty())
      kept.push_back(f);
    else
      log_warning("skipped: '" + printable(f) + "': " + why);
  }
  files = std::move(kept);
  VDSR_USER_CHECK(!files.empty(), "--stages: no image files in '" << folder << "'");
  return files;
}

// The codec row of these bytes, or null (with a warning) when none of this build reads them or
// they do not decode (an empty, truncated or corrupt file): every file that cannot be timed is
// skipped alike, as vdsr_sr reports and skips it. One untimed decode checks the whole file.
const codec::Codec* codec_or_warn(const std::vector<unsigned char>& bytes, const std::string& path) {
  try {
    const codec::Codec* c = &codec::codec_of({bytes.data(), bytes.size()}, path);
    const codec::Bytes b{bytes.data(), bytes.size()};
    int orientation = 1;
    const ImageInfo info = c->probe(b, path);
    check_image_limits(info, path);  // vdsr_sr's limits: a header's absurd size is refused, not allocated
    (void)c->decode(b, path, info, orientation);
    return c;
  } catch (const Error& e) {
    log_warning("skipped: " + describe_error(e, false));
    return nullptr;
  }
}

// The top-left crop of at most `pixels` (0: all) of p, as square as the plane allows.
NetPlane crop(const NetPlane& p, int64_t pixels) {
  int h = p.height(), w = p.width();
  if (pixels > 0 && p.size() > pixels) {
    h = std::min(p.height(), std::max(1, int(std::sqrt(double(pixels)))));
    w = int(std::min<int64_t>(p.width(), std::max<int64_t>(1, pixels / h)));
    h = int(std::min<int64_t>(p.height(), std::max<int64_t>(1, pixels / w)));
  }
  NetPlane out(h, w, p.device());
  for (int r = 0; r < h; ++r) std::copy_n(p.row(r), size_t(w), out.row(r));
  return out;
}

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// At most a billion: a rate given far past what any machine feeds stays an int.
int ceil_ratio(double need, double rate) {
  return rate > 0 ? int(std::clamp(std::ceil(need / rate - 1e-9), 1.0, 1e9)) : 0;
}

}  // namespace

int run_stages(const StagesOptions& o) {
  VDSR_USER_CHECK(o.scale >= 2 && o.scale <= 4, "--scale must be 2, 3 or 4, got " << o.scale);
  // The mode first: a refusal comes before the folder is read (and its skipped files named).
  const std::string precision = o.precision.empty() ? "fp32" : o.precision;
  const Precision mode = cli::check_precision(precision, o.device.is_cuda());
  const std::vector<std::string> files = image_files(o.folder, o.images);
  Vdsr model(VdsrConfig{}, o.device);
  model.init_he(1);
  model.set_precision(mode);
  const double s2 = double(o.scale) * o.scale;
  const std::string sx = "x" + std::to_string(o.scale);
  Rows rows;
  int64_t network_left = o.network_pixels, network_run = 0;  // the cap left; the pixels run
  std::string network_what;
  int network_images = 0, colour_images = 0, grey_images = 0;
  for (const std::string& path : files) {
    std::vector<unsigned char> bytes;
    try {
      bytes = codec::read_file(path);
    } catch (const Error& e) {
      log_warning("skipped: " + describe_error(e, false));
      continue;
    }
    const codec::Codec* c = codec_or_warn(bytes, path);
    if (c == nullptr) continue;
    const codec::Bytes b{bytes.data(), bytes.size()};
    Image in;
    const ImageInfo info = c->probe(b, path);
    rows.time(rows.at("decode", c->format, c->library, false), o.reps, double(info.width) * info.height,
              double(bytes.size()), [&] {
                int orientation = 1;
                in = c->decode(b, path, c->probe(b, path), orientation);
              });
    if (std::string(c->format) == "png" || std::string(c->format) == "jpeg") {
      rows.time(rows.at("decode", c->format, "stb_image", true), o.reps, double(info.width) * info.height,
                double(bytes.size()), [&] { (void)stb_decode(bytes.data(), bytes.size()); });
    }
    UpscaleWork work;
    Image out;
    const double out_px = double(in.width) * in.height * s2;
    ++(in.channels >= 3 ? colour_images : grey_images);
    // As vdsr_sr's stages: the luma staged for the model's device, finished from the staged floats
    // (here the bicubic luma itself: no network ran on it).
    rows.time(rows.at("prepare " + sx, "", "model/upscale", false), o.reps, out_px, 0.0,
              [&] { work = prepare_upscale(in, o.scale, &model); });
    rows.time(rows.at("finish " + sx, "", "model/upscale", false), o.reps, out_px, 0.0,
              [&] { out = finish_upscale(work); });
    if (o.network_pixels == 0 || network_left > 0) {
      const NetPlane& whole = work.net;
      const NetPlane luma = crop(whole, network_left);
      const int64_t px = luma.size();
      network_left = px < whole.size() ? 0 : network_left - px;  // a crop spends the cap
      ++network_images;
      network_run += px;
      network_what = o.network_pixels == 0 ? "every image whole"
                     : network_images == 1 ? std::to_string(luma.width()) + "x" +
                                                 std::to_string(luma.height()) + " of image 1"
                                           : std::to_string(network_run) + " px of " +
                                                 std::to_string(network_images) + " images";
      const std::string net_library = "VDSR 20x64 " + precision + " " + o.device.name();
      StageRow& r = rows.at("network " + sx, "", net_library, false);
      rows.time(r, o.reps, double(px), 0.0, [&] { (void)run_model(model, luma); });
      // The forward alone, its input and output already on the device: the difference to the row
      // above is what the process worker adds around it (the copies to and from the device, from
      // and into staging memory; the output's staging block from the pool).
      const size_t n = size_t(px);
      Buffer dx(o.device, n * sizeof(float)), dy(o.device, n * sizeof(float));
      copy_bytes(o.device, dx.data(), Device::cpu(), luma.data(), n * sizeof(float));
      rows.time(rows.at("forward alone " + sx, "", net_library, false), o.reps, double(px), 0.0, [&] {
        model.forward(1, luma.height(), luma.width(), static_cast<const float*>(dx.data()), static_cast<float*>(dy.data()));
#ifdef VDSR_HAVE_CUDA
        if (o.device.is_cuda()) cuda_sync(o.device.index);  // the forward only queues on a GPU
#endif
      });
    }
    for (const Encoding& e : encodings()) {
      const codec::Codec& w = codec::codec_for(e.format);
      if (w.missing != nullptr || (out.bits == 16 && e.format != ImageFormat::PNG && e.format != ImageFormat::TIFF))
        continue;
      std::vector<unsigned char> file;
      // PNG at level 1 is written by our own chunk writer with zlib, not by libpng (codec_png.cpp).
      const bool own_png = e.format == ImageFormat::PNG && e.options.png_level == 1;
      StageRow& r =
          rows.at("encode", e.setting, own_png ? "own writer with zlib" : w.library, false);
      rows.time(r, o.reps, out_px, 0.0, [&] { file = w.encode(out, e.options, path); });
      r.bytes += double(file.size());
    }
    if (out.bits == 8) {
      std::vector<unsigned char> file;
      StageRow& png = rows.at("encode", "png level 8", "stb_image_write", true);
      rows.time(png, o.reps, out_px, 0.0, [&] { file = stb_encode_png(out); });
      png.bytes += double(file.size());
      StageRow& jpg = rows.at("encode", "jpg q95", "stb_image_write", true);
      rows.time(jpg, o.reps, out_px, 0.0, [&] { file = stb_encode_jpeg(out, 95); });
      jpg.bytes += double(file.size());
    }
  }
  VDSR_USER_CHECK(colour_images + grey_images > 0,
                  "--stages " << o.folder << ": none of its " << files.size()
                              << " image file(s) could be timed (each is named above)");
  // Stage order (ours before stb's within a stage), and what the prepare, finish and network rows ran on.
  auto rank = [](const StageRow& r) {
    const int stage = r.stage == "decode"                 ? 0
                      : r.stage.rfind("prepare", 0) == 0  ? 1
                      : r.stage.rfind("network", 0) == 0 || r.stage.rfind("forward", 0) == 0 ? 2
                      : r.stage.rfind("finish", 0) == 0   ? 3
                                                          : 4;
    return 2 * stage + (r.baseline ? 1 : 0);
  };
  std::stable_sort(rows.all().begin(), rows.all().end(),
                   [&](const StageRow& a, const StageRow& b) { return rank(a) < rank(b); });
  for (auto& r : rows.all()) {
    if (r.stage.rfind("network", 0) == 0 || r.stage.rfind("forward", 0) == 0) r.setting = network_what;
    if (r.stage.rfind("prepare", 0) == 0 || r.stage.rfind("finish", 0) == 0)
      r.setting = std::to_string(colour_images) + " colour, " + std::to_string(grey_images) + " grey";
  }

  // The table.
  const unsigned threads = unsigned(ThreadPool::global().size());
  const std::string on = o.device.is_cuda() ? o.device.name() : "the CPU, " + std::to_string(threads) + " threads";
  // The images timed; the files listed that could not be are named above, each with a warning.
  const int timed = colour_images + grey_images;
  const std::string counted =
      std::to_string(timed) + (timed == 1 ? " image" : " images") +
      (size_t(timed) < files.size() ? " timed of " + std::to_string(files.size()) + " files" : "");
  std::printf(
      "vdsr_bench --stages %s (%s, %s; the network on %s, the other stages on one "
      "thread each), commit %s, %s\n",
      o.folder.c_str(), counted.c_str(), sx.c_str(), on.c_str(), VDSR_COMMIT,
      cli::utc_now().c_str());
  std::printf("%-22s %-22s %-24s %6s %9s %9s %9s %9s %9s %9s\n", "stage", "format / setting", "library", "images",
              "Mpx", "MB", "seconds", "images/s", "MB/s", "Mpx/s");
  nlohmann::json jrows = nlohmann::json::array();
  double decode_px = 0, decode_s = 0, prepare = 0, finish = 0, network = 0;
  for (const auto& r : rows.all()) {
    const std::string stage = r.stage + (r.baseline ? " (stb)" : "");
    std::printf("%-22s %-22s %-24s %6d %9s %9s %9s %9s %9s %9s\n", stage.c_str(), r.setting.c_str(),
                r.library.c_str(), r.images, fmt(r.pixels / 1e6, 3).c_str(),
                r.bytes > 0 ? fmt(r.bytes / 1e6, 3).c_str() : "-", fmt(r.seconds, 4).c_str(),
                fmt(r.images_per_s(), 2).c_str(), r.bytes > 0 ? fmt(r.mb_per_s(), 2).c_str() : "-",
                fmt(r.mpx_per_s(), 3).c_str());
    jrows.push_back({{"stage", r.stage}, {"setting", r.setting}, {"library", r.library},
                     {"baseline", r.baseline}, {"images", r.images}, {"mpx", r.pixels / 1e6},
                     {"mb", r.bytes / 1e6}, {"seconds", r.seconds}, {"images_per_s", r.images_per_s()},
                     {"mb_per_s", r.mb_per_s()}, {"mpx_per_s", r.mpx_per_s()}});
    if (r.stage == "decode" && !r.baseline) decode_px += r.pixels, decode_s += r.seconds;
    if (r.stage.rfind("prepare", 0) == 0) prepare = r.mpx_per_s();
    if (r.stage.rfind("finish", 0) == 0) finish = r.mpx_per_s();
    if (r.stage.rfind("network", 0) == 0) network = r.mpx_per_s();
  }
  std::printf("Mpx: decode rows count input pixels, the others output pixels. MB: decode the files' bytes, "
              "encode the encoded bytes (1 MB = 1e6 bytes). Each row: the sum over its images of the median "
              "of %d timed calls after one untimed call, on one thread (the network: the CPU pool or the "
              "GPU); files read into memory first, nothing written.\n",
              o.reps);

  // What keeps a network rate fed: vdsr_sr's load threads decode and prepare, its process worker
  // (one per GPU) runs the network alone, its save threads finish and encode. A thread's rate over
  // two steps in a row is 1 / (1 / a + 1 / b) output Mpx/s.
  const double net = o.net_rate > 0 ? o.net_rate : network;
  const double decode_out = decode_s > 0 ? decode_px * s2 / decode_s / 1e6 : 0.0;
  auto serial = [](double a, double b) { return a > 0 && b > 0 ? 1.0 / (1.0 / a + 1.0 / b) : 0.0; };
  const double load_rate = serial(decode_out, prepare);
  const int load = ceil_ratio(net, load_rate), process = 1;
  std::printf("\n-j L:P:S keeping a network rate of %s output Mpx/s fed (%s) at %s: L = ceil(net / load), a "
              "load thread decoding (%s output Mpx/s over this folder's formats) and preparing (%s) at %s Mpx/s; "
              "P = 1, the process worker runs the network alone (on GPUs, one per device whatever -j says); "
              "S = ceil(net / save), a save thread finishing (%s Mpx/s) and encoding:\n",
              fmt(net, 3).c_str(), o.net_rate > 0 ? "--net-rate" : "measured here", sx.c_str(),
              fmt(decode_out, 3).c_str(), fmt(prepare, 3).c_str(), fmt(load_rate, 3).c_str(), fmt(finish, 3).c_str());
  if (o.device.is_cpu())
    std::printf(
        "(On the CPU every stage shares the same cores, so these counts only size the threads\n"
        "around one network call on the whole pool; vdsr_sr's CPU default is -j 1:2:2.)\n");
  nlohmann::json jj = nlohmann::json::array();
  for (const auto& r : rows.all()) {
    if (r.stage != "encode") continue;
    const double save_rate = serial(finish, r.mpx_per_s());
    const int save = ceil_ratio(net, save_rate);
    // vdsr_sr takes at most kMaxPipelineThreads a stage: more is that many processes (--shard),
    // each with its share of the threads (and of the network rate).
    const int processes =
        std::max(1, (std::max(load, save) + kMaxPipelineThreads - 1) / kMaxPipelineThreads);
    const int each_load = (load + processes - 1) / processes,
              each_save = (save + processes - 1) / processes;
    const std::string j =
        std::to_string(each_load) + ":" + std::to_string(process) + ":" + std::to_string(each_save);
    const std::string name = r.setting + (r.baseline ? " (stb)" : "");
    std::printf("  %-22s -j %-10s (encode %s, finish + encode %s Mpx/s per thread)%s\n",
                name.c_str(), j.c_str(), fmt(r.mpx_per_s(), 3).c_str(), fmt(save_rate, 3).c_str(),
                processes > 1 ? (" in each of " + std::to_string(processes) +
                                 " processes (vdsr_sr --shard I/" + std::to_string(processes) +
                                 "): " + std::to_string(load) + ":" + std::to_string(process) +
                                 ":" + std::to_string(save) + " is more than one takes")
                                    .c_str()
                              : "");
    jj.push_back({{"setting", r.setting},
                  {"library", r.library},
                  {"baseline", r.baseline},
                  {"threads", j},
                  {"processes", processes},
                  {"load", load},
                  {"process", process},
                  {"save", save},
                  {"save_thread_mpx_per_s", save_rate}});
  }
  cli::flush_stdout();
  if (!o.json.empty()) {
    nlohmann::json doc = {{"mode", "stages"},
                          {"folder", o.folder},
                          {"files", files.size()},
                          {"images_timed", timed},
                          {"scale", o.scale},
                          {"reps", o.reps},
                          {"device", o.device.name()},
                          {"rows", jrows},
                          {"net_rate_mpx_per_s", net},
                          {"net_rate_measured", o.net_rate <= 0},
                          {"decode_output_mpx_per_s", decode_out},
                          {"prepare_mpx_per_s", prepare},
                          {"finish_mpx_per_s", finish},
                          {"load_thread_mpx_per_s", load_rate},
                          {"suggestions", jj},
                          {"threads", threads},
                          {"hardware_threads", std::thread::hardware_concurrency()},
                          {"version", cli::version_text("vdsr_bench")},
                          {"commit", VDSR_COMMIT},
                          {"date", cli::utc_now()}};
    const std::string text = json_dump(doc, 2) + "\n";
    write_file_atomic(o.json, text.data(), text.size());
  }
  return 0;
}

}  // namespace vdsr::bench
