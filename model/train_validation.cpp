// Validation during training (model/train_validation.h): the sets, their scores after an epoch,
// and the two ways a collapsed network shows.
#include "model/train_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/buffer.h"
#include "engine/error.h"
#include "image/image_io.h"
#include "io/file_plan.h"
#include "model/tiled.h"

namespace fs = std::filesystem;

namespace vdsr {

void check_validation_names(const std::vector<std::string>& dirs) {
  std::vector<std::string> names;
  for (const auto& d : dirs) {
    names.push_back(set_name(d, "--val"));  // named as vdsr_eval names it
    // Records key each set's scores by its name: two of one name would keep one set's only.
    for (size_t k = 0; k + 1 < names.size(); ++k)
      VDSR_USER_CHECK(names[k] != names.back(),
                      "--val: " << printable(dirs[k]) << " and " << printable(d)
                                << " are both named '" << names.back()
                                << "' (a set is named by its folder), so the log could "
                                   "not tell their scores apart; give each set a folder "
                                   "of its own name");
  }
}

std::vector<ValSet> load_validation_sets(const std::vector<std::string>& dirs,
                                         const std::vector<int>& scales) {
  check_validation_names(dirs);
  std::vector<ValSet> val;
  for (const auto& d : dirs) {
    ValSet vs{set_name(d, "--val"), {}, {}};
    const auto vfiles =
        list_image_files_verbose(d, "validation set", "a set is the images directly in its folder");
    VDSR_USER_CHECK(!vfiles.empty(), "no images found in the validation set " << d);
    std::vector<Image> imgs;
    for (const auto& f : vfiles) imgs.push_back(load_image(f));
    for (const int s : scales) {
      vs.by_scale.emplace_back();
      for (size_t i = 0; i < imgs.size(); ++i) {
        vs.by_scale.back().push_back(make_eval_sample(imgs[i], s, vfiles[i]));
        require_scorable(vs.by_scale.back().back());  // --val's images are scored as vdsr_eval's
      }
    }
    for (const auto& by_scale : vs.by_scale) {
      double sum = 0;
      for (size_t i = 0; i < by_scale.size(); ++i) {
        const auto& sm = by_scale[i];
        const double psnr = score_output(sm.input, sm.hr, sm.scale).psnr;
        // An image bicubic gets exactly right (one grey level) scores infinity whatever the network
        // does: the set's mean would hide every other image, and the collapse check would misfire.
        VDSR_USER_CHECK(std::isfinite(psnr), "--val " << d << ": " << vfiles[i] << " is reconstructed exactly by "
                                                     << "bicubic at x" << sm.scale << " (a flat image?), so its PSNR is "
                                                     << "infinite; leave it out of the validation set");
        sum += psnr;
      }
      vs.bicubic_psnr.push_back(sum / double(by_scale.size()));
    }
    val.push_back(std::move(vs));
  }
  return val;
}

std::optional<std::string> validate(Vdsr& model, const std::vector<ValSet>& val,
                                    const std::vector<int>& scales, nlohmann::json& rec,
                                    const std::atomic<int>* stop) {
  if (val.empty()) return "";
  std::string text;
  nlohmann::json all = nlohmann::json::object();
  for (size_t v = 0; v < val.size(); ++v)
    for (size_t si = 0; si < scales.size(); ++si) {
      const int s = scales[si];
      double sum = 0;
      for (const auto& sm : val[v].by_scale[si]) {
        if (stop != nullptr && stop->load() != 0) return std::nullopt;
        const int tile = auto_tile(model, sm.input.height, sm.input.width);  // pieces where needed
        sum += score_output(run_model_tiled(model, sm.input, tile), sm.hr, s).psnr;
      }
      const double psnr = sum / double(val[v].by_scale[si].size());
      all[val[v].name]["x" + std::to_string(s)] = psnr;
      if (v == 0) {
        rec["val_psnr_x" + std::to_string(s)] = psnr;
        char b[48];
        std::snprintf(b, sizeof b, " x%d %.3f", s, psnr);
        text += b;
      }
    }
  rec["val"] = all;
  return text;
}

bool at_bicubic(const std::vector<ValSet>& val, const std::vector<int>& scales, const nlohmann::json& rec) {
  if (val.empty()) return false;
  for (size_t si = 0; si < scales.size(); ++si)
    if (std::abs(rec["val_psnr_x" + std::to_string(scales[si])].get<double>() - val[0].bicubic_psnr[si]) >= 0.005)
      return false;
  return true;
}

// Non-empty when the network no longer depends on its input: the residual (output - input) of
// every probe patch equals the first one's (the ReLUs of some layer are all dead, so whatever
// follows sees a constant). `x` [n][patch][patch] on the model's device; `y` scratch of the same size.
std::string collapse_reason(Vdsr& model, const float* x, int64_t n, int patch, float* y) {
  if (n < 2) return "";
  const size_t area = size_t(patch) * size_t(patch), count = size_t(n) * area;
  model.forward(n, patch, patch, x, y);
  std::vector<float> hx(count), hy(count);
  copy_bytes(Device::cpu(), hx.data(), model.device(), x, count * sizeof(float));
  copy_bytes(Device::cpu(), hy.data(), model.device(), y, count * sizeof(float));
  double spread = 0, input_spread = 0, largest = 0;
  for (size_t p = 1; p < size_t(n); ++p)
    for (size_t i = 0; i < area; ++i) {
      const size_t a = i, b = p * area + i;
      spread = std::max(spread, std::abs(double(hy[b] - hx[b]) - double(hy[a] - hx[a])));
      input_spread = std::max(input_spread, std::abs(double(hx[b]) - double(hx[a])));
      largest = std::max(largest, std::abs(double(hy[b] - hx[b])));
    }
  if (input_spread == 0 || spread > 1e-6) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "its output no longer depends on its input (the same residual, max |r| = %.3g, "
                "for every patch: the ReLUs of a layer have all died)", largest);
  return buf;
}

}  // namespace vdsr
