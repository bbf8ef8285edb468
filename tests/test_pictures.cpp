// bench/make_pictures (the crops of docs/images/, made by bench/make_pictures.sh) on the in-tree
// samples with the bundled model on the CPU: the four PNGs exist with the crop's size times the
// zoom, in colour for an RGB image and grey for a grey one; the ground truth is the file's own
// pixels; the printed PSNRs equal the protocol's computed here another way (the whole image through
// run_model, then the crop, rounding and MSE by hand); a crop outside the scored area is refused.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/imresize.h"
#include "model/inference.h"
#include "model/model_files.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;

namespace {

const std::string kModel = std::string(VDSR_SOURCE_DIR) + "/model/vdsr.safetensors";

struct Crop {
  int x, y, w, h;
};

// PSNR of round(255 x) (half away from zero, saturated) against the HR Y, both on the crop.
double crop_psnr(const Plane& x01, const Plane& hr, const Crop& c) {
  double sum = 0;
  for (int y = c.y; y < c.y + c.h; ++y)
    for (int x = c.x; x < c.x + c.w; ++x) {
      const double q = std::min(255.0, std::max(0.0, std::round(255.0 * x01.at(y, x))));
      sum += (q - hr.at(y, x)) * (q - hr.at(y, x));
    }
  return 10.0 * std::log10(255.0 * 255.0 / (sum / (c.w * c.h)));
}

// The printed rows "name PSNR SSIM file" by name (PSNR only).
std::map<std::string, double> printed_psnr(const std::string& out) {
  std::map<std::string, double> psnr;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name, value;
    if (words >> name >> value && (name == "nearest" || name == "bicubic" || name == "vdsr"))
      psnr[name] = std::stod(value);
  }
  return psnr;
}

// Runs make_pictures on a sample and checks its pictures and its PSNRs.
void check_pictures(const std::string& sample, int scale, const Crop& c, int zoom, int channels) {
  const std::string path = std::string(VDSR_SOURCE_DIR) + "/samples/" + sample;
  const std::string prefix = test::temp_dir("pictures_" + std::to_string(scale)) + "/p";
  std::string out;
  const int rc = run_command(bin("make_pictures") + " -g -1 -m " + kModel + " -i " + path + " -s " +
                                 std::to_string(scale) + " --crop " + std::to_string(c.x) + "," + std::to_string(c.y) +
                                 "," + std::to_string(c.w) + "," + std::to_string(c.h) + " --zoom " +
                                 std::to_string(zoom) + " -o " + prefix,
                             &out);
  INFO(out);
  REQUIRE(rc == 0);
  for (const char* name : {"nearest", "bicubic", "vdsr", "hr"}) {
    INFO(name);
    const std::string file = prefix + "-" + name + ".png";
    REQUIRE(fs::exists(file));
    const Image pic = load_image(file);
    CHECK(pic.width == c.w * zoom);
    CHECK(pic.height == c.h * zoom);
    CHECK(pic.channels == channels);
    CHECK(pic.bits == 8);
  }
  // The ground truth is the HR file's crop, each pixel zoom x zoom times.
  const Image img = load_image(path);
  const Image hr_pic = load_image(prefix + "-hr.png");
  for (int y = 0; y < hr_pic.height; ++y)
    for (int x = 0; x < hr_pic.width; ++x)
      for (int ch = 0; ch < channels; ++ch)
        REQUIRE(hr_pic.at(y, x, ch) == img.at(c.y + y / zoom, c.x + x / zoom, ch));

  // The protocol on the whole image, then the crop.
  const EvalSample s = make_eval_sample(img, scale, sample);
  Plane hr01 = s.hr;
  for (double& v : hr01.v) v /= 255.0;
  const Plane lr = imresize(hr01, 1.0 / scale);
  Plane nearest(s.hr.height, s.hr.width);
  for (int y = 0; y < nearest.height; ++y)
    for (int x = 0; x < nearest.width; ++x) nearest.at(y, x) = lr.at(y / scale, x / scale);
  const auto model = load_model(kModel, Device::cpu());
  const Plane vdsr_out = run_model(*model, s.input);
  const std::map<std::string, double> psnr = printed_psnr(out);
  REQUIRE(psnr.size() == 3);
  CHECK(psnr.at("nearest") == Approx(crop_psnr(nearest, s.hr, c)).margin(6e-5));
  CHECK(psnr.at("bicubic") == Approx(crop_psnr(s.input, s.hr, c)).margin(6e-5));
  CHECK(psnr.at("vdsr") == Approx(crop_psnr(vdsr_out, s.hr, c)).margin(6e-5));
  // The model helps on the crop (the bundled model is 1.7-3.3 dB above bicubic on whole sets).
  CHECK(psnr.at("vdsr") > psnr.at("bicubic"));

  // The VDSR picture carries the network's Y: read back through the protocol's Y it scores within
  // a rounding step of the printed PSNR.
  const Plane pic_y = y_channel_u8(load_image(prefix + "-vdsr.png"));
  double sum = 0;
  for (int y = 0; y < c.h; ++y)
    for (int x = 0; x < c.w; ++x) {
      const double d = pic_y.at(y * zoom, x * zoom) - s.hr.at(c.y + y, c.x + x);
      sum += d * d;
    }
  CHECK(10.0 * std::log10(255.0 * 255.0 / (sum / (c.w * c.h))) == Approx(psnr.at("vdsr")).margin(0.5));
}

}  // namespace

TEST_CASE("make_pictures: an RGB sample at x2, its crops and their PSNRs") {
  check_pictures("butterfly_x0.5.png", 2, Crop{40, 30, 24, 20}, 2, 3);
}

TEST_CASE("make_pictures: a grey sample at x4 stays grey") {
  check_pictures("bridge_x0.25.png", 4, Crop{4, 100, 40, 24}, 1, 1);
}

TEST_CASE("make_pictures refuses a crop outside the scored area, naming it") {
  const std::string path = std::string(VDSR_SOURCE_DIR) + "/samples/butterfly_x0.5.png";
  const std::string prefix = test::temp_dir("pictures_bad") + "/p";
  std::string out;
  // At x3 the 126x126 modcrop is scored in [3, 123): a crop reaching x = 124 is outside.
  REQUIRE(run_command(bin("make_pictures") + " -g -1 -m " + kModel + " -i " + path +
                          " -s 3 --crop 100,10,24,20 -o " + prefix,
                      &out) == 1);
  CHECK(out.find("--crop 100,10,24,20") != std::string::npos);
  CHECK(out.find("x in [3, 123)") != std::string::npos);
  CHECK(!fs::exists(prefix + "-vdsr.png"));
  REQUIRE(run_command(bin("make_pictures") + " -g -1 -m " + kModel + " -i " + path +
                          " -s 3 --crop 99,10,24,20 -o " + prefix,
                      &out) == 0);
}
