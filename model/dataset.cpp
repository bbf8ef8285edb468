// The training set (see dataset.h). Two passes:
//   1. decode every file in parallel and keep only its 8-bit Y (one byte per HR pixel, about 1% of
//      the patches' memory), so the patch count of every variant is known from the sizes alone;
//   2. allocate the patch arrays once, exactly, and let every unit (image, transform, downscale)
//      write its patches straight into its own slice: the order (image, t, d, scale, row, column)
//      is fixed by the offsets, not by which thread ran what, so the set is identical for any thread
//      count, and there is no concatenation copy (peak memory = the set + the Y bytes + one unit's
//      working planes per thread).
#include "model/dataset.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "engine/device.h"
#include "engine/error.h"
#include "engine/heap.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "engine/values.h"
#include "image/color.h"
#include "image/image_io.h"
#include "image/imresize.h"

namespace vdsr {

namespace {

struct Luma8 {
  int height = 0, width = 0;
  std::vector<uint8_t> v;  // [height][width]
};

// imresize's output length: ceil(scale * n), a product within rounding of an integer counting as
// that integer (image/imresize.cpp). Only used to size the arrays; pass 2 checks it.
int resized_length(double scale, int n) {
  const double p = scale * n;
  const double r = std::round(p);
  if (std::fabs(p - r) <= 1e-9 * std::max(1.0, r)) return int(r);
  return int(std::ceil(p));
}

// Asks for transparent huge pages over a fresh, untouched allocation (best effort; Linux only):
// the patch arrays are GBs, and 4 KiB pages cost about a million page faults to fill them.
void advise_huge_pages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + huge - 1) & ~(huge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(huge - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// Full windows of `patch` every `stride` along a length.
int64_t windows(int len, int patch, int stride) {
  return len < patch ? 0 : int64_t((len - patch) / stride) + 1;
}

int64_t variant_patches(int h, int w, const DatasetOptions& opt) {
  int64_t n = 0;
  for (const int s : opt.scales)
    n += windows(h - h % s, opt.patch, opt.stride) * windows(w - w % s, opt.patch, opt.stride);
  return n;
}

// The HR Y of one variant: the image under dihedral transform t (as transform_plane in
// model/inference.h: transpose if t & 4, then flip rows if t & 2, then flip columns if t & 1),
// shrunk by `d` (MATLAB bicubic in double, then rounded half away from zero and saturated to 8
// bits, as imresize returns uint8 for uint8 input) when d != 1.
Plane variant_plane(const Luma8& y, int t, double d) {
  const bool tr = (t & 4) != 0, flip_rows = (t & 2) != 0, flip_cols = (t & 1) != 0;
  const int h = tr ? y.width : y.height, w = tr ? y.height : y.width;
  Plane p(h, w);
  for (int r = 0; r < h; ++r) {
    const int rr = flip_rows ? h - 1 - r : r;
    double* o = &p.v[size_t(r) * size_t(w)];
    for (int c = 0; c < w; ++c) {
      const int cc = flip_cols ? w - 1 - c : c;
      o[c] = tr ? y.v[size_t(cc) * size_t(y.width) + size_t(rr)]
                : y.v[size_t(rr) * size_t(y.width) + size_t(cc)];
    }
  }
  if (d != 1.0) {
    p = imresize(p, d);
    for (double& v : p.v) v = std::min(255.0, std::max(0.0, std::round(v)));
  }
  return p;
}

// modcrop(hr, s) / 255: the protocol's input before the bicubic round trip.
Plane cropped_01(const Plane& hr, int s) {
  const int h = hr.height - hr.height % s, w = hr.width - hr.width % s;
  Plane x(h, w);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) x.v[size_t(r) * size_t(w) + size_t(c)] = hr.at(r, c) / 255.0;
  return x;
}

}  // namespace

std::string training_set_too_big(int64_t count, int patch, uint64_t ram) {
  // Each patch holds its input in float and its target in bytes.
  const double bytes = double(count) * double(patch) * double(patch) * double(sizeof(float) + 1);
  if (ram == 0 || bytes <= double(ram)) return "";
  char gb[96];
  std::snprintf(gb, sizeof gb,
                "%.1f GB), more than this machine can set aside (its memory: %.1f GB", bytes / 1e9,
                double(memory_bytes(Device::cpu())) / 1e9);
  return "the training set would hold " + std::to_string(count) + " patches of " +
         std::to_string(patch) + "x" + std::to_string(patch) + " (" + gb +
         "): a larger --stride, a smaller --patch, fewer --scales or " +
         "--downscales, or --no-augment make it smaller";
}

TrainingSet TrainingSet::build(const std::vector<std::string>& files, const DatasetOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  VDSR_USER_CHECK(!files.empty(), "no training images given");
  VDSR_USER_CHECK(opt.patch >= 1 && opt.stride >= 1,
             "patch size and stride must be positive, got " << opt.patch << " and " << opt.stride);
  VDSR_USER_CHECK(!opt.scales.empty(), "no training scales given");
  for (const int s : opt.scales)
    VDSR_USER_CHECK(s >= 2 && s <= 16, "training scales must be in 2..16, got " << s);
  for (const double d : opt.downscales)
    VDSR_USER_CHECK(std::isfinite(d) && d > 0.0 && d < 1.0,
               "downscale factors must be in (0, 1), got " << d);

  keep_working_memory();

  // Pass 1: the 8-bit Y of every image.
  std::vector<Luma8> luma(files.size());
  parallel_for(int64_t(files.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const std::string& f = files[size_t(i)];
      const Image img = load_image(f);  // throws naming the file
      VDSR_USER_CHECK(img.bits == 8, "training image '" << f << "' has " << img.bits
                                                   << "-bit samples; only 8-bit images are supported");
      const Plane y = y_channel_u8(img);
      Luma8& l = luma[size_t(i)];
      l.height = y.height;
      l.width = y.width;
      l.v.resize(y.v.size());
      for (size_t k = 0; k < y.v.size(); ++k) l.v[k] = uint8_t(y.v[k]);
    }
  });

  // The units in their fixed order and the offset of each one's patches.
  std::vector<double> factors{1.0};
  factors.insert(factors.end(), opt.downscales.begin(), opt.downscales.end());
  const int n_t = opt.augment ? 8 : 1, n_d = int(factors.size());
  const int64_t n_units = int64_t(files.size()) * n_t * n_d;
  std::vector<int64_t> offset(size_t(n_units) + 1, 0);
  for (int64_t u = 0; u < n_units; ++u) {
    const Luma8& y = luma[size_t(u / (n_t * n_d))];
    const int t = int(u / n_d % n_t);
    const double d = factors[size_t(u % n_d)];
    int h = (t & 4) ? y.width : y.height, w = (t & 4) ? y.height : y.width;
    if (d != 1.0) {
      h = resized_length(d, h);
      w = resized_length(d, w);
    }
    offset[size_t(u) + 1] = offset[size_t(u)] + variant_patches(h, w, opt);
  }
  // An image too small for a patch at every scale adds nothing: said, so that the count of images
  // in the summary is not read as that many contributing.
  int64_t empty = 0;
  const int64_t per_image = int64_t(n_t) * n_d;
  for (size_t i = 0; i < files.size(); ++i) {
    if (offset[(i + 1) * size_t(per_image)] != offset[i * size_t(per_image)]) continue;
    ++empty;
    log_verbose(printable(files[i]) + " (" + std::to_string(luma[i].width) + "x" + std::to_string(luma[i].height) +
                ") gives no " + std::to_string(opt.patch) + "x" + std::to_string(opt.patch) + " patch at any scale");
  }
  if (empty > 0 && empty < int64_t(files.size()))
    log_info(std::to_string(empty) + " of the " + std::to_string(files.size()) + " training images give no " +
             std::to_string(opt.patch) + "x" + std::to_string(opt.patch) + " patch (too small; -v names them)");

  // So is a downscale factor that shrinks every image below a patch: asked for, it adds nothing.
  for (int k = 1; k < n_d && offset.back() > 0; ++k) {
    bool adds = false;
    for (int64_t u = k; u < n_units && !adds; u += n_d)
      adds = offset[size_t(u) + 1] != offset[size_t(u)];
    if (!adds)
      log_warning("--downscales " + format_double(factors[size_t(k)]) +
                  " shrinks every training image below a " + std::to_string(opt.patch) + "x" +
                  std::to_string(opt.patch) + " patch: it adds none");
  }

  TrainingSet ts;
  ts.patch_ = opt.patch;
  ts.count_ = offset.back();
  VDSR_USER_CHECK(
      ts.count_ > 0,
      (files.size() == 1 ? "the training image gives"
                         : "the " + std::to_string(files.size()) + " training images give")
          << " no " << opt.patch << "x" << opt.patch << " patch at any scale");
  const size_t area = size_t(opt.patch) * size_t(opt.patch);
  // A set larger than the machine's memory is said in words, with what makes it smaller, before
  // the allocation fails (or, between the free memory and the total, the system's out-of-memory
  // killer ends the run); an allocation that fails within it, in the same words.
  const uint64_t ram = memory_bytes(Device::cpu());
  const std::string too_big = training_set_too_big(ts.count_, opt.patch, ram);
  VDSR_USER_CHECK(too_big.empty(), too_big);
  try {
    ts.input_.reserve(size_t(ts.count_) * area);
    ts.target_.reserve(size_t(ts.count_) * area);
  } catch (const std::bad_alloc&) {
    VDSR_USER_FAIL(training_set_too_big(ts.count_, opt.patch, 1));
  }
  advise_huge_pages(ts.input_.data(), ts.input_.capacity() * sizeof(float));
  advise_huge_pages(ts.target_.data(), ts.target_.capacity());
  ts.input_.resize(size_t(ts.count_) * area);
  ts.target_.resize(size_t(ts.count_) * area);

  // Pass 2: units are handed out one at a time (balanced whatever their sizes); each writes only
  // its own slice, so the result does not depend on the schedule.
  std::atomic<int64_t> next{0};
  const int workers = ThreadPool::global().size();
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    for (int64_t u; (u = next.fetch_add(1)) < n_units;) try {
      if (offset[size_t(u) + 1] == offset[size_t(u)]) continue;  // too small for any patch
      const size_t i = size_t(u / (n_t * n_d));
      const int t = int(u / n_d % n_t);
      const Plane hr_full = variant_plane(luma[i], t, factors[size_t(u % n_d)]);
      int64_t p = offset[size_t(u)];
      for (const int s : opt.scales) {
        const int64_t ny = windows(hr_full.height - hr_full.height % s, opt.patch, opt.stride);
        const int64_t nx = windows(hr_full.width - hr_full.width % s, opt.patch, opt.stride);
        if (ny * nx == 0) continue;
        // The evaluation protocol (make_eval_sample) on this HR Y, operation for operation; the
        // modcropped HR is the top-left of hr_full, so its windows are read from there.
        const Plane in = imresize(imresize(cropped_01(hr_full, s), 1.0 / s), double(s));
        VDSR_CHECK(in.height == hr_full.height - hr_full.height % s &&
                       in.width == hr_full.width - hr_full.width % s,
                   "bicubic round trip of '" << files[i] << "' gave " << in.height << "x"
                                             << in.width << " for " << hr_full.height << "x"
                                             << hr_full.width << " at scale " << s);
        for (int64_t by = 0; by < ny; ++by)
          for (int64_t bx = 0; bx < nx; ++bx, ++p) {
            VDSR_CHECK(p < offset[size_t(u) + 1], "patch bookkeeping of '" << files[i] << "'");
            float* xo = &ts.input_[size_t(p) * area];
            uint8_t* yo = &ts.target_[size_t(p) * area];
            for (int r = 0; r < opt.patch; ++r) {
              const size_t row = size_t(by * opt.stride + r), col = size_t(bx * opt.stride);
              const double* xi = &in.v[row * size_t(in.width) + col];
              const double* yi = &hr_full.v[row * size_t(hr_full.width) + col];
              for (int c = 0; c < opt.patch; ++c) {
                xo[size_t(r) * size_t(opt.patch) + size_t(c)] = float(xi[c]);
                yo[size_t(r) * size_t(opt.patch) + size_t(c)] = uint8_t(yi[c]);
              }
            }
          }
      }
      VDSR_CHECK(p == offset[size_t(u) + 1], "patch bookkeeping of '" << files[i] << "'");
    } catch (...) {
      next.store(n_units);  // the other workers stop at their next unit
      throw;
    }
  });

  ts.stats_.images = int64_t(files.size());
  ts.stats_.variants = n_units;
  ts.stats_.patches = ts.count_;
  ts.stats_.bytes = int64_t(ts.input_.size() * sizeof(float) + ts.target_.size());
  ts.stats_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ts;
}

void TrainingSet::fill_batch(const std::vector<int64_t>& idx, float* x, float* y) const {
  static const auto lut = [] {
    std::array<float, 256> l{};
    for (int v = 0; v < 256; ++v) l[size_t(v)] = float(v / 255.0);
    return l;
  }();
  const size_t area = size_t(patch_) * size_t(patch_);
  for (size_t n = 0; n < idx.size(); ++n) {
    const int64_t i = idx[n];
    VDSR_CHECK(i >= 0 && i < count_, "patch index " << i << " out of range [0, " << count_ << ")");
    std::memcpy(x + n * area, &input_[size_t(i) * area], area * sizeof(float));
    const uint8_t* t = &target_[size_t(i) * area];
    float* yo = y + n * area;
    for (size_t k = 0; k < area; ++k) yo[k] = lut[t[k]];
  }
}

}  // namespace vdsr
