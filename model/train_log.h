// The trainer's log and curve: train.jsonl (one JSON record per logged step and per epoch) and
// curve.svg (loss and the first validation set's PSNR against the epoch).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vdsr {

// Drops records past `step` (written by a process whose work the checkpoint does not hold, or a
// torn last line) and returns the epoch records kept, by epoch.
std::map<int64_t, nlohmann::json> trim_log(const std::string& path, int64_t step);

// Redraws the curve from the epoch records (atomically).
void write_curve(const std::string& path, const std::map<int64_t, nlohmann::json>& epochs,
                 const std::vector<int>& scales);

}  // namespace vdsr
