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
// time_row with the same buffer rotation as our kernels. fp32 and tf32 rows are verified against
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
#include "bench/bf16_case.h"
#include "engine/cuda_check.h"
#include "engine/device.h"
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

// cuDNN's view of a bf16 operand set.
Operands operands(const Bf16Set& b) { return {b.x, b.w, b.w_krsc, b.dy, b.y, b.dx, b.dw}; }

// check_bf16 on the output of `op` in set 0 (dw converted from KRSC when the session used it).
Bf16Error check_cudnn_bf16(const Bf16Case& bc, const ConvShape& s, Op op, bool krsc) {
  const Bf16Set& z = bc.set(0);
  if (op == kFwd) return check_bf16(bc, s, 0, download_bf16(z.y, size_t(s.out_elems())));
  if (op == kBwdData) return check_bf16(bc, s, 1, download_bf16(z.dx, size_t(s.in_elems())));
  auto dw = download_bf16(z.dw, size_t(s.weight_elems()));
  if (krsc) dw = krsc_to_kcrs(dw, s.K, s.C);
  return check_bf16(bc, s, 2, dw);
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
  const uint64_t free_b = cuda_memory_info(Device::cuda(ctx.device)).free_bytes;
  const size_t ws_bytes = std::min<size_t>(size_t(free_b / 4), size_t(8) << 30);
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
    if (!ctx.wants(pass.precision)) continue;
    if (const std::string why = ctx.out_of_time ? ctx.out_of_time() : ""; !why.empty()) {
      rows.push_back(skipped("conv3x3_*", cc.shape_text, "cudnn", why, pass.precision));
      continue;
    }
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
    auto set_of = [&](int i) { return bf16 ? operands(bc->set(i)) : operands(cc.set(i)); };
    const size_t elem_bytes = bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    for (Op op : {kFwd, kBwdData, kBwdFilter})
      for (bool krsc : {false, true}) {
        const std::string fmt = std::string(krsc ? "filter KRSC" : "filter KCRS") + (bf16 ? ", NHWC" : "");
        // At 1080p each (pass, op, layout) searches and times every algorithm: tens of seconds, so
        // --time-limit is checked before each, not only before the group.
        if (const std::string why = ctx.out_of_time ? ctx.out_of_time() : ""; !why.empty()) {
          Row r = skipped(kOpNames[op], cc.shape_text, "cudnn", why + ", " + fmt, pass.precision);
          r.math = pass.math;
          rows.push_back(r);
          continue;
        }
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
              const Bf16Error e = check_cudnn_bf16(*bc, cc.s, op, krsc);
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
              time_row(ctx, r, [&](int i) { run(ss, op, p.algo, set_of(i), krsc, ws.data(), p.memory); });
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
