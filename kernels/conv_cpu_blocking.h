// Register blocking shared by the CPU conv kernels: how many vectors of output channels one
// register block holds for a vector path (0 selects the dedicated K = 1 block). The pixel block is
// chosen by each kernel so that pixels x vectors accumulators fill most of the register file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/cpu_features.h"
#include "engine/error.h"
#include "kernels/conv_shape.h"

namespace vdsr {

// V floats in one vector register (GCC vector extensions; the target attribute of the function
// that uses it picks the instructions).
template <int V>
struct FloatVec {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};

// The shape preconditions of the 3x3-only CPU kernels (op: the kernel's name, for the message).
inline void check_conv3x3_shape(const ConvShape& s, const char* op) {
  VDSR_CHECK(s.is_3x3_zero(), op << " takes 3x3 zero-padded layers only");
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0,
             "bad conv shape N=" << s.N << " H=" << s.H << " W=" << s.W << " C=" << s.C << " K=" << s.K);
}

inline int conv_channel_vectors(Isa isa, int64_t K) {
  if (K == 1) return 0;
  const int64_t v = isa_width(isa);
  const int64_t max_nv = isa == Isa::kAvx512 ? 4 : 2;
  return int(std::min<int64_t>(max_nv, (K + v - 1) / v));
}

// The rows of a register block of nv vectors (pixels, tiles or output channels, by kernel) in the
// Winograd kernels' dispatchers, as the direct forward's pixel blocks: about 24 accumulators with
// AVX-512's 32 registers, 12 with AVX2's and the baseline's 16.
inline int conv_block_rows(Isa isa, int nv) {
  if (isa == Isa::kAvx512) return nv == 1 ? 24 : nv == 2 ? 12 : nv == 3 ? 8 : 6;
  return nv == 1 ? 12 : 6;
}

// The most rows a band holds: the direct forward's largest kernel (R <= 15).
constexpr int64_t kMaxBandRows = 15;

// Which input row each of a band's R rows holds (its flattened n H + h, or -1: nothing yet). One per
// band buffer, made with it: consecutive output rows share R - 1 input rows, so load_row_band copies
// only the row that is new to each (the 64 -> 1 layer's forward copied three rows of 64 channels
// for every output row of one channel, more time than its multiply-adds took).
struct RowBandSlots {
  int64_t key[kMaxBandRows];
  RowBandSlots() { std::fill(key, key + kMaxBandRows, int64_t(-1)); }
};

// The R input rows h-P .. h+P (P = R / 2) that output row h reads, each held in one of `band`'s R
// rows (of row_len floats; then a row of zeros) at offset P C, so that P padding pixels stay on its
// left and the floats after it pad the right: every pixel then reads its R C inputs of a row
// contiguously with no border test. A row already in the band (`slots` says which) is not copied
// again; the contents, and so the results, are the same either way. Zero padding: the side pixels
// stay zero and rows outside the image point at the zero row. Replicate padding: the side pixels
// repeat the row's edge pixels and a row outside the image is the nearest row inside. row_len must
// hold (W + 2P) C floats; R <= kMaxBandRows.
inline void load_row_band(const float* x, int64_t n, int64_t h, int64_t H, int64_t W, int64_t C, int64_t R,
                          bool replicate, float* band, int64_t row_len, RowBandSlots& slots, const float** rows) {
  const int64_t P = R / 2;
  int64_t want[kMaxBandRows];
  bool held[kMaxBandRows] = {};  // band rows that this output row reads
  for (int64_t r = 0; r < R; ++r) {
    int64_t hh = h + r - P;
    want[r] = -1;
    rows[r] = band + R * row_len;  // the zero row, unless a row of the image is found below
    if (hh < 0 || hh >= H) {
      if (!replicate) continue;
      hh = std::clamp<int64_t>(hh, 0, H - 1);
    }
    want[r] = n * H + hh;
    for (int64_t s = 0; s < R; ++s)
      if (slots.key[s] == want[r]) {
        rows[r] = band + s * row_len;
        held[s] = true;
      }
  }
  for (int64_t r = 0; r < R; ++r) {
    if (want[r] < 0 || rows[r] != band + R * row_len) continue;
    // A band row this output row does not read: every wanted row already in the band is held, and
    // R band rows hold at most R distinct wanted rows, so one is free.
    int64_t s = 0;
    while (held[s]) ++s;
    float* dst = band + s * row_len;
    const float* src = x + want[r] * W * C;
    std::memcpy(dst + P * C, src, size_t(W * C) * sizeof(float));
    if (replicate)
      for (int64_t p = 0; p < P; ++p) {
        std::memcpy(dst + p * C, src, size_t(C) * sizeof(float));
        std::memcpy(dst + (P + W + p) * C, src + (W - 1) * C, size_t(C) * sizeof(float));
      }
    slots.key[s] = want[r];
    held[s] = true;
    for (int64_t q = r; q < R; ++q)  // replicate padding may want the same row twice
      if (want[q] == want[r]) rows[q] = dst;
  }
}

}  // namespace vdsr
