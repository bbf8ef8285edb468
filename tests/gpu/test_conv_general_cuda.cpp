// The fp32 general forward (kernels/conv_fwd_general.cu: any odd kernel size, zero or replicate
// padding; SRCNN's layers and the registry's "general" row): against the double reference for
// kernel sizes 1 to 9 in both paddings, and bit for bit on small integers. The 3x3 zero-padded
// case it shares with the other rows is in the suite over every row (test_conv_cuda.cpp). Each
// output is an FMA chain of R^2 C products and the bias: require_close (tests/support/conv_check.h)
// with chain R^2 C + 2.
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "kernels/conv_fwd.h"
#include "kernels/conv_fwd_general.cuh"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using namespace vdsr::test;  // NOLINT: the GPU tests' vocabulary (conv_test_support.h)

TEST_CASE("conv_fwd_general_cuda matches the reference for kernel sizes 1 to 9, both paddings") {
  require_gpu();
  uint32_t seed = 1900;
  for (const vdsr::Padding pad : {vdsr::Padding::Replicate, vdsr::Padding::Zero})
    for (const ConvShape base :
         {ConvShape{1, 11, 13, 1, 64}, ConvShape{2, 7, 6, 64, 32}, ConvShape{1, 9, 10, 32, 1},
          ConvShape{1, 2, 3, 3, 5}, ConvShape{3, 1, 1, 2, 17}})
      for (const int64_t R : {9, 5, 1, 3}) {
        ConvShape s = base;
        s.R = R;
        s.pad = pad;
        const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
        const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
        const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
        const GpuArray xd(x), wd(wt), bd(b);
        {
          const GpuArray y(size_t(s.out_elems()));
          vdsr::conv_fwd_general_cuda(s, xd.f32(), wd.f32(), bd.f32(), true, y.f32(), gpu_stream());
          const auto xx = to_double(x), ww = to_double(wt), bb = to_double(b);
          std::vector<double> want(size_t(s.out_elems())), sumabs(want.size());
          vdsr::conv_fwd_ref(s, xx.data(), ww.data(), bb.data(), true, want.data());
          const auto xa = abs_of(xx), wa = abs_of(ww), ba = abs_of(bb);
          vdsr::conv_fwd_ref(s, xa.data(), wa.data(), ba.data(), false, sumabs.data());
          require_close(y.download(), want, sumabs, double(s.R * s.R * s.C + 2),
                        "general " + shape_str(s));
        }
        const auto xi = random_ints(size_t(s.in_elems()), -3, 3, ++seed);
        const auto wi = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
        const GpuArray xid(xi), wid(wi), y(size_t(s.out_elems()));
        vdsr::conv_fwd_general_cuda(s, xid.f32(), wid.f32(), nullptr, false, y.f32(), gpu_stream());
        const auto xid_d = to_double(xi), wid_d = to_double(wi);
        std::vector<double> want(size_t(s.out_elems()));
        vdsr::conv_fwd_ref(s, xid_d.data(), wid_d.data(), nullptr, false, want.data());
        require_exact(y.download(), want, "general integers " + shape_str(s));
      }
}
