// The probe rows of vdsr_bench --probes (probe_rows.h).
#include "bench/probe_rows.h"

#include <cuda_bf16.h>

#include <cstring>
#include <limits>
#include <string>

#include "bench/bench_kernels.cuh"
#include "bench/bf16_case.h"
#include "engine/cuda_check.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv_variants.cuh"
#include "kernels/wgrad_finish.h"

namespace vdsr::bench {

namespace {

struct Probe {
  int bits;  // kernels/conv3x3_bf16_variants.cuh
  const char* name;
  bool gemm;  // it runs the GEMM (its TFLOP/s mean something)
};
const Probe kProbes[] = {{0, "the kernel", true},     {6, "GEMM alone", true},  {1, "no GEMM", false},
                         {2, "no tile copies", true}, {4, "no stores", true},   {7, "fixed part", false}};

struct ProbeOp {
  const char* op;
  ConvRole role;
};
const ProbeOp kOps[] = {{"conv3x3_fwd", ConvRole::Fwd},
                        {"conv3x3_bwd_data", ConvRole::BwdData},
                        {"conv3x3_bwd_weight", ConvRole::BwdWeight}};

bool same_bytes(const void* a, const void* b, size_t bytes, cudaStream_t stream) {
  std::vector<unsigned char> ha(bytes), hb(bytes);
  VDSR_CUDA_CHECK(cudaStreamSynchronize(stream));
  VDSR_CUDA_CHECK(cudaMemcpy(ha.data(), a, bytes, cudaMemcpyDeviceToHost));
  VDSR_CUDA_CHECK(cudaMemcpy(hb.data(), b, bytes, cudaMemcpyDeviceToHost));
  return std::memcmp(ha.data(), hb.data(), bytes) == 0;
}

}  // namespace

void ours_probe_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows) {
  const ConvShape& s = cc.s;
  const auto skip = [&](const std::string& why) { rows.push_back(skipped("conv3x3_*", cc.shape_text, "probe", why, "bf16")); };
  if (!conv3x3_bf16_probes_usable()) return skip("the wgmma kernels are not usable on this GPU or in this build");
  Bf16Case bc;
  try {
    bc = make_bf16_case(ctx, cc);
  } catch (const std::exception& e) {
    return skip(std::string("bf16 operands failed: ") + e.what());
  }
  const int chunks = conv3x3_bf16_probe_wgrad_chunks(s);
  DevFloats part(ctx.device, size_t(chunks) * kPartWeights), part_b(ctx.device, size_t(chunks) * kPartBias);
  // The model's operands of each op on set i: bias + ReLU forward, the ReLU mask of x in
  // backward-data (bench/gpu_bench.cpp's bf16 rows, timed the same way).
  const auto run = [&](const ProbeOp& o, int probe, int i) {
    const Bf16Set& b = bc.set(i);
    const ConvSet& f = cc.set(i);
    if (o.role == ConvRole::Fwd)
      conv3x3_bf16_probe_conv(probe, s, b.x, b.wg, f.b, nullptr, true, b.y, ctx.stream);
    else if (o.role == ConvRole::BwdData)
      conv3x3_bf16_probe_conv(probe, s, b.dy, b.wg_flip, nullptr, b.x, false, b.dx, ctx.stream);
    else
      conv3x3_bf16_probe_wgrad(probe, s, b.x, b.dy, part.get(), part_b.get(), ctx.stream);
  };
  for (const ProbeOp& o : kOps) {
    // Probe 0 against the registry's "wgmma-3wg" row on set 0, bit for bit (the weight gradient
    // through the model's ordered finish).
    std::string check;
    try {
      const ConvVariant& v = conv_variant(o.role, Precision::Bf16, "wgmma-3wg");
      const Bf16Set& b = bc.set(0);
      const ConvSet& f = cc.set(0);
      const size_t y_bytes = size_t(s.out_elems()) * sizeof(__nv_bfloat16);
      if (o.role == ConvRole::BwdWeight) {
        DevFloats dw(ctx.device, size_t(s.weight_elems())), db(ctx.device, size_t(s.K));
        v.launch(bwd_weight_launch(s, b.x, b.dy, f.dw, f.db, ctx.stream, ctx.device));
        run(o, 0, 0);
        wgrad_finish_cuda(false, chunks, part.get(), part_b.get(), dw.get(), db.get(), ctx.stream);
        if (!same_bytes(dw.get(), f.dw, dw.n * sizeof(float), ctx.stream) ||
            !same_bytes(db.get(), f.db, db.n * sizeof(float), ctx.stream))
          check = "probe 0 and its finish are not the wgmma-3wg row's bits";
      } else {
        void* out = o.role == ConvRole::Fwd ? static_cast<void*>(b.y) : static_cast<void*>(b.dx);
        Buffer want(Device::cuda(ctx.device), y_bytes);
        v.launch(o.role == ConvRole::Fwd ? fwd_launch(s, b.x, b.wg, f.b, true, out, ctx.stream, ctx.device)
                                         : bwd_data_launch(s, b.dy, b.wg_flip, b.x, out, ctx.stream, ctx.device));
        VDSR_CUDA_CHECK(cudaMemcpyAsync(want.data(), out, y_bytes, cudaMemcpyDeviceToDevice, ctx.stream));
        VDSR_CUDA_CHECK(cudaMemsetAsync(out, 0xFF, y_bytes, ctx.stream));
        run(o, 0, 0);
        if (!same_bytes(out, want.data(), y_bytes, ctx.stream)) check = "probe 0 is not the wgmma-3wg row's bits";
      }
    } catch (const std::exception& e) {
      check = e.what();
    }
    for (const bool warm : {false, true})
      for (const Probe& p : kProbes) {
        Row r;
        r.op = o.op;
        r.shape = cc.shape_text;
        r.impl = "probe";
        r.precision = "bf16";
        r.math = "bf16-tensor-op";
        r.algo = std::string("wgmma-3wg ") + p.name + (warm ? ", inputs in L2" : ", inputs rotated");
        r.flop = p.gemm ? conv_flop(s) : std::numeric_limits<double>::quiet_NaN();
        r.ref = p.bits == 0 ? "the registry's wgmma-3wg row on the same operands, bit for bit"
                            : "not checked: a probe's output is meaningless by design";
        r.extra["probe"] = p.bits;
        r.extra["inputs_in_l2"] = warm;
        if (!check.empty()) {
          r.status = "FAILED: " + check;
        } else {
          try {
            time_row(ctx, r, [&, warm, bits = p.bits](int i) { run(o, bits, warm ? 0 : i); });
          } catch (const std::exception& e) {
            r.status = std::string("FAILED: ") + e.what();
          }
        }
        rows.push_back(r);
      }
  }
}

}  // namespace vdsr::bench
