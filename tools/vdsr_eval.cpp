// vdsr_eval: PSNR/SSIM tables on evaluation sets with the paper's protocol (docs/evaluation.md): 8-bit Y,
// modcrop, MATLAB bicubic down and up in double, the network (or bicubic alone), rounding, shave,
// PSNR and SSIM. Prints a table; --json writes the machine-readable results.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/eval_protocol.h"
#include "engine/file_plan.h"
#include "engine/image_io.h"
#include "engine/log.h"
#include "model/inference.h"
#include "model/model_files.h"
#include "tools/cli.h"

namespace fs = std::filesystem;
using namespace vdsr;

namespace {

struct Options {
  std::vector<std::string> data;
  std::vector<int> scales{2, 3, 4};
  std::string model;
  bool bicubic = false;
  int gpu = kDefaultDevice;
  std::string precision = "fp32";
  bool tta = false;
  std::string json;
};

std::vector<std::string> default_sets() {
  const char* env = std::getenv("VDSR_DATA_DIR");
  VDSR_USER_CHECK(env != nullptr && *env != '\0',
             "no evaluation sets given: pass --data DIR[,DIR...] (each folder one set, e.g. "
             "data/Set5,data/Set14) or set VDSR_DATA_DIR to a folder holding Set5, Set14, B100, "
             "Urban100");
  std::vector<std::string> sets;
  for (const char* name : {"Set5", "Set14", "B100", "Urban100"})
    if (fs::is_directory(fs::path(env) / name)) sets.push_back((fs::path(env) / name).string());
  VDSR_USER_CHECK(!sets.empty(), "VDSR_DATA_DIR=" << env << " holds none of Set5, Set14, B100, Urban100");
  return sets;
}

std::vector<std::string> images_in(const std::string& dir) {
  std::vector<std::string> skipped;
  auto files = list_image_files(dir, "evaluation set", &skipped);
  for (const auto& f : skipped) log_verbose("skipping " + f + " (not an image)");
  VDSR_USER_CHECK(!files.empty(), "evaluation set '" << dir << "' holds no images");
  return files;
}

int run(int argc, char** argv) {
  Options o;
  cli::Parser p("vdsr_eval", "PSNR/SSIM of VDSR (or bicubic) with the paper's protocol",
                "vdsr_eval [--data DIR[,DIR...]] [--scales 2,3,4] [-m MODEL | --bicubic] [--json FILE]");
  p.add({"", "--data", "DIR[,DIR...]",
         "evaluation sets, each named by its folder [$VDSR_DATA_DIR/{Set5,Set14,B100,Urban100}]",
         [&](const std::string& v) { o.data = cli::split_list(v); }});
  p.add({"", "--scales", "LIST", "scales to evaluate [2,3,4]",
         [&](const std::string& v) { o.scales = cli::parse_int_list(v, 2, 4, "--scales"); }});
  p.add({"-m", "--model", "FILE", "weights or checkpoint (safetensors) [the bundled model]",
         [&](const std::string& v) { o.model = v; }});
  p.add({"", "--bicubic", "", "score the bicubic baseline instead of a model",
         [&](const std::string&) { o.bicubic = true; }});
  p.add({"-g", "--gpu", "N", "device: GPU index, -1 for the CPU [0 if a GPU is usable, else -1]",
         [&](const std::string& v) { o.gpu = cli::parse_int(v, "--gpu"); }});
  p.add({"", "--precision", "MODE", "fp32, tf32 or bf16 (GPU only) [fp32]",
         [&](const std::string& v) { o.precision = v; }});
  p.add({"-x", "--tta", "", "average the 8 rotations/flips",
         [&](const std::string&) { o.tta = true; }});
  p.add({"", "--json", "FILE", "also write the results as JSON",
         [&](const std::string& v) { o.json = v; }});
  p.add_common();
  p.parse(argc, argv);

  VDSR_USER_CHECK(!(o.bicubic && !o.model.empty()), "--bicubic and -m exclude each other");
  VDSR_USER_CHECK(!(o.bicubic && o.tta), "--tta applies to a model, not to --bicubic");
  if (o.data.empty()) o.data = default_sets();

  std::unique_ptr<Vdsr> model;
  std::string model_desc = "bicubic";
  if (!o.bicubic) {
    const Device dev = select_device(o.gpu);
    const Precision precision = cli::check_precision(o.precision, dev.is_cuda());
    const std::string path = o.model.empty() ? bundled_model_path() : o.model;
    model = load_model(path, dev);
    model->set_precision(precision);
    model_desc = path + " (" + model->config().describe() + ", " + dev.name() + ", " +
                 precision_name(precision) + ")";
  }
  log_info("vdsr_eval: " + model_desc + (o.tta ? ", test-time augmentation x8" : ""));

  nlohmann::json results = nlohmann::json::array();
  std::printf("%-10s %5s %9s %8s %7s %9s\n", "set", "scale", "PSNR", "SSIM", "images", "seconds");
  std::fflush(stdout);
  for (const auto& dir : o.data) {
    const std::string set = fs::path(dir).lexically_normal().filename().string().empty()
                                ? fs::path(dir).lexically_normal().parent_path().filename().string()
                                : fs::path(dir).lexically_normal().filename().string();
    const auto files = images_in(dir);
    std::vector<Image> images;
    images.reserve(files.size());
    for (const auto& f : files) images.push_back(load_image(f));
    for (const int s : o.scales) {
      const auto t0 = std::chrono::steady_clock::now();
      double psnr_sum = 0, ssim_sum = 0;
      Progress progress(set + " x" + std::to_string(s), int64_t(files.size()), "img");
      for (size_t i = 0; i < files.size(); ++i) {
        const EvalSample sample = make_eval_sample(images[i], s, fs::path(files[i]).filename().string());
        const Plane out = !model ? sample.input
                          : o.tta ? run_model_tta(*model, sample.input)
                                  : run_model(*model, sample.input);
        const Scores sc = score_output(out, sample.hr, s);
        psnr_sum += sc.psnr;
        ssim_sum += sc.ssim;
        char line[256];
        std::snprintf(line, sizeof line, "  %s x%d: PSNR %.4f SSIM %.4f", sample.name.c_str(), s,
                      sc.psnr, sc.ssim);
        log_verbose(line);
        progress.update(int64_t(i + 1));
      }
      progress.finish();
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double n = static_cast<double>(files.size());
      std::printf("%-10s %5d %9.4f %8.4f %7zu %9.2f\n", set.c_str(), s, psnr_sum / n,
                  ssim_sum / n, files.size(), secs);
      std::fflush(stdout);
      results.push_back({{"set", set}, {"scale", s}, {"psnr", psnr_sum / n}, {"ssim", ssim_sum / n},
                         {"images", files.size()}, {"seconds", secs}});
    }
  }
  if (!o.json.empty()) {
    nlohmann::json doc = {{"results", results},
                          {"model", model_desc},
                          {"tta", o.tta},
                          {"version", cli::version_text("vdsr_eval")}};
    const std::string text = doc.dump(2) + "\n";
    write_file_atomic(o.json, text.data(), text.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
