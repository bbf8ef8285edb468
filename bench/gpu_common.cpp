// GPU plumbing of vdsr_bench (gpu_common.h).
#include "bench/gpu_common.h"

#include <algorithm>
#include <cmath>

#include "bench/bench_kernels.cuh"
#include "engine/cuda_check.h"
#include "kernels/conv_variants.cuh"

namespace vdsr::bench {

namespace {

// The time of fn(first), ..., fn(first + count - 1) queued back to back between two events, in ms.
float span_ms(const GpuCtx& ctx, const std::function<void(int)>& fn, int first, int count) {
  cudaEvent_t a, b;
  VDSR_CUDA_CHECK(cudaEventCreate(&a));
  VDSR_CUDA_CHECK(cudaEventCreate(&b));
  VDSR_CUDA_CHECK(cudaEventRecord(a, ctx.stream));
  for (int i = 0; i < count; ++i) fn(first + i);
  VDSR_CUDA_CHECK(cudaEventRecord(b, ctx.stream));
  VDSR_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0.0f;
  VDSR_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  VDSR_CUDA_CHECK(cudaEventDestroy(a));
  VDSR_CUDA_CHECK(cudaEventDestroy(b));
  return ms;
}

}  // namespace

Timing time_calls(const GpuCtx& ctx, const std::function<void(int)>& fn) {
  for (int i = 0; i < kWarmup; ++i) fn(i);
  sync(ctx.stream);
  const float est = span_ms(ctx, fn, kWarmup, 1);
  // Slow rows (some cuDNN algorithms at 1080p) get fewer repeats, never fewer than kMinReps.
  const int n = std::clamp(int(ctx.row_budget_ms / std::max(double(est), 1e-3)), kMinReps,
                           std::max(ctx.reps, kMinReps));
  std::vector<cudaEvent_t> ev(size_t(n) + 1);
  for (auto& e : ev) VDSR_CUDA_CHECK(cudaEventCreate(&e));
  VDSR_CUDA_CHECK(cudaEventRecord(ev[0], ctx.stream));
  for (int i = 0; i < n; ++i) {
    fn(kWarmup + 1 + i);
    VDSR_CUDA_CHECK(cudaEventRecord(ev[size_t(i) + 1], ctx.stream));
  }
  VDSR_CUDA_CHECK(cudaEventSynchronize(ev.back()));
  std::vector<double> t(size_t(n), 0.0);
  for (size_t i = 0; i < t.size(); ++i) {
    float ms = 0.0f;
    VDSR_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
    t[i] = double(ms);
  }
  for (auto& e : ev) VDSR_CUDA_CHECK(cudaEventDestroy(e));
  // The cross-check: another block of calls with events at its two ends only, so that what the
  // events between calls add (or hide, by separating a launch from the kernel before it) shows as
  // a difference from the per-call median. A quarter as many calls (at least 2) keeps its cost low.
  const int m = std::max(2, n / 4);
  const float block = span_ms(ctx, fn, kWarmup + 1 + n, m);
  VDSR_CUDA_CHECK(cudaGetLastError());
  Timing out;
  out.ms = median(std::move(t));
  out.block_ms = double(block) / m;
  out.reps = n;
  out.block_reps = m;
  return out;
}

double time_ms(const GpuCtx& ctx, const std::function<void(int)>& fn, int* reps_used) {
  const Timing t = time_calls(ctx, fn);
  if (reps_used != nullptr) *reps_used = t.reps;
  return t.ms;
}

void time_row(const GpuCtx& ctx, Row& r, const std::function<void(int)>& fn) {
  std::vector<double> blocks;
  r.run_ms.clear();
  for (int k = 0; k < std::max(ctx.runs, 1); ++k) {
    const Timing t = time_calls(ctx, fn);
    r.run_ms.push_back(t.ms);
    blocks.push_back(t.block_ms);
    r.reps = t.reps;
  }
  r.ms = median(r.run_ms);
  r.block_ms = median(std::move(blocks));
}

Row skipped(const std::string& op, const std::string& shape, const std::string& impl, const std::string& why,
            const std::string& precision) {
  Row r;
  r.op = op;
  r.shape = shape;
  r.impl = impl;
  r.precision = precision;
  r.math = "-";
  r.algo = "-";
  r.status = "skipped: " + why;
  return r;
}

DevFloats::DevFloats(int device, size_t count)
    : buf(Device::cuda(device), std::max<size_t>(count, 1) * sizeof(float)), n(count) {}

std::vector<float> download(const float* d, size_t n) {
  std::vector<float> h(n);
  VDSR_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

void upload(float* d, const std::vector<float>& h) {
  VDSR_CUDA_CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
}

void poison(float* d, size_t n, cudaStream_t stream) {
  VDSR_CUDA_CHECK(cudaMemsetAsync(d, 0xFF, n * sizeof(float), stream));
}

void sync(cudaStream_t stream) {
  VDSR_CUDA_CHECK(cudaStreamSynchronize(stream));
  VDSR_CUDA_CHECK(cudaGetLastError());
}

std::vector<float> kcrs_to_krsc(const std::vector<float>& w, int64_t K, int64_t C) {
  std::vector<float> o(w.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t rs = 0; rs < 9; ++rs) o[size_t((k * 9 + rs) * C + c)] = w[size_t((k * C + c) * 9 + rs)];
  return o;
}

std::vector<float> krsc_to_kcrs(const std::vector<float>& w, int64_t K, int64_t C) {
  std::vector<float> o(w.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t rs = 0; rs < 9; ++rs) o[size_t((k * C + c) * 9 + rs)] = w[size_t((k * 9 + rs) * C + c)];
  return o;
}

ConvCase make_conv_case(const GpuCtx& ctx, const ConvShape& s) {
  ConvCase cc;
  cc.s = s;
  cc.shape_text = conv_shape_text(s);
  // Enough sets that the one used next was last touched 2 x L2 of traffic ago.
  const double op_bytes = double(s.in_elems() + s.out_elems()) * sizeof(float);
  const int nsets = std::clamp(1 + int(std::ceil(2.0 * double(ctx.l2_bytes) / op_bytes)), 1, 8);
  const size_t in = size_t(s.in_elems()), out = size_t(s.out_elems()), wn = size_t(s.weight_elems());
  uint32_t seed = 1000;
  for (int i = 0; i < nsets; ++i) {
    auto add = [&](size_t n) {
      cc.storage.emplace_back(ctx.device, n);
      return cc.storage.back().get();
    };
    ConvSet st{};
    st.x = add(in);
    st.w = add(wn);
    st.w_krsc = add(wn);
    st.b = add(size_t(s.K));
    st.dy = add(out);
    st.y = add(out);
    st.dx = add(in);
    st.dw = add(wn);
    st.db = add(size_t(s.K));
    // Activations in [-1, 1) (half of them masked by the ReLU in backward-data), weights of He
    // scale for C = 64 (std ~ 0.06), biases small.
    fill_uniform_cuda(st.x, int64_t(in), seed++, 0.0f, 1.0f, ctx.stream);
    fill_uniform_cuda(st.dy, int64_t(out), seed++, 0.0f, 1.0f, ctx.stream);
    fill_uniform_cuda(st.w, int64_t(wn), seed++, 0.0f, 0.1f, ctx.stream);
    fill_uniform_cuda(st.b, s.K, seed++, 0.0f, 0.1f, ctx.stream);
    sync(ctx.stream);
    upload(st.w_krsc, kcrs_to_krsc(download(st.w, wn), s.K, s.C));
    for (float* p : {st.y, st.dx}) poison(p, p == st.y ? out : in, ctx.stream);
    poison(st.dw, wn, ctx.stream);
    poison(st.db, size_t(s.K), ctx.stream);
    cc.sets.push_back(st);
  }
  sync(ctx.stream);
  const ConvSet& z = cc.sets[0];
  try {
    // Each reference output is poisoned first, so an element the kernel does not write is NaN.
    auto fwd = [&](const float* b, bool relu) {
      poison(z.y, out, ctx.stream);
      launch_default_conv(ConvRole::Fwd, Precision::Fp32, fwd_launch(s, z.x, z.w, b, relu, z.y, ctx.stream, ctx.device));
      sync(ctx.stream);
      return download(z.y, out);
    };
    auto bwd_data = [&](const float* relu_src) {
      poison(z.dx, in, ctx.stream);
      launch_default_conv(ConvRole::BwdData, Precision::Fp32,
                          bwd_data_launch(s, z.dy, z.w, relu_src, z.dx, ctx.stream, ctx.device));
      sync(ctx.stream);
      return download(z.dx, in);
    };
    cc.y_plain = fwd(nullptr, false);
    cc.y_real = fwd(z.b, true);
    cc.dx_plain = bwd_data(nullptr);
    cc.dx_real = bwd_data(z.x);
    poison(z.dw, wn, ctx.stream);
    poison(z.db, size_t(s.K), ctx.stream);
    launch_default_conv(ConvRole::BwdWeight, Precision::Fp32,
                        bwd_weight_launch(s, z.x, z.dy, z.dw, z.db, ctx.stream, ctx.device));
    sync(ctx.stream);
    cc.dw = download(z.dw, wn);
    cc.db = download(z.db, size_t(s.K));
    for (const auto* v : {&cc.y_plain, &cc.y_real, &cc.dx_plain, &cc.dx_real, &cc.dw, &cc.db})
      for (float f : *v) VDSR_CHECK(std::isfinite(f), "non-finite or unwritten element in an output");
  } catch (const std::exception& e) {
    cc.ref_error = std::string("our default variant failed at this shape: ") + e.what();
    cc.y_plain.clear();
    cc.y_real.clear();
    cc.dx_plain.clear();
    cc.dx_real.clear();
    cc.dw.clear();
    cc.db.clear();
  }
  return cc;
}

}  // namespace vdsr::bench
