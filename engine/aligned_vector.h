// Vectors, and uncleared arrays, whose data starts on a cache line. The CPU kernels read and write
// their scratch (transformed tiles, packed weights, staged rows) as whole SIMD vectors at
// multiples of the vector width from its start; from malloc's 16-byte alignment every 64-byte
// AVX-512 access straddles two cache lines, and a straddling store or load costs two (measured on
// the Winograd kernels: docs/perf.md).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
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

// n elements on a cache line, left uninitialised: scratch whose every element is written before it
// is read, where clearing it first would cost a pass over memory for nothing.
template <class T>
class AlignedScratch {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>,
                "AlignedScratch holds plain values only");

 public:
  explicit AlignedScratch(std::size_t n) : n_(n), p_(CacheLineAllocator<T>().allocate(n)) {}
  ~AlignedScratch() { CacheLineAllocator<T>().deallocate(p_, n_); }
  AlignedScratch(const AlignedScratch&) = delete;
  AlignedScratch& operator=(const AlignedScratch&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }

 private:
  std::size_t n_;
  T* p_;
};

}  // namespace vdsr
