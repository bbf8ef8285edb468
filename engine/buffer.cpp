#include "engine/buffer.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "engine/error.h"

#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace vdsr {

namespace {
// 256 bytes, as cudaMalloc guarantees: Arena's default alignment then needs no padding at the base,
// so an arena sized with Arena::bytes_for fits its allocations on the CPU too (with 64, the first
// allocation could need up to 192 bytes of padding and overflow). Covers cache lines and AVX-512.
constexpr size_t kHostAlign = 256;
}

Buffer::Buffer(Device device, size_t bytes) : device_(device), bytes_(bytes) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    // Within kHostAlign of SIZE_MAX the rounding would wrap to a tiny block for a huge size.
    if (bytes > SIZE_MAX - kHostAlign) VDSR_OUT_OF_MEMORY("out of host memory allocating " << bytes << " bytes");
    const size_t rounded = (bytes + kHostAlign - 1) / kHostAlign * kHostAlign;
    data_ = std::aligned_alloc(kHostAlign, rounded);
    if (data_ == nullptr) VDSR_OUT_OF_MEMORY("out of host memory allocating " << bytes << " bytes");
  } else {
#ifdef VDSR_HAVE_CUDA
    VDSR_CUDA_CHECK(cudaSetDevice(device.index));
    const cudaError_t err = cudaMalloc(&data_, bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it so the caller may retry with less
      VDSR_OUT_OF_MEMORY("out of GPU memory on " << device.name() << " allocating " << bytes << " bytes");
    }
    VDSR_CUDA_CHECK(err);
#else
    VDSR_FAIL("device " << device.name() << " requested but this build has no CUDA backend");
#endif
  }
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& o) noexcept : device_(o.device_), data_(o.data_), bytes_(o.bytes_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    device_ = o.device_;
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void Buffer::release() {
  if (data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
#ifdef VDSR_HAVE_CUDA
    cudaFree(data_);
#endif
  }
  data_ = nullptr;
  bytes_ = 0;
}

void Buffer::zero() {
  if (bytes_ == 0) return;
  if (device_.is_cpu()) {
    std::memset(data_, 0, bytes_);
  } else {
#ifdef VDSR_HAVE_CUDA
    // On the engine's stream, so it is ordered with the kernels that use the buffer.
    VDSR_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes_, cuda_stream(device_.index)));
    cuda_sync(device_.index);
#endif
  }
}

void copy_bytes_queued(Device dst_dev, void* dst, Device src_dev, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef VDSR_HAVE_CUDA
  // On the engine's stream: ordered with its kernels.
  const int dev = dst_dev.is_cuda() ? dst_dev.index : src_dev.index;
  VDSR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda_stream(dev)));
#else
  VDSR_FAIL("copy between " << src_dev.name() << " and " << dst_dev.name()
                            << " needs the CUDA backend");
#endif
}

void copy_bytes(Device dst_dev, void* dst, Device src_dev, const void* src, size_t bytes) {
  copy_bytes_queued(dst_dev, dst, src_dev, src, bytes);
#ifdef VDSR_HAVE_CUDA
  if (bytes != 0 && !(dst_dev.is_cpu() && src_dev.is_cpu())) cuda_sync(dst_dev.is_cuda() ? dst_dev.index : src_dev.index);
#endif
}

Tensor::Tensor(Device device, std::vector<int64_t> shape) : shape_(std::move(shape)) {
  numel_ = 1;
  for (const int64_t d : shape_) {
    VDSR_CHECK(d >= 0, "negative dimension in shape " << shape_string());
    numel_ *= d;
  }
  buf_ = Buffer(device, static_cast<size_t>(numel_) * sizeof(float));
}

Tensor Tensor::to(Device device) const {
  Tensor t(device, shape_);
  copy_bytes(device, t.data(), this->device(), data(), static_cast<size_t>(numel_) * sizeof(float));
  return t;
}

std::string Tensor::shape_string() const {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape_.size(); ++i) os << (i ? ", " : "") << shape_[i];
  os << "]";
  return os.str();
}

}  // namespace vdsr
