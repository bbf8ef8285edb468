#include "io/digest.h"

#include <cstring>

namespace vdsr {

namespace {

// splitmix64's finalizer: every bit of a word reaches every bit of the result (FNV's multiply
// alone carries a change only upward, so two flips of a word's top bit could cancel).
uint64_t mix64(uint64_t w) {
  w ^= w >> 30;
  w *= 0xbf58476d1ce4e5b9ull;
  w ^= w >> 27;
  w *= 0x94d049bb133111ebull;
  return w ^ (w >> 31);
}

}  // namespace

uint64_t digest64(const void* data, size_t n, uint64_t h) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    h = (h ^ mix64(word)) * 1099511628211ull;
  }
  uint64_t tail = 0;
  if (n > i) std::memcpy(&tail, bytes + i, n - i);
  h = (h ^ mix64(tail)) * 1099511628211ull;
  return mix64(h ^ uint64_t(n));
}

}  // namespace vdsr
