// The machinery of the GPU conv suite (tests/gpu/test_conv_cuda.cpp; the rounding and thin-layer
// tests beside it use it too): the precisions as data (what each one's maps hold, how its kernels
// round operands, which shapes its rows take, its bounds), and the one way to make a problem, put
// it on the GPU as a precision's rows read it, run a row of the registry
// (kernels/conv_variants.cuh) on it and compute the double references. Bounds and exactness are
// derived in test_conv_cuda.cpp's header.
#pragma once

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/device.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/conv_variants.cuh"
#include "kernels/kernel_launch.cuh"
#include "kernels/ops.h"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

namespace vdsr::test {

struct PrecisionCase {
  Precision p;
  const char* name;
  DType maps;               // the element type of the feature maps its rows read and write
  float (*operand)(float);  // how its kernels round an operand before multiplying it
  bool any_channels;        // its rows take any C -> K; else 64 -> 64 only, from GEMM weight copies
  bool exact_in_bits;       // its exact results are compared bit for bit, else as values
  bool wgrad_rows_agree;    // its weight-gradient rows add in the same order: equal in bits
};

inline const std::vector<PrecisionCase>& precision_cases() {
  static const std::vector<PrecisionCase> cases = {
      {Precision::Fp32, "fp32", DType::F32, unrounded, true, false, true},
      {Precision::Tf32, "tf32", DType::F32, round_tf32, false, false, false},
      {Precision::Bf16, "bf16", DType::BF16, round_bf16, false, true, false},
  };
  return cases;
}

inline const PrecisionCase& precision_case(Precision p) {
  for (const PrecisionCase& pc : precision_cases())
    if (pc.p == p) return pc;
  FAIL("no precision case");
  return precision_cases().front();
}

// The precisions this GPU runs: fp32 everywhere, the tensor-core ones from compute capability 8.0
// (where the registry must then offer every role of them).
inline std::vector<const PrecisionCase*> gpu_precisions() {
  const bool tensor_cores = current_device_cc() >= 80;
  std::vector<const PrecisionCase*> out;
  for (const PrecisionCase& pc : precision_cases())
    if (pc.any_channels || tensor_cores) {
      INFO(pc.name);
      REQUIRE(ops::conv_math_available(Device::cuda(kGpu), pc.p));
      out.push_back(&pc);
    }
  return out;
}

// Whether pc's rows take the (3x3, zero-padded) shape s.
inline bool applies(const PrecisionCase& pc, const ConvShape& s) {
  return pc.any_channels || (s.C == 64 && s.K == 64);
}

// --- the registry's rows ------------------------------------------------------------------------

// A row of the registry; null: the registry's default for the shape.
using Row = const ConvVariant*;

inline std::string label(const PrecisionCase& pc, Row r) {
  return std::string(pc.name) + " [" + (r == nullptr ? "default" : r->name) + "]";
}

// The default, then every row of (role, pc) usable at s (one at least: s must apply).
inline std::vector<Row> rows_at(const PrecisionCase& pc, ConvRole role, const ConvShape& s) {
  std::vector<Row> rows{nullptr};
  for (Row r : usable_conv_variants(role, pc.p, s, kGpu)) rows.push_back(r);
  INFO(pc.name << " " << conv_role_name(role) << " " << shape_str(s));
  REQUIRE(rows.size() > 1);
  return rows;
}

inline void launch(const PrecisionCase& pc, ConvRole role, Row r, const ConvLaunch& a) {
  if (r == nullptr)
    launch_default_conv(role, pc.p, a);
  else
    r->launch(a);
}

// --- problems -----------------------------------------------------------------------------------

// One problem's operands as fp32 values: x [N][H][W][C], wt [K][C][3][3] (the master weights),
// b [K], dy [N][H][W][K], src [N][H][W][C] (the ReLU mask's source).
struct Problem {
  ConvShape s;
  std::vector<float> x, wt, b, dy, src;
};

// Floats as pc's kernels read them: x, wt, dy in [-2, 2] rounded as the kernels round operands
// (so the reference sees the values multiplied), b in [-1, 1] (added in fp32), src a ReLU source
// with exact zeros, stored as pc's maps.
inline Problem float_problem(const PrecisionCase& pc, const ConvShape& s, uint32_t seed) {
  auto gen = [&](int64_t n) {
    return rounded(random_floats(size_t(n), -2, 2, ++seed), pc.operand);
  };
  Problem d{s, {}, {}, {}, {}, {}};
  d.x = gen(s.in_elems());
  d.wt = gen(s.weight_elems());
  d.b = random_floats(size_t(s.K), -1, 1, ++seed);
  d.dy = gen(s.out_elems());
  d.src = relu_source(size_t(s.in_elems()), ++seed);
  for (float& f : d.src) f = stored(pc.maps, f);
  return d;
}

// Small integers, the same for every precision (exact in bf16 and tf32): x, wt, dy in [-2, 2],
// b in [-4, 4], the mask's source x itself (a fifth of it zeros).
inline Problem int_problem(const ConvShape& s, uint32_t seed) {
  Problem d{s, {}, {}, {}, {}, {}};
  d.x = random_ints(size_t(s.in_elems()), -2, 2, ++seed);
  d.wt = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
  d.b = random_ints(size_t(s.K), -4, 4, ++seed);
  d.dy = random_ints(size_t(s.out_elems()), -2, 2, ++seed);
  d.src = d.x;
  return d;
}

// A problem on the GPU as pc's rows read it: maps in pc's element type, the weights as the master
// copy (fp32) or the GEMM copies of kernels/ops.h's conv_weights (w: forward, w_flip:
// backward-data).
struct OnGpu {
  ConvShape s;
  GpuArray x, dy, src, b, w, w_flip;
};

// The GEMM copy of the master weights [K][C][3][3] in pc's element type (flip: backward-data's).
inline GpuArray gemm_weights(const PrecisionCase& pc, const std::vector<float>& wt,
                             const ConvShape& s, bool flip) {
  const GpuArray master(wt);
  GpuArray wg(wt.size(), pc.maps);
  ops::conv_weights(Device::cuda(kGpu), pc.p, master.f32(), 1, int(s.K), int(s.C), flip, wg.get());
  cuda_sync(kGpu);
  return wg;
}

inline GpuArray weights(const PrecisionCase& pc, const Problem& d, bool flip) {
  return pc.any_channels ? GpuArray(d.wt) : gemm_weights(pc, d.wt, d.s, flip);
}

inline OnGpu upload(const PrecisionCase& pc, const Problem& d) {
  return {d.s,           GpuArray(d.x, pc.maps), GpuArray(d.dy, pc.maps), GpuArray(d.src, pc.maps),
          GpuArray(d.b), weights(pc, d, false),  weights(pc, d, true)};
}

// --- running a row ------------------------------------------------------------------------------

inline std::vector<float> run_fwd(const PrecisionCase& pc, Row r, const OnGpu& g, bool bias_relu) {
  GpuArray y(size_t(g.s.out_elems()), pc.maps);
  launch(pc, ConvRole::Fwd, r,
         fwd_launch(g.s, g.x.get(), g.w.get(), bias_relu ? g.b.f32() : nullptr, bias_relu, y.get(),
                    gpu_stream(), kGpu));
  return y.download();
}

inline std::vector<float> run_bwd_data(const PrecisionCase& pc, Row r, const OnGpu& g,
                                       bool masked) {
  GpuArray dx(size_t(g.s.in_elems()), pc.maps);
  launch(pc, ConvRole::BwdData, r,
         bwd_data_launch(g.s, g.dy.get(), g.w_flip.get(), masked ? g.src.get() : nullptr, dx.get(),
                         gpu_stream(), kGpu));
  return dx.download();
}

// Forward (fused: with bias and ReLU) or backward-data (fused: masked by src > 0).
inline std::vector<float> run_fwd_or_bwd_data(const PrecisionCase& pc, ConvRole role, Row r,
                                              const OnGpu& g, bool fused) {
  return role == ConvRole::Fwd ? run_fwd(pc, r, g, fused) : run_bwd_data(pc, r, g, fused);
}

struct Wgrad {
  std::vector<float> dw, db;  // db: all NaN (untouched) when run without it
};

inline Wgrad run_bwd_weight(const PrecisionCase& pc, Row r, const OnGpu& g, bool with_db) {
  GpuArray dw(size_t(g.s.weight_elems())), db(size_t(g.s.K));
  launch(pc, ConvRole::BwdWeight, r,
         bwd_weight_launch(g.s, g.x.get(), g.dy.get(), dw.f32(), with_db ? db.f32() : nullptr,
                           gpu_stream(), kGpu));
  return {dw.download(), db.download()};
}

// --- the double references ----------------------------------------------------------------------
// (Each reads only the operands of its op.)

// An op's reference and the same op on |inputs| (sum|terms|, for the bounds). The exact tests
// compare with `want` alone: they pass Sums::Skip, which leaves sumabs empty and halves the double
// work (seconds of the device call at the training shape).
struct Ref {
  std::vector<double> want, sumabs;
};
enum class Sums { Compute, Skip };

inline Ref ref_fwd(const Problem& d, bool bias, bool relu, Sums sums = Sums::Compute) {
  const ConvShape& s = d.s;
  const auto x = to_double(d.x), w = to_double(d.wt), b = to_double(d.b);
  Ref r{std::vector<double>(size_t(s.out_elems())), {}};
  conv_fwd_ref(s, x.data(), w.data(), bias ? b.data() : nullptr, relu, r.want.data());
  if (sums == Sums::Skip) return r;
  const auto xa = abs_of(x), wa = abs_of(w), ba = abs_of(b);
  r.sumabs.resize(r.want.size());
  conv_fwd_ref(s, xa.data(), wa.data(), bias ? ba.data() : nullptr, false, r.sumabs.data());
  return r;
}

inline Ref ref_bwd_data(const Problem& d, bool masked, Sums sums = Sums::Compute) {
  const ConvShape& s = d.s;
  const auto dy = to_double(d.dy), w = to_double(d.wt), src = to_double(d.src);
  Ref r{std::vector<double>(size_t(s.in_elems())), {}};
  conv3x3_bwd_data_ref(s, dy.data(), w.data(), masked ? src.data() : nullptr, r.want.data());
  if (sums == Sums::Skip) return r;
  const auto dya = abs_of(dy), wa = abs_of(w);
  r.sumabs.resize(r.want.size());
  conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, r.sumabs.data());
  return r;
}

struct WgradRef {
  Ref dw, db;
};

inline WgradRef ref_bwd_weight(const Problem& d, Sums sums = Sums::Compute) {
  const ConvShape& s = d.s;
  const auto x = to_double(d.x), dy = to_double(d.dy);
  const size_t nw = size_t(s.weight_elems()), nb = size_t(s.K);
  WgradRef r{{std::vector<double>(nw), {}}, {std::vector<double>(nb), {}}};
  conv3x3_bwd_weight_ref(s, x.data(), dy.data(), r.dw.want.data(), r.db.want.data());
  if (sums == Sums::Skip) return r;
  const auto xa = abs_of(x), dya = abs_of(dy);
  r.dw.sumabs.resize(nw);
  r.db.sumabs.resize(nb);
  conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), r.dw.sumabs.data(), r.db.sumabs.data());
  return r;
}

// --- bounds and exactness -----------------------------------------------------------------------

// The bound on a float result of `role` at s, derived in test_conv_cuda.cpp's header: `terms`
// products per output; fp32 (terms + 2) 2^-23; the tensor cores 4 chain 2^-23, chain = terms + 2
// (forward, weight gradient) or terms (backward-data), tf32 + 2 2^-23, bf16 maps + 2^-8 |want|.
inline Bound bound(const PrecisionCase& pc, ConvRole role, const ConvShape& s) {
  const double fwd = 9.0 * double(s.C), bwd_data = 9.0 * double(s.K), wgrad = double(s.pixels());
  const double terms = role == ConvRole::Fwd ? fwd : role == ConvRole::BwdData ? bwd_data : wgrad;
  if (pc.p == Precision::Fp32) return {(terms + 2) * 0x1p-23, 0};
  const double chain = role == ConvRole::BwdData ? terms : terms + 2;
  if (pc.maps == DType::F32) return {(4 * chain + 2) * 0x1p-23, 0};
  return {4 * chain * 0x1p-23, role == ConvRole::BwdWeight ? 0 : 0x1p-8};
}

inline Exactness exactness(const PrecisionCase& pc, ConvRole role) {
  return {pc.maps == DType::BF16 && role != ConvRole::BwdWeight, pc.exact_in_bits};
}

}  // namespace vdsr::test
