// Winograd's F(2x2, 3x3) tiles, shared by the CPU forward (conv3x3_fwd_winograd_cpu.cpp) and weight
// gradient (conv3x3_bwd_weight_winograd_cpu.cpp); docs/kernels.md has the math. The outputs of an
// H x W image are cut into TH x TW tiles of 2 x 2 pixels at even rows and columns; tile (ty, tx)
// reads the 4 x 4 inputs at rows 2ty-1 .. 2ty+2 and columns 2tx-1 .. 2tx+2 (zeros outside the
// image). The input transform is V = B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
// additions only.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/conv_cpu_blocking.h"

namespace vdsr {

// Tile t of the flattened (n, ty, tx) index over N images of TH x TW tiles.
struct WinogradTile {
  int64_t n, ty, tx;
  WinogradTile(int64_t t, int64_t TH, int64_t TW) : n(t / (TH * TW)), ty(t / TW % TH), tx(t % TW) {}
};

// The 16 input pixels of tile `tile` (or of no tile: `valid` false gives zeros) as pointers a[i * 4 + j]
// to Cp readable floats each: into x [N][H][W][C], or at `zeros` [Cp] outside the image, or, when C is
// not a whole number of vectors (C < Cp: the last vector would read past the pixel, and past the end
// of x for the last pixel), at the pixel copied into d [16][Cp], whose padding channels are never
// used by the caller.
inline void winograd_tile_inputs(const float* x, int64_t H, int64_t W, int64_t C, int64_t Cp,
                                 const WinogradTile& tile, bool valid, const float* zeros, float* d,
                                 const float* a[16]) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t h = 2 * tile.ty - 1 + i, w = 2 * tile.tx - 1 + j;
      const bool inside = valid && h >= 0 && h < H && w >= 0 && w < W;
      a[i * 4 + j] = inside ? x + ((tile.n * H + h) * W + w) * C : zeros;
      if (C != Cp && inside) {
        float* dst = d + (i * 4 + j) * Cp;
        std::memcpy(dst, a[i * 4 + j], size_t(C) * sizeof(float));
        a[i * 4 + j] = dst;
      }
    }
}

// The input transform of one tile: a[16] (Cp floats each) -> v[e * vstride + c] (e = 4 i + j),
// V channels at a time.
template <int V>
inline __attribute__((always_inline)) void winograd_input_transform(const float* const* a, int64_t Cp, float* v,
                                                                    int64_t vstride) {
  typedef typename FloatVec<V>::type vf;
  for (int64_t c = 0; c < Cp; c += V) {
    vf d[4][4], t[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) std::memcpy(&d[i][j], a[i * 4 + j] + c, sizeof(vf));
    for (int j = 0; j < 4; ++j) {  // B^T d
      t[0][j] = d[0][j] - d[2][j];
      t[1][j] = d[1][j] + d[2][j];
      t[2][j] = d[2][j] - d[1][j];
      t[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; ++i) {  // (B^T d) B
      const vf r[4] = {t[i][0] - t[i][2], t[i][1] + t[i][2], t[i][2] - t[i][1], t[i][1] - t[i][3]};
      for (int j = 0; j < 4; ++j) std::memcpy(v + (i * 4 + j) * vstride + c, &r[j], sizeof(vf));
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
