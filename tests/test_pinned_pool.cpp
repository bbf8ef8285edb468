// The staging pool (engine/pinned_pool.h): blocks are at least the size asked for, aligned, and
// served again from the pool after release (the same memory, no new allocation) while a much
// smaller request does not take a much larger idle block; idle blocks beyond the cap are freed;
// blocks move; a block for a GPU on a machine without one is plain memory that works (and is not
// counted against the cap on page-locked memory, which tests/gpu/test_pinned_pool_cuda.cpp checks).
// Each case expects the fresh pool of its own process, as ctest runs them (the pool is process-wide:
// run in one process, a case finds the blocks an earlier one left idle).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/device.h"
#include "engine/pinned_pool.h"

using namespace vdsr;

TEST_CASE("pinned pool: a block holds what was asked, aligned, rounded to the granule") {
  for (const size_t bytes : {size_t(1), size_t(1000), kPinnedGranule, kPinnedGranule + 1, 5 * kPinnedGranule / 2}) {
    PinnedBlock b(bytes, Device::cpu());
    REQUIRE(!b.empty());
    CHECK(b.capacity() >= bytes);
    CHECK(b.capacity() % kPinnedGranule == 0);
    CHECK(b.capacity() < bytes + kPinnedGranule);
    CHECK(reinterpret_cast<uintptr_t>(b.data()) % 256 == 0);
    CHECK_FALSE(b.page_locked());
    std::memset(b.data(), 0x5a, bytes);  // the whole size is writable
  }
  CHECK(PinnedBlock(0, Device::cpu()).empty());
}

TEST_CASE("pinned pool: a released block serves the next request of about its size") {
  void* first = nullptr;
  {
    PinnedBlock b(3 * kPinnedGranule, Device::cpu());
    first = b.data();
  }
  const PinnedPoolStats before = pinned_pool_stats();
  CHECK(before.idle_blocks >= 1);
  {
    // 2.5 granules round to 3: the same block, and nothing allocated.
    PinnedBlock again(5 * kPinnedGranule / 2, Device::cpu());
    CHECK(again.data() == first);
    CHECK(pinned_pool_stats().allocations == before.allocations);
    CHECK(pinned_pool_stats().idle_blocks == before.idle_blocks - 1);
    // A second block while the first is held: a new one.
    PinnedBlock other(3 * kPinnedGranule, Device::cpu());
    CHECK(other.data() != first);
    CHECK(pinned_pool_stats().allocations == before.allocations + 1);
  }
  // A request of a third of the idle block's size does not take it (at most twice the size).
  PinnedBlock small(kPinnedGranule, Device::cpu());
  CHECK(small.data() != first);
  // Nor does 9 granules take an idle block of 20: a new block is allocated. (Were the 20 freed
  // rather than kept idle, as with the idle cap reached, 9 would be a new block all the same.)
  { PinnedBlock twenty(20 * kPinnedGranule, Device::cpu()); }
  const int64_t allocations = pinned_pool_stats().allocations;
  {
    PinnedBlock nine(9 * kPinnedGranule, Device::cpu());
    CHECK(pinned_pool_stats().allocations == allocations + 1);
  }
  // Moving keeps the memory and empties the source.
  void* p = small.data();
  PinnedBlock moved(std::move(small));
  CHECK(moved.data() == p);
  CHECK(small.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
}

TEST_CASE("pinned pool: idle blocks beyond the cap are freed") {
  // Untouched memory: the pages are never faulted in.
  const size_t big = kPinnedIdleCap / 2;
  {
    std::vector<PinnedBlock> blocks;
    for (int i = 0; i < 3; ++i) blocks.emplace_back(big, Device::cpu());
  }
  CHECK(pinned_pool_stats().idle_bytes <= int64_t(kPinnedIdleCap));
  CHECK(pinned_pool_stats().idle_bytes >= int64_t(big));
}

TEST_CASE("pinned pool: blocks taken and released on several threads") {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        PinnedBlock b(size_t(1 + (i + t) % 3) * kPinnedGranule, Device::cpu());
        static_cast<unsigned char*>(b.data())[0] = static_cast<unsigned char>(i);
      }
    });
  for (auto& th : threads) th.join();
  // Each thread holds one block at a time: at most 4 blocks of each of 3 sizes were ever needed.
  CHECK(pinned_pool_stats().allocations <= 12);
}

TEST_CASE("pinned pool: a block for a GPU is page-locked only where a GPU is usable") {
  PinnedBlock b(1000, Device::cuda(0));
  REQUIRE(!b.empty());
  std::memset(b.data(), 1, 1000);
  if (usable_cuda_devices() == 0) {
    CHECK_FALSE(b.page_locked());
    CHECK(pinned_pool_stats().locked_bytes == 0);  // a failed page-lock is not counted
  }
  CHECK(pinned_locked_cap() > 0);
  CHECK(pinned_locked_cap() <= size_t(4) << 30);
}
