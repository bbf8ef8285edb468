// bf16 operands of a conv case and the oracle every bf16 row of vdsr_bench (ours and cuDNN's) is
// verified against: our fp32 default variant run on the very bf16 numbers the row multiplies
// (set 0's inputs, read back exactly), so only the arithmetic differs, never the operands.
//
// A product of two bf16 numbers is exact in fp32 (8 + 8 significant bits), so both sides sum
// identical terms; they differ by the rounding of a bf16 output (at most 2^-8 of the value) and
// by the two fp32 summations of the n terms in different orders (each within n 2^-23 sum |a||b|
// of the exact sum; 2^-23 rather than 2^-24 since tensor-core accumulation may truncate).
// Per element: |out - ref| <= 2^-8 |ref| + n 2^-21 sum |a||b| (about twice the sum of the above;
// sum |a||b| is our fp32 default run on the absolute values). Rigorous, so a failure is a bug; it
// is tight for forward and backward-data (n = 9 * 64: about 1% of |ref|) but says little for
// backward-weight (n = N H W). Hence also the relative L2 error below 2^-7: the bf16 output
// rounding gives at most 2^-8 (about 1.6e-3 in practice) and fp32 summation orders some 1e-4,
// while any indexing or layout mistake is of order 1.
#pragma once

#include <cuda_bf16.h>

#include <vector>

#include "bench/gpu_common.h"
#include "engine/buffer.h"

namespace vdsr::bench {

constexpr double kBf16OutRound = 1.0 / 256.0;     // 2^-8
constexpr double kBf16SumCoef = 1.0 / 2097152.0;  // 2^-21, times n
constexpr double kBf16RelL2Tol = 1.0 / 128.0;     // 2^-7

// One set of bf16 operands. x [N][H][W][C], w [K][C][3][3] (KCRS), w_krsc [K][3][3][C],
// wg [K][9][C] and wg_flip [C][9][K] (our tensor-core kernels' GEMM copies), dy, y [N][H][W][K],
// dx [N][H][W][C], dw as the producing row's filter format.
struct Bf16Set {
  __nv_bfloat16 *x, *w, *w_krsc, *wg, *wg_flip, *dy, *y, *dx, *dw;
};

struct Bf16Case {
  std::vector<Buffer> storage;
  std::vector<Bf16Set> sets;  // rotated like ConvCase::sets
  // The oracle (no bias, no ReLU, no mask; dw KCRS) and sum |a||b| per element; db_ref the bias
  // gradient (sums of the bf16 dy: fp32 rows in another order differ by a few ulps of sum |dy|).
  std::vector<float> y_ref, dx_ref, dw_ref, db_ref, y_mag, dx_mag, dw_mag;
  const Bf16Set& set(int i) const { return sets[size_t(i) % sets.size()]; }
};

Bf16Case make_bf16_case(const GpuCtx& ctx, const ConvCase& cc);

// bf16 device memory -> the floats it holds (exact).
std::vector<float> download_bf16(const void* d, size_t n);

// A bf16 row's output on set 0 (op 0 forward y, 1 backward-data dx, 2 backward-weight dw in
// KCRS, as floats) against the oracle: relative L2 error and the largest ratio of an element's
// error to its bound (> 1: outside; infinite for a non-finite element).
struct Bf16Error {
  double rel_l2 = 0.0;
  double worst = 0.0;
};
Bf16Error check_bf16(const Bf16Case& bc, const ConvShape& s, int op, const std::vector<float>& got);

}  // namespace vdsr::bench
