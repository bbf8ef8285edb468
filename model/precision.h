// Compute modes (--precision; the enum is kernels/precision.h). fp32 is the reference and the only mode of the CPU;
// bf16 keeps the feature maps in bf16 and runs the hidden layers on the tensor cores, with fp32
// accumulation and fp32 master weights, momentum, loss and residual; tf32 stores everything in
// fp32 and runs the hidden layers on the tensor cores with tf32-rounded operands (kernels/ops.h).
#pragma once

#include <string>
#include <vector>

#include "kernels/precision.h"
#include "model/vdsr_config.h"

namespace vdsr {

// "fp32", "tf32" or "bf16"; anything else is an Error naming the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

// What a user should know before trusting a compute mode: empty for the modes whose kernels have
// passed their tests on a GPU; for tf32, which has never run on one, that its results are
// unverified (the GPU verification issue removes the note once its tests and gate pass).
std::string unverified_note(Precision p);

// How one layer runs in a precision: its math, the types of the maps it reads and writes, and
// which GEMM copy of the hidden layers' weights it reads (-1: the fp32 master weights).
struct LayerPlan {
  Precision math = Precision::Fp32;
  DType in = DType::F32, out = DType::F32;
  int gemm = -1;
  bool operator==(const LayerPlan& o) const { return math == o.math && in == o.in && out == o.out && gemm == o.gemm; }
};
// fp32: every layer fp32 on fp32 maps. tf32: the hidden layers in tf32 from their GEMM copies, the
// thin first and last layers in fp32. bf16: bf16 maps between the layers, the hidden layers in bf16
// from their GEMM copies; the first layer turns the fp32 image into a bf16 map and the last the
// bf16 map into the fp32 prediction, both in fp32 math from the master weights.
std::vector<LayerPlan> layer_plan(const VdsrConfig& cfg, Precision p);

}  // namespace vdsr
