// vdsr_sr on a GPU end to end: the bundled model over the bundled samples, through the pipeline's
// threads, the staged luma (page-locked blocks from the pool, written by the load threads, read by
// the save threads) and Vdsr::forward_host. In fp32 every output sample is the CPU's to within one
// level (the same arithmetic up to float rounding order); in bf16 the outputs are the CPU's to well
// above 40 dB PSNR (the bf16 mode is within 0.01 dB of fp32 against the ground truth). Factors other
// than 2 take the same path: at x1.5, x2.5 and x6 fp32 is the CPU's to within a level too.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "image/image_io.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using vdsr::Image;

namespace {

// max |a - b| over the samples, and the PSNR of b against a on the 8-bit scale.
void compare(const Image& a, const Image& b, int* max_diff, double* psnr) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  REQUIRE(a.channels == b.channels);
  double se = 0.0;
  *max_diff = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int d = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    *max_diff = std::max(*max_diff, d);
    se += double(d) * d;
  }
  const double mse = se / double(a.pixels.size());
  *psnr = mse == 0.0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

}  // namespace

TEST_CASE("CUDA vdsr_sr: the samples on GPU 0 are the CPU's, fp32 within a level, bf16 above 40 dB") {
  vdsr::test::require_gpu();
  const std::string dir = vdsr::test::temp_dir("sr_cuda");
  const std::string samples = std::string(VDSR_SOURCE_DIR) + "/samples";
  const std::string sr = vdsr::test::bin("vdsr_sr");
  std::string log;
  REQUIRE(vdsr::test::run_command(sr + " -g -1 -s 2 -i " + samples + " -o " + dir + "/cpu", &log) == 0);
  REQUIRE(vdsr::test::run_command(sr + " -g 0 -s 2 -i " + samples + " -o " + dir + "/fp32", &log) == 0);
  REQUIRE(vdsr::test::run_command(sr + " -g 0 --precision bf16 -s 2 -i " + samples + " -o " + dir + "/bf16", &log) == 0);
  int images = 0;
  for (const auto& e : fs::directory_iterator(dir + "/cpu")) {
    const std::string name = e.path().filename().string();
    INFO(name);
    const Image cpu = vdsr::load_image(e.path().string());
    int max_diff = 0;
    double psnr = 0.0;
    compare(cpu, vdsr::load_image(dir + "/fp32/" + name), &max_diff, &psnr);
    CHECK(max_diff <= 1);
    compare(cpu, vdsr::load_image(dir + "/bf16/" + name), &max_diff, &psnr);
    INFO("bf16: max difference " << max_diff << ", PSNR " << psnr << " dB");
    CHECK(psnr > 40.0);
    ++images;
  }
  CHECK(images == 3);
  fs::remove_all(dir);
}

TEST_CASE("CUDA vdsr_sr at x1.5, x2.5 and x6: the samples on GPU 0 are the CPU's within a level in fp32") {
  // At these factors the network runs at x2 or x3 and the save threads resize its output
  // (model/upscale.h): the staged plane is then that factor's size, not the output's.
  vdsr::test::require_gpu();
  const std::string dir = vdsr::test::temp_dir("sr_cuda_factors");
  const std::string samples = std::string(VDSR_SOURCE_DIR) + "/samples";
  const std::string sr = vdsr::test::bin("vdsr_sr");
  for (const char* s : {"1.5", "2.5", "6"}) {
    INFO("-s " << s);
    std::string log;
    const std::string cpu_dir = dir + "/cpu" + s, gpu_dir = dir + "/gpu" + s;
    REQUIRE(vdsr::test::run_command(sr + " -g -1 -s " + s + " -i " + samples + " -o " + cpu_dir, &log) == 0);
    REQUIRE(vdsr::test::run_command(sr + " -g 0 -s " + s + " -i " + samples + " -o " + gpu_dir, &log) == 0);
    int images = 0;
    for (const auto& e : fs::directory_iterator(cpu_dir)) {
      INFO(e.path().filename().string());
      int max_diff = 0;
      double psnr = 0.0;
      compare(vdsr::load_image(e.path().string()), vdsr::load_image(gpu_dir + "/" + e.path().filename().string()),
              &max_diff, &psnr);
      CHECK(max_diff <= 1);
      ++images;
    }
    CHECK(images == 3);
  }
  fs::remove_all(dir);
}
