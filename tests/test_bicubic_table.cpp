// The bicubic table of docs/evaluation.md (data test): the evaluation protocol (image/eval_protocol.h) on
// Set5, Set14, B100 and Urban100 at x2, x3, x4 gives the brief's PSNR and SSIM to 0.0005, i.e. to
// the 4 printed decimals. One test case per set; images are processed in parallel.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/thread_pool.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "tests/support/test_support.h"

namespace {

struct Expected {
  int scale;
  double psnr, ssim;
};

void check_set(const std::string& set, const std::vector<Expected>& expected) {
  const std::string dir = vdsr::test::require_data(set);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && vdsr::has_image_extension(e.path().string()))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());

  const auto t0 = std::chrono::steady_clock::now();
  const size_t ns = expected.size();
  std::vector<vdsr::Scores> scores(files.size() * ns);
  // One level of parallelism: over images (imresize and the metrics are serial).
  vdsr::parallel_for(int64_t(files.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const vdsr::Image img = vdsr::load_image(files[size_t(i)]);
      for (size_t k = 0; k < ns; ++k) {
        const int s = expected[k].scale;
        const vdsr::EvalSample sample = vdsr::make_eval_sample(img, s, files[size_t(i)]);
        scores[size_t(i) * ns + k] = vdsr::score_output(sample.input, sample.hr, s);
      }
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (size_t k = 0; k < ns; ++k) {
    double psnr = 0, ssim = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      psnr += scores[i * ns + k].psnr;
      ssim += scores[i * ns + k].ssim;
    }
    psnr /= double(files.size());
    ssim /= double(files.size());
    std::printf("%-9s x%d  PSNR %.6f (brief %.4f)  SSIM %.6f (brief %.4f)  %zu images\n", set.c_str(),
                expected[k].scale, psnr, expected[k].psnr, ssim, expected[k].ssim, files.size());
    INFO(set << " x" << expected[k].scale << ": PSNR " << psnr << ", SSIM " << ssim);
    CHECK(std::fabs(psnr - expected[k].psnr) <= 0.0005);
    CHECK(std::fabs(ssim - expected[k].ssim) <= 0.0005);
  }
  std::printf("%-9s %.2f s for %zu images x %zu scales\n", set.c_str(), seconds, files.size(), ns);
  std::fflush(stdout);
}

}  // namespace

TEST_CASE("bicubic table: Set5") {
  check_set("Set5", {{2, 33.6614, 0.9299}, {3, 30.3922, 0.8682}, {4, 28.4207, 0.8104}});
}

TEST_CASE("bicubic table: Set14") {
  check_set("Set14", {{2, 30.2318, 0.8687}, {3, 27.5405, 0.7736}, {4, 26.0001, 0.7019}});
}

TEST_CASE("bicubic table: B100") {
  check_set("B100", {{2, 29.5579, 0.8431}, {3, 27.2072, 0.7384}, {4, 25.9606, 0.6674}});
}

TEST_CASE("bicubic table: Urban100") {
  check_set("Urban100", {{2, 26.8745, 0.8401}, {3, 24.4580, 0.7344}, {4, 23.1411, 0.6570}});
}
