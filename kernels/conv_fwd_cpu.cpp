// Convolution forward on the CPU, threaded and vectorised; see conv_fwd.h for the math. conv_fwd_cpu
// picks Winograd's F(2x2, 3x3) (conv3x3_fwd_winograd_cpu.cpp) where it suits, else this direct method.
//
// Implicit GEMM over NHWC. The weights are repacked once per call into wp[r][s*C + c][k] (k
// fastest, K padded with zeros to a whole register block) and the bias into bp[k]. For output row
// (n, h) the R input rows h - R/2 .. h + R/2 are held in scratch rows (the previous output row's,
// less one, plus one copied: conv_cpu_blocking.h) with R/2 padding pixels
// on each side (zeros, or copies of the edge pixel for replicate padding) and zeros on the right up
// to a whole number of pixel blocks; a missing row is a row of zeros or, replicating, the nearest
// row (conv_cpu_blocking.h). The R C inputs (s, c) that output pixel w needs from row r are then
// contiguous at row_r[w*C ...], with no border tests anywhere. A register block of P pixels x NV
// vectors of output channels starts from the bias and accumulates broadcast(input) * weight-vector
// over r = 0..R-1, then j = s*C + c in order, the same way for every pixel: an output's arithmetic
// does not depend on where the pixel sits or how rows are split over threads, which is what makes
// tiled output equal whole-image output bit for bit. Padded pixels and channels are computed but
// never stored. K = 1 (the last layer) has its own block, vectorised along j instead of k (a block
// of P pixels, one vector accumulator each, summed across lanes in a fixed order, then a scalar tail
// for R C mod V), rather than wasting 15/16 of every vector on padded channels.
//
// The blocked routine is compiled three times (AVX-512, AVX2+FMA, baseline x86-64 / any target)
// with GCC vector extensions and chosen at run time by the CPU's features; VDSR_CPU_ISA=avx512,
// avx2 or generic forces a path (tests run every path the machine has).
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
#include "kernels/conv_fwd.h"

namespace vdsr {
namespace {

constexpr int64_t kMaxKernel = kMaxBandRows;  // R <= 15: rows of the band as a fixed array

struct FwdArgs {
  int64_t N, H, W, C, K, Kp;  // Kp: K padded to a multiple of the channel block
  int64_t R;                  // kernel size
  bool replicate;             // padding
  int nv;
  const float* x;   // [N][H][W][C]
  const float* wp;  // [R][R C][Kp] (r, s*C + c, k)
  const float* bp;  // [Kp]
  bool relu;
  const float* mask;  // [N][H][W][K] or nullptr: y = mask > 0 ? y : +0, row by row while y is in cache
  float* y;           // [N][H][W][K]
};

// P pixels x (NV * V) channels of one output row. a[r] points at the first pixel's window in padded
// row r (pixel stride C, window R C), wk at wp[0][0][kb], bk at bp[kb]; np pixels and nk channels
// are stored to y (pixel stride K).
template <int V, int P, int NV>
inline __attribute__((always_inline)) void fwd_block(const float* const* a, int64_t C, int64_t R,
                                                     const float* wk, int64_t Kp, const float* bk,
                                                     bool relu, int64_t np, int64_t nk, float* y,
                                                     int64_t K) {
  typedef typename FloatVec<V>::type vf;
  vf acc[P][NV];
  for (int v = 0; v < NV; ++v) {
    vf bv;
    std::memcpy(&bv, bk + v * V, sizeof(vf));
    for (int p = 0; p < P; ++p) acc[p][v] = bv;
  }
  const int64_t J = R * C;
  for (int64_t r = 0; r < R; ++r) {
    const float* ar = a[r];
    const float* wr = wk + r * J * Kp;
    for (int64_t j = 0; j < J; ++j) {
      vf wv[NV];
      for (int v = 0; v < NV; ++v) std::memcpy(&wv[v], wr + j * Kp + v * V, sizeof(vf));
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) {
        const float av = ar[p * C + j];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[p][v] += av * wv[v];
      }
    }
  }
  if (relu) {
    const vf zero = {};
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < NV; ++v) acc[p][v] = acc[p][v] < zero ? zero : acc[p][v];  // NaN passes
  }
  for (int64_t p = 0; p < np; ++p) {
    float* yp = y + p * K;
    if (nk == NV * V) {
      for (int v = 0; v < NV; ++v) std::memcpy(yp + v * V, &acc[p][v], sizeof(vf));
    } else {
      float tmp[NV * V];
      std::memcpy(tmp, acc[p], sizeof(tmp));
      std::memcpy(yp, tmp, size_t(nk) * sizeof(float));
    }
  }
}

// The K = 1 block: P pixels, wk = wp [R][R C], y stride 1.
template <int V, int P>
inline __attribute__((always_inline)) void fwd1_block(const float* const* a, int64_t C, int64_t R,
                                                      const float* wk, float bias, bool relu,
                                                      int64_t np, float* y) {
  typedef typename FloatVec<V>::type vf;
  vf acc[P];
  for (int p = 0; p < P; ++p) acc[p] = vf{};
  const int64_t J = R * C, Jv = J / V * V;
  for (int64_t r = 0; r < R; ++r) {
    const float* ar = a[r];
    const float* wr = wk + r * J;
    for (int64_t j = 0; j < Jv; j += V) {
      vf wv;
      std::memcpy(&wv, wr + j, sizeof(vf));
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) {
        vf av;
        std::memcpy(&av, ar + p * C + j, sizeof(vf));
        acc[p] += av * wv;
      }
    }
  }
  float out[P];
  for (int p = 0; p < P; ++p) {
    float t = bias;
    for (int l = 0; l < V; ++l) t += acc[p][l];
    out[p] = t;
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = Jv; j < J; ++j)
      for (int p = 0; p < P; ++p) out[p] += a[r][p * C + j] * wk[r * J + j];
  for (int64_t p = 0; p < np; ++p) y[p] = relu && out[p] < 0 ? 0.0f : out[p];  // NaN passes
}

// Output rows [row_begin, row_end) of the flattened (n, h) index.
template <int V, int P, int NV>
inline __attribute__((always_inline)) void fwd_rows(const FwdArgs& g, int64_t row_begin,
                                                    int64_t row_end) {
  const int64_t H = g.H, W = g.W, C = g.C, K = g.K, R = g.R;
  const int64_t row_len = ((W + P - 1) / P * P + R - 1) * C;  // whole pixel blocks plus the borders
  AlignedVector<float> buf(size_t((R + 1) * row_len), 0.0f);     // R rows and a row of zeros
  RowBandSlots slots;
  const float* rows[kMaxKernel];
  const float* a[kMaxKernel];
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t n = row / H, h = row % H;
    load_row_band(g.x, n, h, H, W, C, R, g.replicate, buf.data(), row_len, slots, rows);
    float* yrow = g.y + row * W * K;
    if constexpr (NV == 0) {
      for (int64_t w0 = 0; w0 < W; w0 += P) {
        for (int64_t r = 0; r < R; ++r) a[r] = rows[r] + w0 * C;
        fwd1_block<V, P>(a, C, R, g.wp, g.bp[0], g.relu, std::min<int64_t>(P, W - w0), yrow + w0);
      }
    } else {
      for (int64_t kb = 0; kb < g.Kp; kb += NV * V) {
        const int64_t nk = std::min<int64_t>(NV * V, K - kb);
        for (int64_t w0 = 0; w0 < W; w0 += P) {
          for (int64_t r = 0; r < R; ++r) a[r] = rows[r] + w0 * C;
          fwd_block<V, P, NV>(a, C, R, g.wp + kb, g.Kp, g.bp + kb, g.relu,
                              std::min<int64_t>(P, W - w0), nk, yrow + w0 * K + kb, K);
        }
      }
    }
    if (g.mask != nullptr) {  // select rather than multiply: +0 even where the sum is not finite
      const float* mrow = g.mask + row * W * K;
      for (int64_t i = 0; i < W * K; ++i) yrow[i] = mrow[i] > 0 ? yrow[i] : 0.0f;
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) void fwd_rows_avx512(const FwdArgs& g, int64_t b, int64_t e) {
  switch (g.nv) {
    case 0:
      fwd_rows<16, 8, 0>(g, b, e);
      break;
    case 1:
      fwd_rows<16, 24, 1>(g, b, e);
      break;
    case 2:
      fwd_rows<16, 12, 2>(g, b, e);
      break;
    case 3:
      fwd_rows<16, 8, 3>(g, b, e);
      break;
    default:
      fwd_rows<16, 6, 4>(g, b, e);
      break;
  }
}

__attribute__((target("avx2,fma"))) void fwd_rows_avx2(const FwdArgs& g, int64_t b, int64_t e) {
  if (g.nv == 0)
    fwd_rows<8, 8, 0>(g, b, e);
  else if (g.nv == 1)
    fwd_rows<8, 12, 1>(g, b, e);
  else
    fwd_rows<8, 6, 2>(g, b, e);
}
#endif

void fwd_rows_generic(const FwdArgs& g, int64_t b, int64_t e) {
  if (g.nv == 0)
    fwd_rows<4, 8, 0>(g, b, e);
  else if (g.nv == 1)
    fwd_rows<4, 12, 1>(g, b, e);
  else
    fwd_rows<4, 6, 2>(g, b, e);
}

}  // namespace

CpuConvMethod cpu_conv_method() {
  const char* env = std::getenv("VDSR_CPU_CONV");
  const std::string algo = env != nullptr ? env : "";
  if (algo == "" || algo == "auto") return CpuConvMethod::Auto;
  if (algo == "winograd2") return CpuConvMethod::Winograd2;
  if (algo == "direct") return CpuConvMethod::Direct;
  VDSR_USER_FAIL("VDSR_CPU_CONV=" << algo << " is not one of auto, winograd2, direct");
}

const char* cpu_conv_method_name(CpuConvMethod m) {
  return m == CpuConvMethod::Auto ? "auto" : m == CpuConvMethod::Winograd2 ? "winograd2" : "direct";
}

int cpu_conv_fwd_tile(const ConvShape& s) {
  const CpuConvMethod method = cpu_conv_method();
  if (method == CpuConvMethod::Direct || !conv3x3_winograd_suits(s)) return 0;
  return method == CpuConvMethod::Auto ? 4 : 2;
}

int cpu_conv_bwd_weight_tile(const ConvShape& s) {
  return cpu_conv_method() != CpuConvMethod::Direct && conv3x3_winograd_suits(s) ? 2 : 0;
}

int cpu_conv_fwd_reach(const ConvShape& s) { return cpu_conv_fwd_tile(s) == 4 ? 3 : int(s.R / 2); }

void conv_fwd_cpu(const ConvShape& shape, const float* x, const float* wt, const float* b, bool relu, float* y,
                  const float* relu_src) {
  const int tile = cpu_conv_fwd_tile(shape);
  if (tile != 0)
    conv3x3_fwd_winograd_cpu(shape, x, wt, b, relu, y, tile, relu_src);
  else
    conv_fwd_direct_cpu(shape, x, wt, b, relu, y, relu_src);
}

void conv_fwd_direct_cpu(const ConvShape& shape, const float* x, const float* wt, const float* b, bool relu,
                         float* y, const float* relu_src) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K, R = shape.R;
  VDSR_CHECK(N > 0 && H > 0 && W > 0 && C > 0 && K > 0 && R > 0 && R % 2 == 1 && R <= kMaxKernel,
             "bad conv shape N=" << N << " H=" << H << " W=" << W << " C=" << C << " K=" << K << " R=" << R);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "null tensor");
  VDSR_CHECK(x != y && relu_src != y, "conv_fwd_direct_cpu cannot run in place");

  const Isa isa = cpu_isa();
  const int nv = conv_channel_vectors(isa, K);
  const int64_t KB = nv == 0 ? 1 : int64_t(nv) * isa_width(isa);
  const int64_t Kp = (K + KB - 1) / KB * KB;

  AlignedVector<float> wp(size_t(R * R * C * Kp), 0.0f);  // [R][R C][Kp]
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < R; ++s)
          wp[size_t((r * R * C + s * C + c) * Kp + k)] = wt[((k * C + c) * R + r) * R + s];
  AlignedVector<float> bp(size_t(Kp), 0.0f);
  if (b != nullptr) std::copy(b, b + K, bp.begin());

  const FwdArgs args{N, H, W, C, K, Kp, R, shape.pad == Padding::Replicate, nv, x, wp.data(), bp.data(), relu,
                     relu_src, y};
  // Rows per task: enough work (about a million multiply-adds) to hide the scheduling cost.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 20) / (R * R * W * C * Kp));
  parallel_for(N * H, grain, [&](int64_t begin, int64_t end) {
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
      case Isa::kAvx512:
        fwd_rows_avx512(args, begin, end);
        break;
      case Isa::kAvx2:
        fwd_rows_avx2(args, begin, end);
        break;
#endif
      default:
        fwd_rows_generic(args, begin, end);
        break;
    }
  });
}

}  // namespace vdsr
