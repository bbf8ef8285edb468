// Buffer: an owned, device-tagged block of bytes (256-byte aligned on the CPU like cudaMalloc on a GPU).
// Move-only. Tensor adds a float32 shape on top; Arena hands out sub-ranges of one Buffer.
//
// Layouts used across the engine (documented in docs/architecture.md):
//   activations NHWC float32: [N][H][W][C], C fastest;
//   conv weights OIHW float32: [K][C][3][3] as in PyTorch and the safetensors files;
//   parameters, gradients, momentum: one flat float32 buffer each, same layout (model/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/device.h"

namespace vdsr {

class Buffer {
 public:
  Buffer() = default;
  Buffer(Device device, size_t bytes);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool empty() const { return bytes_ == 0; }

  void zero();  // sets every byte to 0 on its device

 private:
  void release();
  Device device_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Copies bytes between any two devices (host<->GPU, GPU<->GPU, host<->host); synchronous.
void copy_bytes(Device dst_dev, void* dst, Device src_dev, const void* src, size_t bytes);
// The same, queued on the engine's stream of the GPU involved and not waited for (cuda_sync does):
// the host memory must stay as it is until then, and is best page-locked (engine/pinned_pool.h),
// from which the copy runs at the bus's speed while the host goes on. Host to host: at once.
void copy_bytes_queued(Device dst_dev, void* dst, Device src_dev, const void* src, size_t bytes);

// A float32 tensor: owns a Buffer and a shape (outermost first).
class Tensor {
 public:
  Tensor() = default;
  Tensor(Device device, std::vector<int64_t> shape);
  Tensor(std::vector<int64_t> shape) : Tensor(Device::cpu(), std::move(shape)) {}
  Tensor(std::initializer_list<int64_t> shape) : Tensor(Device::cpu(), std::vector<int64_t>(shape)) {}

  float* data() { return static_cast<float*>(buf_.data()); }
  const float* data() const { return static_cast<const float*>(buf_.data()); }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  int64_t numel() const { return numel_; }
  Device device() const { return buf_.device(); }
  Tensor to(Device device) const;  // deep copy onto `device`
  void zero() { buf_.zero(); }
  std::string shape_string() const;  // "[1, 64, 41, 41]"

 private:
  Buffer buf_;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
};

}  // namespace vdsr
