// 3x3 convolution backward-data on the CPU; see conv3x3_bwd_data.h for the math.
//
// Backward-data is a forward convolution of dy with the weights flipped in space and transposed:
//   dx[n,h,w,c] = sum_{k,r',s'} dy[n, h+r'-1, w+s'-1, k] * wt'[c,k,r',s'],
//   wt'[c,k,r',s'] = wt[k,c,2-r',2-s']
// (substitute r' = 2-r, s' = 2-s), so it reuses conv_fwd_cpu with C and K swapped, and inherits
// its method (Winograd on the wide layers, kernels/conv_fwd.h), exactness and speed. The ReLU mask
// goes with it: into the Winograd output transform, or over each output row of the direct method.
#include <vector>

#include "engine/error.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv_cpu_blocking.h"
#include "kernels/conv_fwd.h"

namespace vdsr {

void conv3x3_bwd_data_cpu(const ConvShape& shape, const float* dy, const float* wt,
                          const float* relu_src, float* dx) {
  check_conv3x3_shape(shape, "conv3x3_bwd_data_cpu");
  const int64_t C = shape.C, K = shape.K;
  VDSR_CHECK(dy != nullptr && wt != nullptr && dx != nullptr, "null tensor");
  VDSR_CHECK(dx != dy && dx != relu_src, "conv3x3_bwd_data_cpu cannot run in place");

  std::vector<float> wt_t(size_t(9 * C * K));  // [C][K][3][3], flipped in r and s
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t s = 0; s < 3; ++s)
          wt_t[size_t(((c * K + k) * 3 + (2 - r)) * 3 + (2 - s))] =
              wt[((k * C + c) * 3 + r) * 3 + s];

  ConvShape t = shape;
  t.C = K;
  t.K = C;
  conv_fwd_cpu(t, dy, wt_t.data(), nullptr, false, dx, relu_src);
}

}  // namespace vdsr
