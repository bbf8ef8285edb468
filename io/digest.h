// A fast 64-bit digest of bytes, for telling contents apart (the training patches that ranks and
// resumes compare, a checkpoint's tensors checked on load), not for security: FNV-1a over 8-byte
// words, each mixed by splitmix64's finalizer, the bytes left as one zero-padded word, then the
// length (0.2 s a gigabyte on one core). Every step is a bijection of the running value, so a
// change to any one word always changes the result.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vdsr {

constexpr uint64_t kDigestStart = 1469598103934665603ull;  // FNV-1a's offset basis

// The digest of `n` bytes at `data`, continuing `h` (so that several pieces chain into one).
uint64_t digest64(const void* data, size_t n, uint64_t h = kDigestStart);

}  // namespace vdsr
