// PinnedBlock: host memory that data to and from a device is staged in, from a process-wide pool.
// For a GPU it is page-locked (cudaHostAlloc, portable to every GPU), so a copy runs at the bus's
// speed without the driver's bounce buffers and without waiting for the host; for the CPU it is
// plain memory. Pinning is slow (the driver locks and maps every page) and a fresh block is faulted
// in page by page, while a batch of images allocates and frees blocks of the same few sizes over
// and over, so a released block goes back to the pool and serves the next request of about its size.
//
// Pool rules: sizes round up to 1 MiB; a request takes the smallest idle block of its kind that
// holds it and is at most twice its size (so one large image does not pin a large block for every
// small one); the pool keeps up to 1 GiB of idle blocks per kind and frees a released block beyond
// that. Thread-safe: blocks are taken on one thread (a loader) and released on another (a saver).
// Page-locked memory cannot be paged out, and a batch of large images keeps dozens in flight, so
// the page-locked blocks together (in use and idle) stay within an eighth of physical memory, at
// most 4 GiB; a block that would pass that is plain memory. Where page-locking fails (a
// memory-lock limit), the block is plain memory too and copies still work, at pageable speed; that
// is logged once (-v). A block is page-locked and freed with the asking GPU current on the calling
// thread, so a load or save thread never touches (creates a context on) a GPU the run was not given;
// that GPU stays the thread's current one (the model's entry points make their own GPU current:
// make_current, engine/device.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/device.h"

namespace vdsr {

class PinnedBlock {
 public:
  PinnedBlock() = default;
  // At least `bytes` bytes, 256-byte aligned, for data that moves to and from `device` (0: empty).
  PinnedBlock(size_t bytes, Device device);
  ~PinnedBlock();
  PinnedBlock(PinnedBlock&& o) noexcept;
  PinnedBlock& operator=(PinnedBlock&& o) noexcept;
  PinnedBlock(const PinnedBlock&) = delete;
  PinnedBlock& operator=(const PinnedBlock&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t capacity() const { return capacity_; }  // the block's size (>= the bytes asked for)
  bool page_locked() const { return locked_device_ >= 0; }
  bool empty() const { return data_ == nullptr; }

 private:
  void release();
  void* data_ = nullptr;
  size_t capacity_ = 0;
  int locked_device_ = -1;  // the GPU whose context page-locked it; -1: plain memory
};

// The pool's counts, over both kinds: for tests and -v.
struct PinnedPoolStats {
  int64_t idle_blocks = 0;
  int64_t idle_bytes = 0;
  int64_t allocations = 0;  // blocks allocated since the process started (not served from the pool)
  int64_t locked_bytes = 0;  // page-locked blocks, in use and idle
};
PinnedPoolStats pinned_pool_stats();

// The pool's rounding and limits (pinned_pool.cpp), for tests.
constexpr size_t kPinnedGranule = size_t(1) << 20;
constexpr size_t kPinnedIdleCap = size_t(1) << 30;
size_t pinned_locked_cap();  // min(physical memory / 8, 4 GiB)

}  // namespace vdsr
