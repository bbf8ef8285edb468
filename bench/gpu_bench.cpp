// GPU rows of vdsr_bench (gpu_bench.h). Every row is verified before it is timed:
//   ours, per op and registry row (kernels/conv_variants.cuh): against the CPU double reference
//     on a small shape (2x13x17, 64->64, bias + ReLU forward, ReLU mask in backward-data), then
//     at the timed shape against our default variant (for the default itself: a second run, which
//     must be bit-identical);
//   ours bf16 (tensor cores): against our fp32 default on the same bf16 inputs at the timed shape
//     (bench/bf16_case.h: per-element bound and relative L2 error), no bias / ReLU / mask;
//   ours tf32 (tensor cores): against our fp32 default on the same fp32 inputs at the timed shape
//     (relative L2 error within kTf32Tol, as cuDNN's tf32 rows), no bias / ReLU / mask;
//   ours, the bf16 mode's thin first and last layers (bench/thin_rows.h): against the CPU double
//     reference on a small shape, then against the default thin row at the timed shape;
//   ours, the weight gradient's ordered finish alone (bench/finish_rows.h): both thread orders
//     against the CPU's finish of the same partials, bit for bit;
//   --probes, the bf16 wgmma kernels with parts switched off (bench/probe_rows.h): probe 0 (the
//     kernel itself) against the registry's row bit for bit, the others not (meaningless outputs);
//   cuDNN and cuBLAS convs: against our default variant at the timed shape (no bias, no ReLU);
//   the training iteration and inference: GPU model against the CPU model on a small shape.
#include "bench/gpu_bench.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>

#include "bench/bench_kernels.cuh"
#include "bench/bf16_case.h"
#include "bench/cublas_baseline.h"
#include "bench/finish_rows.h"
#include "bench/gpu_common.h"
#include "bench/probe_rows.h"
#include "bench/thin_rows.h"
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/log.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv3x3_gemm_weights.cuh"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/conv_fwd.h"
#include "kernels/conv_variants.cuh"
#include "kernels/kernel_launch.cuh"
#include "model/vdsr.h"
#ifdef VDSR_BENCH_HAVE_CUDNN
#include "bench/cudnn_baseline.h"
#endif

namespace vdsr::bench {

namespace {

// Rows are named by op as the records have always named them; each row of ours is one registry
// row (kernels/conv_variants.cuh), or the default (the registry's first usable row).
enum Op { kFwd = 0, kBwdData = 1, kBwdWeight = 2 };
const char* const kOpNames[3] = {"conv3x3_fwd", "conv3x3_bwd_data", "conv3x3_bwd_weight"};
ConvRole role_of(Op op) { return op == kFwd ? ConvRole::Fwd : op == kBwdData ? ConvRole::BwdData : ConvRole::BwdWeight; }

// A tensor-core precision's rows that could not be set up: skipped on a GPU without tensor cores
// (compute below 8.0), where they cannot run; FAILED on one with them, where the cause is ours,
// under the row's precision, so that a verification run counts it (vdsr_bench exits 1).
Row tensor_rows_not_run(const ConvCase& cc, const char* precision, const std::string& why) {
  Row r = skipped("conv3x3_*", cc.shape_text, "ours", why, precision);
  if (current_device_cc() >= 80) r.status = "FAILED: " + why;
  return r;
}

// Our fp32 kernels at s: the default first (null: the registry's choice), then every usable row;
// "general" (any shape, one thread per output: as slow as "direct", and never VDSR's choice at its
// 3x3 layers) is left out above the training shape, where it would cost seconds of the budget.
std::vector<const ConvVariant*> fp32_jobs(const GpuCtx& ctx, Op op, const ConvShape& s) {
  std::vector<const ConvVariant*> jobs{nullptr};
  const bool large = s.N * s.H * s.W > int64_t(64) * 41 * 41;
  for (const ConvVariant* v : usable_conv_variants(role_of(op), Precision::Fp32, s, ctx.device))
    if (!(large && s.is_3x3_zero() && std::string(v->name) == "general")) jobs.push_back(v);
  return jobs;
}

std::string variant_label(const GpuCtx& ctx, Op op, const ConvShape& s, const ConvVariant* v) {
  if (v == nullptr) return std::string("default (") + default_conv_variant(role_of(op), Precision::Fp32, s, ctx.device).name + ")";
  return v->name;
}

// Runs one of our ops on `st` the way the network does (bias + ReLU; ReLU mask of x).
void run_ours(const GpuCtx& ctx, Op op, const ConvVariant* v, const ConvShape& s, const ConvSet& st) {
  const ConvLaunch a = op == kFwd       ? fwd_launch(s, st.x, st.w, st.b, true, st.y, ctx.stream, ctx.device)
                       : op == kBwdData ? bwd_data_launch(s, st.dy, st.w, st.x, st.dx, ctx.stream, ctx.device)
                                        : bwd_weight_launch(s, st.x, st.dy, st.dw, st.db, ctx.stream, ctx.device);
  if (v == nullptr)
    launch_default_conv(role_of(op), Precision::Fp32, a);
  else
    v->launch(a);
}

// Our op, variant v, on the small shape against the CPU double reference: the relative error of
// the output (backward-weight: dw and db together).
double verify_small(const GpuCtx& ctx, Op op, const ConvVariant* v) {
  const ConvShape s{2, 13, 17, 64, 64};
  const auto x = random_floats(size_t(s.in_elems()), 11, -1.0f, 1.0f);
  const auto w = random_floats(size_t(s.weight_elems()), 12, -0.1f, 0.1f);
  const auto b = random_floats(size_t(s.K), 13, -0.1f, 0.1f);
  const auto dy = random_floats(size_t(s.out_elems()), 14, -1.0f, 1.0f);
  DevFloats x_d(ctx.device, x.size()), w_d(ctx.device, w.size()), b_d(ctx.device, b.size()),
      dy_d(ctx.device, dy.size()), y_out(ctx.device, size_t(s.out_elems())), dx_out(ctx.device, x.size()),
      dw_out(ctx.device, w.size()), db_out(ctx.device, b.size());
  upload(x_d.get(), x);
  upload(w_d.get(), w);
  upload(b_d.get(), b);
  upload(dy_d.get(), dy);
  const ConvSet st{x_d.get(),   w_d.get(),  nullptr,     b_d.get(),   dy_d.get(),
                   y_out.get(), dx_out.get(), dw_out.get(), db_out.get()};
  poison(st.y, size_t(s.out_elems()), ctx.stream);
  poison(st.dx, x.size(), ctx.stream);
  poison(st.dw, w.size(), ctx.stream);
  poison(st.db, b.size(), ctx.stream);
  run_ours(ctx, op, v, s, st);
  sync(ctx.stream);
  if (op == kFwd) {
    std::vector<double> ref(size_t(s.out_elems()));
    conv_fwd_ref(s, to_double(x).data(), to_double(w).data(), to_double(b).data(), true, ref.data());
    return rel_l2(download(st.y, ref.size()).data(), ref.data(), ref.size());
  }
  if (op == kBwdData) {
    std::vector<double> ref(x.size());
    conv3x3_bwd_data_ref(s, to_double(dy).data(), to_double(w).data(), to_double(x).data(), ref.data());
    return rel_l2(download(st.dx, ref.size()).data(), ref.data(), ref.size());
  }
  std::vector<double> rw(w.size()), rb(b.size());
  conv3x3_bwd_weight_ref(s, to_double(x).data(), to_double(dy).data(), rw.data(), rb.data());
  return std::max(rel_l2(download(st.dw, rw.size()).data(), rw.data(), rw.size()),
                  rel_l2(download(st.db, rb.size()).data(), rb.data(), rb.size()));
}

// The header of one of our conv rows at a case's shape.
Row ours_row(const ConvCase& cc, Op op, const char* precision, const char* math, std::string algo,
             const char* ref) {
  Row r;
  r.op = kOpNames[op];
  r.shape = cc.shape_text;
  r.impl = "ours";
  r.precision = precision;
  r.math = math;
  r.algo = std::move(algo);
  r.flop = conv_flop(cc.s);
  r.ref = ref;
  return r;
}

Row ours_conv_row(const GpuCtx& ctx, const ConvCase& cc, Op op, const ConvVariant* v) {
  Row r = ours_row(cc, op, "fp32", "fma", variant_label(ctx, op, cc.s, v),
                   "CPU double ref at 2x13x17 64->64; our default variant at the timed shape");
  if (op == kFwd) r.algo += " +bias+relu";
  if (op == kBwdData) r.algo += " +relu-mask";
  try {
    const double small = verify_small(ctx, op, v);
    r.extra["small_shape_rel_err"] = small;
    r.err = small;
    if (!(small < kFp32Tol)) {
      r.status = "FAILED: small-shape error " + std::to_string(small) + " vs the CPU double ref";
      return r;
    }
    if (!cc.ref_error.empty()) {
      r.status = "FAILED: " + cc.ref_error;
      return r;
    }
    const ConvSet& z = cc.set(0);
    const ConvShape& s = cc.s;
    poison(z.y, size_t(s.out_elems()), ctx.stream);
    poison(z.dx, size_t(s.in_elems()), ctx.stream);
    poison(z.dw, size_t(s.weight_elems()), ctx.stream);
    poison(z.db, size_t(s.K), ctx.stream);
    run_ours(ctx, op, v, s, z);
    sync(ctx.stream);
    double big = 0.0;
    if (op == kFwd) big = rel_l2(download(z.y, cc.y_real.size()).data(), cc.y_real.data(), cc.y_real.size());
    if (op == kBwdData) big = rel_l2(download(z.dx, cc.dx_real.size()).data(), cc.dx_real.data(), cc.dx_real.size());
    if (op == kBwdWeight)
      big = std::max(rel_l2(download(z.dw, cc.dw.size()).data(), cc.dw.data(), cc.dw.size()),
                     rel_l2(download(z.db, cc.db.size()).data(), cc.db.data(), cc.db.size()));
    r.extra["timed_shape_rel_err_vs_default"] = big;
    // The default against itself must be bit-identical (determinism).
    if (v == nullptr && big != 0.0) {
      r.status = "FAILED: two runs of the default differ (rel " + std::to_string(big) + ")";
      return r;
    }
    if (!(big < kFp32Tol)) {
      r.status = "FAILED: timed-shape error " + std::to_string(big) + " vs our default";
      return r;
    }
    time_row(ctx, r, [&](int i) { run_ours(ctx, op, v, s, cc.set(i)); });
  } catch (const std::exception& e) {
    r.status = std::string("FAILED: ") + e.what();
  }
  return r;
}

// Our bf16 tensor-core kernels (64 -> 64): verified plain against the bf16 oracle on set 0, then
// timed the way the network runs them (bias + ReLU forward, ReLU mask of x in backward-data).
void ours_bf16_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows) {
  const ConvShape& s = cc.s;
  const char* const what[3] = {" bf16 +bias+relu", " bf16 +relu-mask", " bf16 split over pixels"};
  Bf16Case bc;
  try {
    bc = make_bf16_case(ctx, cc);
  } catch (const std::exception& e) {
    rows.push_back(tensor_rows_not_run(cc, "bf16", std::string("bf16 operands or oracle failed: ") + e.what()));
    return;
  }
  auto run = [&](Op op, const ConvVariant* v, const Bf16Set& b, const ConvSet& f, bool plain) {
    v->launch(op == kFwd       ? fwd_launch(s, b.x, b.wg, plain ? nullptr : f.b, !plain, b.y, ctx.stream, ctx.device)
              : op == kBwdData ? bwd_data_launch(s, b.dy, b.wg_flip, plain ? nullptr : b.x, b.dx, ctx.stream, ctx.device)
                               : bwd_weight_launch(s, b.x, b.dy, f.dw, f.db, ctx.stream, ctx.device));
  };
  // Every bf16 row of the registry this GPU runs at this shape.
  std::vector<std::pair<Op, const ConvVariant*>> jobs;
  for (Op op : {kFwd, kBwdData, kBwdWeight})
    for (const ConvVariant* v : usable_conv_variants(role_of(op), Precision::Bf16, s, ctx.device)) jobs.emplace_back(op, v);
  for (Op op : {kFwd, kBwdData, kBwdWeight})  // every role has a row on a GPU with tensor cores
    if (std::none_of(jobs.begin(), jobs.end(), [op = op](const auto& j) { return j.first == op; }))
      rows.push_back(
          tensor_rows_not_run(cc, "bf16", std::string("no bf16 ") + kOpNames[op] + " kernel usable at this shape"));
  for (const auto& [op, v] : jobs) {
    Row r = ours_row(cc, op, "bf16", "bf16-tensor-op", std::string(v->name) + what[op],
                     "our fp32 default on the same bf16 inputs at the timed shape (no bias, no ReLU, no mask)");
    try {
      const Bf16Set& b = bc.set(0);
      const ConvSet& f = cc.set(0);
      VDSR_CUDA_CHECK(cudaMemsetAsync(b.y, 0xFF, size_t(s.out_elems()) * 2, ctx.stream));
      VDSR_CUDA_CHECK(cudaMemsetAsync(b.dx, 0xFF, size_t(s.in_elems()) * 2, ctx.stream));
      poison(f.dw, size_t(s.weight_elems()), ctx.stream);
      poison(f.db, size_t(s.K), ctx.stream);
      run(op, v, b, f, true);
      sync(ctx.stream);
      const std::vector<float> got = op == kFwd       ? download_bf16(b.y, size_t(s.out_elems()))
                                     : op == kBwdData ? download_bf16(b.dx, size_t(s.in_elems()))
                                                      : download(f.dw, size_t(s.weight_elems()));
      const Bf16Error e = check_bf16(bc, s, int(op), got);
      // The bias gradient beside dw (NaN if unwritten, which fails the comparison).
      const std::vector<float> db = op == kBwdWeight ? download(f.db, size_t(s.K)) : std::vector<float>();
      const double db_err = op == kBwdWeight ? rel_l2(db.data(), bc.db_ref.data(), db.size()) : 0.0;
      r.err = std::max(e.rel_l2, db_err);
      r.extra["max_err_over_bound"] = e.worst;
      if (op == kBwdWeight) r.extra["db_rel_err"] = db_err;
      if (e.rel_l2 < kBf16RelL2Tol && e.worst <= 1.0 && db_err < kBf16RelL2Tol)
        time_row(ctx, r, [&, op = op, v = v](int i) { run(op, v, bc.set(i), cc.set(i), false); });
      else
        r.status = "FAILED: error " + std::to_string(e.rel_l2) + " (max over the element bound " +
                   std::to_string(e.worst) + (op == kBwdWeight ? "; db " + std::to_string(db_err) : std::string()) +
                   ") vs our fp32 default on the same bf16 inputs";
    } catch (const std::exception& e) {
      r.status = std::string("FAILED: ") + e.what();
    }
    rows.push_back(r);
  }
}

// Our tf32 tensor-core kernels (64 -> 64), every slice width usable at this shape: verified on set
// 0 against our fp32 default, plain and the way the network runs them, then timed that way. Each
// buffer set gets its own tf32 GEMM weight copies, made from its fp32 weights.
void ours_tf32_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows) {
  const ConvShape& s = cc.s;
  if (!cc.ref_error.empty()) {
    rows.push_back(tensor_rows_not_run(cc, "tf32", "tf32 rows need our fp32 reference: " + cc.ref_error));
    return;
  }
  const char* const what[3] = {" tf32 +bias+relu", " tf32 +relu-mask", " tf32 split over pixels"};
  std::vector<DevFloats> wg, wg_flip;
  try {
    require_tf32_tensor_cores("vdsr_bench tf32 rows");
    for (const ConvSet& f : cc.sets) {
      wg.emplace_back(ctx.device, size_t(s.weight_elems()));
      wg_flip.emplace_back(ctx.device, size_t(s.weight_elems()));
      conv3x3_weights_tf32_cuda(f.w, int(s.K), int(s.C), false, wg.back().get(), ctx.stream);
      conv3x3_weights_tf32_cuda(f.w, int(s.K), int(s.C), true, wg_flip.back().get(), ctx.stream);
    }
  } catch (const std::exception& e) {
    rows.push_back(tensor_rows_not_run(cc, "tf32", std::string("tf32: ") + e.what()));
    return;
  }
  auto run = [&](Op op, const ConvVariant* v, int i, bool plain) {
    const ConvSet& f = cc.set(i);
    const size_t k = size_t(i) % cc.sets.size();
    v->launch(op == kFwd ? fwd_launch(s, f.x, wg[k].get(), plain ? nullptr : f.b, !plain, f.y, ctx.stream, ctx.device)
              : op == kBwdData
                  ? bwd_data_launch(s, f.dy, wg_flip[k].get(), plain ? nullptr : f.x, f.dx, ctx.stream, ctx.device)
                  : bwd_weight_launch(s, f.x, f.dy, f.dw, f.db, ctx.stream, ctx.device));
  };
  // Every tf32 row of the registry this GPU runs at this shape.
  std::vector<std::pair<Op, const ConvVariant*>> jobs;
  for (Op op : {kFwd, kBwdData, kBwdWeight})
    for (const ConvVariant* v : usable_conv_variants(role_of(op), Precision::Tf32, s, ctx.device)) jobs.emplace_back(op, v);
  for (Op op : {kFwd, kBwdData, kBwdWeight})  // every role has a row on a GPU with tensor cores
    if (std::none_of(jobs.begin(), jobs.end(), [op = op](const auto& j) { return j.first == op; }))
      rows.push_back(
          tensor_rows_not_run(cc, "tf32", std::string("no tf32 ") + kOpNames[op] + " kernel usable at this shape"));
  for (const auto& [op, v] : jobs) {
    Row r = ours_row(cc, op, "tf32", "tf32-tensor-op", std::string(v->name) + what[op],
                     "our fp32 default on the same inputs at the timed shape, plain (no bias, no ReLU, no mask) "
                     "and as timed (bias + ReLU forward, ReLU mask backward-data)");
    try {
      const ConvSet& f = cc.set(0);
      poison(f.y, size_t(s.out_elems()), ctx.stream);
      poison(f.dx, size_t(s.in_elems()), ctx.stream);
      poison(f.dw, size_t(s.weight_elems()), ctx.stream);
      poison(f.db, size_t(s.K), ctx.stream);
      run(op, v, 0, true);
      sync(ctx.stream);
      double err = 0.0;
      if (op == kFwd) err = rel_l2(download(f.y, cc.y_plain.size()).data(), cc.y_plain.data(), cc.y_plain.size());
      if (op == kBwdData) err = rel_l2(download(f.dx, cc.dx_plain.size()).data(), cc.dx_plain.data(), cc.dx_plain.size());
      if (op == kBwdWeight)
        err = std::max(rel_l2(download(f.dw, cc.dw.size()).data(), cc.dw.data(), cc.dw.size()),
                       rel_l2(download(f.db, cc.db.size()).data(), cc.db.data(), cc.db.size()));
      if (op != kBwdWeight) {  // the epilogue the timed calls run: the fused bias + ReLU, or the mask
        poison(op == kFwd ? f.y : f.dx, size_t(op == kFwd ? s.out_elems() : s.in_elems()), ctx.stream);
        run(op, v, 0, false);
        sync(ctx.stream);
        const std::vector<float>& want = op == kFwd ? cc.y_real : cc.dx_real;
        const std::vector<float> got = download(op == kFwd ? f.y : f.dx, want.size());
        err = std::max(err, rel_l2(got.data(), want.data(), want.size()));
      }
      r.err = err;
      if (err < kTf32Tol)
        time_row(ctx, r, [&, op = op, v = v](int i) { run(op, v, i, false); });
      else
        r.status = "FAILED: error " + std::to_string(err) + " vs our fp32 default on the same inputs";
    } catch (const std::exception& e) {
      r.status = std::string("FAILED: ") + e.what();
    }
    rows.push_back(r);
  }
}

// The model rows are checked against the CPU model (fp32) before they are timed: fp32 within
// kFp32Tol, bf16 within kBf16ModelTol (bf16 feature maps over 20 layers: about 1% of the signal,
// tests/gpu/test_model_cuda.cpp), tf32 within kTf32ModelTol (only the operands rounded, 8x finer:
// about 0.1%).
constexpr double kBf16ModelTol = 5e-2;
constexpr double kTf32ModelTol = 1e-2;

const char* model_math(Precision prec) {
  return prec == Precision::Bf16 ? "bf16-tensor-op" : prec == Precision::Tf32 ? "tf32-tensor-op" : "fma";
}
double model_tol(Precision prec) {
  return prec == Precision::Bf16 ? kBf16ModelTol : prec == Precision::Tf32 ? kTf32ModelTol : kFp32Tol;
}

Row train_row(const GpuCtx& ctx, int batch, Precision prec, bool graphs) {
  Row r;
  r.op = "train_iteration";
  r.shape = std::to_string(batch) + "x41x41";
  r.impl = "ours";
  r.precision = precision_name(prec);
  r.math = model_math(prec);
  r.algo = std::string("Vdsr::train_step_async, ") +
           (graphs ? "one CUDA graph per iteration" : "kernels launched one by one");
  r.ref = "CPU model, one step at 2x13x17 (loss, norm, gradients)";
  const double tol = model_tol(prec);
  try {
    StepOptions so;
    so.lr = 1e-4;  // keeps the weights sane over the repeats on random data
    {
      // One step on the CPU and on the GPU from the same weights and data.
      const int64_t N = 2, H = 13, W = 17;
      const auto x = random_floats(size_t(N * H * W), 21, 0.0f, 1.0f);
      const auto t = random_floats(x.size(), 22, 0.0f, 1.0f);
      Vdsr cpu(VdsrConfig{}, Device::cpu()), gpu(VdsrConfig{}, Device::cuda(ctx.device));
      cpu.init_he(5);
      gpu.init_he(5);
      gpu.set_precision(prec);
      DevFloats dx(ctx.device, x.size()), dt(ctx.device, t.size());
      upload(dx.get(), x);
      upload(dt.get(), t);
      const StepStats a = cpu.train_step(N, H, W, x.data(), t.data(), so);
      const StepStats b = gpu.train_step(N, H, W, dx.get(), dt.get(), so);
      const auto ga = std::vector<float>(cpu.grads(), cpu.grads() + cpu.num_params());
      const auto gb = download(gpu.grads(), size_t(gpu.num_params()));
      const double eg = rel_l2(gb.data(), ga.data(), ga.size());
      const double el = std::abs(b.loss - a.loss) / std::abs(a.loss);
      const double en = std::abs(b.grad_norm - a.grad_norm) / std::abs(a.grad_norm);
      r.err = std::max({eg, el, en});
      r.extra["grad_rel_err"] = eg;
      r.extra["loss_rel_err"] = el;
      r.extra["norm_rel_err"] = en;
      if (!(r.err < tol)) {
        r.status = "FAILED: GPU step differs from the CPU step (rel " + std::to_string(r.err) + ")";
        return r;
      }
    }
    Vdsr m(VdsrConfig{}, Device::cuda(ctx.device));
    m.init_he(1);
    m.set_precision(prec);
    m.set_use_graphs(graphs);
    const size_t n = size_t(batch) * 41 * 41;
    DevFloats x(ctx.device, n), t(ctx.device, n);
    fill_uniform_cuda(x.get(), int64_t(n), 31, 0.5f, 0.5f, ctx.stream);
    fill_uniform_cuda(t.get(), int64_t(n), 32, 0.5f, 0.5f, ctx.stream);
    r.flop = train_step_flop(m.layers(), int64_t(n));
    time_row(ctx, r, [&](int) { m.train_step_async(batch, 41, 41, x.get(), t.get(), so); });
    const StepStats st = m.read_stats();
    r.extra["samples_per_s"] = batch / (r.ms * 1e-3);
    r.extra["last_loss"] = st.loss;
    r.extra["graph_replays"] = double(m.graph_replays());
    if (m.first_nonfinite_step() >= 0 || !std::isfinite(st.loss))
      r.status = "FAILED: non-finite loss while timing";
    else if (graphs && m.graph_replays() == 0)  // recording failed and the steps ran eagerly
      r.status = "FAILED: labelled one CUDA graph per iteration, but no step was replayed from a graph";
  } catch (const std::exception& e) {
    r.status = std::string("FAILED: ") + e.what();
  }
  return r;
}

Row inference_row(const GpuCtx& ctx, int H, int W, Precision prec) {
  Row r;
  r.op = "inference";
  r.shape = "1x" + std::to_string(H) + "x" + std::to_string(W);
  r.impl = "ours";
  r.precision = precision_name(prec);
  r.math = model_math(prec);
  r.algo = "Vdsr::forward, default variants";
  const double tol = model_tol(prec);
  r.ref = "CPU model forward at 1x37x53; all outputs finite at the timed shape";
  try {
    {
      const int64_t h = 37, w = 53;
      const auto x = random_floats(size_t(h * w), 41, 0.0f, 1.0f);
      Vdsr cpu(VdsrConfig{}, Device::cpu()), gpu(VdsrConfig{}, Device::cuda(ctx.device));
      cpu.init_he(6);
      gpu.init_he(6);
      gpu.set_precision(prec);
      std::vector<float> ya(x.size());
      cpu.forward(1, h, w, x.data(), ya.data());
      DevFloats dx(ctx.device, x.size()), dy(ctx.device, x.size());
      upload(dx.get(), x);
      poison(dy.get(), x.size(), ctx.stream);
      gpu.forward(1, h, w, dx.get(), dy.get());
      sync(ctx.stream);
      r.err = rel_l2(download(dy.get(), x.size()).data(), ya.data(), ya.size());
      if (!(r.err < tol)) {
        r.status = "FAILED: GPU forward differs from the CPU forward (rel " + std::to_string(r.err) + ")";
        return r;
      }
    }
    Vdsr m(VdsrConfig{}, Device::cuda(ctx.device));
    m.init_he(1);
    m.set_precision(prec);
    const size_t n = size_t(H) * size_t(W);
    DevFloats x(ctx.device, n), y(ctx.device, n);
    fill_uniform_cuda(x.get(), int64_t(n), 42, 0.5f, 0.5f, ctx.stream);
    poison(y.get(), n, ctx.stream);
    r.flop = 2.0 * double(weight_count(m.config())) * double(n);
    time_row(ctx, r, [&](int) { m.forward(1, H, W, x.get(), y.get()); });
    for (float v : download(y.get(), n))
      if (!std::isfinite(v)) {
        r.status = "FAILED: non-finite output at the timed shape";
        break;
      }
  } catch (const std::exception& e) {
    r.status = std::string("FAILED: ") + e.what();
  }
  return r;
}

void log_rows(const std::vector<Row>& rows, size_t from) {
  for (size_t i = from; i < rows.size(); ++i) {
    const Row& r = rows[i];
    char ms[32] = "-";
    if (r.ok()) std::snprintf(ms, sizeof ms, "%.4f ms", r.ms);
    log_info("[bench] " + r.op + " " + r.shape + " | " + r.impl + " " + r.precision + "/" + r.math +
             " | " + r.algo + " | " + ms + " | " + r.status);
  }
}


}  // namespace

void list_kernels(int device, int batch) {
  // VDSR's three layer shapes at the training batch: the hidden layers' and the thin first and last.
  const ConvShape shapes[3] = {{batch, 41, 41, 64, 64}, {batch, 41, 41, 1, 64}, {batch, 41, 41, 64, 1}};
  std::printf("%-10s %-5s %-18s at %lldx41x41 (64->64: the hidden layers, 1->64 / 64->1: the thin ones)\n", "role",
              "math", "kernel", static_cast<long long>(batch));
  for (const ConvVariant& v : conv_variants()) {
    std::string dflt, usable;
    for (const ConvShape& s : shapes) {
      if (!v.usable(s, device)) continue;
      const std::string c = std::to_string(s.C) + "->" + std::to_string(s.K);
      std::string& list = &default_conv_variant(v.role, v.precision, s, device) == &v ? dflt : usable;
      list += (list.empty() ? "" : ", ") + c;
    }
    const std::string text = !dflt.empty() ? "default at " + dflt + (usable.empty() ? "" : "; usable at " + usable)
                             : !usable.empty() ? "usable at " + usable
                                               : "not usable here";
    std::printf("%-10s %-5s %-18s %s\n", conv_role_name(v.role), precision_name(v.precision), v.name, text.c_str());
  }
}

void run_gpu_benchmarks(const GpuOptions& opt, std::vector<Row>& rows, nlohmann::json& meta) {
  // Logs the rows from `from` on and hands all rows so far to the checkpoint.
  const auto progress = [&](size_t from) {
    log_rows(rows, from);
    if (opt.checkpoint) opt.checkpoint(rows);
  };
  // "" until --time-limit has passed, then why a row is not started.
  const auto out_of_time = [&opt]() -> std::string {
    if (opt.time_limit_s <= 0) return "";
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - opt.started).count();
    if (s < opt.time_limit_s) return "";
    char why[96];
    std::snprintf(why, sizeof why, "--time-limit %g s reached (%.0f s in)", opt.time_limit_s, s);
    return why;
  };
  // True once --time-limit has passed; then it also appends the row that says what is left out.
  const auto late = [&](const std::string& op, const std::string& shape, const std::string& impl,
                        const std::string& precision) {
    const std::string why = out_of_time();
    if (why.empty()) return false;
    rows.push_back(skipped(op, shape, impl, why, precision));
    return true;
  };
  VDSR_CUDA_CHECK(cudaSetDevice(opt.device));
  cudaDeviceProp prop{};
  VDSR_CUDA_CHECK(cudaGetDeviceProperties(&prop, opt.device));
  GpuCtx ctx;
  ctx.device = opt.device;
  ctx.stream = cuda_stream(opt.device);
  ctx.reps = opt.reps;
  ctx.runs = opt.runs;
  ctx.precision = opt.precision;
  ctx.out_of_time = out_of_time;
  ctx.l2_bytes = size_t(prop.l2CacheSize);
  int runtime = 0, driver = 0;
  VDSR_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  VDSR_CUDA_CHECK(cudaDriverGetVersion(&driver));
  meta["gpu"] = {{"name", prop.name},
                 {"index", opt.device},
                 {"sm_count", prop.multiProcessorCount},
                 {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
                 {"l2_bytes", prop.l2CacheSize},
                 {"memory_bytes", prop.totalGlobalMem}};
  meta["cuda_runtime_version"] = runtime;
  meta["cuda_driver_api_version"] = driver;
  meta["timing"] = {{"max_reps", opt.reps}, {"min_reps", kMinReps}, {"warmup", kWarmup},
                    {"row_budget_ms", ctx.row_budget_ms}, {"runs", ctx.runs},
                    {"statistic", "median of per-call CUDA event times (with runs > 1: the median of the runs' medians)"}};
  log_info(std::string("[bench] GPU ") + prop.name + ", " + std::to_string(prop.multiProcessorCount) +
           " SMs, L2 " + std::to_string(prop.l2CacheSize >> 20) + " MiB");
  if (opt.cublas) cublas_facts(meta);
#ifdef VDSR_BENCH_HAVE_CUDNN
  if (opt.cudnn) cudnn_facts(meta);
#else
  meta["cudnn"] = "not found at build time";
#endif

  if (opt.cublas && !late("gemm", std::to_string(opt.gemm) + "^3", "cublas", "all")) {
    const size_t from = rows.size();
    try {
      cublas_peak_rows(ctx, opt.gemm, rows);
    } catch (const std::exception& e) {
      rows.push_back(skipped("gemm", std::to_string(opt.gemm) + "^3", "cublas", std::string("error: ") + e.what()));
    }
    progress(from);
  }

  // The training shape at each conv batch (--conv-batches; else --batch), then the 1080p frame.
  std::vector<ConvShape> shapes;
  for (const int b : opt.conv_batches.empty() ? std::vector<int>{opt.batch} : opt.conv_batches)
    shapes.push_back({b, 41, 41, 64, 64});
  if (opt.hd_convs) shapes.push_back({1, opt.hd_h, opt.hd_w, 64, 64});
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvShape& s = shapes[si];
    if (late("conv3x3_*", conv_shape_text(s), "all", ctx.precision)) {
      progress(rows.size() - 1);
      continue;
    }
    log_info("[bench] conv shape " + conv_shape_text(s) + ": preparing buffers and references");
    ConvCase cc;
    try {
      cc = make_conv_case(ctx, s);
    } catch (const std::exception& e) {  // this shape's rows fail; the others and the JSON go on
      Row r = skipped("conv3x3_*", conv_shape_text(s), "ours", "");
      r.status = std::string("FAILED: buffers and references for this shape: ") + e.what();
      rows.push_back(r);
      continue;
    }
    meta["conv_buffer_sets"][cc.shape_text] = cc.sets.size();
    if (!cc.ref_error.empty()) log_warning("[bench] " + cc.ref_error);
    if (opt.ours && ctx.wants("fp32"))
      for (Op op : {kFwd, kBwdData, kBwdWeight})
        for (const ConvVariant* v : fp32_jobs(ctx, op, s)) {
          if (!late(kOpNames[op], cc.shape_text, "ours", "fp32")) rows.push_back(ours_conv_row(ctx, cc, op, v));
          progress(rows.size() - 1);
        }
    if (opt.ours) {
      const size_t from = rows.size();
      // A group that throws past its own rows' checks is a FAILED row, not the end of the run
      // (and of its JSON).
      const auto group = [&](const char* precision, const char* what, const std::function<void()>& fn) {
        if (late(std::string("conv3x3_* ") + what, cc.shape_text, "ours", precision)) return;
        try {
          fn();
        } catch (const std::exception& e) {
          Row r = skipped("conv3x3_*", cc.shape_text, "ours", what, precision);
          r.status = std::string("FAILED: ") + what + ": " + e.what();
          rows.push_back(r);
        }
      };
      if (ctx.wants("bf16")) group("bf16", "bf16 rows", [&] { ours_bf16_rows(ctx, cc, rows); });
      if (ctx.wants("bf16"))  // the first and last layers
        group("bf16", "thin rows", [&] { ours_thin_rows(ctx, s.N, s.H, s.W, rows); });
      if (ctx.wants("bf16") && opt.probes) group("bf16", "probe rows", [&] { ours_probe_rows(ctx, cc, rows); });
      if (ctx.wants("tf32")) group("tf32", "tf32 rows", [&] { ours_tf32_rows(ctx, cc, rows); });
      progress(from);
    }
    if (opt.cudnn && !late("conv3x3_*", cc.shape_text, "cudnn", ctx.precision)) {
      const size_t from = rows.size();
#ifdef VDSR_BENCH_HAVE_CUDNN
      try {
        cudnn_conv_rows(ctx, cc, rows);
      } catch (const std::exception& e) {
        rows.push_back(skipped("conv3x3_*", cc.shape_text, "cudnn", std::string("error: ") + e.what()));
      }
#else
      rows.push_back(skipped("conv3x3_*", cc.shape_text, "cudnn", "cuDNN not found at build time"));
#endif
      progress(from);
    }
    if (opt.cublas && si == 0 && ctx.wants("fp32") && !late("conv3x3_fwd", cc.shape_text, "cublas", "fp32")) {
      const size_t from = rows.size();
      try {
        cublas_im2col_rows(ctx, cc, rows);
      } catch (const std::exception& e) {
        rows.push_back(skipped("conv3x3_fwd", cc.shape_text, "cublas", std::string("error: ") + e.what()));
      }
      progress(from);
    }
  }
  // The weight gradient's ordered finish alone, at one partial per SM (bf16 and tf32 run it).
  if (opt.ours && (ctx.wants("bf16") || ctx.wants("tf32")) &&
      !late("wgrad_finish", "-", "ours", ctx.wants("bf16") ? "bf16" : "tf32")) {
    const size_t from = rows.size();
    try {
      ours_finish_rows(ctx, prop.multiProcessorCount, rows);
    } catch (const std::exception& e) {
      Row r = skipped("wgrad_finish", "-", "ours", "", ctx.wants("bf16") ? "bf16" : "tf32");
      r.status = std::string("FAILED: the finish rows: ") + e.what();
      rows.push_back(r);
    }
    progress(from);
  }
  if (opt.ours) {
    const std::vector<int> batches = opt.train_batches.empty() ? std::vector<int>{opt.batch} : opt.train_batches;
    for (const Precision prec : {Precision::Fp32, Precision::Tf32, Precision::Bf16})
      for (const int batch : batches)
        for (const bool graphs : {true, false}) {
          if (!ctx.wants(precision_name(prec))) continue;
          if (!late("train_iteration", std::to_string(batch) + "x41x41", "ours", precision_name(prec)))
            rows.push_back(train_row(ctx, batch, prec, graphs));
          progress(rows.size() - 1);
        }
    for (const Precision prec : {Precision::Fp32, Precision::Tf32, Precision::Bf16}) {
      if (!ctx.wants(precision_name(prec))) continue;
      const std::string frame = "1x" + std::to_string(opt.hd_h) + "x" + std::to_string(opt.hd_w);
      if (!late("inference", frame, "ours", precision_name(prec)))
        rows.push_back(inference_row(ctx, opt.hd_h, opt.hd_w, prec));
      progress(rows.size() - 1);
    }
  }
}

}  // namespace vdsr::bench
