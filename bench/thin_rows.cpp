// Thin-layer rows of vdsr_bench (thin_rows.h). Each row is verified twice before it is timed:
// on a small batch (2 x 13 x 17) against the CPU double reference computed from the very bf16
// values the kernel reads, and at the timed shape against the registry's default row (the default
// against a second run of itself, bit for bit; the other rows within the tolerance, the record
// saying whether their bits agree: the rows today sum in the default's order, so they should).
// Buffer sets rotate between timed calls so that the working set exceeds L2, as for the 64 -> 64
// rows.
#include "bench/thin_rows.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "bench/bf16_case.h"
#include "engine/cuda_check.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/conv_variants.cuh"
#include "kernels/to_bf16.cuh"

namespace vdsr::bench {

namespace {

struct ThinOp {
  const char* op;
  ConvRole role;
  bool last;          // the last layer (64 -> 1), else the first (1 -> 64)
  const char* what;   // the fused work, as the row's algorithm says it
  bool bf16_out;      // the output is a bf16 map (else fp32)
};
const ThinOp kOps[] = {
    {"conv3x3_fwd", ConvRole::Fwd, false, " +bias+relu", true},
    {"conv3x3_fwd", ConvRole::Fwd, true, " +bias+residual", false},
    {"conv3x3_bwd_data", ConvRole::BwdData, true, " +relu-mask", true},
    {"conv3x3_bwd_weight", ConvRole::BwdWeight, false, " split over pixels", false},
    {"conv3x3_bwd_weight", ConvRole::BwdWeight, true, " split over pixels", false},
};

ConvShape shape_of(const ThinOp& t, int64_t N, int64_t H, int64_t W) {
  return t.last ? ConvShape{N, H, W, 64, 1} : ConvShape{N, H, W, 1, 64};
}

// One set of operands: the one-channel side fp32 (plane, skip; y_plane the last layer's output),
// the 64-channel side bf16 (map, mask; y_map the first layer's output or the last's dx).
struct ThinSet {
  DevFloats plane, skip, wt, b, y_plane, dw, db;
  Buffer map, mask, y_map;
};

__nv_bfloat16* bf(Buffer& b) { return static_cast<__nv_bfloat16*>(b.data()); }

ThinSet make_set(const GpuCtx& ctx, int64_t P, uint32_t seed) {
  ThinSet t;
  const Device dev = Device::cuda(ctx.device);
  const auto up = [&](DevFloats& d, size_t n, float lo, float hi) {
    d = DevFloats(ctx.device, n);
    upload(d.get(), random_floats(n, ++seed, lo, hi));
  };
  const auto up_bf16 = [&](Buffer& d, size_t n, float lo, float hi) {
    DevFloats f;
    up(f, n, lo, hi);
    d = Buffer(dev, n * 2);
    to_bf16_cuda(f.get(), int64_t(n), bf(d), ctx.stream);
    sync(ctx.stream);
  };
  up(t.plane, size_t(P), -1.0f, 1.0f);
  up(t.skip, size_t(P), 0.0f, 1.0f);
  up(t.wt, 64 * 9, -0.1f, 0.1f);
  up(t.b, 64, -0.1f, 0.1f);
  up_bf16(t.map, size_t(P) * 64, -1.0f, 1.0f);
  up_bf16(t.mask, size_t(P) * 64, -1.0f, 1.0f);
  t.y_plane = DevFloats(ctx.device, size_t(P));
  t.dw = DevFloats(ctx.device, 64 * 9);
  t.db = DevFloats(ctx.device, 64);
  t.y_map = Buffer(dev, size_t(P) * 64 * 2);
  return t;
}

ConvLaunch launch_of(const GpuCtx& ctx, const ThinOp& t, const ConvShape& s, ThinSet& d) {
  if (t.role == ConvRole::Fwd && !t.last)
    return fwd_launch(s, d.plane.get(), d.wt.get(), d.b.get(), true, d.y_map.data(), ctx.stream, ctx.device);
  if (t.role == ConvRole::Fwd) {
    ConvLaunch a = fwd_launch(s, d.map.data(), d.wt.get(), d.b.get(), false, d.y_plane.get(), ctx.stream, ctx.device);
    a.skip = d.skip.get();
    return a;
  }
  if (t.role == ConvRole::BwdData)
    return bwd_data_launch(s, d.plane.get(), d.wt.get(), d.mask.data(), d.y_map.data(), ctx.stream, ctx.device);
  return t.last ? bwd_weight_launch(s, d.map.data(), d.plane.get(), d.dw.get(), d.db.get(), ctx.stream, ctx.device)
                : bwd_weight_launch(s, d.plane.get(), d.map.data(), d.dw.get(), d.db.get(), ctx.stream, ctx.device);
}

// The op's output as floats (weight gradient: dw then db).
std::vector<float> output(const ThinOp& t, const ConvShape& s, ThinSet& d) {
  const size_t P = size_t(s.pixels());
  if (t.role == ConvRole::BwdWeight) {
    std::vector<float> o = download(d.dw.get(), 64 * 9);
    const std::vector<float> b = download(d.db.get(), t.last ? 1 : 64);
    o.insert(o.end(), b.begin(), b.end());
    return o;
  }
  return t.bf16_out ? download_bf16(d.y_map.data(), P * 64) : download(d.y_plane.get(), P);
}

void poison_outputs(const GpuCtx& ctx, const ConvShape& s, ThinSet& d) {
  const size_t P = size_t(s.pixels());
  poison(d.y_plane.get(), P, ctx.stream);
  poison(d.dw.get(), 64 * 9, ctx.stream);
  poison(d.db.get(), 64, ctx.stream);
  VDSR_CUDA_CHECK(cudaMemsetAsync(d.y_map.data(), 0xFF, P * 64 * 2, ctx.stream));
}

// The CPU double reference of op t on set d's values (the map side read back as the kernel sees it).
std::vector<double> reference(const ThinOp& t, const ConvShape& s, ThinSet& d) {
  const size_t P = size_t(s.pixels());
  const std::vector<double> plane = to_double(download(d.plane.get(), P)), wt = to_double(download(d.wt.get(), 64 * 9)),
                            b = to_double(download(d.b.get(), 64)),
                            map = to_double(download_bf16(d.map.data(), P * 64));
  if (t.role == ConvRole::Fwd && !t.last) {
    std::vector<double> y(P * 64);
    conv_fwd_ref(s, plane.data(), wt.data(), b.data(), true, y.data());
    return y;
  }
  if (t.role == ConvRole::Fwd) {
    std::vector<double> y(P);
    conv_fwd_ref(s, map.data(), wt.data(), b.data(), false, y.data());
    const std::vector<float> skip = download(d.skip.get(), P);
    for (size_t p = 0; p < P; ++p) y[p] += double(skip[p]);
    return y;
  }
  if (t.role == ConvRole::BwdData) {
    std::vector<double> dx(P * 64);
    const std::vector<double> mask = to_double(download_bf16(d.mask.data(), P * 64));
    conv3x3_bwd_data_ref(s, plane.data(), wt.data(), mask.data(), dx.data());
    return dx;
  }
  std::vector<double> dw(64 * 9), db(t.last ? 1 : 64);
  if (t.last)
    conv3x3_bwd_weight_ref(s, map.data(), plane.data(), dw.data(), db.data());
  else
    conv3x3_bwd_weight_ref(s, plane.data(), map.data(), dw.data(), db.data());
  dw.insert(dw.end(), db.begin(), db.end());
  return dw;
}

// bf16 maps carry 8 significant bits (rounding: about 2^-9 relative); fp32 outputs differ from
// the double reference by summation order only.
double tolerance(const ThinOp& t) { return t.bf16_out ? kBf16RelL2Tol : kFp32Tol; }

}  // namespace

void ours_thin_rows(const GpuCtx& ctx, int64_t N, int64_t H, int64_t W, std::vector<Row>& rows) {
  const int64_t P = N * H * W;
  // Sets enough that the rotation's working set exceeds L2 twice, as the 64 -> 64 rows do.
  const size_t set_bytes = size_t(P) * (3 * 64 * 2 + 3 * 4);
  const int count = int(std::clamp<size_t>((2 * ctx.l2_bytes + set_bytes - 1) / set_bytes, 1, 8));
  std::vector<ThinSet> sets;
  ThinSet small;
  try {
    for (int i = 0; i < count; ++i) sets.push_back(make_set(ctx, P, 500 + 20 * uint32_t(i)));
    small = make_set(ctx, 2 * 13 * 17, 400);
  } catch (const std::exception& e) {
    Row r;
    r.op = "conv3x3_*";
    r.shape = std::to_string(N) + "x" + std::to_string(H) + "x" + std::to_string(W) + " thin";
    r.impl = "ours";
    r.precision = "bf16";
    r.status = std::string("FAILED: thin-layer operands: ") + e.what();
    rows.push_back(r);
    return;
  }
  for (const ThinOp& t : kOps) {
    const ConvShape s = shape_of(t, N, H, W), s_small = shape_of(t, 2, 13, 17);
    const std::vector<const ConvVariant*> variants = usable_conv_variants(t.role, Precision::Bf16, s, ctx.device);
    std::vector<float> want;  // the default's output at the timed shape, set 0
    for (const ConvVariant* v : variants) {
      Row r;
      r.op = t.op;
      r.shape = conv_shape_text(s);
      r.impl = "ours";
      r.precision = "bf16";
      r.math = "fma";
      r.algo = std::string(v->name) + t.what + (v == variants.front() ? " (default)" : "");
      r.flop = conv_flop(s);
      r.ref = "CPU double ref at 2x13x17 on the bf16 values read; the default row at the timed shape";
      try {
        poison_outputs(ctx, s_small, small);
        v->launch(launch_of(ctx, t, s_small, small));
        sync(ctx.stream);
        const std::vector<double> ref = reference(t, s_small, small);
        const double e_small = rel_l2(output(t, s_small, small).data(), ref.data(), ref.size());
        r.extra["small_shape_rel_err"] = e_small;
        r.err = e_small;
        if (!(e_small < tolerance(t))) {
          r.status = "FAILED: small-shape error " + std::to_string(e_small) + " vs the CPU double ref";
          rows.push_back(r);
          continue;
        }
        const auto run_timed_shape = [&, v = v] {
          poison_outputs(ctx, s, sets[0]);
          v->launch(launch_of(ctx, t, s, sets[0]));
          sync(ctx.stream);
          return output(t, s, sets[0]);
        };
        std::vector<float> got = run_timed_shape();
        const bool is_default = want.empty();
        if (is_default) {  // the default against a second run of itself
          want = got;
          got = run_timed_shape();
        }
        const bool same = got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size() * 4) == 0;
        const double e_big = rel_l2(got.data(), want.data(), want.size());
        r.extra["timed_shape_rel_err_vs_default"] = e_big;
        r.extra["same_bits_as_default"] = same;
        if (is_default && !same) {
          r.status = "FAILED: two runs of the default differ (rel " + std::to_string(e_big) + ")";
          rows.push_back(r);
          continue;
        }
        if (!(e_big < tolerance(t))) {
          r.status = "FAILED: timed-shape error " + std::to_string(e_big) + " vs the default row";
          rows.push_back(r);
          continue;
        }
        time_row(ctx, r, [&, v = v](int i) { v->launch(launch_of(ctx, t, s, sets[size_t(i) % sets.size()])); });
      } catch (const std::exception& e) {
        r.status = std::string("FAILED: ") + e.what();
      }
      rows.push_back(r);
    }
  }
}

}  // namespace vdsr::bench
