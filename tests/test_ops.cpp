// The small training ops (Euclidean loss, grad norm; the optimizer step: test_optim.cpp): CPU against the
// double reference at awkward sizes, hand-computed examples, a finite-difference gradient check,
// bit-identical reductions for any thread count, and precondition checks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/euclidean_loss.h"
#include "kernels/grad_norm.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::random_floats;
using vdsr::test::to_double;

namespace {

// The reduction block of euclidean_loss_cpu.cpp and grad_norm_cpu.cpp; sizes around it exercise a
// partial last block and a single-element last block.
constexpr int64_t kBlock = 8192;
const std::vector<int64_t> kSizes = {0, 1, 7, kBlock - 1, kBlock, kBlock + 1, 1000003};

// Restores the global pool to its size before the test when a test that changes it ends.
struct ThreadsGuard {
  int before = ThreadPool::global().size();
  ~ThreadsGuard() { ThreadPool::set_global_threads(before); }
};

// |a - b| <= abs + rel * |b|
bool close(double a, double b, double rel, double abs = 0.0) {
  return std::fabs(a - b) <= abs + rel * std::fabs(b);
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("euclidean_loss: hand-computed example, batch of 2") {
  // Two images of 3 pixels. pred - target = {1, 0, -2, -1, 0, -2}, squares sum to 10,
  // L = 10 / (2 * 2) = 2.5, grad = diff / 2. Every value is exact in float.
  const std::vector<float> pred = {1.0f, 2.0f, 3.0f, 0.0f, 0.5f, -1.0f};
  const std::vector<float> target = {0.0f, 2.0f, 5.0f, 1.0f, 0.5f, 1.0f};
  const std::vector<double> want_grad = {0.5, 0.0, -1.0, -0.5, 0.0, -1.0};

  std::vector<double> grad_ref(6);
  CHECK(euclidean_loss_ref(2, 6, to_double(pred).data(), to_double(target).data(),
                           grad_ref.data()) == 2.5);
  CHECK(grad_ref == want_grad);

  std::vector<float> grad_cpu(6);
  CHECK(euclidean_loss_cpu(2, 6, pred.data(), target.data(), grad_cpu.data()) == 2.5);
  CHECK(to_double(grad_cpu) == want_grad);
  // Without a gradient buffer the loss is the same.
  CHECK(euclidean_loss_cpu(2, 6, pred.data(), target.data(), nullptr) == 2.5);
  CHECK(euclidean_loss_ref(2, 6, to_double(pred).data(), to_double(target).data(), nullptr) == 2.5);
}

TEST_CASE("euclidean_loss: reference gradient matches finite differences") {
  // L is quadratic in pred, so the central difference is exact up to rounding: the error is about
  // eps * L / h = 1e-16 * 10 / 1e-4 = 1e-11, far below the 1e-8 tolerance.
  const int64_t batch = 3, n = 12;
  std::vector<double> pred = to_double(random_floats(n, -1.0f, 1.0f, 11));
  const std::vector<double> target = to_double(random_floats(n, -1.0f, 1.0f, 12));
  std::vector<double> grad(n);
  euclidean_loss_ref(batch, n, pred.data(), target.data(), grad.data());
  const double h = 1e-4;
  for (int64_t i = 0; i < n; ++i) {
    const double x = pred[i];
    pred[i] = x + h;
    const double lp = euclidean_loss_ref(batch, n, pred.data(), target.data(), nullptr);
    pred[i] = x - h;
    const double lm = euclidean_loss_ref(batch, n, pred.data(), target.data(), nullptr);
    pred[i] = x;
    const double fd = (lp - lm) / (2 * h);
    INFO("element " << i << ": analytic " << grad[i] << ", finite difference " << fd);
    CHECK(std::fabs(fd - grad[i]) <= 1e-8);
  }
}

TEST_CASE("euclidean_loss: CPU matches the reference") {
  // Loss: both sum the same double squares (a float difference is exact in double), only in a
  // different order, so they agree to a few double ulps per addition: 1e-12 relative.
  // Gradient: the same double value d / B rounded once to float, so it equals the reference rounded
  // to float (allowing 1 float ulp in case the compiler contracts or reorders the double math).
  for (const int64_t batch : {1, 3, 64}) {
    for (const int64_t n : kSizes) {
      INFO("batch " << batch << ", n " << n);
      const auto pred = random_floats(static_cast<size_t>(n), -1.0f, 2.0f, 21);
      const auto target = random_floats(static_cast<size_t>(n), 0.0f, 1.0f, 22);
      std::vector<double> grad_ref(static_cast<size_t>(n));
      std::vector<float> grad_cpu(static_cast<size_t>(n), -7.0f);
      const double ref = euclidean_loss_ref(batch, n, to_double(pred).data(),
                                            to_double(target).data(), grad_ref.data());
      const double cpu = euclidean_loss_cpu(batch, n, pred.data(), target.data(), grad_cpu.data());
      CHECK(close(cpu, ref, 1e-12));
      CHECK(euclidean_loss_cpu(batch, n, pred.data(), target.data(), nullptr) == cpu);
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double want = static_cast<double>(static_cast<float>(grad_ref[i]));
        if (!close(static_cast<double>(grad_cpu[i]), want, 1.2e-7, 1e-30)) ++bad;
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("grad_norm: equals the square root of the sum of squares") {
  // 3-4-12 gives 13 exactly; also a single negative element and the empty buffer.
  const std::vector<float> g = {3.0f, -4.0f, 12.0f};
  CHECK(grad_norm_cpu(3, g.data()) == 13.0);
  CHECK(grad_norm_ref(3, to_double(g).data()) == 13.0);
  const float one = -2.5f;
  CHECK(grad_norm_cpu(1, &one) == 2.5);
  CHECK(grad_norm_cpu(0, nullptr) == 0.0);
  CHECK(grad_norm_ref(0, nullptr) == 0.0);
  // Against an explicit long-double sum of squares over a large random buffer.
  const auto big = random_floats(100000, -1.0f, 1.0f, 31);
  long double sum = 0;
  for (const float x : big) sum += static_cast<long double>(x) * static_cast<long double>(x);
  CHECK(close(grad_norm_cpu(static_cast<int64_t>(big.size()), big.data()),
              static_cast<double>(std::sqrt(sum)), 1e-13));
}

TEST_CASE("grad_norm: CPU matches the reference") {
  // Same double squares summed in a different order: 1e-12 relative.
  for (const int64_t n : kSizes) {
    INFO("n " << n);
    const auto g = random_floats(static_cast<size_t>(n), -3.0f, 3.0f, 41);
    CHECK(close(grad_norm_cpu(n, g.data()), grad_norm_ref(n, to_double(g).data()), 1e-12));
  }
}

TEST_CASE("determinism: loss and grad norm are bit-identical for any thread count") {
  ThreadsGuard guard;
  const int64_t n = 1000003;
  const auto pred = random_floats(static_cast<size_t>(n), -1.0f, 2.0f, 71);
  const auto target = random_floats(static_cast<size_t>(n), 0.0f, 1.0f, 72);
  double loss0 = 0.0, norm0 = 0.0;
  std::vector<float> grad0;
  for (const int threads : {1, 2, 5}) {
    INFO("threads " << threads);
    ThreadPool::set_global_threads(threads);
    REQUIRE(ThreadPool::global().size() == threads);
    std::vector<float> grad(static_cast<size_t>(n));
    const double loss = euclidean_loss_cpu(64, n, pred.data(), target.data(), grad.data());
    const double norm = grad_norm_cpu(n, grad.data());
    if (threads == 1) {
      loss0 = loss;
      norm0 = norm;
      grad0 = grad;
    } else {
      CHECK(same_bits(loss, loss0));
      CHECK(same_bits(norm, norm0));
      CHECK(std::memcmp(grad.data(), grad0.data(), grad.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("preconditions throw vdsr::Error") {
  float f[4] = {1.0f, 2.0f, 3.0f, 4.0f}, g[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  double d[4] = {1.0, 2.0, 3.0, 4.0}, e[4] = {};

  CHECK_THROWS_AS(euclidean_loss_cpu(0, 4, f, g, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_cpu(-1, 4, f, g, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_cpu(1, -1, f, g, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_cpu(1, 4, nullptr, g, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_cpu(1, 4, f, nullptr, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_ref(0, 4, d, e, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_ref(1, -1, d, e, nullptr), Error);
  CHECK_THROWS_AS(euclidean_loss_ref(1, 4, nullptr, e, nullptr), Error);
  CHECK_THROWS_WITH(euclidean_loss_cpu(0, 4, f, g, nullptr), Catch::Contains("batch >= 1"));

  CHECK_THROWS_AS(grad_norm_cpu(-1, f), Error);
  CHECK_THROWS_AS(grad_norm_cpu(4, nullptr), Error);
  CHECK_THROWS_AS(grad_norm_ref(-1, d), Error);
  CHECK_THROWS_AS(grad_norm_ref(4, nullptr), Error);

  // A failed check leaves the buffers untouched.
  CHECK(f[0] == 1.0f);
  CHECK(d[3] == 4.0);
  CHECK(euclidean_loss_cpu(1, 0, nullptr, nullptr, nullptr) == 0.0);
}
