// SRCNN inference (model/vdsr_config.h, model/mat_import.h): a .mat in the authors' layout written
// here with libmatio runs as the official MATLAB test code computes it (an independent double
// implementation of its imfilter(..., 'same', 'replicate') loops on the MATLAB arrays, so a
// transposed filter or a wrong padding fails); the safetensors round trip through vdsr_convert; the
// tools' refusals (training, bf16, a scale the model was not trained for); tiling bit for bit; and,
// on the authors' released 9-5-5 models (data test), the paper's SRCNN column of Table 3 on Set5
// to 0.01 dB through `vdsr_eval --table3`.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "image/image_io.h"
#include "image/paper_table.h"
#include "io/sha256.h"
#include "model/inference.h"
#include "model/model_files.h"
#include "model/tiled.h"
#include "model/vdsr.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

#ifdef VDSR_HAVE_MATIO
#include <matio.h>
#endif

using namespace vdsr;
using test::bin;
using test::run_command;

TEST_CASE("the SRCNN layer table: kernel sizes, replicate padding, no residual") {
  const VdsrConfig cfg = srcnn_config(9, 5, 5, 64, 32, true);
  CHECK(param_count(cfg) == 57281);  // the 9-5-5 release
  CHECK(param_count(srcnn_config(9, 1, 5, 64, 32, true)) == 8129);
  // The receptive radius (4 + 2 + 2) is the tiles' halo on either device: the CPU runs SRCNN's
  // layers by the direct method.
  CHECK(tile_halo(cfg, Device::cpu()) == 8);
  CHECK(tile_halo(cfg, Device::cuda(0)) == 8);
  CHECK(cfg.widest() == 64);
  CHECK_FALSE(cfg.residual());
  CHECK(cfg.describe() == "SRCNN 9-5-5, 64/32 channels, with biases");
  const auto layers = layer_table(cfg);
  REQUIRE(layers.size() == 3);
  CHECK((layers[0].R == 9 && layers[1].R == 5 && layers[2].R == 5));
  CHECK((layers[0].pad == Padding::Replicate && layers[2].pad == Padding::Replicate));
  CHECK((layers[0].relu && layers[1].relu && !layers[2].relu));
  CHECK((layers[1].C == 64 && layers[1].K == 32 && layers[2].K == 1));
  CHECK_FALSE(cfg == srcnn_config(9, 3, 5, 64, 32, true));
  CHECK_FALSE(cfg == srcnn_config(9, 5, 5, 64, 16, true));  // n2
  CHECK_FALSE(cfg == srcnn_config(9, 5, 5, 32, 32, true));  // n1
  CHECK_FALSE(cfg == srcnn_config(9, 5, 5, 64, 32, false));
  CHECK(cfg == srcnn_config(9, 5, 5, 64, 32, true));
  // The widest map is layer 1's output when the second layer widens.
  CHECK(srcnn_config(9, 5, 5, 16, 32, true).widest() == 32);
  CHECK(VdsrConfig{5, 12, true}.widest() == 12);
  CHECK_THROWS_AS(layer_table(srcnn_config(9, 4, 5, 64, 32, true)), vdsr::Error);
}

TEST_CASE("an SRCNN model: inference only, fp32 only, tiles equal the whole image") {
  const VdsrConfig cfg = srcnn_config(5, 3, 3, 6, 4, true);
  Vdsr m(cfg);
  m.init_he(3);
  CHECK_THAT(test::error_of([&] { m.set_precision(Precision::Bf16); }), Catch::Contains("fp32 only"));
  const auto x = test::random_floats(2 * 9 * 7, 0.0f, 1.0f, 4);
  CHECK_THAT(test::error_of([&] { m.forward_backward(2, 9, 7, x.data(), x.data()); }),
             Catch::Contains("SRCNN models run inference only"));
  Plane in(37, 29);
  for (size_t i = 0; i < in.v.size(); ++i) in.v[i] = double((i * 7919) % 256) / 255.0;
  const Plane whole = run_model(m, in);
  for (const int tile : {8, 13}) {
    const Plane tiled = run_model_tiled(m, in, tile);
    CHECK(tiled.v == whole.v);
  }
}

TEST_CASE("the paper's Table 3 values, every set, scale and method, as printed in the paper") {
  // Kim, Lee, Lee, CVPR 2016, Table 3 (PSNR, dB), typed in again here; docs/results.md quotes them.
  struct Row {
    const char* set;
    int scale;
    double bicubic, srcnn, vdsr;
  };
  const Row rows[] = {
      {"Set5", 2, 33.66, 36.66, 37.53},     {"Set5", 3, 30.39, 32.75, 33.66},     {"Set5", 4, 28.42, 30.48, 31.35},
      {"Set14", 2, 30.24, 32.42, 33.03},    {"Set14", 3, 27.55, 29.28, 29.77},    {"Set14", 4, 26.00, 27.49, 28.01},
      {"B100", 2, 29.56, 31.36, 31.90},     {"B100", 3, 27.21, 28.41, 28.82},     {"B100", 4, 25.96, 26.90, 27.29},
      {"Urban100", 2, 26.88, 29.50, 30.76}, {"Urban100", 3, 24.46, 26.24, 27.14}, {"Urban100", 4, 23.14, 24.52, 25.18},
  };
  for (const Row& r : rows) {
    INFO(r.set << " x" << r.scale);
    CHECK(paper_psnr(PaperMethod::Bicubic, r.set, r.scale) == r.bicubic);
    CHECK(paper_psnr(PaperMethod::Srcnn, r.set, r.scale) == r.srcnn);
    CHECK(paper_psnr(PaperMethod::Vdsr, r.set, r.scale) == r.vdsr);
  }
  // VDSR's SSIM (the product's specification quotes it; not the other methods').
  const std::pair<const char*, std::array<double, 3>> ssim[] = {{"Set5", {0.9587, 0.9213, 0.8838}},
                                                                {"Set14", {0.9124, 0.8314, 0.7674}},
                                                                {"B100", {0.8960, 0.7976, 0.7251}},
                                                                {"Urban100", {0.9140, 0.8279, 0.7524}}};
  for (const auto& [set, v] : ssim)
    for (int s = 2; s <= 4; ++s) {
      INFO(set << " x" << s);
      CHECK(paper_ssim(PaperMethod::Vdsr, set, s) == v[size_t(s - 2)]);
      CHECK(std::isnan(paper_ssim(PaperMethod::Bicubic, set, s)));
      CHECK(std::isnan(paper_ssim(PaperMethod::Srcnn, set, s)));
    }
  CHECK(std::isnan(paper_ssim(PaperMethod::Vdsr, "Set5", 5)));
  // Anything else has no published value.
  CHECK(std::isnan(paper_psnr(PaperMethod::Vdsr, "Set5", 1)));
  CHECK(std::isnan(paper_psnr(PaperMethod::Vdsr, "Set5", 5)));
  CHECK(std::isnan(paper_psnr(PaperMethod::Bicubic, "T91", 2)));
  CHECK(std::isnan(paper_psnr(PaperMethod::Srcnn, "Set55", 2)));
  CHECK(std::isnan(paper_psnr(PaperMethod::Srcnn, "BSD200", 2)));
  // The sets under the names other papers and downloads give them: any case, B100 as BSD100 /
  // BSDS100.
  CHECK(paper_psnr(PaperMethod::Srcnn, "set5", 2) == 36.66);
  CHECK(paper_psnr(PaperMethod::Vdsr, "URBAN100", 4) == 25.18);
  CHECK(paper_psnr(PaperMethod::Vdsr, "BSD100", 3) == 28.82);
  CHECK(paper_ssim(PaperMethod::Vdsr, "bsds100", 2) == 0.8960);
  CHECK(std::string(paper_set_name("bsds100")) == "B100");
  CHECK(paper_set_name("B1000") == nullptr);
  // Each set's image count, by which --table3 tells a folder of the paper's set from another.
  CHECK(paper_set_images("set5") == 5);
  CHECK(paper_set_images("Set14") == 14);
  CHECK(paper_set_images("BSD100") == 100);
  CHECK(paper_set_images("urban100") == 100);
  CHECK(paper_set_images("T91") == 0);
  CHECK(std::string(paper_method_name(PaperMethod::Bicubic)) == "Bicubic");
  CHECK(std::string(paper_method_name(PaperMethod::Srcnn)) == "SRCNN");
  CHECK(std::string(paper_method_name(PaperMethod::Vdsr)) == "VDSR");
}

#ifdef VDSR_HAVE_MATIO

namespace {

struct SrcnnArrays {  // the MATLAB arrays, column-major, as the release stores them
  int f1, f2, f3, n1, n2;
  std::vector<double> w1, b1, w2, b2, w3, b3;
};

SrcnnArrays random_srcnn(int f1, int f2, int f3, int n1, int n2, uint32_t seed) {
  SrcnnArrays a{f1, f2, f3, n1, n2, {}, {}, {}, {}, {}, {}};
  auto gen = [&](size_t n, float scale) {
    const auto v = test::random_floats(n, -scale, scale, seed++);
    return std::vector<double>(v.begin(), v.end());
  };
  a.w1 = gen(size_t(f1 * f1 * n1), 0.3f);
  a.b1 = gen(size_t(n1), 0.1f);
  a.w2 = gen(size_t(n1 * f2 * f2 * n2), 0.1f);
  a.b2 = gen(size_t(n2), 0.1f);
  a.w3 = gen(size_t(n2 * f3 * f3), 0.1f);
  a.b3 = gen(1, 0.1f);
  return a;
}

void put(mat_t* mat, const char* name, std::vector<size_t> dims, std::vector<double>& v) {
  matvar_t* var = Mat_VarCreate(name, MAT_C_DOUBLE, MAT_T_DOUBLE, int(dims.size()), dims.data(), v.data(), 0);
  REQUIRE(Mat_VarWrite(mat, var, MAT_COMPRESSION_ZLIB) == 0);
  Mat_VarFree(var);
}

// The release's variables; weights_conv2 2-D [n1, n2] when f2 = 1, as the 9-1-5 files have it.
void write_srcnn_mat(const std::string& path, SrcnnArrays a) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  REQUIRE(mat != nullptr);
  const size_t n1 = size_t(a.n1), n2 = size_t(a.n2);
  put(mat, "weights_conv1", {size_t(a.f1 * a.f1), n1}, a.w1);
  put(mat, "biases_conv1", {n1, 1}, a.b1);
  if (a.f2 == 1)
    put(mat, "weights_conv2", {n1, n2}, a.w2);
  else
    put(mat, "weights_conv2", {n1, size_t(a.f2 * a.f2), n2}, a.w2);
  put(mat, "biases_conv2", {n2, 1}, a.b2);
  put(mat, "weights_conv3", {n2, size_t(a.f3 * a.f3)}, a.w3);
  put(mat, "biases_conv3", {1, 1}, a.b3);
  Mat_Close(mat);
}

// MATLAB's imfilter(x, f, 'same', 'replicate') for an odd p x p filter f (column-major): a
// correlation centred on f((p+1)/2, (p+1)/2), indices clamped into the image.
std::vector<double> imfilter_replicate(const std::vector<double>& x, int H, int W, const double* f, int p) {
  std::vector<double> y(x.size(), 0.0);
  const int c = (p - 1) / 2;
  for (int row = 0; row < H; ++row)
    for (int col = 0; col < W; ++col) {
      double s = 0;
      for (int i = 0; i < p; ++i)
        for (int j = 0; j < p; ++j) {
          const int rr = std::clamp(row + i - c, 0, H - 1), cc = std::clamp(col + j - c, 0, W - 1);
          s += f[i + p * j] * x[size_t(rr * W + cc)];
        }
      y[size_t(row * W + col)] = s;
    }
  return y;
}

// The official SRCNN.m, loop for loop, in double.
std::vector<double> official_srcnn(const SrcnnArrays& a, const std::vector<double>& im, int H, int W) {
  const size_t n = size_t(H * W);
  const int t1 = a.f1 * a.f1, t2 = a.f2 * a.f2, t3 = a.f3 * a.f3;
  std::vector<std::vector<double>> c1(size_t(a.n1)), c2(size_t(a.n2), std::vector<double>(n, 0.0));
  for (int i = 0; i < a.n1; ++i) {
    c1[size_t(i)] = imfilter_replicate(im, H, W, &a.w1[size_t(i * t1)], a.f1);
    for (double& v : c1[size_t(i)]) v = std::max(v + a.b1[size_t(i)], 0.0);
  }
  for (int i = 0; i < a.n2; ++i) {
    for (int j = 0; j < a.n1; ++j) {
      std::vector<double> f(static_cast<size_t>(t2));  // reshape(weights_conv2(j, :, i), f2, f2)
      for (int t = 0; t < t2; ++t) f[size_t(t)] = a.w2[size_t(j + a.n1 * (t + t2 * i))];
      const auto r = imfilter_replicate(c1[size_t(j)], H, W, f.data(), a.f2);
      for (size_t e = 0; e < n; ++e) c2[size_t(i)][e] += r[e];
    }
    for (double& v : c2[size_t(i)]) v = std::max(v + a.b2[size_t(i)], 0.0);
  }
  std::vector<double> out(n, a.b3[0]);
  for (int i = 0; i < a.n2; ++i) {
    std::vector<double> f(static_cast<size_t>(t3));  // reshape(weights_conv3(i, :), f3, f3)
    for (int t = 0; t < t3; ++t) f[size_t(t)] = a.w3[size_t(i + a.n2 * t)];
    const auto r = imfilter_replicate(c2[size_t(i)], H, W, f.data(), a.f3);
    for (size_t e = 0; e < n; ++e) out[e] += r[e];
  }
  return out;
}

}  // namespace

TEST_CASE("an SRCNN .mat in the authors' layout runs as the official MATLAB code computes it") {
  const std::string dir = test::temp_dir("srcnn_mat");
  const int H = 14, W = 11;
  const auto img = test::random_floats(size_t(H * W), 0.0f, 1.0f, 77);
  const std::vector<double> im(img.begin(), img.end());
  // 9-5-5 and 9-1-5 (weights_conv2 2-D), and the largest kernels with a widening second layer.
  for (const auto& [f1, f2, f3, n1, n2] : std::vector<std::array<int, 5>>{{9, 5, 5, 6, 4}, {9, 1, 5, 6, 4}, {15, 3, 15, 2, 5}}) {
    INFO(f1 << "-" << f2 << "-" << f3 << ", " << n1 << "/" << n2);
    const SrcnnArrays a = random_srcnn(f1, f2, f3, n1, n2, uint32_t(10 + f1 + f2));
    const std::string path = dir + "/model_x3.mat";
    write_srcnn_mat(path, a);
    const VdsrWeights w = load_weights(path);
    CHECK(w.config == srcnn_config(f1, f2, f3, n1, n2, true));
    CHECK(model_scale(w) == 3);  // from the file name
    auto net = make_model(w, Device::cpu());
    std::vector<float> y(img.size());
    net->forward(1, H, W, img.data(), y.data());
    const auto want = official_srcnn(a, im, H, W);
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(double(y[i]) - want[i]));
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("an SRCNN .mat's scale comes from an x2, x3 or x4 token in its file name") {
  const std::string dir = test::temp_dir("srcnn_names");
  const SrcnnArrays a = random_srcnn(3, 1, 3, 2, 2, 9);
  // -1: unknown (no such token, one inside a longer word or number, or tokens of two scales).
  const std::vector<std::pair<std::string, int>> names = {
      {"x2.mat", 2},           {"x4.mat", 4},         {"srcnn_955_imagenet_x3.mat", 3},
      {"model_X4_v2.mat", 4},  {"X2-net.mat", 2},     {"x5.mat", -1},
      {"max2.mat", -1},        {"x24.mat", -1},       {"box4.mat", -1},
      {"plain.mat", -1},       {"x2b.mat", -1},       {"ax3y.mat", -1},
      {"srcnn_x2_x3.mat", -1}, {"x3_again_x3.mat", 3}};
  for (const auto& [name, scale] : names) {
    INFO(name);
    write_srcnn_mat(dir + "/" + name, a);
    CHECK(model_scale(load_weights(dir + "/" + name)) == scale);
  }
}

TEST_CASE("vdsr_convert keeps an SRCNN model's architecture and scale, the tools refuse other scales") {
  const std::string dir = test::temp_dir("srcnn_convert");
  write_srcnn_mat(dir + "/srcnn_x2.mat", random_srcnn(5, 3, 3, 6, 4, 5));
  std::string log;
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/srcnn_x2.mat " + dir + "/ours.safetensors", &log) == 0);
  CHECK(log.find("serves one scale") == std::string::npos);  // its name says x2
  const VdsrWeights a = load_weights(dir + "/srcnn_x2.mat"), b = load_weights(dir + "/ours.safetensors");
  CHECK(b.config == a.config);
  CHECK(b.params == a.params);
  CHECK(b.metadata.at("arch") == "srcnn");
  CHECK(b.metadata.at("scale") == "2");
  CHECK(model_scale(b) == 2);
  // A safetensors SRCNN without a scale in its metadata (another tool's conversion) takes its
  // name's, as a .mat does; the metadata's, where there is one, comes first.
  save_weights(dir + "/srcnn_955_x3.safetensors", a.config, a.params.data(), {});
  CHECK(model_scale(load_weights(dir + "/srcnn_955_x3.safetensors")) == 3);
  save_weights(dir + "/bare.safetensors", a.config, a.params.data(), {});
  CHECK(model_scale(load_weights(dir + "/bare.safetensors")) == -1);
  std::filesystem::copy_file(dir + "/ours.safetensors", dir + "/ours_x4.safetensors");
  CHECK(model_scale(load_weights(dir + "/ours_x4.safetensors")) == 2);
  // Back to .mat, whose layout has no place for the scale: a name that contradicts it is refused,
  // one without it warned about (the scale is read back from the name).
  CHECK(run_command(bin("vdsr_convert") + " " + dir + "/ours.safetensors " + dir + "/back_x3.mat",
                    &log) == 1);
  CHECK_THAT(log, Catch::Contains("its name says x3, but") &&
                      Catch::Contains("is the SRCNN model for x2"));
  CHECK(!std::filesystem::exists(dir + "/back_x3.mat"));
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/ours.safetensors " + dir + "/back.mat",
                      &log) == 0);
  CHECK_THAT(log, Catch::Contains("name it with x2 (e.g. srcnn_x2.mat)"));
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/ours.safetensors " + dir + "/back_x2.mat",
                      &log) == 0);
  CHECK(log.find("warning") == std::string::npos);
  CHECK(model_scale(load_weights(dir + "/back_x2.mat")) == 2);
  // Its layout always holds biases: a model without them is written with zeros, and said so.
  VdsrConfig plain = a.config;
  plain.bias = false;
  const std::vector<float> weights_only(size_t(param_count(plain)), 0.25f);
  save_weights(dir + "/nb_x2.safetensors", plain, weights_only.data(), {});
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/nb_x2.safetensors " + dir + "/nb_x2.mat",
                      &log) == 0);
  CHECK_THAT(log, Catch::Contains(
                      "the SRCNN release layout always holds biases: they are written as zeros"));

  save_image(dir + "/in.png", test::test_image(9, 8, 3, 2), ImageFormat::PNG);
  CHECK(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/ours.safetensors -s 2 -i " + dir + "/in.png -o " + dir +
                        "/a.png",
                    &log) == 0);
  CHECK(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/srcnn_x2.mat -s 3 -i " + dir + "/in.png -o " + dir +
                        "/b.png",
                    &log) == 1);
  CHECK_THAT(log, Catch::Contains("is an SRCNN model for x2 (one model per scale); it cannot upscale x3"));
  CHECK(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/srcnn_x2.mat --precision bf16 -s 2 -i " + dir +
                        "/in.png -o " + dir + "/c.png",
                    &log) == 1);

  std::filesystem::create_directories(dir + "/set");
  save_image(dir + "/set/a.png", test::test_image(20, 18, 3, 3), ImageFormat::PNG);
  CHECK(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/srcnn_x2.mat --scales 2,3 --data " + dir + "/set", &log) == 1);
  CHECK_THAT(log, Catch::Contains("cannot upscale x3"));
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/srcnn_x2.mat --data " + dir + "/set", &log) == 0);
  CHECK_THAT(log, Catch::Contains("set            2"));  // its own scale only
  CHECK(log.find("set            3") == std::string::npos);
  // A name without a scale: --scales must say it.
  std::filesystem::copy_file(dir + "/srcnn_x2.mat", dir + "/plain.mat");
  CHECK(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/plain.mat --data " + dir + "/set", &log) == 1);
  CHECK_THAT(log, Catch::Contains("--scales N"));
  CHECK(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/plain.mat --scales 2,3 --data " + dir + "/set", &log) == 1);
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/plain.mat --scales 2 --data " + dir + "/set", &log) == 0);
  CHECK_THAT(log, Catch::Contains("unknown scale"));
  // Of unknown scale it may run at a whole factor, never at a fractional one.
  CHECK(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/plain.mat -s 2.5 -i " + dir + "/in.png -o " + dir + "/d.png",
                    &log) == 1);
  CHECK_THAT(log, Catch::Contains("is an SRCNN model of unknown scale (one model per integer scale); it cannot upscale x2.5"));
  // Metadata whose scale is not one digit 2..4 gives no scale.
  for (const char* bad : {"24", "2.5", "5", ""}) {
    VdsrWeights m = b;
    m.metadata["scale"] = bad;
    INFO(bad);
    CHECK(model_scale(m) == -1);
  }
  // A VDSR model serves every scale: no word about its scale.
  Vdsr tiny(VdsrConfig{3, 4, true});
  tiny.init_he(4);
  save_weights(dir + "/vdsr.safetensors", tiny.config(), tiny.params());
  REQUIRE(run_command(bin("vdsr_eval") + " -g -1 -m " + dir + "/vdsr.safetensors --scales 2,3 --data " + dir + "/set", &log) == 0);
  CHECK(log.find("scale (neither") == std::string::npos);
  CHECK(log.find("warning") == std::string::npos);
  CHECK(run_command(bin("vdsr_eval") + " -g -1 --table3 --models srcnn-x3=" + dir + "/srcnn_x2.mat --data " + dir +
                        "/set",
                    &log) == 1);
  CHECK_THAT(log, Catch::Contains("that file is the SRCNN model for x2; give it as srcnn-x2="));
  CHECK(run_command(bin("vdsr_eval") + " -g -1 --table3 --models srcnn=" + dir + "/srcnn_x2.mat", &log) == 1);
  CHECK_THAT(log, Catch::Contains("unknown key 'srcnn'"));
}

TEST_CASE(".mat files with SRCNN variables of the wrong shape or class are refused, naming the variable") {
  const std::string dir = test::temp_dir("srcnn_bad");
  auto error = [](const std::string& path) { return test::error_of([&] { load_weights(path); }); };
  SrcnnArrays a = random_srcnn(9, 5, 5, 6, 4, 8);
  // weights_conv1 with 80 rows: not a square kernel.
  {
    mat_t* mat = Mat_CreateVer((dir + "/rows.mat").c_str(), nullptr, MAT_FT_MAT5);
    std::vector<double> w1(80 * 6, 0.1);
    put(mat, "weights_conv1", {80, 6}, w1);
    put(mat, "biases_conv1", {6, 1}, a.b1);
    put(mat, "weights_conv2", {6, 25, 4}, a.w2);
    put(mat, "biases_conv2", {4, 1}, a.b2);
    put(mat, "weights_conv3", {4, 25}, a.w3);
    put(mat, "biases_conv3", {1, 1}, a.b3);
    Mat_Close(mat);
  }
  CHECK_THAT(error(dir + "/rows.mat"), Catch::Contains(dir + "/rows.mat: 'weights_conv1' has shape [80, 6]"));
  // A missing bias.
  {
    mat_t* mat = Mat_CreateVer((dir + "/nobias.mat").c_str(), nullptr, MAT_FT_MAT5);
    put(mat, "weights_conv1", {81, 6}, a.w1);
    Mat_Close(mat);
  }
  CHECK_THAT(error(dir + "/nobias.mat"), Catch::Contains("no variable 'weights_conv2'"));
  // n1 of weights_conv2 disagreeing with weights_conv1.
  {
    mat_t* mat = Mat_CreateVer((dir + "/n1.mat").c_str(), nullptr, MAT_FT_MAT5);
    std::vector<double> w2(5 * 25 * 4, 0.1);
    put(mat, "weights_conv1", {81, 6}, a.w1);
    put(mat, "biases_conv1", {6, 1}, a.b1);
    put(mat, "weights_conv2", {5, 25, 4}, w2);
    put(mat, "biases_conv2", {4, 1}, a.b2);
    put(mat, "weights_conv3", {4, 25}, a.w3);
    put(mat, "biases_conv3", {1, 1}, a.b3);
    Mat_Close(mat);
  }
  CHECK_THAT(error(dir + "/n1.mat"), Catch::Contains("'weights_conv2' has shape [5, 25, 4], expected [6, f2^2, 4]"));
  // A truncated release file: refused with the file named.
  write_srcnn_mat(dir + "/good.mat", a);
  const std::string bytes = test::file_bytes(dir + "/good.mat");
  std::ofstream(dir + "/cut.mat", std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 9);
  CHECK_THAT(error(dir + "/cut.mat"), Catch::Contains(dir + "/cut.mat"));
}

TEST_CASE("Table 3: the authors' SRCNN 9-5-5 models reproduce the paper's SRCNN column on Set5 (data test)") {
  const std::string models = test::require_data("srcnn-official");
  const std::string set5 = test::require_data("Set5");
  const std::string dir = test::temp_dir("srcnn_table3");
  // A small VDSR for the VDSR column keeps the test to seconds: the column's plumbing is checked,
  // its values are the bundled model's own test (test_bundled_model).
  Vdsr tiny(VdsrConfig{3, 4, true});
  tiny.init_he(1);
  save_weights(dir + "/tiny.safetensors", tiny.config(), tiny.params());
  std::string log;
  const std::string cmd = bin("vdsr_eval") + " -g -1 --table3 --data " + set5 + " --json " + dir + "/t3.json" +
                          " --models vdsr=" + dir + "/tiny.safetensors,srcnn-x2=" + models +
                          "/srcnn_955_imagenet_x2.mat,srcnn-x3=" + models + "/srcnn_955_imagenet_x3.mat,srcnn-x4=" +
                          models + "/srcnn_955_imagenet_x4.mat";
  REQUIRE(run_command(cmd, &log) == 0);
  INFO(log);
  CHECK_THAT(log, Catch::Contains("| SRCNN"));
  CHECK_THAT(log,
             Catch::Contains("SSIM: ours, and beside VDSR's the paper's and the difference\n"
                             "set        scale | Bicubic  | SRCNN    | VDSR      paper    diff\n"
                             "Set5           2 |   0.9299 |   0.9542 | "));
  const auto doc = nlohmann::json::parse(test::file_bytes(dir + "/t3.json"));
  CHECK(doc.at("table3") == true);
  // Our protocol's values (srcnn-official/README.md: 36.656 / 32.749 / 30.484) and the paper's.
  const double ours[3] = {36.656, 32.749, 30.484}, paper[3] = {36.66, 32.75, 30.48};
  const double bicubic[3] = {33.6614, 30.3922, 28.4207};  // docs/results.md's bicubic table
  int cells = 0;
  for (const auto& r : doc.at("results")) {
    const int s = r.at("scale").get<int>();
    REQUIRE((s >= 2 && s <= 4 && r.at("set") == "Set5"));
    const double psnr = r.at("psnr").get<double>();
    if (r.at("method") == "SRCNN") {
      CHECK(std::fabs(psnr - paper[s - 2]) <= 0.01);
      CHECK(std::fabs(psnr - ours[s - 2]) <= 0.001);
      CHECK(r.at("paper_psnr").get<double>() == paper[s - 2]);
      CHECK(std::fabs(r.at("diff").get<double>() - (psnr - paper[s - 2])) < 1e-12);
      ++cells;
    } else if (r.at("method") == "Bicubic") {
      CHECK(std::fabs(psnr - bicubic[s - 2]) <= 0.0001);
      ++cells;
    } else {
      CHECK(r.at("method") == "VDSR");
      CHECK(r.at("paper_psnr").get<double>() == (s == 2 ? 37.53 : s == 3 ? 33.66 : 31.35));
      CHECK(r.at("paper_ssim").get<double>() == (s == 2 ? 0.9587 : s == 3 ? 0.9213 : 0.8838));
      CHECK(std::fabs(r.at("ssim_diff").get<double>() - (r.at("ssim").get<double>() - r.at("paper_ssim").get<double>())) <
            1e-12);
      ++cells;
    }
  }
  CHECK(cells == 9);
}

#endif
