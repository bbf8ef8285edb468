// Caffe's Euclidean loss, as the paper trains with (docs/training.md):
//   L = 1/(2B) * sum_i (pred[i] - target[i])^2        over all n elements of a batch of B images
//   grad[i] = dL/dpred[i] = (pred[i] - target[i]) / B  (written when grad is not nullptr)
// pred = input + residual, so grad is also the gradient with respect to the residual.
#pragma once

#include <cstdint>

namespace vdsr {

double euclidean_loss_ref(int64_t batch, int64_t n, const double* pred, const double* target,
                          double* grad);

// Sums in double over fixed-size blocks combined in order: deterministic for any thread count.
double euclidean_loss_cpu(int64_t batch, int64_t n, const float* pred, const float* target,
                          float* grad);

}  // namespace vdsr
