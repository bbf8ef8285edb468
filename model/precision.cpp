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

}  // namespace vdsr
