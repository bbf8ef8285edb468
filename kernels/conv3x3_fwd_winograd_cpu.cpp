// 3x3 convolution forward on the CPU by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015); conv_fwd.h has the math it computes.
//
// The outputs are cut into tiles of 2 x 2 pixels at even rows and columns of every image. Tile
// (ty, tx) reads the 4 x 4 inputs d_c at rows 2ty-1 .. 2ty+2, columns 2tx-1 .. 2tx+2 (zeros outside
// the image) and gives
//   Y_k = b_k + A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A,
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// with g_kc the 3 x 3 filter wt[k][c]. The channel sum is then 16 independent GEMMs, one per
// element e of the 4 x 4 transformed tile: M[e][tile][k] = sum_c V[e][tile][c] U[e][c][k], 16
// multiply-adds per (tile, c, k) where the direct method needs 4 x 9 = 36, so 2.25x fewer. Each GEMM
// runs with the direct kernel's register block (P tiles x NV vectors of output channels; broadcast
// input times weight vector) over a block of 4 P tiles whose inputs were transformed into V just
// before (winograd_f2x3.h); the output transform, the bias and the ReLU follow while M is still in
// cache.
//
// Exactness: B^T and A^T hold only 0 and +-1 and G only 0, +-1/2 and 1, and the transforms are
// additions only, so on small integers every intermediate is a multiple of 1/4 far inside float's
// 24 bits and the result equals the reference bit for bit, as the direct method's does. Adding
// only also keeps a NaN input inside the outputs whose 3 x 3 window holds it (no 0 x NaN).
// Position: an output's arithmetic depends on which of its tile's four pixels it is, so a sub-image
// gives the whole image's bits only when it starts at even coordinates of the whole image (tiled
// inference aligns its regions so: model/tiled.cpp). It does not depend on the thread count, the
// block a tile falls in or the image's place in the batch.
//
// Compiled for AVX-512, AVX2+FMA and the baseline like conv_fwd_cpu.cpp (VDSR_CPU_ISA forces one).
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu_features.h"
#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv_cpu_blocking.h"
#include "kernels/conv_fwd.h"
#include "kernels/winograd_f2x3.h"

namespace vdsr {
namespace {

struct WinoArgs {
  int64_t N, H, W, C, K;
  int64_t Cp, Kp;  // C padded to the vector width, K to the channel block
  int64_t TH, TW;  // tiles per column and per row of an image
  int64_t Q;       // register blocks of P tiles per block
  int nv;
  const float* x;   // [N][H][W][C]
  const float* u;   // [16][C][Kp]: G g G^T
  const float* bp;  // [Kp]
  bool relu;
  float* y;  // [N][H][W][K]
};

// Tiles [t0, t0 + np) of the flattened (n, ty, tx) index, np <= Q P: gather and transform them all,
// then for each e the GEMMs of the Q register blocks one after another, so that U[e] is read from
// memory once per block and from L1 by the other Q - 1; then the output transform.
// Scratch: zeros [Cp] (all zero), d [16][Cp] (pixels copied when C is not a whole number of
// vectors; otherwise they are read in place), v [16][Q P][Cp], m [16][Q P][Kp].
template <int V, int P, int NV>
inline __attribute__((always_inline)) void wino_block(const WinoArgs& g, int64_t t0, int64_t np, const float* zeros,
                                                      float* d, float* v, float* m) {
  typedef typename FloatVec<V>::type vf;
  const int64_t H = g.H, W = g.W, C = g.C, K = g.K, Cp = g.Cp, Kp = g.Kp;
  const int64_t QP = g.Q * P, vstride = QP * Cp, mstride = QP * Kp;
  for (int64_t p = 0; p < QP; ++p) {
    const float* a[16];
    winograd_tile_inputs(g.x, H, W, C, Cp, WinogradTile(t0 + p, g.TH, g.TW), p < np, zeros, d, a);
    winograd_input_transform<V>(a, Cp, v + p * Cp, vstride);
  }
  const int64_t blocks = (np + P - 1) / P;
  for (int e = 0; e < 16; ++e)
    for (int64_t kb = 0; kb < Kp; kb += NV * V)
      for (int64_t q = 0; q < blocks; ++q)
        winograd_gemm_block<V, P, NV>(v + e * vstride + q * P * Cp, Cp, 1, g.u + e * C * Kp + kb, Kp, C, false,
                                      m + e * mstride + q * P * Kp + kb, Kp);
  for (int64_t p = 0; p < np; ++p) {
    const WinogradTile tile(t0 + p, g.TH, g.TW);
    const int64_t n = tile.n, ty = tile.ty, tx = tile.tx;
    const int64_t rows = std::min<int64_t>(2, H - 2 * ty), cols = std::min<int64_t>(2, W - 2 * tx);
    for (int64_t kv = 0; kv < K; kv += V) {  // the padded channels are never stored
      vf a[4][4], s[2][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) std::memcpy(&a[i][j], m + (i * 4 + j) * mstride + p * Kp + kv, sizeof(vf));
      for (int j = 0; j < 4; ++j) {  // A^T M
        s[0][j] = a[0][j] + a[1][j] + a[2][j];
        s[1][j] = a[1][j] - a[2][j] - a[3][j];
      }
      vf bv;
      std::memcpy(&bv, g.bp + kv, sizeof(vf));
      const int64_t nk = std::min<int64_t>(V, K - kv);
      for (int64_t i = 0; i < rows; ++i) {
        vf out[2] = {bv + (s[i][0] + s[i][1] + s[i][2]), bv + (s[i][1] - s[i][2] - s[i][3])};  // (A^T M) A
        for (int64_t j = 0; j < cols; ++j) {
          if (g.relu) {
            const vf zero = {};
            out[j] = out[j] < zero ? zero : out[j];  // NaN passes
          }
          float* dst = g.y + ((n * H + 2 * ty + i) * W + 2 * tx + j) * K + kv;
          if (nk == V)
            std::memcpy(dst, &out[j], sizeof(vf));  // one vector store, not a copy loop
          else
            std::memcpy(dst, &out[j], size_t(nk) * sizeof(float));
        }
      }
    }
  }
}

// Blocks [block_begin, block_end) of Q P tiles each.
template <int V, int P, int NV>
inline __attribute__((always_inline)) void wino_blocks(const WinoArgs& g, int64_t block_begin, int64_t block_end) {
  const int64_t QP = g.Q * P;
  std::vector<float> zeros(size_t(g.Cp), 0.0f), d(size_t(16 * g.Cp), 0.0f), v(size_t(16 * QP * g.Cp)),
      m(size_t(16 * QP * g.Kp));
  const int64_t T = g.N * g.TH * g.TW;
  for (int64_t blk = block_begin; blk < block_end; ++blk) {
    const int64_t t0 = blk * QP;
    wino_block<V, P, NV>(g, t0, std::min<int64_t>(QP, T - t0), zeros.data(), d.data(), v.data(), m.data());
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) void wino_avx512(const WinoArgs& g, int64_t b, int64_t e) {
  switch (g.nv) {
    case 1:
      wino_blocks<16, 24, 1>(g, b, e);
      break;
    case 2:
      wino_blocks<16, 12, 2>(g, b, e);
      break;
    case 3:
      wino_blocks<16, 8, 3>(g, b, e);
      break;
    default:
      wino_blocks<16, 6, 4>(g, b, e);
      break;
  }
}

__attribute__((target("avx2,fma"))) void wino_avx2(const WinoArgs& g, int64_t b, int64_t e) {
  if (g.nv == 1)
    wino_blocks<8, 12, 1>(g, b, e);
  else
    wino_blocks<8, 6, 2>(g, b, e);
}
#endif

void wino_generic(const WinoArgs& g, int64_t b, int64_t e) {
  if (g.nv == 1)
    wino_blocks<4, 12, 1>(g, b, e);
  else
    wino_blocks<4, 6, 2>(g, b, e);
}

// One filter row or column (a, b, c) through G: (a, (a + b + c) / 2, (a - b + c) / 2, c).
void through_g(const float* in, int64_t stride, float* out, int64_t out_stride) {
  const float a = in[0], b = in[stride], c = in[2 * stride];
  out[0] = a;
  out[out_stride] = 0.5f * ((a + b) + c);
  out[2 * out_stride] = 0.5f * ((a - b) + c);
  out[3 * out_stride] = c;
}

}  // namespace

bool conv3x3_winograd_suits(const ConvShape& s) {
  // The transforms cost per channel what the GEMMs cost per channel pair, so narrow layers lose:
  // 16 x 64 x 64 images, C = K = 16 / 24 / 32 / 64, direct against Winograd on a 2-core Xeon
  // (AVX-512): 1.37 / 1.76, 3.43 / 3.87, 4.37 / 3.62, 18.7 / 9.4 ms. VDSR's first (C = 1) and last
  // (K = 1) layers stay direct.
  return s.is_3x3_zero() && s.C >= 32 && s.K >= 32;
}

void conv3x3_fwd_winograd_cpu(const ConvShape& shape, const float* x, const float* wt, const float* b, bool relu,
                              float* y) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K;
  check_conv3x3_shape(shape, "conv3x3_fwd_winograd_cpu");
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "null tensor");
  VDSR_CHECK(x != y, "conv3x3_fwd_winograd_cpu cannot run in place");

  const Isa isa = cpu_isa();
  const int64_t V = isa_width(isa);
  const int nv = std::max(1, conv_channel_vectors(isa, K));
  const int64_t KB = int64_t(nv) * V;
  const int64_t Kp = (K + KB - 1) / KB * KB, Cp = (C + V - 1) / V * V;

  // U[e][c][k] = (G g_kc G^T)[e], zero in the padded channels.
  std::vector<float> u(size_t(16 * C * Kp), 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = wt + (k * C + c) * 9;
      float gg[4][3], ug[4][4];
      for (int s = 0; s < 3; ++s) through_g(g + s, 3, &gg[0][s], 3);  // G g, column by column
      for (int i = 0; i < 4; ++i) through_g(gg[i], 1, ug[i], 1);      // (G g) G^T, row by row
      for (int e = 0; e < 16; ++e) u[size_t((e * C + c) * Kp + k)] = ug[e / 4][e % 4];
    }
  std::vector<float> bp(size_t(Kp), 0.0f);
  if (b != nullptr) std::copy(b, b + K, bp.begin());

  const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2;
  const int64_t P = conv_block_rows(isa, nv);
  // Four register blocks per block: measured on a 2-core Xeon (AVX-512) at 64x41x41 64 -> 64, 1, 2,
  // 4, 8 and 16 gave 16.5, 15.7, 15.5, 17.3 and 18.7 ms on 2 threads.
  const int64_t Q = 4;
  const WinoArgs args{N, H, W, C, K, Cp, Kp, TH, TW, Q, nv, x, u.data(), bp.data(), relu, y};
  const int64_t blocks = (N * TH * TW + Q * P - 1) / (Q * P);
  // Blocks per task: about a million multiply-adds, as the direct kernel's rows.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 20) / (16 * Q * P * C * Kp));
  parallel_for(blocks, grain, [&](int64_t begin, int64_t end) {
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
      case Isa::kAvx512:
        wino_avx512(args, begin, end);
        break;
      case Isa::kAvx2:
        wino_avx2(args, begin, end);
        break;
#endif
      default:
        wino_generic(args, begin, end);
        break;
    }
  });
}

}  // namespace vdsr
