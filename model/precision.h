// Compute modes (BRIEF §4, --precision). fp32 is the reference and the only mode of the CPU;
// bf16 keeps the feature maps in bf16 and runs the hidden layers on the tensor cores, with fp32
// accumulation and fp32 master weights, momentum, loss and residual; tf32 stores everything in
// fp32 and runs the hidden layers on the tensor cores with tf32-rounded operands (kernels/ops.h).
#pragma once

#include <string>

namespace vdsr {

enum class Precision { Fp32, Tf32, Bf16 };

// "fp32", "tf32" or "bf16"; anything else is an Error naming the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

}  // namespace vdsr
