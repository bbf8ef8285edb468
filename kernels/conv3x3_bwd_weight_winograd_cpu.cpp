// 3x3 convolution backward-weight and bias on the CPU by Winograd's F(2x2, 3x3); see
// conv3x3_bwd_weight.h for the math it computes and kernels/winograd_cpu.h for the tiles.
//
// The forward of one tile is Y = A^T [U .* V] A with U = G g G^T and V = B^T d B, so for the loss
// L = sum_tiles <dY, Y> the gradient is dL/dU = sum_tiles (A dY A^T) .* V and dL/dg = G^T (dL/dU) G:
//   dw_kc = G^T [ sum_tiles Z_k .* V_c ] G,   Z_k = A dY_k A^T,
//   A = [1 0; 1 1; 1 -1; 0 -1] (4 x 2), G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1],
// with dY = 0 at the outputs of a partial tile outside the image. The sum over tiles is 16
// independent GEMMs, M[e][k][c] = sum_t Z[e][t][k] V[e][t][c]: 16 multiply-adds per (tile, k, c)
// where the direct method needs 36, as in the forward. A register block of P rows k x NV vectors of
// c accumulates broadcast(Z) * V-vector over the tiles of a chunk of kChunkTiles, whose inputs and
// output gradients were transformed just before.
// The bias gradient comes free: Z's element (1, 1) is the sum of the tile's 2 x 2 dY.
// Determinism: the tiles are cut into blocks of kBlockTiles (a fixed number, never from the thread
// count); each block owns a float partial of M and of the bias sums, accumulated chunk by chunk in
// tile order, and the partials are added in block order into a double total (each element's sum
// in that order, the elements split over the threads), in waves of kWaveBlocks blocks to bound the
// memory; G^T M G is then taken in double. Exactness: Z and V come from additions only, so on small
// integers M is an integer, exact in the float partials while below 2^24 (as the direct method's
// sums), and G^T M G (multiples of 1/4 on the way) is exact in double.
//
// Paths (AVX-512, AVX2+FMA, baseline) and VDSR_CPU_ISA as in conv_fwd_cpu.cpp.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/aligned_vector.h"
#include "engine/cpu_features.h"
#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_cpu_blocking.h"
#include "kernels/conv_fwd.h"
#include "kernels/winograd_cpu.h"

namespace vdsr {
namespace {

constexpr int64_t kBlockTiles = 1024;  // tiles per partial sum
// Tiles transformed at once (their V and Z stay in L2): on a 2-core Xeon (AVX-512) at 64x41x41
// 64 -> 64, chunks of 32, 64, 128 and 256 tiles took 21.9, 19.4, 20.6-21.8 and 25.4 ms; with the
// scratch on cache lines, 32, 64 and 128 took 17.4-18.4, 17.3-17.8 and 17.6-18.3 ms (a harness).
constexpr int64_t kChunkTiles = 64;
constexpr int64_t kWaveBlocks = 16;    // partials held in memory at once

struct WgArgs {
  int64_t N, H, W, C, K;
  int64_t Cp;      // C padded to the vector width (V's rows)
  int64_t Cq, Kq;  // C padded to the register block's NV vectors, K to its P rows
  int64_t Kz;      // Z's row: Kq, or K padded to the vector width where that is longer
  int64_t TH, TW;
  int64_t msize, psize;  // a block's partial: M [16][Kq][Cq], the bias sums [K], padding to a cache line
  int nv;
  const float* x;   // [N][H][W][C]
  const float* dy;  // [N][H][W][K]
};

// The output-gradient transform of one tile: its 2 x 2 pixels y[i * 2 + j] (K floats each, or
// `zeros` outside the image) -> z[e * zstride + k] = (A dY A^T)[e] for k < K, zeros from K to K
// padded to the vector width (z's rows must hold that).
template <int V>
inline __attribute__((always_inline)) void dy_transform(const float* const* y, int64_t K, float* z, int64_t zstride) {
  typedef typename FloatVec<V>::type vf;
  for (int64_t k = 0; k < K; k += V) {
    const int64_t nk = std::min<int64_t>(V, K - k);
    vf d[2][2] = {};
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        if (nk == V)
          std::memcpy(&d[i][j], y[i * 2 + j] + k, sizeof(vf));  // one vector load, not a copy loop
        else
          std::memcpy(&d[i][j], y[i * 2 + j] + k, size_t(nk) * sizeof(float));
    vf t[4][2];
    for (int j = 0; j < 2; ++j) {  // A dY
      t[0][j] = d[0][j];
      t[1][j] = d[0][j] + d[1][j];
      t[2][j] = d[0][j] - d[1][j];
      t[3][j] = -d[1][j];
    }
    for (int i = 0; i < 4; ++i) {  // (A dY) A^T
      const vf r[4] = {t[i][0], t[i][0] + t[i][1], t[i][0] - t[i][1], -t[i][1]};
      for (int j = 0; j < 4; ++j) std::memcpy(z + (i * 4 + j) * zstride + k, &r[j], sizeof(vf));
    }
  }
}

// One thread's working memory, made once for the run of blocks it takes from a wave (reused block
// after block): zeroed, and v's columns past Cp and z's entries past K (up to Kz) are written as
// zeros or never, so the padded GEMM rows and columns add nothing.
struct WgScratch {
  AlignedVector<float> zeros, d, v, z;
  explicit WgScratch(const WgArgs& g)
      : zeros(size_t(std::max(g.Cp, g.K)), 0.0f),
        d(size_t(16 * g.Cp), 0.0f),
        v(size_t(16 * kChunkTiles * g.Cq), 0.0f),
        z(size_t(16 * kChunkTiles * g.Kz), 0.0f) {}
};

// The tiles [t0, t1) of one block into its partial: m [16][Kq][Cq] (zeroed here), bias [K].
template <int V, int P, int NV>
inline __attribute__((always_inline)) void wg_block(const WgArgs& g, int64_t t0, int64_t t1, float* m, float* bias,
                                                    WgScratch& ws) {
  typedef typename FloatVec<V>::type vf;
  const int64_t H = g.H, W = g.W, C = g.C, K = g.K, Cp = g.Cp, Cq = g.Cq, Kq = g.Kq;
  const int64_t Kz = g.Kz, vstride = kChunkTiles * Cq, zstride = kChunkTiles * Kz;
  AlignedVector<float>&zeros = ws.zeros, &d = ws.d, &v = ws.v, &z = ws.z;
  typename FloatVec<V>::type scratch[16];  // the input transform's
  std::fill(m, m + 16 * Kq * Cq, 0.0f);
  std::fill(bias, bias + K, 0.0f);
  for (int64_t c0 = t0; c0 < t1; c0 += kChunkTiles) {
    const int64_t nt = std::min(kChunkTiles, t1 - c0);
    for (int64_t t = 0; t < nt; ++t) {
      const WinogradTile tile(c0 + t, g.TH, g.TW);
      const float* a[16];
      winograd_tile_inputs<2>(g.x, H, W, C, Cp, tile, true, zeros.data(), d.data(), a);
      winograd_input_transform<2, V>(a, Cp, v.data() + t * Cq, vstride, scratch);
      const float* y[4];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          const int64_t h = 2 * tile.ty + i, w = 2 * tile.tx + j;
          const bool inside = h < H && w < W;
          y[i * 2 + j] = inside ? g.dy + ((tile.n * H + h) * W + w) * K : zeros.data();
        }
      dy_transform<V>(y, K, z.data() + t * Kz, zstride);
    }
    for (int64_t k = 0; k < K; k += V) {  // Z's element (1, 1) is the sum of the tile's dY
      vf s = {};
      for (int64_t t = 0; t < nt; ++t) {
        vf r;
        std::memcpy(&r, z.data() + 5 * zstride + t * Kz + k, sizeof(vf));
        s += r;
      }
      float sf[V];
      std::memcpy(sf, &s, sizeof(vf));
      for (int64_t i = 0; i < std::min<int64_t>(V, K - k); ++i) bias[k + i] += sf[i];
    }
    for (int e = 0; e < 16; ++e)
      for (int64_t kb = 0; kb < Kq; kb += P)
        for (int64_t cb = 0; cb < Cq; cb += NV * V)
          winograd_gemm_block<V, P, NV>(z.data() + e * zstride + kb, 1, Kz, v.data() + e * vstride + cb, Cq, nt,
                                        true, m + (e * Kq + kb) * Cq + cb, Cq);
  }
}

// Blocks first + [begin, end) into partials [begin, end) of `part` (psize floats each: M, then the
// bias sums), with one scratch for them all.
template <int V, int P, int NV>
inline __attribute__((always_inline)) void wg_blocks(const WgArgs& g, int64_t first, int64_t begin, int64_t end,
                                                     float* part) {
  WgScratch ws(g);
  const int64_t T = g.N * g.TH * g.TW;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t t0 = (first + i) * kBlockTiles;
    wg_block<V, P, NV>(g, t0, std::min(T, t0 + kBlockTiles), part + i * g.psize, part + i * g.psize + g.msize, ws);
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) void wg_avx512(const WgArgs& g, int64_t first, int64_t b, int64_t e, float* part) {
  switch (g.nv) {
    case 1:
      wg_blocks<16, 24, 1>(g, first, b, e, part);
      break;
    case 2:
      wg_blocks<16, 12, 2>(g, first, b, e, part);
      break;
    case 3:
      wg_blocks<16, 8, 3>(g, first, b, e, part);
      break;
    default:
      wg_blocks<16, 6, 4>(g, first, b, e, part);
      break;
  }
}

__attribute__((target("avx2,fma"))) void wg_avx2(const WgArgs& g, int64_t first, int64_t b, int64_t e, float* part) {
  if (g.nv == 1)
    wg_blocks<8, 12, 1>(g, first, b, e, part);
  else
    wg_blocks<8, 6, 2>(g, first, b, e, part);
}
#endif

void wg_generic(const WgArgs& g, int64_t first, int64_t b, int64_t e, float* part) {
  if (g.nv == 1)
    wg_blocks<4, 12, 1>(g, first, b, e, part);
  else
    wg_blocks<4, 6, 2>(g, first, b, e, part);
}

}  // namespace

void conv3x3_bwd_weight_winograd_cpu(const ConvShape& shape, const float* x, const float* dy, float* dw, float* db) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K;
  check_conv3x3_shape(shape, "conv3x3_bwd_weight_winograd_cpu");
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr, "null tensor");

  const Isa isa = cpu_isa();
  const int64_t V = isa_width(isa);
  const int nv = std::max(1, conv_channel_vectors(isa, C));  // the register block's vectors run along c
  const int64_t P = conv_block_rows(isa, nv), CB = int64_t(nv) * V;
  const int64_t Cp = (C + V - 1) / V * V, Cq = (C + CB - 1) / CB * CB, Kq = (K + P - 1) / P * P;
  const int64_t Kz = std::max(Kq, (K + V - 1) / V * V);
  const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, T = N * TH * TW;
  // M, then the bias sums, then padding (never read) to a whole cache line, so that every partial
  // is aligned. The partials are not cleared: each block writes all of its M and bias sums (about
  // 2 % of this kernel at 64x41x41 went to clearing 4 MB each call).
  const int64_t msize = 16 * Kq * Cq, psize = (msize + K + 15) / 16 * 16;
  const WgArgs args{N, H, W, C, K, Cp, Cq, Kq, Kz, TH, TW, msize, psize, nv, x, dy};

  const int64_t blocks = (T + kBlockTiles - 1) / kBlockTiles;
  const int64_t wave = std::min(blocks, kWaveBlocks);
  AlignedScratch<float> part(size_t(wave * psize));  // each block writes its M and bias sums
  std::vector<double> total(size_t(psize), 0.0);
  for (int64_t b0 = 0; b0 < blocks; b0 += wave) {
    const int64_t nb = std::min(wave, blocks - b0);
    parallel_for(nb, 1, [&](int64_t begin, int64_t end) {
      switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case Isa::kAvx512:
          wg_avx512(args, b0, begin, end, part.data());
          break;
        case Isa::kAvx2:
          wg_avx2(args, b0, begin, end, part.data());
          break;
#endif
        default:
          wg_generic(args, b0, begin, end, part.data());
          break;
      }
    });
    // Each element's partials in block order, the elements split over the threads.
    parallel_for(msize + K, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = 0; i < nb; ++i) {
        const float* m = part.data() + i * psize;
        for (int64_t e = begin; e < end; ++e) total[size_t(e)] += double(m[e]);
      }
    });
  }

  // dw_kc = G^T M_kc G: a 4 x 4 block through G^T on each side, 3 x 3 out.
  const auto through_gt = [](const double* in, int64_t stride, double* out, int64_t out_stride) {
    out[0] = in[0] + 0.5 * (in[stride] + in[2 * stride]);
    out[out_stride] = 0.5 * (in[stride] - in[2 * stride]);
    out[2 * out_stride] = 0.5 * (in[stride] + in[2 * stride]) + in[3 * stride];
  };
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      double mk[4][4], gm[3][4], out[3][3];
      for (int e = 0; e < 16; ++e) mk[e / 4][e % 4] = total[size_t((e * Kq + k) * Cq + c)];
      for (int j = 0; j < 4; ++j) through_gt(&mk[0][j], 4, &gm[0][j], 4);  // G^T M, column by column
      for (int r = 0; r < 3; ++r) through_gt(gm[r], 1, out[r], 1);          // (G^T M) G, row by row
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) dw[((k * C + c) * 3 + r) * 3 + s] = float(out[r][s]);
    }
  if (db != nullptr)
    for (int64_t k = 0; k < K; ++k) db[k] = float(total[size_t(msize + k)]);
}

}  // namespace vdsr
