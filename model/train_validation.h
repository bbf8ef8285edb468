// Validation during training: the --val sets prepared once (the evaluation protocol's samples at
// every training scale, and their bicubic PSNR), their PSNR after an epoch, and the two signs of a
// collapsed network (docs/training.md, "The math").
#pragma once

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "image/eval_protocol.h"
#include "model/vdsr.h"

namespace vdsr {

struct ValSet {
  std::string name;                               // the folder's basename
  std::vector<std::vector<EvalSample>> by_scale;  // [scale index][image]
  std::vector<double> bicubic_psnr;               // [scale index]: the mean PSNR of bicubic
};

std::vector<ValSet> load_validation_sets(const std::vector<std::string>& dirs, const std::vector<int>& scales);
// The --val sets' names (their folders') distinct, as load_validation_sets requires: a UserError
// naming both folders otherwise. Also checked by --print-config, which reads no images.
void check_validation_names(const std::vector<std::string>& dirs);

// Scores the model on every set and scale into the epoch record (val_psnr_x<s> for the first set,
// "val" for all); returns the first set's scores as text for the epoch line, or nothing when a stop
// request (`stop` non-zero, read before each image) cut it short.
std::optional<std::string> validate(Vdsr& model, const std::vector<ValSet>& val,
                                    const std::vector<int>& scales, nlohmann::json& rec,
                                    const std::atomic<int>* stop = nullptr);

// True when the record's first-set PSNR equals bicubic's at every scale (within 0.005 dB).
bool at_bicubic(const std::vector<ValSet>& val, const std::vector<int>& scales, const nlohmann::json& rec);

// Patches the collapse probe runs through the network at each epoch end.
constexpr int64_t kProbePatches = 8;

// Non-empty when the network no longer depends on its input: the residual (output - input) of
// every probe patch equals the first one's (the ReLUs of some layer are all dead, so whatever
// follows sees a constant). `x` [n][patch][patch] on the model's device; `y` scratch of the same size.
std::string collapse_reason(Vdsr& model, const float* x, int64_t n, int patch, float* y);

}  // namespace vdsr
