// NetPlane: one plane of the network's input or output, [height][width] floats (VDSR: the Y channel
// in [0, 1]), in staging memory for the device the network runs on (engine/pinned_pool.h:
// page-locked for a GPU, pooled). vdsr_sr's loader writes the bicubic luma into one, the process
// worker copies it to the GPU and the output back at the bus's speed (Vdsr::forward_host), and a
// saver reads it: the double <-> float conversions the network needs are the loader's and the
// saver's, not the worker's, whose only job is to keep the GPU busy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/device.h"
#include "engine/pinned_pool.h"
#include "image/plane.h"

namespace vdsr {

class NetPlane {
 public:
  NetPlane() = default;
  NetPlane(int height, int width, Device device);  // values unset
  // Copies take a block of their own (the pipeline's type-erased work must be copyable; it moves).
  NetPlane(const NetPlane& o);
  NetPlane& operator=(const NetPlane& o);
  NetPlane(NetPlane&&) noexcept = default;
  NetPlane& operator=(NetPlane&&) noexcept = default;
  ~NetPlane() = default;

  int height() const { return height_; }
  int width() const { return width_; }
  int64_t size() const { return int64_t(height_) * width_; }
  bool empty() const { return size() == 0; }
  Device device() const { return device_; }  // the device it is staged for
  float* data() { return static_cast<float*>(mem_.data()); }
  const float* data() const { return static_cast<const float*>(mem_.data()); }
  float* row(int y) { return data() + size_t(y) * size_t(width_); }
  const float* row(int y) const { return data() + size_t(y) * size_t(width_); }

 private:
  int height_ = 0, width_ = 0;
  Device device_;
  PinnedBlock mem_;
};

// Each value rounded to float (as the network's input always was).
NetPlane to_net_plane(const Plane& p, Device device);
// Each value widened to double (exact).
Plane to_plane(const NetPlane& p);

}  // namespace vdsr
