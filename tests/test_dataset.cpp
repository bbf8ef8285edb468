// The training set (model/dataset.h): patch counts, MATLAB-exact pairs against the evaluation
// protocol (make_eval_sample) with and without the 8 rotations/flips, down-scaled copies,
// determinism across thread counts, fill_batch, errors. A hidden [.measure] case times the full
// 291-image set (docs/training.md, "Measurements: the 291 set").
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/imresize.h"
#include "model/dataset.h"
#include "model/inference.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::grey_image;
namespace fs = std::filesystem;

namespace {

// A smooth pattern with noise, so that bicubic results are neither constant nor saturated.
Image synth_image(int w, int h, int channels, uint32_t seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  const auto noise = test::random_ints(size_t(w) * size_t(h) * size_t(channels), 0, 60, seed);
  img.pixels.resize(noise.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        const size_t i = (size_t(y) * size_t(w) + size_t(x)) * size_t(channels) + size_t(c);
        const double base = 97.0 + 80.0 * std::sin(0.11 * x + 0.07 * y + c) * std::cos(0.05 * y);
        img.pixels[i] = uint16_t(std::clamp(base + double(noise[i]) - 30.0, 0.0, 255.0));
      }
  return img;
}

// Three synthetic files: RGB (sizes not multiples of 2, 3 or 4), grey, and one too small for a patch.
std::vector<std::string> synth_files(const std::string& dir) {
  const std::vector<std::string> files{dir + "/a.png", dir + "/b.png", dir + "/c.bmp"};
  save_image(files[0], synth_image(71, 58, 3, 1), ImageFormat::PNG);
  save_image(files[1], synth_image(45, 63, 1, 2), ImageFormat::PNG);
  save_image(files[2], synth_image(15, 12, 3, 3), ImageFormat::BMP);
  return files;
}

// A temporary folder removed at the end of the test case.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name) : path(test::temp_dir(name)) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

int64_t windows(int len, int patch, int stride) {
  return len < patch ? 0 : (len - patch) / stride + 1;
}

int64_t formula_count(int h, int w, const DatasetOptions& opt) {
  int64_t n = 0;
  for (const int s : opt.scales)
    n += windows(h - h % s, opt.patch, opt.stride) * windows(w - w % s, opt.patch, opt.stride);
  return n;
}

struct AllPatches {
  std::vector<float> x, y;
};

AllPatches all_patches(const TrainingSet& ts) {
  std::vector<int64_t> idx(size_t(ts.count()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
  const size_t area = size_t(ts.patch()) * size_t(ts.patch());
  AllPatches a;
  a.x.resize(idx.size() * area);
  a.y.resize(idx.size() * area);
  ts.fill_batch(idx, a.x.data(), a.y.data());
  return a;
}

// Checks the patches from `p` on against the protocol's pair for HR Y `hr_y` at every scale, in
// order (scale, row, column); returns the index after the last one.
int64_t check_against_protocol(const AllPatches& a, int64_t p, const Plane& hr_y,
                               const DatasetOptions& opt) {
  const size_t area = size_t(opt.patch) * size_t(opt.patch);
  for (const int s : opt.scales) {
    const int hh = hr_y.height - hr_y.height % s, ww = hr_y.width - hr_y.width % s;
    if (windows(hh, opt.patch, opt.stride) * windows(ww, opt.patch, opt.stride) == 0) continue;
    const EvalSample sm = make_eval_sample(grey_image(hr_y), s, "variant");
    int64_t mismatches = 0;
    for (int y0 = 0; y0 + opt.patch <= sm.hr.height; y0 += opt.stride)
      for (int x0 = 0; x0 + opt.patch <= sm.hr.width; x0 += opt.stride, ++p)
        for (int r = 0; r < opt.patch; ++r)
          for (int c = 0; c < opt.patch; ++c) {
            const size_t k = size_t(p) * area + size_t(r) * size_t(opt.patch) + size_t(c);
            const float want_x = float(sm.input.at(y0 + r, x0 + c));
            const float want_y = float(sm.hr.at(y0 + r, x0 + c) / 255.0);
            if (a.x[k] != want_x || a.y[k] != want_y) ++mismatches;
          }
    INFO("scale " << s);
    REQUIRE(mismatches == 0);
  }
  return p;
}

Plane load_y(const std::string& f) { return y_channel_u8(load_image(f)); }

}  // namespace

TEST_CASE("patch counts follow the window formula for every variant and scale") {
  const TempDir tmp("ds_count");
  const auto files = synth_files(tmp.path);
  for (const bool augment : {false, true}) {
    DatasetOptions opt;
    opt.patch = 17;
    opt.stride = 9;
    opt.augment = augment;
    int64_t want = 0;
    for (const auto& f : files) {
      const Plane y = load_y(f);
      for (int t = 0; t < (augment ? 8 : 1); ++t) {
        const bool tr = (t & 4) != 0;
        want += formula_count(tr ? y.width : y.height, tr ? y.height : y.width, opt);
      }
    }
    const TrainingSet ts = TrainingSet::build(files, opt);
    INFO("augment " << augment);
    CHECK(ts.count() == want);
    CHECK(ts.patch() == 17);
    CHECK(ts.stats().images == 3);
    CHECK(ts.stats().variants == (augment ? 24 : 3));
    CHECK(ts.stats().patches == want);
    CHECK(ts.stats().bytes == want * 17 * 17 * 5);
  }
  // Paper settings: 41 x 41 every 41.
  const TrainingSet ts = TrainingSet::build(files, DatasetOptions{});
  const Plane a = load_y(files[0]), b = load_y(files[1]);
  int64_t want = 0;
  for (const Plane* y : {&a, &b})
    want += 4 * formula_count(y->height, y->width, DatasetOptions{}) +
            4 * formula_count(y->width, y->height, DatasetOptions{});
  CHECK(ts.count() == want);
}

TEST_CASE("a side exactly one patch long gives one window, one pixel short gives none") {
  // 24 x 24 and 23 x 23 grey images, patch 24 (stride 24), scales 2, 3, 4, no augmentation: 24 is a
  // multiple of every scale, so the modcropped image is 24 x 24, exactly one patch at each scale;
  // 23 gives none. 36 x 24 (36 = 24 + 12, stride 12): 2 windows down and 1 across at every scale.
  const TempDir tmp("ds_exact");
  DatasetOptions opt;
  opt.patch = 24;
  opt.stride = 24;
  opt.augment = false;
  const std::string one = tmp.path + "/one.png", none = tmp.path + "/none.png", two = tmp.path + "/two.png";
  save_image(one, synth_image(24, 24, 1, 7), ImageFormat::PNG);
  save_image(none, synth_image(23, 23, 1, 8), ImageFormat::PNG);
  save_image(two, synth_image(24, 36, 1, 9), ImageFormat::PNG);
  CHECK(TrainingSet::build({one}, opt).count() == 3);
  CHECK(TrainingSet::build({one, none}, opt).count() == 3);
  opt.stride = 12;
  CHECK(TrainingSet::build({two}, opt).count() == 3 * 2);
}

TEST_CASE(
    "a training set larger than the memory is refused in words naming what makes it smaller") {
  // 1,000 patches of 41 x 41: 1681 floats and 1681 bytes each, 8,405,000 bytes in all.
  CHECK(training_set_too_big(1000, 41, 8405000).empty());
  const std::string said = training_set_too_big(1000, 41, 8404999);
  CHECK_THAT(said, Catch::StartsWith(
                       "the training set would hold 1000 patches of 41x41 (0.0 GB), more than this "
                       "machine can set aside (its memory: "));
  CHECK_THAT(
      said,
      Catch::EndsWith("): a larger --stride, a smaller --patch, fewer --scales or --downscales, or "
                      "--no-augment make it smaller"));
  CHECK(training_set_too_big(int64_t(1) << 40, 41, 0).empty());  // memory unknown: not refused
}

TEST_CASE(
    "a scale with no window leaves the next scales' windows: 44 x 60 at patch 43 has x2 and x4, "
    "not x3") {
  // x3 crops the 44-pixel side to 42, below the patch; x2 and x4 keep 44. The x4 windows come
  // after x3's none, and match the protocol's.
  const TempDir tmp("ds_gap");
  DatasetOptions opt;
  opt.patch = 43;
  opt.stride = 43;
  opt.augment = false;
  const std::string f = tmp.path + "/gap.png";
  save_image(f, synth_image(60, 44, 1, 5), ImageFormat::PNG);
  const TrainingSet ts = TrainingSet::build({f}, opt);
  REQUIRE(ts.count() == 2);
  CHECK(ts.count() == formula_count(44, 60, opt));
  CHECK(check_against_protocol(all_patches(ts), 0, load_y(f), opt) == 2);
}

TEST_CASE("without augmentation the patches are windows of make_eval_sample, bit for bit") {
  const TempDir tmp("ds_plain");
  const auto files = synth_files(tmp.path);
  DatasetOptions opt;
  opt.patch = 13;
  opt.stride = 7;
  opt.augment = false;
  const TrainingSet ts = TrainingSet::build(files, opt);
  const AllPatches a = all_patches(ts);
  int64_t p = 0;
  for (const auto& f : files) {
    INFO(f);
    p = check_against_protocol(a, p, load_y(f), opt);
  }
  CHECK(p == ts.count());
  // The first patch directly against make_eval_sample on the RGB file itself.
  const EvalSample sm = make_eval_sample(load_image(files[0]), 2, "a");
  CHECK(a.x[0] == float(sm.input.at(0, 0)));
  CHECK(a.x[14] == float(sm.input.at(1, 1)));
  CHECK(a.y[14] == float(sm.hr.at(1, 1) / 255.0));
}

TEST_CASE("with augmentation variant t is the protocol applied to the transformed image") {
  const TempDir tmp("ds_aug");
  const auto files = synth_files(tmp.path);
  DatasetOptions opt;
  opt.patch = 15;
  opt.stride = 8;
  const TrainingSet ts = TrainingSet::build(files, opt);
  const AllPatches a = all_patches(ts);
  int64_t p = 0;
  for (const auto& f : files) {
    const Plane y = load_y(f);
    for (int t = 0; t < 8; ++t) {
      INFO(f << " transform " << t);
      p = check_against_protocol(a, p, transform_plane(y, t), opt);
    }
  }
  CHECK(p == ts.count());
}

TEST_CASE("two T91 images at the paper's settings match the protocol") {
  const std::string dir = test::require_data("T91");
  const std::vector<std::string> files{dir + "/t1.png", dir + "/t12.png"};
  const DatasetOptions opt;  // scales 2, 3, 4; 41 x 41 every 41; augmented
  const TrainingSet ts = TrainingSet::build(files, opt);
  const AllPatches a = all_patches(ts);
  int64_t p = 0;
  for (const auto& f : files) {
    const Plane y = load_y(f);
    for (int t = 0; t < 8; ++t) {
      INFO(f << " transform " << t);
      p = check_against_protocol(a, p, transform_plane(y, t), opt);
    }
  }
  CHECK(p == ts.count());
  // t1 is 197 x 176 (w x h): 4 x 4 windows at every scale and orientation; t12 (114 x 119): 2 x 2.
  CHECK(ts.count() == 8 * (16 + 16 + 16) + 8 * (4 + 4 + 4));
}

TEST_CASE("down-scaled copies: counts and MATLAB bicubic rounded to 8 bits") {
  const TempDir tmp("ds_down");
  const auto files = synth_files(tmp.path);
  DatasetOptions opt;
  opt.patch = 11;
  opt.stride = 6;
  opt.downscales = {0.8, 0.55};
  const TrainingSet ts = TrainingSet::build(files, opt);
  const AllPatches a = all_patches(ts);
  CHECK(ts.stats().variants == 3 * 8 * 3);
  int64_t p = 0, want = 0;
  for (const auto& f : files) {
    const Plane y = load_y(f);
    for (int t = 0; t < 8; ++t) {
      const Plane yt = transform_plane(y, t);
      for (const double d : {1.0, 0.8, 0.55}) {
        Plane v = yt;
        if (d != 1.0) {
          v = imresize(yt, d);
          CHECK(v.height == int(std::ceil(d * yt.height - 1e-9)));
          CHECK(v.width == int(std::ceil(d * yt.width - 1e-9)));
          for (double& x : v.v) x = std::clamp(std::round(x), 0.0, 255.0);
        }
        want += formula_count(v.height, v.width, opt);
        INFO(f << " transform " << t << " factor " << d);
        p = check_against_protocol(a, p, v, opt);
      }
    }
  }
  CHECK(p == ts.count());
  CHECK(ts.count() == want);
  opt.downscales.clear();
  CHECK(TrainingSet::build(files, opt).count() < ts.count());
}

TEST_CASE("the set is identical for any thread count") {
  const TempDir tmp("ds_threads");
  const auto files = synth_files(tmp.path);
  DatasetOptions opt;
  opt.patch = 12;
  opt.stride = 5;
  opt.downscales = {0.7};
  ThreadPool::set_global_threads(1);
  const AllPatches one = all_patches(TrainingSet::build(files, opt));
  ThreadPool::set_global_threads(2);
  const AllPatches two = all_patches(TrainingSet::build(files, opt));
  ThreadPool::set_global_threads(3);
  const AllPatches three = all_patches(TrainingSet::build(files, opt));
  REQUIRE(one.x.size() == two.x.size());
  REQUIRE(one.x.size() == three.x.size());
  CHECK(std::memcmp(one.x.data(), two.x.data(), one.x.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(one.y.data(), two.y.data(), one.y.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(one.x.data(), three.x.data(), one.x.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(one.y.data(), three.y.data(), one.y.size() * sizeof(float)) == 0);
}

TEST_CASE("fill_batch: targets in [0, 1], any order, repeats, range checks") {
  const TempDir tmp("ds_fill");
  const auto files = synth_files(tmp.path);
  DatasetOptions opt;
  opt.patch = 16;
  opt.stride = 16;
  const TrainingSet ts = TrainingSet::build(files, opt);
  const AllPatches a = all_patches(ts);
  REQUIRE(ts.count() > 3);
  for (const float v : a.y) {
    REQUIRE(v >= 0.0f);
    REQUIRE(v <= 1.0f);
    REQUIRE(std::fabs(v * 255.0f - std::round(v * 255.0f)) < 1e-3f);  // 8-bit levels
  }
  for (const float v : a.x) REQUIRE(std::isfinite(v));
  const size_t area = 16 * 16;
  const std::vector<int64_t> idx{ts.count() - 1, 0, ts.count() - 1};
  std::vector<float> x(3 * area), y(3 * area);
  ts.fill_batch(idx, x.data(), y.data());
  const size_t last = size_t(ts.count() - 1) * area;
  CHECK(std::equal(x.begin(), x.begin() + area, a.x.begin() + long(last)));
  CHECK(std::equal(y.begin() + area, y.begin() + 2 * area, a.y.begin()));
  CHECK(std::equal(x.begin() + 2 * area, x.end(), a.x.begin() + long(last)));
  CHECK_THROWS_AS(ts.fill_batch({ts.count()}, x.data(), y.data()), Error);
  CHECK_THROWS_AS(ts.fill_batch({-1}, x.data(), y.data()), Error);
}

TEST_CASE("unreadable files and bad options throw errors that say why") {
  const TempDir tmp("ds_errors");
  const std::string& dir = tmp.path;
  const auto files = synth_files(dir);
  const std::string broken = dir + "/broken.png";
  std::ofstream(broken) << "not a PNG file";
  auto message = [](const std::vector<std::string>& f, const DatasetOptions& o) -> std::string {
    try {
      TrainingSet::build(f, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(message({files[0], broken, files[1]}, {}), Catch::Contains(broken));
  CHECK_THAT(message({files[0], dir + "/missing.png"}, {}), Catch::Contains(dir + "/missing.png"));
  CHECK_THAT(message({files[2]}, {}), Catch::Contains("no 41x41 patch"));  // 15 x 12 only
  CHECK_THROWS_AS(TrainingSet::build({}, {}), Error);
  DatasetOptions o;
  o.scales = {1};
  CHECK_THROWS_AS(TrainingSet::build(files, o), Error);
  o = {};
  o.patch = 0;
  CHECK_THROWS_AS(TrainingSet::build(files, o), Error);
  o = {};
  o.stride = 0;
  CHECK_THROWS_AS(TrainingSet::build(files, o), Error);
  for (const double d : {0.0, 1.0, 1.5, -0.5, std::nan("")}) {
    o = {};
    o.downscales = {d};
    CHECK_THROWS_AS(TrainingSet::build(files, o), Error);
  }
  // A 16-bit image is refused by name (the protocol's Y is 8-bit).
  Image deep = synth_image(50, 50, 1, 4);
  deep.bits = 16;
  save_image(dir + "/deep.png", deep, ImageFormat::PNG);
  CHECK_THAT(message({dir + "/deep.png"}, {}), Catch::Contains(dir + "/deep.png"));
}

// The full 291-image set at the default settings: count, wall time, peak RSS (VmHWM).
// Run: build/bin/test_dataset "[.measure]"   (VDSR_THREADS sets the pool size)
TEST_CASE("measure the 291-image set", "[.measure]") {
  std::vector<std::string> files;
  for (const char* set : {"T91", "BSD200"}) {
    std::vector<std::string> these;
    for (const auto& e : fs::directory_iterator(test::require_data(set)))
      if (e.is_regular_file() && has_image_extension(e.path().string()))
        these.push_back(e.path().string());
    std::sort(these.begin(), these.end());
    files.insert(files.end(), these.begin(), these.end());
  }
  const auto t0 = std::chrono::steady_clock::now();
  const TrainingSet ts = TrainingSet::build(files, DatasetOptions{});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string hwm;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM", 0) == 0) hwm = line;
  std::cout << "images " << ts.stats().images << ", variants " << ts.stats().variants
            << ", patches " << ts.count() << ", patch bytes " << ts.stats().bytes << ", threads "
            << ThreadPool::global().size() << ", wall " << secs << " s, " << hwm << std::endl;
  CHECK(ts.stats().images == 291);
}
