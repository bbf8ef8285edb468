// The training set (docs/training.md): HR images from folders, their Y per the evaluation protocol,
// the 8 rotations/flips (and optional down-scaling factors) applied to each image before anything
// else, as the public ports' generation scripts do, then for each scale: modcrop, MATLAB bicubic
// down and up (image/eval_protocol.h), and size x size patches every `stride` pixels of the (input,
// HR) pair. Inputs are stored as float32 (the bicubic result, not rounded), targets as the 8-bit HR
// Y (exact: HR Y is an integer), so the full 291-image set with 8 augmentations (433,536 patches
// of 41 x 41 at scales 2, 3, 4) takes 3.64 GB (docs/training.md, "Measurements: the 291 set").
// Preparation runs on the thread pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

struct DatasetOptions {
  std::vector<int> scales{2, 3, 4};
  int patch = 41;
  int stride = 41;
  bool augment = true;              // the 8 rotations/flips of each image
  std::vector<double> downscales;   // extra copies of each image shrunk by these factors (e.g. 0.9)
};

struct DatasetStats {
  int64_t images = 0;      // HR files read
  int64_t variants = 0;    // images x augmentations x (1 + downscales)
  int64_t patches = 0;
  double seconds = 0.0;    // preparation wall time
  int64_t bytes = 0;       // memory held by the patches
};

class TrainingSet {
 public:
  // Reads the given files, in the given order (listing folders, keeping image extensions and
  // sorting is the caller's job), and prepares the patches in the order image, transform t (as
  // transform_plane in model/inference.h), downscale (1, then opt.downscales), scale, window row,
  // window column; the same set for any thread count. A file that cannot be read, or is not 8-bit,
  // throws an Error naming it; so do bad options and a set with no patch at all. Images too small
  // for a patch at some scale just give none there. Peak memory is the set itself plus one byte per
  // HR pixel (the decoded Y of every image) plus a few planes per thread. On glibc it also raises
  // the allocator's mmap and trim thresholds, process-wide, once (see dataset.cpp).
  static TrainingSet build(const std::vector<std::string>& files, const DatasetOptions& opt);

  int64_t count() const { return count_; }
  int patch() const { return patch_; }
  const DatasetStats& stats() const { return stats_; }
  // The HR patches' bytes, [count][patch][patch] (the inputs are made from them): what ranks
  // compare to know they train on the same pixels.
  const std::vector<uint8_t>& target_patches() const { return target_; }
  // The input patches, [count][patch][patch] float32: the same bits in every build (image/'s
  // bicubic is compiled without floating-point contraction), so a digest of them is too.
  const std::vector<float>& input_patches() const { return input_; }

  // Copies the patches idx[0..n) into x and y, each [n][patch][patch] float32 in [0, 1].
  void fill_batch(const std::vector<int64_t>& idx, float* x, float* y) const;

 private:
  int patch_ = 41;
  int64_t count_ = 0;
  std::vector<float> input_;     // [count][patch][patch]
  std::vector<uint8_t> target_;  // [count][patch][patch], HR Y 0..255
  DatasetStats stats_;
};

// Why `count` patches of patch x patch (their float inputs and byte targets) cannot be held in
// `ram` bytes of memory (0: unknown, never refused), in words naming what makes a set smaller; ""
// when they can. TrainingSet::build refuses a set this says no to before it allocates.
std::string training_set_too_big(int64_t count, int patch, uint64_t ram);

}  // namespace vdsr
