// Winograd's minimal filtering F(m x m, 3x3) for m = 2 and 4 (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015), shared by the CPU forward (conv3x3_fwd_winograd_cpu.cpp,
// both m) and weight gradient (conv3x3_bwd_weight_winograd_cpu.cpp, m = 2); docs/kernels.md has the
// math. The outputs of an H x W image are cut into TH x TW tiles of m x m pixels at rows and columns
// that are multiples of m; tile (ty, tx) reads the a x a inputs (a = m + 2) at rows m ty - 1 ..
// m ty + m and columns m tx - 1 .. m tx + m (zeros outside the image). With the transforms below,
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// is the tile's m x m outputs of the 3 x 3 filter g over the a x a inputs d.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/conv_cpu_blocking.h"

namespace vdsr {

// The transforms of F(m x m, 3x3), each applied along one axis of a tile (the 2-D transform is the
// 1-D one down every column, then along every row).
template <int M>
struct WinogradF;

// F(2x2, 3x3), interpolation points 0, 1, -1 (and infinity): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
// 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1]. B and A
// hold only 0 and +-1, G only 0, +-1/2 and 1: on small integers every intermediate is a multiple of
// 1/4 and the results are exact, and the transforms add only (no 0 x NaN).
template <>
struct WinogradF<2> {
  static constexpr int kAlpha = 4;
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  // o[i * os] = (B^T d)[i]
  template <class T>
  static inline __attribute__((always_inline)) void input(const T* d, T* o, int os) {
    o[0] = d[0] - d[2];
    o[os] = d[1] + d[2];
    o[2 * os] = d[2] - d[1];
    o[3 * os] = d[1] - d[3];
  }
  // o[r] = (A^T s)[r]
  template <class T>
  static inline __attribute__((always_inline)) void output(const T* s, T* o) {
    o[0] = s[0] + s[1] + s[2];
    o[1] = s[1] - s[2] - s[3];
  }
};

// F(4x4, 3x3), points 0, 1, -1, 2, -2 (and infinity): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0;
// 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1], G = [1/4 0 0; -1/6 -1/6 -1/6;
// -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0;
// 0 1 1 4 4 0; 0 1 -1 8 -8 1]. 36 multiply-adds per 16 outputs where F(2x2) needs 64, but G's
// sixths are not exact in binary and the larger entries (up to 8) grow the rounding: about 8x
// F(2x2)'s error (docs/kernels.md has the figures). An output sums terms from 5 of the 6 input rows
// and columns, which cancel in exact arithmetic only: its bits depend on inputs up to 3 pixels
// beyond its 3 x 3 window, and a NaN input reaches every output of the tiles that read it.
template <>
struct WinogradF<4> {
  static constexpr int kAlpha = 6;
  static constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  template <class T>
  static inline __attribute__((always_inline)) void input(const T* d, T* o, int os) {
    const T p = d[4] - 4.0f * d[2], q = d[3] - 4.0f * d[1], r = d[4] - d[2], s = 2.0f * (d[3] - d[1]);
    o[0] = 4.0f * d[0] + (d[4] - 5.0f * d[2]);
    o[os] = p + q;
    o[2 * os] = p - q;
    o[3 * os] = r + s;
    o[4 * os] = r - s;
    o[5 * os] = 4.0f * d[1] + (d[5] - 5.0f * d[3]);
  }
  template <class T>
  static inline __attribute__((always_inline)) void output(const T* s, T* o) {
    const T s12 = s[1] + s[2], d12 = s[1] - s[2], s34 = s[3] + s[4], d34 = s[3] - s[4];
    o[0] = s[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + s[5];
  }
};

// U[e][c][k] = (G g_kc G^T)[e] of the filters g_kc = wt[k][c] (3 x 3, row-major) of the input
// channels [c0, c1), into u [a a][C][Kp] (e = a i + j; zeros in the padded k >= K), each element
// taken in double and rounded once. The output channel k is the inner loop, so the compiler's
// vectors run over it (the filters come in [K][C][3][3], one strided gather per channel c); c
// ranges write whole rows of U, so threads given disjoint ranges share no cache line.
template <int M>
inline void winograd_filter_transform(const float* wt, int64_t K, int64_t C, int64_t Kp, int64_t c0, int64_t c1,
                                      float* u) {
  constexpr int A = WinogradF<M>::kAlpha;
  const auto& G = WinogradF<M>::kG;
  std::vector<double> g(size_t(9 * K)), gg(size_t(A * 3 * K));  // g [9][K], G g [A][3][K]
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t k = 0; k < K; ++k)
      for (int r = 0; r < 9; ++r) g[size_t(r * K + k)] = double(wt[(k * C + c) * 9 + r]);
    for (int i = 0; i < A; ++i)
      for (int s = 0; s < 3; ++s) {
        const double *g0 = &g[size_t(s * K)], *g1 = &g[size_t((3 + s) * K)], *g2 = &g[size_t((6 + s) * K)];
        double* o = &gg[size_t((i * 3 + s) * K)];
        for (int64_t k = 0; k < K; ++k) o[k] = G[i][0] * g0[k] + G[i][1] * g1[k] + G[i][2] * g2[k];
      }
    for (int i = 0; i < A; ++i) {
      const double *m0 = &gg[size_t(i * 3 * K)], *m1 = m0 + K, *m2 = m1 + K;
      for (int j = 0; j < A; ++j) {
        float* o = u + ((i * A + j) * C + c) * Kp;
        for (int64_t k = 0; k < K; ++k) o[k] = float(m0[k] * G[j][0] + m1[k] * G[j][1] + m2[k] * G[j][2]);
        std::fill(o + K, o + Kp, 0.0f);
      }
    }
  }
}

// Tile t of the flattened (n, ty, tx) index over N images of TH x TW tiles.
struct WinogradTile {
  int64_t n, ty, tx;
  WinogradTile(int64_t t, int64_t TH, int64_t TW) : n(t / (TH * TW)), ty(t / TW % TH), tx(t % TW) {}
};

// The a x a input pixels of tile `tile` (or of no tile: `valid` false gives zeros) as pointers
// p[i * a + j] to Cp readable floats each: into x [N][H][W][C], or at `zeros` [Cp] outside the
// image, or, when C is not a whole number of vectors (C < Cp: the last vector would read past the
// pixel, and past the end of x for the last pixel), at the pixel copied into d [a * a][Cp], whose
// padding channels are never used by the caller.
template <int M>
inline void winograd_tile_inputs(const float* x, int64_t H, int64_t W, int64_t C, int64_t Cp,
                                 const WinogradTile& tile, bool valid, const float* zeros, float* d,
                                 const float** p) {
  constexpr int A = WinogradF<M>::kAlpha;
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) {
      const int64_t h = M * tile.ty - 1 + i, w = M * tile.tx - 1 + j;
      const bool inside = valid && h >= 0 && h < H && w >= 0 && w < W;
      p[i * A + j] = inside ? x + ((tile.n * H + h) * W + w) * C : zeros;
      if (C != Cp && inside) {
        float* dst = d + (i * A + j) * Cp;
        std::memcpy(dst, p[i * A + j], size_t(C) * sizeof(float));
        p[i * A + j] = dst;
      }
    }
}

// The input transform of one tile: p[a * a] (Cp floats each) -> v[e * vstride + c] = (B^T d B)[e]
// (e = a i + j), V channels at a time. scratch: a * a vectors in memory for F(4x4), whose 36 would
// spill from the registers anyway (a prototype ran 2 % faster so than with them left to the
// compiler); F(2x2)'s 16 stay in registers.
template <int M, int V>
inline __attribute__((always_inline)) void winograd_input_transform(const float* const* p, int64_t Cp, float* v,
                                                                    int64_t vstride,
                                                                    typename FloatVec<V>::type* scratch) {
  typedef typename FloatVec<V>::type vf;
  constexpr int A = WinogradF<M>::kAlpha;
  vf regs[A * A];
  vf* t = A * A > 16 ? scratch : regs;
  for (int64_t c = 0; c < Cp; c += V) {
    for (int j = 0; j < A; ++j) {  // B^T d, column by column
      vf d[A];
      for (int i = 0; i < A; ++i) std::memcpy(&d[i], p[i * A + j] + c, sizeof(vf));
      WinogradF<M>::input(d, t + j, A);
    }
    for (int i = 0; i < A; ++i) {  // (B^T d) B, row by row
      vf r[A];
      WinogradF<M>::input(t + i * A, r, 1);
      for (int j = 0; j < A; ++j) std::memcpy(v + (i * A + j) * vstride + c, &r[j], sizeof(vf));
    }
  }
}

// The GEMMs' register block: m[p][0 .. NV V) (+)= sum_{i < n} a[p * a_row + i * a_step] *
// b[i * b_step + 0 .. NV V) for P rows p, the products added in order of i; `accumulate` starts
// from m's values, else from zero. m's rows are m_row floats apart. The forward runs it with
// p = tiles, i = input channels, b = U[e]; the weight gradient with p = output channels, i = tiles,
// b = V[e].
template <int V, int P, int NV>
inline __attribute__((always_inline)) void winograd_gemm_block(const float* a, int64_t a_row, int64_t a_step,
                                                               const float* b, int64_t b_step, int64_t n,
                                                               bool accumulate, float* m, int64_t m_row) {
  typedef typename FloatVec<V>::type vf;
  vf acc[P][NV];
  for (int p = 0; p < P; ++p)
    for (int q = 0; q < NV; ++q) {
      acc[p][q] = vf{};
      if (accumulate) std::memcpy(&acc[p][q], m + p * m_row + q * V, sizeof(vf));
    }
  for (int64_t i = 0; i < n; ++i) {
    vf bv[NV];
    for (int q = 0; q < NV; ++q) std::memcpy(&bv[q], b + i * b_step + q * V, sizeof(vf));
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
      const float av = a[p * a_row + i * a_step];
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) acc[p][q] += av * bv[q];
    }
  }
  for (int p = 0; p < P; ++p)
    for (int q = 0; q < NV; ++q) std::memcpy(m + p * m_row + q * V, &acc[p][q], sizeof(vf));
}

}  // namespace vdsr
