// The weight gradient's finish rows of vdsr_bench (finish_rows.h).
#include "bench/finish_rows.h"

#include <cstring>
#include <limits>
#include <string>

#include "bench/bench_kernels.cuh"
#include "kernels/wgrad_finish.h"

namespace vdsr::bench {

void ours_finish_rows(const GpuCtx& ctx, int chunks, std::vector<Row>& rows) {
  const size_t nw = size_t(kPartWeights), nb = size_t(kPartBias);
  DevFloats part(ctx.device, size_t(chunks) * nw), part_b(ctx.device, size_t(chunks) * nb);
  DevFloats dw(ctx.device, 64 * 64 * 9), db(ctx.device, nb);
  fill_uniform_cuda(part.get(), int64_t(part.n), 71, 0.0f, 1.0f, ctx.stream);
  fill_uniform_cuda(part_b.get(), int64_t(part_b.n), 72, 0.0f, 1.0f, ctx.stream);
  sync(ctx.stream);
  // The CPU's finish of the same partials: the bits both kernels must give.
  const std::vector<float> hp = download(part.get(), part.n), hb = download(part_b.get(), part_b.n);
  std::vector<float> want_w(dw.n), want_b(nb);
  for (int f = 0; f < kPartWeights + kPartBias; ++f)
    finish_part(f, chunks, hp.data(), hb.data(), want_w.data(), want_b.data());
  const double bytes = double(chunks) * double(nw + nb) * sizeof(float);
  for (const bool by_output : {false, true}) {
    Row r;
    r.op = "wgrad_finish";
    r.shape = std::to_string(chunks) + " chunks";
    r.impl = "ours";
    r.precision = "fp32";
    r.math = "fma";
    r.algo = by_output ? "by dw element (the kernel before)" : "by partial element (default)";
    r.flop = std::numeric_limits<double>::quiet_NaN();
    r.ref = "the CPU's finish of the same partials (kernels/wgrad_finish.h), bit for bit";
    poison(dw.get(), dw.n, ctx.stream);
    poison(db.get(), db.n, ctx.stream);
    wgrad_finish_cuda(by_output, chunks, part.get(), part_b.get(), dw.get(), db.get(), ctx.stream);
    sync(ctx.stream);
    const std::vector<float> got_w = download(dw.get(), dw.n), got_b = download(db.get(), db.n);
    const bool same = std::memcmp(got_w.data(), want_w.data(), got_w.size() * sizeof(float)) == 0 &&
                      std::memcmp(got_b.data(), want_b.data(), got_b.size() * sizeof(float)) == 0;
    r.err = rel_l2(got_w.data(), want_w.data(), got_w.size());
    if (!same) {
      r.status = "FAILED: not the CPU finish's bits";
    } else {
      time_row(ctx, r, [&](int) {
        wgrad_finish_cuda(by_output, chunks, part.get(), part_b.get(), dw.get(), db.get(), ctx.stream);
      });
      r.extra["bytes_read"] = bytes;
      r.extra["gb_per_s"] = bytes / (r.ms * 1e-3) / 1e9;
    }
    rows.push_back(r);
  }
}

}  // namespace vdsr::bench
