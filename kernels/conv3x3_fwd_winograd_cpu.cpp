// 3x3 convolution forward on the CPU by Winograd's minimal filtering F(m x m, 3x3), m = 2 or 4
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015); conv_fwd.h has the
// math it computes, kernels/winograd_cpu.h the tiles and the transforms.
//
// The outputs are cut into tiles of m x m pixels at rows and columns that are multiples of m of
// every image. Tile (ty, tx) reads the a x a inputs d_c (a = m + 2) at rows m ty - 1 .. m ty + m,
// columns m tx - 1 .. m tx + m (zeros outside the image) and gives
//   Y_k = b_k + A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
// with g_kc the 3 x 3 filter wt[k][c]. The channel sum is then a^2 independent GEMMs, one per
// element e of the a x a transformed tile: M[e][tile][k] = sum_c V[e][tile][c] U[e][c][k], a^2
// multiply-adds per (tile, c, k) where the direct method needs 9 m^2: 2.25x fewer for m = 2 (16 for
// 4 outputs), 4x fewer for m = 4 (36 for 16). Each GEMM runs with the direct kernel's register
// block (P tiles x NV vectors of output channels; broadcast input times weight vector) over a block
// of 4 P tiles whose inputs were transformed into V just before; the output transform, the bias and
// the ReLU follow while M is still in cache.
//
// Exactness (m = 2): B^T and A^T hold only 0 and +-1 and G only 0, +-1/2 and 1, and the transforms
// are additions only, so on small integers every intermediate is a multiple of 1/4 far inside
// float's 24 bits and the result equals the reference bit for bit, as the direct method's does.
// Adding only also keeps a NaN input inside the outputs whose 3 x 3 window holds it. m = 4 is
// neither exact (G's sixths) nor NaN-local (a NaN does not cancel where exact terms would):
// kernels/winograd_cpu.h.
// Position: an output's arithmetic depends on its place in its tile, so a sub-image gives the whole
// image's bits only when it starts at multiples of m of the whole image (tiled inference aligns its
// regions to multiples of 4: model/tiled.cpp). It does not depend on the thread count, the block a
// tile falls in or the image's place in the batch.
//
// Compiled for AVX-512, AVX2+FMA and the baseline like conv_fwd_cpu.cpp (VDSR_CPU_ISA forces one).
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/aligned_vector.h"
#include "engine/cpu_features.h"
#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv_cpu_blocking.h"
#include "kernels/conv_fwd.h"
#include "kernels/winograd_cpu.h"

namespace vdsr {
namespace {

struct WinoArgs {
  int64_t N, H, W, C, K;
  int64_t Cp, Kp;  // C padded to the vector width, K to the channel block
  int64_t TH, TW;  // tiles per column and per row of an image
  int64_t Q;       // register blocks of P tiles per block
  int nv;
  const float* x;   // [N][H][W][C]
  const float* u;   // [a a][C][Kp]: G g G^T
  const float* bp;  // [Kp]
  bool relu;
  const float* mask;  // [N][H][W][K] or nullptr: y = mask > 0 ? y : +0
  float* y;           // [N][H][W][K]
};

// F(4x4)'s 36 rows of V and M (one per element e of the transformed tile) are a block of tiles
// long plus one cache line: 6 KiB apart without it (24 tiles of 64 channels), the rows that a
// tile's transforms read or write together would fall on two offsets modulo 4 KiB, so on two sets
// of the L1 cache. Measured on a 2-core Xeon (AVX-512), 64x41x41 64 -> 64: 12.6 ms with the line,
// 13.5-14.1 without; F(2x2)'s 16 rows showed no gain (17.6-18.4 ms without, 18.4-18.6 with).
template <int M>
constexpr int64_t kRowPad = M == 4 ? 16 : 0;

// The output transform of tiles [t0, t0 + np) from m (rows mstride apart), then the bias, the ReLU
// and, with kMask, backward-data's mask (y = mask > 0 ? y : +0).
template <int M, int V, bool kMask>
inline __attribute__((always_inline)) void wino_output(const WinoArgs& g, int64_t t0, int64_t np, const float* m,
                                                       int64_t mstride, typename FloatVec<V>::type* scratch) {
  typedef typename FloatVec<V>::type vf;
  constexpr int A = WinogradF<M>::kAlpha;
  const int64_t H = g.H, W = g.W, K = g.K, Kp = g.Kp;
  for (int64_t p = 0; p < np; ++p) {
    const WinogradTile tile(t0 + p, g.TH, g.TW);
    const int64_t n = tile.n, ty = tile.ty, tx = tile.tx;
    const int64_t rows = std::min<int64_t>(M, H - M * ty), cols = std::min<int64_t>(M, W - M * tx);
    vf regs[M * A];
    vf* t = M * A > 16 ? scratch : regs;  // as in winograd_input_transform
    for (int64_t kv = 0; kv < K; kv += V) {  // the padded channels are never stored
      for (int j = 0; j < A; ++j) {  // A^T M, column by column, into t[r A + j]
        vf a[A], s[M];
        for (int i = 0; i < A; ++i) std::memcpy(&a[i], m + (i * A + j) * mstride + p * Kp + kv, sizeof(vf));
        WinogradF<M>::output(a, s);
        for (int r = 0; r < M; ++r) t[r * A + j] = s[r];
      }
      vf bv;
      std::memcpy(&bv, g.bp + kv, sizeof(vf));
      const int64_t nk = std::min<int64_t>(V, K - kv);
      for (int64_t i = 0; i < rows; ++i) {
        vf out[M];
        WinogradF<M>::output(t + i * A, out);  // (A^T M) A
        for (int64_t j = 0; j < cols; ++j) {
          out[j] = bv + out[j];
          if (g.relu) {
            const vf zero = {};
            out[j] = out[j] < zero ? zero : out[j];  // NaN passes
          }
          const int64_t at = ((n * H + M * ty + i) * W + M * tx + j) * K + kv;
          if constexpr (kMask) {  // select, not multiply: +0 even where the sum is not finite
            vf keep = {}, zero = {};
            if (nk == V)
              std::memcpy(&keep, g.mask + at, sizeof(vf));  // one vector load
            else
              std::memcpy(&keep, g.mask + at, size_t(nk) * sizeof(float));
            out[j] = keep > zero ? out[j] : zero;
          }
          float* dst = g.y + at;
          if (nk == V)
            std::memcpy(dst, &out[j], sizeof(vf));  // one vector store, not a copy loop
          else
            std::memcpy(dst, &out[j], size_t(nk) * sizeof(float));
        }
      }
    }
  }
}

// Tiles [t0, t0 + np) of the flattened (n, ty, tx) index, np <= Q P: gather and transform them all,
// then for each e the GEMMs of the Q register blocks one after another, so that U[e] is read from
// memory once per block and from L1 by the other Q - 1; then the output transform.
// Scratch: zeros [Cp] (all zero), d [a a][Cp] (pixels copied when C is not a whole number of
// vectors; otherwise they are read in place), v [a a][Q P Cp + kRowPad], m [a a][Q P Kp + kRowPad],
// scratch [a a] vectors (the transforms').
template <int M, int V, int P, int NV>
inline __attribute__((always_inline)) void wino_block(const WinoArgs& g, int64_t t0, int64_t np, const float* zeros,
                                                      float* d, float* v, float* m,
                                                      typename FloatVec<V>::type* scratch) {
  constexpr int A = WinogradF<M>::kAlpha;
  const int64_t H = g.H, W = g.W, C = g.C, Cp = g.Cp, Kp = g.Kp;
  const int64_t QP = g.Q * P, vstride = QP * Cp + kRowPad<M>, mstride = QP * Kp + kRowPad<M>;
  for (int64_t p = 0; p < QP; ++p) {
    const float* a[A * A];
    winograd_tile_inputs<M>(g.x, H, W, C, Cp, WinogradTile(t0 + p, g.TH, g.TW), p < np, zeros, d, a);
    winograd_input_transform<M, V>(a, Cp, v + p * Cp, vstride, scratch);
  }
  const int64_t blocks = (np + P - 1) / P;
  for (int e = 0; e < A * A; ++e)
    for (int64_t kb = 0; kb < Kp; kb += NV * V)
      for (int64_t q = 0; q < blocks; ++q)
        winograd_gemm_block<V, P, NV>(v + e * vstride + q * P * Cp, Cp, 1, g.u + e * C * Kp + kb, Kp, C, false,
                                      m + e * mstride + q * P * Kp + kb, Kp);
  if (g.mask != nullptr)  // two instantiations keep the mask's test out of the loop over outputs
    wino_output<M, V, true>(g, t0, np, m, mstride, scratch);
  else
    wino_output<M, V, false>(g, t0, np, m, mstride, scratch);
}

// Blocks [block_begin, block_end) of Q P tiles each.
template <int M, int V, int P, int NV>
inline __attribute__((always_inline)) void wino_blocks(const WinoArgs& g, int64_t block_begin, int64_t block_end) {
  typedef typename FloatVec<V>::type vf;
  constexpr int A = WinogradF<M>::kAlpha;
  const int64_t QP = g.Q * P;
  // v and m start on cache lines and are not cleared: every element the GEMMs and the output
  // transform read is written first (a block's missing tiles are transformed zeros). Against
  // malloc's placement (16 bytes off a line, so every vector access straddled two lines), with U
  // on a line too, vdsr_bench on a 2-core Xeon (AVX-512), six runs of each build taken in turn:
  // 64x41x41 64 -> 64 forward 10.7-11.6 against 11.8-12.8 ms, network forward 1x256x256 94.7-99.9
  // against 104.4-113.6 ms. (Cleared AlignedVector scratch had measured 4 % slower at 64x41x41 in
  // an earlier session; docs/perf.md.)
  std::vector<float> zeros(size_t(g.Cp), 0.0f), d(size_t(A * A * g.Cp), 0.0f);
  AlignedScratch<float> v(size_t(A * A * (QP * g.Cp + kRowPad<M>))), m(size_t(A * A * (QP * g.Kp + kRowPad<M>)));
  vf scratch[A * A];
  const int64_t T = g.N * g.TH * g.TW;
  for (int64_t blk = block_begin; blk < block_end; ++blk) {
    const int64_t t0 = blk * QP;
    wino_block<M, V, P, NV>(g, t0, std::min<int64_t>(QP, T - t0), zeros.data(), d.data(), v.data(), m.data(), scratch);
  }
}

// The register blocks of each vector path (rows P for NV vectors of output channels:
// conv_block_rows), one instantiation per tile size M.
#if defined(__x86_64__) || defined(__i386__)
template <int M>
__attribute__((target("avx512f"))) void wino_avx512(const WinoArgs& g, int64_t b, int64_t e) {
  switch (g.nv) {
    case 1:
      wino_blocks<M, 16, 24, 1>(g, b, e);
      break;
    case 2:
      wino_blocks<M, 16, 12, 2>(g, b, e);
      break;
    case 3:
      wino_blocks<M, 16, 8, 3>(g, b, e);
      break;
    default:
      wino_blocks<M, 16, 6, 4>(g, b, e);
      break;
  }
}

template <int M>
__attribute__((target("avx2,fma"))) void wino_avx2(const WinoArgs& g, int64_t b, int64_t e) {
  if (g.nv == 1)
    wino_blocks<M, 8, 12, 1>(g, b, e);
  else
    wino_blocks<M, 8, 6, 2>(g, b, e);
}
#endif

template <int M>
void wino_generic(const WinoArgs& g, int64_t b, int64_t e) {
  if (g.nv == 1)
    wino_blocks<M, 4, 12, 1>(g, b, e);
  else
    wino_blocks<M, 4, 6, 2>(g, b, e);
}

template <int M>
void wino_run(Isa isa, const WinoArgs& g, int64_t b, int64_t e) {
  switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case Isa::kAvx512:
      wino_avx512<M>(g, b, e);
      break;
    case Isa::kAvx2:
      wino_avx2<M>(g, b, e);
      break;
#endif
    default:
      wino_generic<M>(g, b, e);
      break;
  }
}

}  // namespace

bool conv3x3_winograd_suits(const ConvShape& s) {
  // The transforms cost per channel what the GEMMs cost per channel pair, so narrow layers lose:
  // 16 x 64 x 64 images, C = K = 16 / 24 / 32 / 64, direct against F(2x2) on a 2-core Xeon
  // (AVX-512): 1.37 / 1.76, 3.43 / 3.87, 4.37 / 3.62, 18.7 / 9.4 ms; at d87289d direct, F(2x2) and
  // F(4x4): 1.47 / 1.79 / 1.50, 3.49 / 3.96 / 2.77, 4.40 / 3.74 / 2.74, 17.9 / 9.6 / 6.5 ms. F(4x4)
  // alone would win from 24 channels; one rule for both tile sizes and the weight gradient, as
  // VDSR's layers have 64. VDSR's first (C = 1) and last (K = 1) layers stay direct.
  return s.is_3x3_zero() && s.C >= 32 && s.K >= 32;
}

void conv3x3_fwd_winograd_cpu(const ConvShape& shape, const float* x, const float* wt, const float* b, bool relu,
                              float* y, int tile, const float* relu_src) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K;
  check_conv3x3_shape(shape, "conv3x3_fwd_winograd_cpu");
  VDSR_CHECK(tile == 2 || tile == 4, "conv3x3_fwd_winograd_cpu: tile " << tile << " is not 2 or 4");
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "null tensor");
  VDSR_CHECK(x != y && relu_src != y, "conv3x3_fwd_winograd_cpu cannot run in place");

  const Isa isa = cpu_isa();
  const int64_t V = isa_width(isa);
  const int nv = std::max(1, conv_channel_vectors(isa, K));
  const int64_t KB = int64_t(nv) * V;
  const int64_t Kp = (K + KB - 1) / KB * KB, Cp = (C + V - 1) / V * V;
  const int64_t A = tile + 2;

  // U[e][c][k] = (G g_kc G^T)[e], zero in the padded channels, split over the pool by input
  // channel (ranges of whole rows of U, on a cache line as v and m below; every element is
  // written, so none is cleared first). On one thread with k the outer loop it took 0.4 ms of
  // every call: on a 2-core Xeon (AVX-512), a 1x8x8 64 -> 64 F(4x4) forward went from 0.41 to
  // 0.12-0.14 ms so, and a 1x256x256 one from 6.5 to 6.2 ms (medians of 8 runs taken in turn; the
  // output is the same bits).
  AlignedScratch<float> u(size_t(A * A * C * Kp));
  parallel_for(C, 8, [&](int64_t c0, int64_t c1) {
    if (tile == 2)
      winograd_filter_transform<2>(wt, K, C, Kp, c0, c1, u.data());
    else
      winograd_filter_transform<4>(wt, K, C, Kp, c0, c1, u.data());
  });
  std::vector<float> bp(size_t(Kp), 0.0f);
  if (b != nullptr) std::copy(b, b + K, bp.begin());

  const int64_t TH = (H + tile - 1) / tile, TW = (W + tile - 1) / tile;
  const int64_t P = conv_block_rows(isa, nv);
  // Four register blocks per block: measured on a 2-core Xeon (AVX-512) at 64x41x41 64 -> 64, 1, 2,
  // 4, 8 and 16 gave 16.5, 15.7, 15.5, 17.3 and 18.7 ms on 2 threads with F(2x2); with F(4x4) (a
  // prototype of this kernel) at 1x512x512, 1, 2 and 4 gave 33.0-33.6, 30.4-32.6 and 30.4-30.7 ms,
  // and at 64x41x41 8 gave 14.4 ms against 4's 13.4.
  const int64_t Q = 4;
  const WinoArgs args{N, H, W, C, K, Cp, Kp, TH, TW, Q, nv, x, u.data(), bp.data(), relu, relu_src, y};
  const int64_t blocks = (N * TH * TW + Q * P - 1) / (Q * P);
  // Blocks per task: about a million multiply-adds, as the direct kernel's rows.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 20) / (A * A * Q * P * C * Kp));
  parallel_for(blocks, grain, [&](int64_t begin, int64_t end) {
    if (tile == 2)
      wino_run<2>(isa, args, begin, end);
    else
      wino_run<4>(isa, args, begin, end);
  });
}

}  // namespace vdsr
