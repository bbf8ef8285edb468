// The trainer's files besides the checkpoint: train.jsonl trimmed to the checkpoint on resume, and
// curve.svg (model/train_log.h).
#include "model/train_log.h"

#include <fstream>

#include "engine/atomic_file.h"
#include "io/svg_plot.h"

namespace vdsr {

// Drops records past `step` (written by a process whose work the checkpoint does not hold, or a
// torn last line) and returns the epoch records kept, by epoch.
std::map<int64_t, nlohmann::json> trim_log(const std::string& path, int64_t step) {
  std::map<int64_t, nlohmann::json> epochs;
  std::ifstream in(path);
  if (!in) return epochs;
  std::string kept;
  bool dropped = false;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json r;
    try {
      r = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      dropped = true;
      continue;
    }
    if (!r.is_object() || !r.contains("step") || !r["step"].is_number() || r["step"].get<int64_t>() > step) {
      dropped = true;
      continue;
    }
    kept += line + "\n";
    if (r.contains("record") && r["record"] == "epoch" && r.contains("epoch") && r["epoch"].is_number()) epochs[r["epoch"].get<int64_t>()] = r;
  }
  in.close();
  if (dropped) write_file_atomic(path, kept.data(), kept.size());
  return epochs;
}

bool clip_set_the_steps(int64_t clip_bound, int64_t logged_steps) {
  return logged_steps > 0 && clip_bound * 10 > logged_steps * 9;
}

std::vector<SvgPanel> curve_panels(const std::map<int64_t, nlohmann::json>& epochs,
                                   const std::vector<int>& scales) {
  SvgPanel loss{"training loss", "epoch", "loss (mean of logged steps)", {}, true, true};
  SvgSeries ls{"loss", {}, {}, ""};
  SvgPanel psnr{"validation PSNR (Y, first --val set)", "epoch", "PSNR (dB)", {}, false, true};
  std::vector<SvgSeries> ps;
  for (const int s : scales) ps.push_back({"x" + std::to_string(s), {}, {}, ""});
  for (const auto& [e, r] : epochs) {
    if (r.contains("loss") && r["loss"].is_number()) {
      ls.x.push_back(double(e));
      ls.y.push_back(r["loss"].get<double>());
    }
    for (size_t i = 0; i < scales.size(); ++i) {
      const std::string key = "val_psnr_x" + std::to_string(scales[i]);
      if (r.contains(key) && r[key].is_number()) {
        ps[i].x.push_back(double(e));
        ps[i].y.push_back(r[key].get<double>());
      }
    }
  }
  loss.series.push_back(std::move(ls));
  std::vector<SvgPanel> panels{loss};
  bool any_val = false;
  for (const auto& s : ps) any_val = any_val || !s.x.empty();
  if (any_val) {
    psnr.series = std::move(ps);
    panels.push_back(std::move(psnr));
  }
  return panels;
}

void write_curve(const std::string& path, const std::map<int64_t, nlohmann::json>& epochs,
                 const std::vector<int>& scales) {
  const std::string svg = svg_line_chart(curve_panels(epochs, scales));
  write_file_atomic(path, svg.data(), svg.size());
}

}  // namespace vdsr
