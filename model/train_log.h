// The trainer's log and curve: train.jsonl (one JSON record per logged step and per epoch) and
// curve.svg (loss and the first validation set's PSNR against the epoch).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/svg_plot.h"

namespace vdsr {

// Drops records past `step` (written by a process whose work the checkpoint does not hold, or a
// torn last line) and returns the epoch records kept, by epoch.
std::map<int64_t, nlohmann::json> trim_log(const std::string& path, int64_t step);

// Whether an epoch's record carries `clip_bound_fraction` (and the run warns once): the norm clip
// bound in more than 90 % of the epoch's logged steps, where it, not the lr, sets the step length.
bool clip_set_the_steps(int64_t clip_bound, int64_t logged_steps);

// The curve's panels from the epoch records, each point at its record's epoch: the loss, and
// the first validation set's PSNR at each of `scales` (that panel only when any epoch has one).
std::vector<SvgPanel> curve_panels(const std::map<int64_t, nlohmann::json>& epochs,
                                   const std::vector<int>& scales);

// Redraws the curve from the epoch records (atomically).
void write_curve(const std::string& path, const std::map<int64_t, nlohmann::json>& epochs,
                 const std::vector<int>& scales);

}  // namespace vdsr
