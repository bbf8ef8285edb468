// The staging pool on a GPU (engine/pinned_pool.h): blocks for a GPU are page-locked (the CUDA
// runtime knows them as host-allocated memory) up to the cap on page-locked memory, past which a
// block is plain memory; a copy from a page-locked block to the GPU and back gives the bytes back;
// released blocks return the page-locked bytes to the pool's count only when they are freed; a
// block is page-locked with its GPU current on the asking thread (never a GPU the run was not given).
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/buffer.h"
#include "engine/device.h"
#include "engine/pinned_pool.h"
#include "tests/support/test_support.h"

using namespace vdsr;

TEST_CASE("CUDA staging: page-locked blocks up to the cap, plain memory past it, copies round-trip") {
  vdsr::test::require_gpu();
  const Device gpu = Device::cuda(0);
  {
    PinnedBlock b(3 << 20, gpu);
    REQUIRE(b.page_locked());
    cudaPointerAttributes attr{};
    REQUIRE(cudaPointerGetAttributes(&attr, b.data()) == cudaSuccess);
    CHECK(attr.type == cudaMemoryTypeHost);
    auto* p = static_cast<unsigned char*>(b.data());
    for (size_t i = 0; i < (size_t(3) << 20); ++i) p[i] = static_cast<unsigned char>(i * 7 + 1);
    const std::vector<unsigned char> want(p, p + (size_t(3) << 20));
    Buffer d(gpu, size_t(3) << 20);
    copy_bytes(gpu, d.data(), Device::cpu(), p, size_t(3) << 20);
    std::memset(p, 0, size_t(3) << 20);
    copy_bytes(Device::cpu(), p, gpu, d.data(), size_t(3) << 20);
    CHECK(std::memcmp(p, want.data(), want.size()) == 0);
    CHECK(pinned_pool_stats().locked_bytes >= int64_t(3) << 20);
  }
  // Quarters of the cap: the first four fill it (less what is already counted), the rest are plain.
  const size_t quarter = pinned_locked_cap() / 4;
  const int64_t before = pinned_pool_stats().locked_bytes;
  std::vector<PinnedBlock> blocks;
  int locked = 0;
  for (int i = 0; i < 5; ++i) {
    blocks.emplace_back(quarter, gpu);
    locked += blocks.back().page_locked() ? 1 : 0;
  }
  CHECK(locked >= 3);
  CHECK(locked <= 4);
  CHECK_FALSE(blocks.back().page_locked());
  CHECK(pinned_pool_stats().locked_bytes <= int64_t(pinned_locked_cap()));
  CHECK(pinned_pool_stats().locked_bytes >= before);
}

TEST_CASE("CUDA staging: a block is page-locked through the GPU it is for, on any thread") {
  vdsr::test::require_gpu();
  int count = 0;
  REQUIRE(cudaGetDeviceCount(&count) == cudaSuccess);
  const int last = count - 1;  // with several GPUs, not the default GPU 0 a fresh thread starts on
  int current = -1;
  bool locked = false;
  std::thread loader([&] {
    PinnedBlock b(size_t(7) << 20, Device::cuda(last));  // a size no idle block of the test above serves
    locked = b.page_locked();
    if (cudaGetDevice(&current) != cudaSuccess) current = -2;
  });
  loader.join();
  CHECK(locked);
  CHECK(current == last);
}
