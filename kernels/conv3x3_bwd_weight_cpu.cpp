// 3x3 convolution backward-weight and bias on the CPU, threaded and vectorised; see
// conv3x3_bwd_weight.h for the math. conv3x3_bwd_weight_cpu picks Winograd's F(2x2, 3x3)
// (conv3x3_bwd_weight_winograd_cpu.cpp) where it suits, else this direct method.
//
// For each r, dw is a GEMM reducing over pixels: G[r][j][k] += X_r[w][j] * dy[w][k], where
// j = s*C + c and X_r[w][j] = xpad[h+r][w+s][c] is contiguous in j once the input rows are copied
// into zero-bordered scratch rows (as in the forward). A register block of JB rows j x NV vectors
// of k is loaded from the block's partial G, accumulates broadcast(x) * dy-vector over a segment of
// pixels, and is stored back. Determinism: the N*H rows are cut into blocks of a fixed number of
// rows (from W alone, about kBlockPixels pixels each, never from the thread count); each block
// owns a float partial (G and the bias sums) summed in a fixed order, and the partials are added
// in block order into a double total, in waves of kWaveBlocks blocks to bound the memory.
// K = 1 (the last layer) has its own tile, vectorised along j (JB vectors of j, dy broadcast),
// rather than wasting 15/16 of every vector on padded channels.
//
// Paths (AVX-512, AVX2+FMA, baseline) and VDSR_CPU_ISA as in conv_fwd_cpu.cpp.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/aligned_vector.h"
#include "engine/cpu_features.h"
#include "kernels/conv_cpu_blocking.h"
#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"

namespace vdsr {
namespace {

constexpr int64_t kBlockPixels = 4096;  // pixels per partial sum (rounded to whole rows)
constexpr int64_t kSegment = 64;        // pixels per pass over a register block (L1-sized)
constexpr int64_t kWaveBlocks = 32;     // partials held in memory at once

// Rows j per register block, matching the dispatchers below (K = 1: 12 vectors of j).
int64_t j_block(Isa isa, int nv) {
  return nv == 0 ? 12 * isa_width(isa) : (isa == Isa::kAvx512 ? 24 : 12) / nv;
}

struct BwdWArgs {
  int64_t N, H, W, C, K, Kp, Jp;  // Kp: K padded to the channel block; Jp: 3C padded to JB
  int nv;
  const float* x;   // [N][H][W][C]
  const float* dy;  // [N][H][W][K]
};

// g[jb][kb..] (row stride Kp) += sum over nw pixels of a[w*C + jb] * d[w*Kp + kb..].
template <int V, int JB, int NV>
inline __attribute__((always_inline)) void bww_tile(const float* a, int64_t C, const float* d,
                                                    int64_t Kp, int64_t nw, float* g) {
  typedef typename FloatVec<V>::type vf;
  vf acc[JB][NV];
  for (int jb = 0; jb < JB; ++jb)
    for (int v = 0; v < NV; ++v) std::memcpy(&acc[jb][v], g + jb * Kp + v * V, sizeof(vf));
  for (int64_t w = 0; w < nw; ++w) {
    vf dv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&dv[v], d + w * Kp + v * V, sizeof(vf));
    const float* aw = a + w * C;
#pragma GCC unroll 32
    for (int jb = 0; jb < JB; ++jb) {
      const float av = aw[jb];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[jb][v] += av * dv[v];
    }
  }
  for (int jb = 0; jb < JB; ++jb)
    for (int v = 0; v < NV; ++v) std::memcpy(g + jb * Kp + v * V, &acc[jb][v], sizeof(vf));
}

// The K = 1 tile: g[0 .. JV*V) += sum over nw pixels of a[w*C + 0 .. JV*V) * d[w].
template <int V, int JV>
inline __attribute__((always_inline)) void bww1_tile(const float* a, int64_t C, const float* d,
                                                     int64_t nw, float* g) {
  typedef typename FloatVec<V>::type vf;
  vf acc[JV];
  for (int jv = 0; jv < JV; ++jv) std::memcpy(&acc[jv], g + jv * V, sizeof(vf));
  for (int64_t w = 0; w < nw; ++w) {
    const float dv = d[w];
    const float* aw = a + w * C;
#pragma GCC unroll 32
    for (int jv = 0; jv < JV; ++jv) {
      vf av;
      std::memcpy(&av, aw + jv * V, sizeof(vf));
      acc[jv] += av * dv;
    }
  }
  for (int jv = 0; jv < JV; ++jv) std::memcpy(g + jv * V, &acc[jv], sizeof(vf));
}

// Accumulates rows [row_begin, row_end) of the flattened (n, h) index into g [3][Jp][Kp] and
// gb [Kp] (both zeroed by the caller).
template <int V, int JB, int NV>
inline __attribute__((always_inline)) void bww_rows(const BwdWArgs& q, int64_t row_begin,
                                                    int64_t row_end, float* g, float* gb) {
  const int64_t H = q.H, W = q.W, C = q.C, K = q.K, Kp = q.Kp, Jp = q.Jp;
  // Two border pixels, plus room for the padded j of the last pixel's window.
  const int64_t row_len = (W + 2) * C + (Jp - 3 * C);
  AlignedVector<float> buf(size_t(4 * row_len), 0.0f);  // three rows and a row of zeros
  RowBandSlots slots;
  AlignedVector<float> dbuf(K == Kp ? 0 : size_t(W * Kp), 0.0f);  // dy row with padded channels
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / H, h = row % H;
    const float* rows[3];
    load_row_band(q.x, n, h, H, W, C, 3, false, buf.data(), row_len, slots, rows);
    const float* d = q.dy + row * W * K;
    if (K != Kp) {
      for (int64_t w = 0; w < W; ++w)
        std::memcpy(dbuf.data() + w * Kp, d + w * K, size_t(K) * sizeof(float));
      d = dbuf.data();
    }
    for (int64_t w0 = 0; w0 < W; w0 += kSegment) {
      const int64_t nw = std::min(kSegment, W - w0);
      for (int64_t r = 0; r < 3; ++r) {
        if constexpr (NV == 0) {  // Kp = 1; JB counts vectors of j
          for (int64_t j0 = 0; j0 < Jp; j0 += JB * V)
            bww1_tile<V, JB>(rows[r] + w0 * C + j0, C, d + w0, nw, g + r * Jp + j0);
        } else {
          for (int64_t j0 = 0; j0 < Jp; j0 += JB)
            for (int64_t kb = 0; kb < Kp; kb += NV * V)
              bww_tile<V, JB, NV>(rows[r] + w0 * C + j0, C, d + w0 * Kp + kb, Kp, nw,
                                  g + (r * Jp + j0) * Kp + kb);
        }
      }
    }
    for (int64_t w = 0; w < W; ++w)
      for (int64_t k = 0; k < Kp; ++k) gb[k] += d[w * Kp + k];
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) void bww_rows_avx512(const BwdWArgs& q, int64_t b, int64_t e,
                                                        float* g, float* gb) {
  switch (q.nv) {
    case 0:
      bww_rows<16, 12, 0>(q, b, e, g, gb);
      break;
    case 1:
      bww_rows<16, 24, 1>(q, b, e, g, gb);
      break;
    case 2:
      bww_rows<16, 12, 2>(q, b, e, g, gb);
      break;
    case 3:
      bww_rows<16, 8, 3>(q, b, e, g, gb);
      break;
    default:
      bww_rows<16, 6, 4>(q, b, e, g, gb);
      break;
  }
}

__attribute__((target("avx2,fma"))) void bww_rows_avx2(const BwdWArgs& q, int64_t b, int64_t e,
                                                       float* g, float* gb) {
  if (q.nv == 0)
    bww_rows<8, 12, 0>(q, b, e, g, gb);
  else if (q.nv == 1)
    bww_rows<8, 12, 1>(q, b, e, g, gb);
  else
    bww_rows<8, 6, 2>(q, b, e, g, gb);
}
#endif

void bww_rows_generic(const BwdWArgs& q, int64_t b, int64_t e, float* g, float* gb) {
  if (q.nv == 0)
    bww_rows<4, 12, 0>(q, b, e, g, gb);
  else if (q.nv == 1)
    bww_rows<4, 12, 1>(q, b, e, g, gb);
  else
    bww_rows<4, 6, 2>(q, b, e, g, gb);
}

}  // namespace

void conv3x3_bwd_weight_cpu(const ConvShape& shape, const float* x, const float* dy, float* dw, float* db) {
  if (cpu_conv_bwd_weight_tile(shape) != 0)
    conv3x3_bwd_weight_winograd_cpu(shape, x, dy, dw, db);
  else
    conv3x3_bwd_weight_direct_cpu(shape, x, dy, dw, db);
}

void conv3x3_bwd_weight_direct_cpu(const ConvShape& shape, const float* x, const float* dy, float* dw,
                                   float* db) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K;
  check_conv3x3_shape(shape, "conv3x3_bwd_weight_direct_cpu");
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr, "null tensor");

  const Isa isa = cpu_isa();
  const int nv = conv_channel_vectors(isa, K);
  const int64_t KB = nv == 0 ? 1 : int64_t(nv) * isa_width(isa), JB = j_block(isa, nv);
  const int64_t Kp = (K + KB - 1) / KB * KB, Jp = (3 * C + JB - 1) / JB * JB;
  const BwdWArgs args{N, H, W, C, K, Kp, Jp, nv, x, dy};

  const int64_t rows = N * H;
  const int64_t rows_per_block = std::max<int64_t>(1, kBlockPixels / W);
  const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
  const int64_t gsize = 3 * Jp * Kp + Kp;  // G, then the bias sums
  const int64_t wave = std::min(blocks, kWaveBlocks);
  AlignedVector<float> part(size_t(wave * gsize));
  std::vector<double> total(size_t(gsize), 0.0);

  for (int64_t b0 = 0; b0 < blocks; b0 += wave) {
    const int64_t nb = std::min(wave, blocks - b0);
    parallel_for(nb, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float* g = part.data() + i * gsize;
        std::fill(g, g + gsize, 0.0f);
        const int64_t r0 = (b0 + i) * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
        switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
          case Isa::kAvx512:
            bww_rows_avx512(args, r0, r1, g, g + 3 * Jp * Kp);
            break;
          case Isa::kAvx2:
            bww_rows_avx2(args, r0, r1, g, g + 3 * Jp * Kp);
            break;
#endif
          default:
            bww_rows_generic(args, r0, r1, g, g + 3 * Jp * Kp);
            break;
        }
      }
    });
    for (int64_t i = 0; i < nb; ++i) {
      const float* g = part.data() + i * gsize;
      for (int64_t e = 0; e < gsize; ++e) total[size_t(e)] += double(g[e]);
    }
  }

  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t s = 0; s < 3; ++s)
          dw[((k * C + c) * 3 + r) * 3 + s] = float(total[size_t((r * Jp + s * C + c) * Kp + k)]);
  if (db != nullptr)
    for (int64_t k = 0; k < K; ++k) db[k] = float(total[size_t(3 * Jp * Kp + k)]);
}

}  // namespace vdsr
