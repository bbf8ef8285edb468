// The staging pool (pinned_pool.h).
#include "engine/pinned_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/log.h"

#ifdef VDSR_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace vdsr {

namespace {

constexpr size_t kAlign = 256;  // as Buffer's host memory and cudaMalloc

struct IdleBlock {
  void* data;
  size_t capacity;
  int locked_device;  // -1: plain
};

// Idle blocks per kind: [0] plain, [1] page-locked.
struct Pool {
  std::mutex mutex;
  std::vector<IdleBlock> idle[2];
  size_t idle_bytes[2] = {0, 0};
  size_t locked_bytes = 0;  // page-locked blocks in use and idle
  int64_t allocations = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: blocks may be released during static teardown
  return *p;
}

std::atomic<bool> locking_failed{false};

// Frees a block; a page-locked one with the GPU that locked it current (a runtime call on a thread
// whose current GPU is the default, 0, would create a context on GPU 0 in a run given other GPUs).
void free_block(void* data, int locked_device) {
#ifdef VDSR_HAVE_CUDA
  if (locked_device >= 0) {
    if (cudaSetDevice(locked_device) != cudaSuccess || cudaFreeHost(data) != cudaSuccess)
      cudaGetLastError();  // a destructor path: nothing to report to, and not sticky
    return;
  }
#endif
  (void)locked_device;
  std::free(data);
}

void* alloc_plain(size_t capacity) {
  void* p = std::aligned_alloc(kAlign, capacity);
  if (p == nullptr) VDSR_OUT_OF_MEMORY("out of host memory allocating " << capacity << " bytes of staging");
  return p;
}

// A new page-locked block, locked through `device`'s context, or nullptr (logged once) where
// page-locking fails.
void* alloc_locked(size_t capacity, int device) {
#ifdef VDSR_HAVE_CUDA
  if (!locking_failed.load()) {
    void* p = nullptr;
    cudaError_t err = cudaSetDevice(device);
    if (err == cudaSuccess) err = cudaHostAlloc(&p, capacity, cudaHostAllocPortable);
    if (err == cudaSuccess) return p;
    cudaGetLastError();  // not sticky: clear it for the engine's later checks
    if (!locking_failed.exchange(true))
      log_verbose(std::string("page-locked host memory is not available (") + cudaGetErrorString(err) +
                  "): images are copied to and from the GPU from pageable memory, which is slower");
  }
#endif
  (void)capacity;
  (void)device;
  return nullptr;
}

}  // namespace

PinnedBlock::PinnedBlock(size_t bytes, Device device) {
  if (bytes == 0) return;
  bool want_locked = device.is_cuda();
  const size_t capacity = (bytes + kPinnedGranule - 1) / kPinnedGranule * kPinnedGranule;
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    // Page-locked where asked for; a plain block serves too once page-locking has failed.
    for (const int kind : {want_locked ? 1 : 0, want_locked && locking_failed.load() ? 0 : -1}) {
      if (kind < 0) continue;
      std::vector<IdleBlock>& idle = p.idle[kind];
      size_t best = idle.size();
      for (size_t i = 0; i < idle.size(); ++i)
        if (idle[i].capacity >= capacity && idle[i].capacity <= 2 * capacity &&
            (best == idle.size() || idle[i].capacity < idle[best].capacity))
          best = i;
      if (best < idle.size()) {
        data_ = idle[best].data;
        capacity_ = idle[best].capacity;
        locked_device_ = idle[best].locked_device;  // portable: it serves every GPU
        p.idle_bytes[kind] -= capacity_;
        idle[best] = idle.back();
        idle.pop_back();
        return;
      }
    }
    ++p.allocations;
    // Within the cap on page-locked memory, counted before allocating (another thread may ask too).
    want_locked = want_locked && p.locked_bytes + capacity <= pinned_locked_cap();
    if (want_locked) p.locked_bytes += capacity;
  }
  if (want_locked) {
    data_ = alloc_locked(capacity, device.index);
    if (data_ == nullptr) {  // page-locking failed: uncounted again
      std::lock_guard<std::mutex> lock(p.mutex);
      p.locked_bytes -= capacity;
    }
  }
  locked_device_ = data_ != nullptr ? device.index : -1;
  if (data_ == nullptr) data_ = alloc_plain(capacity);
  capacity_ = capacity;
}

PinnedBlock::~PinnedBlock() { release(); }

PinnedBlock::PinnedBlock(PinnedBlock&& o) noexcept
    : data_(o.data_), capacity_(o.capacity_), locked_device_(o.locked_device_) {
  o.data_ = nullptr;
  o.capacity_ = 0;
}

PinnedBlock& PinnedBlock::operator=(PinnedBlock&& o) noexcept {
  if (this != &o) {
    release();
    data_ = o.data_;
    capacity_ = o.capacity_;
    locked_device_ = o.locked_device_;
    o.data_ = nullptr;
    o.capacity_ = 0;
  }
  return *this;
}

void PinnedBlock::release() {
  if (data_ == nullptr) return;
  Pool& p = pool();
  const int kind = locked_device_ >= 0 ? 1 : 0;
  bool keep = false;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.idle_bytes[kind] + capacity_ <= kPinnedIdleCap) {
      p.idle[kind].push_back({data_, capacity_, locked_device_});
      p.idle_bytes[kind] += capacity_;
      keep = true;
    }
  }
  if (!keep) {
    free_block(data_, locked_device_);
    if (locked_device_ >= 0) {
      std::lock_guard<std::mutex> lock(p.mutex);
      p.locked_bytes -= capacity_;
    }
  }
  data_ = nullptr;
  capacity_ = 0;
}

PinnedPoolStats pinned_pool_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  PinnedPoolStats s;
  for (int k = 0; k < 2; ++k) {
    s.idle_blocks += int64_t(p.idle[k].size());
    s.idle_bytes += int64_t(p.idle_bytes[k]);
  }
  s.allocations = p.allocations;
  s.locked_bytes = int64_t(p.locked_bytes);
  return s;
}

size_t pinned_locked_cap() {
  static const size_t cap = [] {
    const uint64_t physical = memory_bytes(Device::cpu());
    const uint64_t four = uint64_t(4) << 30;
    return size_t(physical == 0 ? four : std::min<uint64_t>(four, physical / 8));
  }();
  return cap;
}

}  // namespace vdsr
