// Finding and loading models: the bundled model (shipped beside the binaries once vdsr_train has
// produced one) and any weights or checkpoint file given with -m.
#pragma once

#include <memory>
#include <string>

#include "engine/device.h"
#include "model/vdsr.h"

namespace vdsr {

// The bundled model's file name, looked for (in order) beside the executable, in
// <prefix>/share/vdsr/ next to an installed executable, and in the source tree's model/ folder.
constexpr const char* kBundledModelName = "vdsr.safetensors";

// Path of the bundled model; throws with the places searched when there is none.
std::string bundled_model_path();

// Loads weights (or a checkpoint's weights) onto `device`.
std::unique_ptr<Vdsr> load_model(const std::string& path, Device device);
// A network on `device` with these weights.
std::unique_ptr<Vdsr> make_model(const VdsrWeights& w, Device device);

// The scale a model serves: 0 for any (VDSR is one model for every scale); an SRCNN model serves
// the one scale it was trained for, from its metadata "scale" (the .mat reader takes it from the
// file name, vdsr_convert keeps it), -1 when that is unknown.
int model_scale(const VdsrWeights& w);
// Refuses (a UserError naming `path`) an SRCNN model asked for a scale it was not trained for (any
// factor but that integer); an SRCNN model of unknown scale is used at `scale` with a warning. A
// VDSR model whose metadata lists its training scales ("scales", as vdsr_train writes it) warns
// when the factor the network runs at, `net_scale` (0: `scale`; vdsr_sr's may differ, model/upscale.h),
// lies outside them. `scale_flag` is the flag that would pick the model's own scale in the refusal
// ("-s" for vdsr_sr, "--scales" for vdsr_eval).
void check_model_scale(const VdsrWeights& w, const std::string& path, double scale, double net_scale = 0,
                       const char* scale_flag = "-s");

}  // namespace vdsr
