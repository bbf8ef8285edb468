// cuBLAS rows of vdsr_bench (cublas_baseline.h).
//   Peaks: C = A B with M = N = K = n (2 n^3 FLOP), column-major, random inputs in [-1, 1):
//     fp32 cublasSgemm (default math: FMA, no tensor cores), fp32 data with TF32 tensor cores
//     (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32), bf16 A, B, C with fp32 accumulation.
//     Verified on 64 sampled elements of C against a double sum on the host, which recomputes the
//     inputs from their counter-based generator (bench_hash.h) instead of copying them back.
//   Conv forward at the training shape as im2col + SGEMM: col [P][9C] (P = N H W), weights in KRSC
//     as a K x 9C row-major matrix; y[P][K] = col . W^T, i.e. in cuBLAS' column-major terms
//     y^T (K x P) = W (op T of the 9C x K column-major KRSC array) x col^T (9C x P).
#include "bench/cublas_baseline.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "bench/bench_hash.h"
#include "bench/bench_kernels.cuh"
#include "engine/cuda_check.h"
#include "engine/log.h"
#include "kernels/to_bf16.cuh"

#define VDSR_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                   \
    const cublasStatus_t vdsr_cublas_st_ = (expr);                                       \
    VDSR_CHECK(vdsr_cublas_st_ == CUBLAS_STATUS_SUCCESS, cublasGetStatusString(vdsr_cublas_st_)); \
  } while (0)

namespace vdsr::bench {

namespace {

struct Handle {
  cublasHandle_t h = nullptr;
  explicit Handle(cudaStream_t s) {
    VDSR_CUBLAS_CHECK(cublasCreate(&h));
    VDSR_CUBLAS_CHECK(cublasSetStream(h, s));
    VDSR_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  }
  ~Handle() { cublasDestroy(h); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

constexpr uint32_t kSeedA = 501, kSeedB = 502;

// Relative error of 64 sampled elements of C (column-major n x n) against the double sum.
template <typename Read>
double sample_error(int64_t n, bool bf16_inputs, Read read) {
  double num = 0.0, den = 0.0;
  for (int t = 0; t < 64; ++t) {
    const int64_t i = int64_t(hash32(uint32_t(7 * t + 1)) % uint32_t(n));
    const int64_t j = int64_t(hash32(uint32_t(7 * t + 2)) % uint32_t(n));
    double ref = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      float a = uniform_pm1(kSeedA, i + k * n), b = uniform_pm1(kSeedB, k + j * n);
      if (bf16_inputs) {
        a = round_bf16(a);
        b = round_bf16(b);
      }
      ref += double(a) * double(b);
    }
    const double got = read(i + j * n);
    if (!std::isfinite(got)) return std::numeric_limits<double>::infinity();
    num += (got - ref) * (got - ref);
    den += ref * ref;
  }
  return std::sqrt(num / den);
}

float read_float(const void* base, int64_t idx) {
  float v = 0.0f;
  VDSR_CUDA_CHECK(cudaMemcpy(&v, static_cast<const float*>(base) + idx, sizeof v, cudaMemcpyDeviceToHost));
  return v;
}

float read_bf16(const void* base, int64_t idx) {
  uint16_t h = 0;
  VDSR_CUDA_CHECK(cudaMemcpy(&h, static_cast<const uint16_t*>(base) + idx, sizeof h, cudaMemcpyDeviceToHost));
  const uint32_t bits = uint32_t(h) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

Row gemm_row(int n, const std::string& precision, const std::string& math, const std::string& algo) {
  Row r;
  r.op = "gemm";
  r.shape = std::to_string(n) + "^3";
  r.impl = "cublas";
  r.precision = precision;
  r.math = math;
  r.algo = algo;
  r.flop = 2.0 * double(n) * double(n) * double(n);
  r.ref = "double sums on the host, 64 sampled elements";
  return r;
}

}  // namespace

void cublas_facts(nlohmann::json& meta) {
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  meta["cublas_version"] = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

void cublas_peak_rows(const GpuCtx& ctx, int n, std::vector<Row>& rows) {
  VDSR_CHECK(n >= 64, "--gemm must be at least 64");
  Handle h(ctx.stream);
  const size_t nn = size_t(n) * size_t(n);
  DevFloats a(ctx.device, nn), b(ctx.device, nn), c(ctx.device, nn);
  fill_uniform_cuda(a.get(), int64_t(nn), kSeedA, 0.0f, 1.0f, ctx.stream);
  fill_uniform_cuda(b.get(), int64_t(nn), kSeedB, 0.0f, 1.0f, ctx.stream);
  const float one = 1.0f, zero = 0.0f;

  auto run_case = [&](Row r, double tol, bool bf16, void* out, const std::function<void()>& call) {
    try {
      VDSR_CUDA_CHECK(cudaMemsetAsync(out, 0xFF, nn * (bf16 ? 2 : 4), ctx.stream));
      call();
      sync(ctx.stream);
      r.err = sample_error(n, bf16, [&](int64_t idx) { return double(bf16 ? read_bf16(out, idx) : read_float(out, idx)); });
      if (!(r.err < tol)) {
        r.status = "FAILED: sampled error " + std::to_string(r.err);
      } else {
        time_row(ctx, r, [&](int) { call(); });
      }
    } catch (const std::exception& e) {
      r.status = std::string("FAILED: ") + e.what();
    }
    rows.push_back(r);
  };

  run_case(gemm_row(n, "fp32", "fma", "cublasSgemm, CUBLAS_DEFAULT_MATH"), kFp32Tol, false, c.get(), [&] {
    VDSR_CUBLAS_CHECK(cublasSgemm(h.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.get(), n, b.get(), n,
                                  &zero, c.get(), n));
  });
  run_case(gemm_row(n, "tf32", "tf32-tensor-op", "cublasGemmEx, COMPUTE_32F_FAST_TF32"), kTf32Tol, false,
           c.get(), [&] {
             VDSR_CUBLAS_CHECK(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.get(), CUDA_R_32F, n,
                                            b.get(), CUDA_R_32F, n, &zero, c.get(), CUDA_R_32F, n,
                                            CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
           });
  {
    // bf16 operands and output, fp32 accumulation. The operands are the fp32 inputs rounded.
    Buffer a16(Device::cuda(ctx.device), nn * 2), b16(Device::cuda(ctx.device), nn * 2),
        c16(Device::cuda(ctx.device), nn * 2);
    auto* pa = static_cast<__nv_bfloat16*>(a16.data());
    auto* pb = static_cast<__nv_bfloat16*>(b16.data());
    to_bf16_cuda(a.get(), int64_t(nn), pa, ctx.stream);
    to_bf16_cuda(b.get(), int64_t(nn), pb, ctx.stream);
    run_case(gemm_row(n, "bf16", "bf16-tensor-op", "cublasGemmEx, bf16 in/out, COMPUTE_32F"), kBf16Tol, true,
             c16.data(), [&] {
               VDSR_CUBLAS_CHECK(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, pa, CUDA_R_16BF, n, pb,
                                              CUDA_R_16BF, n, &zero, c16.data(), CUDA_R_16BF, n,
                                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
             });
  }
}

void cublas_im2col_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows) {
  const ConvShape& s = cc.s;
  Row r;
  r.op = "conv3x3_fwd";
  r.shape = cc.shape_text;
  r.impl = "cublas";
  r.precision = "fp32";
  r.math = "fma";
  r.algo = "im2col + cublasSgemm";
  r.flop = conv_flop(s);
  r.ref = "our default variant at the timed shape (no bias, no ReLU)";
  try {
    VDSR_CHECK(cc.ref_error.empty(), cc.ref_error);
    Handle h(ctx.stream);
    const int m = int(s.K), n = int(s.pixels()), k = int(9 * s.C);
    DevFloats col(ctx.device, size_t(s.pixels()) * size_t(k));
    const float one = 1.0f, zero = 0.0f;
    auto im2col = [&](const ConvSet& st) { im2col3x3_cuda(s, st.x, col.get(), ctx.stream); };
    auto gemm = [&](const ConvSet& st) {
      VDSR_CUBLAS_CHECK(cublasSgemm(h.h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, st.w_krsc, k, col.get(), k,
                                    &zero, st.y, m));
    };
    const ConvSet& z = cc.set(0);
    poison(z.y, size_t(s.out_elems()), ctx.stream);
    poison(col.get(), col.n, ctx.stream);
    im2col(z);
    gemm(z);
    sync(ctx.stream);
    r.err = rel_l2(download(z.y, cc.y_plain.size()).data(), cc.y_plain.data(), cc.y_plain.size());
    if (!(r.err < kFp32Tol)) {
      r.status = "FAILED: error " + std::to_string(r.err) + " vs our default";
    } else {
      int reps = 0;
      r.extra["im2col_ms"] = time_ms(ctx, [&](int i) { im2col(cc.set(i)); }, &reps);
      r.extra["sgemm_ms"] = time_ms(ctx, [&](int i) { gemm(cc.set(i)); }, &reps);
      time_row(ctx, r, [&](int i) {
        im2col(cc.set(i));
        gemm(cc.set(i));
      });
    }
  } catch (const std::exception& e) {
    r.status = std::string("FAILED: ") + e.what();
  }
  rows.push_back(r);
}

}  // namespace vdsr::bench
