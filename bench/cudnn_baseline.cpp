// cuDNN rows of vdsr_bench (cudnn_baseline.h). Uses cuDNN's legacy convolution API, deprecated in
// cuDNN 9 but still the simplest way to enumerate and run every algorithm; the deprecation
// warnings are silenced for this file only.
//
// Layouts: x and y (dy, dx) are NHWC tensors, exactly our buffers. The filter is given two ways:
// format NCHW (= KCRS, our OIHW weights as they are) and format NHWC (= KRSC, a transposed copy);
// cuDNN supports some algorithms with one, some with the other.
// Math: the fp32 pass sets CUDNN_FMA_MATH (FMA instructions only). CUDNN_DEFAULT_MATH is NOT
// FMA-only: on Ampere and later it permits TF32 tensor cores for float data. The tf32 pass sets
// CUDNN_TENSOR_OP_MATH and keeps the algorithms cuDNN reports as tensor-op. The bf16 pass gives
// x, w, y (dy, dx, dw) as CUDNN_DATA_BFLOAT16 with fp32 compute (the convolution descriptor's type
// stays CUDNN_DATA_FLOAT: cuDNN's PSEUDO_BFLOAT16_CONFIG, what our bf16 kernels compute), sets
// CUDNN_TENSOR_OP_MATH and, like the tf32 pass, keeps only the tensor-op algorithms.
// Procedure per (pass, op, filter format): cudnnFind*AlgorithmEx lists the algorithms that run
// (status, workspace, reported math); each is then verified on the timed shape and timed by
// time_ms with the same buffer rotation as our kernels. fp32 and tf32 rows are verified against
// our default variant on the same inputs; bf16 rows against our default variant run on the
// bf16-rounded inputs (Bf16Case, check_bf16).
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "bench/cudnn_baseline.h"

#include <cuda_bf16.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>

#include "bench/bench_kernels.cuh"
#include "engine/cuda_check.h"
#include "engine/log.h"
#include "kernels/conv3x3_bwd_data.cuh"
#include "kernels/conv3x3_bwd_weight.cuh"
#include "kernels/conv3x3_fwd.cuh"

#define VDSR_CUDNN_CHECK(expr)                                                                 \
  do {                                                                                         \
    const cudnnStatus_t vdsr_cudnn_st_ = (expr);                                               \
    VDSR_CHECK(vdsr_cudnn_st_ == CUDNN_STATUS_SUCCESS, cudnnGetErrorString(vdsr_cudnn_st_));   \
  } while (0)

namespace vdsr::bench {

namespace {

enum Op { kFwd = 0, kBwdData = 1, kBwdFilter = 2 };
const char* const kOpNames[3] = {"conv3x3_fwd", "conv3x3_bwd_data", "conv3x3_bwd_weight"};

// bf16 rows, verified against our fp32 default on the same bf16 inputs (so only the arithmetic
// differs, never the operands). A product of two bf16 numbers is exact in fp32 (8 + 8 significant
// bits), so both sides sum identical terms; they differ by
//   the rounding of cuDNN's output to bf16: at most 2^-8 of the value (bf16 unit roundoff), and
//   the two fp32 summations of the n terms (orders differ): each within n 2^-23 sum |a||b| of the
//   exact sum (2^-23, not 2^-24, since tensor-core accumulation may truncate).
// Per element: |out - ref| <= 2^-8 |ref| + n 2^-21 sum |a||b| (about twice the sum of the above;
// sum |a||b| is our fp32 default run on the absolute values). Rigorous, so a failure is a bug; it
// is tight for forward and backward-data (n = 9 * 64: about 1% of |ref|) but says little for
// backward-weight (n = N H W). Hence also the relative L2 error below 2^-7: the bf16 output
// rounding gives at most 2^-8 (about 1.6e-3 in practice) and fp32 summation orders some 1e-4,
// while any indexing or layout mistake is of order 1.
constexpr double kBf16OutRound = 1.0 / 256.0;  // 2^-8
constexpr double kBf16SumCoef = 1.0 / 2097152.0;  // 2^-21, times n
constexpr double kBf16RelL2Tol = 1.0 / 128.0;  // 2^-7

const char* algo_name(Op op, int a) {
  static const char* const fwd[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                    "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* const bwd_data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD",
                                         "WINOGRAD_NONFUSED"};
  static const char* const bwd_filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD",
                                           "WINOGRAD_NONFUSED", "FFT_TILING"};
  if (op == kFwd && a >= 0 && a < 8) return fwd[a];
  if (op == kBwdData && a >= 0 && a < 6) return bwd_data[a];
  if (op == kBwdFilter && a >= 0 && a < 7) return bwd_filter[a];
  return "?";
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT_MATH";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP_MATH";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_MATH_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH: return "FMA_MATH";
  }
  return "?";
}

struct Perf {
  int algo = 0;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  float time = 0.0f;
  size_t memory = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool deterministic = false;
};

template <typename P>
Perf to_perf(const P& p) {
  return {int(p.algo), p.status, p.time, p.memory, p.mathType, p.determinism == CUDNN_DETERMINISTIC};
}

struct Handle {
  cudnnHandle_t h = nullptr;
  explicit Handle(cudaStream_t stream) {
    VDSR_CUDNN_CHECK(cudnnCreate(&h));
    VDSR_CUDNN_CHECK(cudnnSetStream(h, stream));
  }
  ~Handle() { cudnnDestroy(h); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// Descriptors of one (shape, data type, filter format); the handle is shared. The compute type
// is fp32 for every data type.
struct Session {
  cudnnHandle_t h = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Session(cudnnHandle_t handle, const ConvShape& s, cudnnDataType_t data, cudnnTensorFormat_t filter_format)
      : h(handle) {
    VDSR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    VDSR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    VDSR_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    VDSR_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    VDSR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, data, int(s.N), int(s.C), int(s.H), int(s.W)));
    VDSR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, data, int(s.N), int(s.K), int(s.H), int(s.W)));
    VDSR_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, data, filter_format, int(s.K), int(s.C), 3, 3));
    VDSR_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT));
  }
  ~Session() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// The operands of one call in the pass's data type (float or bf16). Shapes: x [N][H][W][C],
// w [K][C][3][3] (KCRS), w_krsc [K][3][3][C], dy and y [N][H][W][K], dx [N][H][W][C], dw as the
// session's filter format.
struct Operands {
  const void *x, *w, *w_krsc, *dy;
  void *y, *dx, *dw;
};

Operands operands(const ConvSet& st) { return {st.x, st.w, st.w_krsc, st.dy, st.y, st.dx, st.dw}; }

// The filter is w (KCRS) or w_krsc, matching the session's format.
const void* filter_of(const Operands& st, bool krsc) { return krsc ? st.w_krsc : st.w; }

void run(const Session& ss, Op op, int algo, const Operands& st, bool krsc, void* ws, size_t ws_bytes) {
  const float one = 1.0f, zero = 0.0f;  // float scaling factors for float and bf16 data alike
  switch (op) {
    case kFwd:
      VDSR_CUDNN_CHECK(cudnnConvolutionForward(ss.h, &one, ss.x, st.x, ss.w, filter_of(st, krsc), ss.conv,
                                               cudnnConvolutionFwdAlgo_t(algo), ws, ws_bytes, &zero, ss.y, st.y));
      break;
    case kBwdData:
      VDSR_CUDNN_CHECK(cudnnConvolutionBackwardData(ss.h, &one, ss.w, filter_of(st, krsc), ss.y, st.dy, ss.conv,
                                                    cudnnConvolutionBwdDataAlgo_t(algo), ws, ws_bytes, &zero,
                                                    ss.x, st.dx));
      break;
    case kBwdFilter:
      // Writes dw in the session's filter format into st.dw.
      VDSR_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ss.h, &one, ss.x, st.x, ss.y, st.dy, ss.conv,
                                                      cudnnConvolutionBwdFilterAlgo_t(algo), ws, ws_bytes,
                                                      &zero, ss.w, st.dw));
      break;
  }
}

std::vector<Perf> find(const Session& ss, Op op, const Operands& st, bool krsc, void* ws, size_t ws_bytes) {
  std::vector<Perf> out;
  int n = 0;
  if (op == kFwd) {
    cudnnConvolutionFwdAlgoPerf_t p[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    VDSR_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(ss.h, ss.x, st.x, ss.w, filter_of(st, krsc), ss.conv,
                                                            ss.y, st.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, p,
                                                            ws, ws_bytes));
    for (int i = 0; i < n; ++i) out.push_back(to_perf(p[i]));
  } else if (op == kBwdData) {
    cudnnConvolutionBwdDataAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    VDSR_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(ss.h, ss.w, filter_of(st, krsc), ss.y, st.dy,
                                                                 ss.conv, ss.x, st.dx,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, p, ws,
                                                                 ws_bytes));
    for (int i = 0; i < n; ++i) out.push_back(to_perf(p[i]));
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    VDSR_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(ss.h, ss.x, st.x, ss.y, st.dy, ss.conv, ss.w,
                                                                   st.dw, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                   &n, p, ws, ws_bytes));
    for (int i = 0; i < n; ++i) out.push_back(to_perf(p[i]));
  }
  return out;
}

// bf16 device memory -> the floats it holds (exact).
std::vector<float> download_bf16(const void* d, size_t n) {
  std::vector<uint16_t> h(n);
  VDSR_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = uint32_t(h[i]) << 16;
    std::memcpy(&f[i], &bits, sizeof(float));
  }
  return f;
}

// bf16 copies of a case's operand sets, and what the bf16 rows are verified against: our default
// variant (fp32) run on set 0's bf16 inputs read back exactly, i.e. on the very numbers cuDNN
// multiplies. ref: its outputs (no bias, no ReLU, no mask; dw KCRS); mag: the same ops on the
// absolute values of the inputs, i.e. sum |a||b| over the terms of each output element.
struct Bf16Case {
  std::vector<Buffer> storage;
  std::vector<Operands> sets;  // rotated like ConvCase::sets
  std::vector<float> y_ref, dx_ref, dw_ref, y_mag, dx_mag, dw_mag;
  const Operands& set(int i) const { return sets[size_t(i) % sets.size()]; }
};

Bf16Case make_bf16_case(const GpuCtx& ctx, const ConvCase& cc) {
  const ConvShape& s = cc.s;
  const size_t in = size_t(s.in_elems()), out = size_t(s.out_elems()), wn = size_t(s.weight_elems());
  Bf16Case bc;
  // As many sets as make_conv_case would make for 2-byte elements: the one used next was last
  // touched 2 x L2 of traffic ago.
  const double op_bytes = double(in + out) * sizeof(__nv_bfloat16);
  const int nsets = std::clamp(1 + int(std::ceil(2.0 * double(ctx.l2_bytes) / op_bytes)), 1, 8);
  auto add = [&](size_t n) {
    bc.storage.emplace_back(Device::cuda(ctx.device), std::max<size_t>(n, 1) * sizeof(__nv_bfloat16));
    return static_cast<__nv_bfloat16*>(bc.storage.back().data());
  };
  for (int i = 0; i < nsets; ++i) {
    const ConvSet& src = cc.set(i);
    __nv_bfloat16* x = add(in);
    __nv_bfloat16* w = add(wn);
    __nv_bfloat16* w_krsc = add(wn);
    __nv_bfloat16* dy = add(out);
    __nv_bfloat16* y = add(out);
    __nv_bfloat16* dx = add(in);
    __nv_bfloat16* dw = add(wn);
    to_bf16_cuda(src.x, x, int64_t(in), ctx.stream);
    to_bf16_cuda(src.w, w, int64_t(wn), ctx.stream);
    to_bf16_cuda(src.w_krsc, w_krsc, int64_t(wn), ctx.stream);
    to_bf16_cuda(src.dy, dy, int64_t(out), ctx.stream);
    bc.sets.push_back({x, w, w_krsc, dy, y, dx, dw});
  }
  sync(ctx.stream);

  auto xh = download_bf16(bc.sets[0].x, in);
  auto wh = download_bf16(bc.sets[0].w, wn);
  auto dyh = download_bf16(bc.sets[0].dy, out);
  DevFloats x(ctx.device, in), w(ctx.device, wn), dy(ctx.device, out), y(ctx.device, out), dx(ctx.device, in),
      dw(ctx.device, wn), db(ctx.device, size_t(s.K));
  // Our default's three ops on the current host inputs; outputs poisoned first, so an element the
  // kernel does not write is NaN and caught here.
  auto ours = [&](std::vector<float>& y_out, std::vector<float>& dx_out, std::vector<float>& dw_out) {
    upload(x.get(), xh);
    upload(w.get(), wh);
    upload(dy.get(), dyh);
    poison(y.get(), out, ctx.stream);
    poison(dx.get(), in, ctx.stream);
    poison(dw.get(), wn, ctx.stream);
    conv3x3_fwd_cuda(s, x.get(), w.get(), nullptr, false, y.get(), ctx.stream);
    conv3x3_bwd_data_cuda(s, dy.get(), w.get(), nullptr, dx.get(), ctx.stream);
    conv3x3_bwd_weight_cuda(s, x.get(), dy.get(), dw.get(), db.get(), ctx.stream, ctx.device);
    sync(ctx.stream);
    y_out = download(y.get(), out);
    dx_out = download(dx.get(), in);
    dw_out = download(dw.get(), wn);
    for (const auto* v : {&y_out, &dx_out, &dw_out})
      for (float f : *v) VDSR_CHECK(std::isfinite(f), "non-finite or unwritten element in a bf16 reference");
  };
  ours(bc.y_ref, bc.dx_ref, bc.dw_ref);
  for (auto* v : {&xh, &wh, &dyh})
    for (float& f : *v) f = std::fabs(f);
  ours(bc.y_mag, bc.dx_mag, bc.dw_mag);
  return bc;
}

// The relative L2 error of a bf16 row's output on set 0 against Bf16Case's reference, and the
// largest ratio of an element's error to its bound (see kBf16SumCoef; > 1: outside the bound).
struct Bf16Error {
  double rel_l2 = 0.0;
  double worst = 0.0;
};

Bf16Error check_bf16(const Bf16Case& bc, const ConvShape& s, Op op, bool krsc) {
  const Operands& z = bc.set(0);
  std::vector<float> got;
  const std::vector<float>* ref = nullptr;
  const std::vector<float>* mag = nullptr;
  double terms = 0.0;  // n: products summed per output element
  if (op == kFwd) {
    got = download_bf16(z.y, size_t(s.out_elems()));
    ref = &bc.y_ref;
    mag = &bc.y_mag;
    terms = 9.0 * double(s.C);
  } else if (op == kBwdData) {
    got = download_bf16(z.dx, size_t(s.in_elems()));
    ref = &bc.dx_ref;
    mag = &bc.dx_mag;
    terms = 9.0 * double(s.K);
  } else {
    got = download_bf16(z.dw, size_t(s.weight_elems()));
    if (krsc) got = krsc_to_kcrs(got, s.K, s.C);
    ref = &bc.dw_ref;
    mag = &bc.dw_mag;
    terms = double(s.pixels());
  }
  Bf16Error e;
  e.rel_l2 = rel_l2(got.data(), ref->data(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = double((*ref)[i]), diff = std::abs(double(got[i]) - r);
    const double bound = kBf16OutRound * std::abs(r) + kBf16SumCoef * terms * double((*mag)[i]);
    if (!std::isfinite(diff)) return {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    if (diff > 0.0) e.worst = std::max(e.worst, bound > 0.0 ? diff / bound : std::numeric_limits<double>::infinity());
  }
  return e;
}

// The relative error of the op's output on set 0 against our default (dw converted to KCRS).
double check(const ConvCase& cc, Op op, bool krsc) {
  const ConvSet& z = cc.set(0);
  if (op == kFwd) return rel_l2(download(z.y, cc.y_plain.size()).data(), cc.y_plain.data(), cc.y_plain.size());
  if (op == kBwdData) return rel_l2(download(z.dx, cc.dx_plain.size()).data(), cc.dx_plain.data(), cc.dx_plain.size());
  auto dw = download(z.dw, cc.dw.size());
  if (krsc) dw = krsc_to_kcrs(dw, cc.s.K, cc.s.C);
  return rel_l2(dw.data(), cc.dw.data(), cc.dw.size());
}

// All bytes 0xFF: NaN as float and as bf16.
void poison_output(const GpuCtx& ctx, const ConvShape& s, const Operands& z, Op op, size_t elem_bytes) {
  void* const p = op == kFwd ? z.y : op == kBwdData ? z.dx : z.dw;
  const int64_t n = op == kFwd ? s.out_elems() : op == kBwdData ? s.in_elems() : s.weight_elems();
  VDSR_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, size_t(n) * elem_bytes, ctx.stream));
}

}  // namespace

void cudnn_facts(nlohmann::json& meta) {
  meta["cudnn"] = {{"header_version", CUDNN_VERSION},
                   {"library_version", cudnnGetVersion()},
                   {"library_cudart_version", cudnnGetCudartVersion()}};
}

void cudnn_conv_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows) {
  VDSR_CHECK(cc.ref_error.empty(), cc.ref_error);
  size_t free_b = 0, total_b = 0;
  VDSR_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const size_t ws_bytes = std::min<size_t>(free_b / 4, size_t(8) << 30);
  Buffer ws(Device::cuda(ctx.device), ws_bytes);
  Handle handle(ctx.stream);
  // fp32 rows: FMA math; a row counts only when cuDNN reports FMA (or default) math for it.
  // Error tolerance: FFT and Winograd change the arithmetic, not just the summation order, so
  // fp32 rows get 1e-3 (still far below the O(1) error of a layout or indexing mistake).
  // bf16 rows: relative L2 error below `tol` (kBf16RelL2Tol) and every element within the bound
  // of check_bf16, both against our default on the same bf16 inputs.
  struct Pass {
    const char* precision;
    const char* math;
    cudnnMathType_t request;
    cudnnDataType_t data;
    double tol;
  };
  const Pass passes[3] = {{"fp32", "fma", CUDNN_FMA_MATH, CUDNN_DATA_FLOAT, 1e-3},
                          {"tf32", "tf32-tensor-op", CUDNN_TENSOR_OP_MATH, CUDNN_DATA_FLOAT, kTf32Tol},
                          {"bf16", "bf16-tensor-op", CUDNN_TENSOR_OP_MATH, CUDNN_DATA_BFLOAT16, kBf16RelL2Tol}};
  std::optional<Bf16Case> bc;  // made when the bf16 pass starts
  for (const Pass& pass : passes) {
    const bool bf16 = pass.data == CUDNN_DATA_BFLOAT16;
    if (bf16) {
      try {
        bc.emplace(make_bf16_case(ctx, cc));
      } catch (const std::exception& e) {
        Row r;
        r.op = "conv3x3_*";
        r.shape = cc.shape_text;
        r.impl = "cudnn";
        r.precision = pass.precision;
        r.math = pass.math;
        r.algo = "-";
        r.status = std::string("skipped: bf16 operands or reference failed: ") + e.what();
        rows.push_back(r);
        continue;
      }
    }
    auto set_of = [&](int i) { return bf16 ? bc->set(i) : operands(cc.set(i)); };
    const size_t elem_bytes = bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    for (Op op : {kFwd, kBwdData, kBwdFilter})
      for (bool krsc : {false, true}) {
        const std::string fmt = std::string(krsc ? "filter KRSC" : "filter KCRS") + (bf16 ? ", NHWC" : "");
        Session ss(handle.h, cc.s, pass.data, krsc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW);
        VDSR_CUDNN_CHECK(cudnnSetConvolutionMathType(ss.conv, pass.request));
        std::vector<Perf> found;
        std::string unsupported;
        try {
          found = find(ss, op, set_of(0), krsc, ws.data(), ws_bytes);
        } catch (const std::exception& e) {
          unsupported = std::string("find failed: ") + e.what();
        }
        for (const Perf& p : found) {
          const bool tensor_op = p.math == CUDNN_TENSOR_OP_MATH || p.math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
          if (p.status != CUDNN_STATUS_SUCCESS) {
            unsupported += std::string(unsupported.empty() ? "" : ", ") + algo_name(op, p.algo) + " (" +
                           cudnnGetErrorString(p.status) + ")";
            continue;
          }
          // The tf32 pass keeps only tensor-op results (its FMA ones duplicate the fp32 pass); the
          // bf16 pass too (the like-for-like baseline of our bf16 tensor-core kernels), listing the
          // others with the math cuDNN reported.
          if (bf16 && !tensor_op) {
            unsupported += std::string(unsupported.empty() ? "" : ", ") + algo_name(op, p.algo) + " (" +
                           math_name(p.math) + ", not tensor-op)";
            continue;
          }
          if ((pass.request == CUDNN_FMA_MATH) == tensor_op) continue;
          Row r;
          r.op = kOpNames[op];
          r.shape = cc.shape_text;
          r.impl = "cudnn";
          r.precision = pass.precision;
          r.math = pass.math;
          r.algo = std::string(algo_name(op, p.algo)) + " " + fmt;
          r.flop = conv_flop(cc.s);
          r.ref = bf16 ? "our default variant (fp32) on the same bf16 inputs at the timed shape (no bias, no ReLU)"
                       : "our default variant at the timed shape (no bias, no ReLU)";
          r.extra = {{"algo_enum", p.algo},
                     {"reported_math", math_name(p.math)},
                     {"requested_math", math_name(pass.request)},
                     {"workspace_bytes", p.memory},
                     {"deterministic", p.deterministic},
                     {"find_ms", double(p.time)}};
          try {
            VDSR_CUDNN_CHECK(cudnnSetConvolutionMathType(ss.conv, tensor_op ? p.math : pass.request));
            poison_output(ctx, cc.s, set_of(0), op, elem_bytes);
            run(ss, op, p.algo, set_of(0), krsc, ws.data(), p.memory);
            sync(ctx.stream);
            bool ok = false;
            if (bf16) {
              const Bf16Error e = check_bf16(*bc, cc.s, op, krsc);
              r.err = e.rel_l2;
              r.extra["max_err_over_bound"] = e.worst;
              ok = e.rel_l2 < pass.tol && e.worst <= 1.0;
              if (!ok)
                r.status = "FAILED: error " + std::to_string(e.rel_l2) + " (max over the element bound " +
                           std::to_string(e.worst) + ") vs our default on the same bf16 inputs";
            } else {
              r.err = check(cc, op, krsc);
              ok = r.err < pass.tol;
              if (!ok) r.status = "FAILED: error " + std::to_string(r.err) + " vs our default";
            }
            if (ok)
              r.ms = time_ms(ctx, [&](int i) { run(ss, op, p.algo, set_of(i), krsc, ws.data(), p.memory); },
                             &r.reps);
          } catch (const std::exception& e) {
            r.status = std::string("FAILED: ") + e.what();
          }
          rows.push_back(r);
        }
        if (!unsupported.empty()) {
          Row r;
          r.op = kOpNames[op];
          r.shape = cc.shape_text;
          r.impl = "cudnn";
          r.precision = pass.precision;
          r.math = pass.math;
          r.algo = "(others) " + fmt;
          r.status = "skipped: " + unsupported;
          rows.push_back(r);
        }
      }
  }
}

}  // namespace vdsr::bench
