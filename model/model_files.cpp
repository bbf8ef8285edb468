#include "model/model_files.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"
#include "model/weights_io.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {
fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : exe.parent_path();
}
}  // namespace

std::string bundled_model_path() {
  const fs::path exe_dir = executable_dir();
  std::vector<fs::path> candidates = {exe_dir / kBundledModelName,
                                      exe_dir.parent_path() / "share" / "vdsr" / kBundledModelName};
#ifdef VDSR_SOURCE_MODEL_DIR
  candidates.push_back(fs::path(VDSR_SOURCE_MODEL_DIR) / kBundledModelName);
#endif
  std::string searched;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c)) return c.string();
    searched += (searched.empty() ? "" : ", ") + c.string();
  }
  VDSR_USER_FAIL("no bundled model found (looked at " << searched
                                                 << "); pass -m FILE, or --bicubic for the "
                                                    "bicubic baseline");
}

std::unique_ptr<Vdsr> load_model(const std::string& path, Device device) { return make_model(load_weights(path), device); }

std::unique_ptr<Vdsr> make_model(const VdsrWeights& w, Device device) {
  auto model = std::make_unique<Vdsr>(w.config, device);
  model->set_params(w.params);
  return model;
}

int model_scale(const VdsrWeights& w) {
  if (w.config.arch != Arch::Srcnn) return 0;
  const auto it = w.metadata.find("scale");
  if (it != w.metadata.end() && it->second.size() == 1 && it->second[0] >= '2' && it->second[0] <= '4')
    return it->second[0] - '0';
  return -1;
}

void check_model_scale(const VdsrWeights& w, const std::string& path, double scale, double net_scale,
                       const char* scale_flag) {
  const int serves = model_scale(w);
  const std::string sx = format_scale(scale);
  const bool whole = scale == std::floor(scale);
  VDSR_USER_CHECK(serves <= 0 || double(serves) == scale,
                  printable(path) << " is an SRCNN model for x" << serves << " (one model per scale); it cannot "
                                  << "upscale " << sx << ": use " << (whole ? "its " + sx + " model" : "a VDSR model")
                                  << ", or " << scale_flag << " " << serves);
  if (serves < 0) {
    VDSR_USER_CHECK(whole, printable(path) << " is an SRCNN model of unknown scale (one model per integer scale); "
                                              "it cannot upscale " << sx);
    log_warning(printable(path) + ": an SRCNN model of unknown scale (neither its metadata nor its file name says); "
                "using it at " + sx);
  }
  if (serves != 0) return;
  // A VDSR model: the factors it was trained at, when its metadata says (a list of integers; a
  // checkpoint's as its run's option).
  auto it = w.metadata.find("scales");
  if (it == w.metadata.end()) it = w.metadata.find("config.scales");
  if (it == w.metadata.end()) return;
  std::vector<int> factors;
  try {
    factors = parse_int_list(it->second, 1, 64, "scales");
  } catch (const Error&) {
    return;  // not a list of factors: say nothing
  }
  std::string trained;
  for (const int v : factors) trained += (trained.empty() ? "" : ", ") + format_scale(double(v));
  const int lo = *std::min_element(factors.begin(), factors.end());
  const int hi = *std::max_element(factors.begin(), factors.end());
  const double runs_at = net_scale > 0 ? net_scale : scale;
  if (runs_at < lo || runs_at > hi)
    log_warning(
        printable(path) + " was trained at " + trained + "; " + sx +
        (runs_at != scale ? " (the network at " + format_scale(runs_at) + ")" : std::string()) +
        " lies outside " + (factors.size() > 1 ? "them" : "it") +
        ", so expect less gain over bicubic there");
}

}  // namespace vdsr
