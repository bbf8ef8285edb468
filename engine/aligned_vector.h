// Vectors whose data starts on a cache line. The CPU kernels read and write their scratch
// (transformed tiles, packed weights, staged rows) as whole SIMD vectors at multiples of the
// vector width from its start; from malloc's 16-byte alignment every 64-byte AVX-512 access
// straddles two cache lines, and a straddling store or load costs two (measured on the Winograd
// weight gradient: docs/perf.md, which also has the one kernel that measured slower so).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace vdsr {

constexpr std::size_t kCacheLine = 64;

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kCacheLine)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const noexcept {
    return false;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace vdsr
