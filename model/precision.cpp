#include "model/precision.h"

#include "engine/error.h"

namespace vdsr {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "tf32") return Precision::Tf32;
  if (name == "bf16") return Precision::Bf16;
  VDSR_USER_FAIL("--precision must be fp32, tf32 or bf16, got '" << name << "'");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Tf32: return "tf32";
    case Precision::Bf16: return "bf16";
  }
  return "?";
}

std::vector<LayerPlan> layer_plan(const VdsrConfig& cfg, Precision p) {
  const std::vector<LayerDesc> layers = layer_table(cfg);
  const DType map = p == Precision::Bf16 ? DType::BF16 : DType::F32;
  std::vector<LayerPlan> plan(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const bool first = i == 0, last = i + 1 == layers.size(), hidden = !first && !last;
    plan[i].in = first ? DType::F32 : map;
    plan[i].out = last ? DType::F32 : map;
    plan[i].math = hidden ? p : Precision::Fp32;
    plan[i].gemm = hidden && p != Precision::Fp32 ? int(i) - 1 : -1;
  }
  return plan;
}

std::string unverified_note(Precision p) {
  if (p != Precision::Tf32) return {};
  return "--precision tf32 has not run on a GPU yet: its kernels are written and have GPU tests, "
         "which "
         "have not run either, so their results, speed and accuracy on hardware are unverified "
         "(README); fp32 and bf16 are "
         "the tested modes";
}

}  // namespace vdsr
