// The ordered finish of the split weight gradients (the 64 -> 64 kernels of conv3x3_mma.cuh and
// conv3x3_wgmma_sm90a.cu, and the thin layers' of conv3x3_thin_bf16.cu): every CTA of the
// reduction wrote one chunk of partial sums; the finish adds, for each output element, its value in
// every chunk, in chunk order from zero, so the result is the same bits on every run. The chunk
// count comes from the device (its SM count, or how many clusters it places), so two GPU models or
// partitions may split the sum differently and differ in the last bits.
// Written once here for the kernels and for the CPU test that checks them (tests/test_wgrad_finish.cpp).
//
// Why the finish is written this way (docs/kernels.md, "The ordered finish"): at the training
// shape a thread adds 126 chunks (64 -> 64, wgmma: one per busy SM) or 211 (the thin layers), one
// load each, from L2. A plain loop lets the compiler issue 4 loads ahead (its unroll), so a thread
// waits for 32 to 53 L2 round trips in a row, which the few warps of a finish cannot hide.
// chunk_sum issues kAhead loads before it adds any of them, and adds in the same order.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"

namespace vdsr {

// sum over c in [0, chunks) of p[c * stride], added in order of c, starting from Acc(0): the
// bits of the plain loop `for (c...) s += p[c * stride]`. The loads of kAhead consecutive chunks
// are issued before their adds (registers: kAhead values of T), the last group's too (its loads
// past the end are not made and its adds not done), so 126 chunks take 8 rounds, not 7 and a
// plain loop of 14.
template <int kAhead, typename Acc, typename T>
VDSR_HOST_DEVICE Acc chunk_sum(const T* __restrict__ p, int64_t stride, int64_t chunks) {
  Acc s = Acc(0);
  for (int64_t c = 0; c < chunks; c += kAhead) {
    T v[kAhead];
    VDSR_UNROLL
    for (int k = 0; k < kAhead; ++k) v[k] = c + k < chunks ? p[(c + k) * stride] : T(0);
    VDSR_UNROLL
    for (int k = 0; k < kAhead; ++k)
      if (c + k < chunks) s += Acc(v[k]);
  }
  return s;
}

// Chunks a finish thread loads ahead: 16 floats or doubles in registers.
constexpr int kFinishAhead = 16;

// The 64 -> 64 partial layout. One chunk: the weight sums [3 r][64 co][192 = 3 s x 64 ci] (the
// tap row r of the reduction's CTA or warpgroup, then its GEMM's 64 x 192 output), and apart from
// them the 64 bias sums. dw is OIHW, [64 co][64 ci][3 r][3 s]: both hold 36,864 weights.
constexpr int kPartWeights = 3 * 64 * 192;
constexpr int kPartBias = 64;

// Weight f of a chunk (f < kPartWeights) -> its index in dw. The finish walks f, so the 32
// threads of a warp read 128 consecutive bytes of every chunk, and scatter their 32 sums once.
VDSR_HOST_DEVICE int part_to_oihw(int f) {
  const int ci = f % 64, s = (f / 64) % 3, co = (f / 192) % 64, r = f / (192 * 64);
  return (co * 64 + ci) * 9 + r * 3 + s;
}

// Output f of the 64 -> 64 finish (f < kPartWeights + kPartBias): f < kPartWeights is the weight
// dw[part_to_oihw(f)], the rest the bias sum db[f - kPartWeights] (skipped when db is null).
VDSR_HOST_DEVICE void finish_part(int f, int64_t chunks, const float* __restrict__ part,
                                  const float* __restrict__ part_b, float* __restrict__ dw,
                                  float* __restrict__ db) {
  if (f < kPartWeights)
    dw[part_to_oihw(f)] = chunk_sum<kFinishAhead, float>(part + f, kPartWeights, chunks);
  else if (db != nullptr && f < kPartWeights + kPartBias)
    db[f - kPartWeights] = chunk_sum<kFinishAhead, float>(part_b + (f - kPartWeights), kPartBias, chunks);
}

// The same finish walked by dw element e (e < 9 x 64 x 64 + 64: the weights in OIHW order, then
// the biases), as the kernel did before it walked the partials: each sum is the same additions in
// the same order, so the two give the same bits (tests/test_wgrad_finish.cpp). Kept as the
// reference of that test and as vdsr_bench's comparison kernel; the model does not run it.
VDSR_HOST_DEVICE void finish_output(int e, int64_t chunks, const float* __restrict__ part,
                                    const float* __restrict__ part_b, float* __restrict__ dw,
                                    float* __restrict__ db) {
  if (e < kPartWeights) {
    const int tap = e % 9, ci = (e / 9) % 64, co = e / (9 * 64);
    const int r = tap / 3, s = tap % 3;
    float sum = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) sum += part[c * kPartWeights + (r * 64 + co) * 192 + s * 64 + ci];
    dw[e] = sum;
  } else if (db != nullptr && e < kPartWeights + kPartBias) {
    float sum = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) sum += part_b[c * kPartBias + (e - kPartWeights)];
    db[e - kPartWeights] = sum;
  }
}

}  // namespace vdsr
