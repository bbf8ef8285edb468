// The bf16 storage element as code without CUDA headers sees it (model/, kernels/ops.h): 16 bits,
// the top half of an IEEE float32, bit-compatible with CUDA's __nv_bfloat16. Only the CUDA
// kernels do arithmetic on it.
#pragma once

#include <cstdint>

namespace vdsr {

struct Bf16 {
  uint16_t bits;
};
static_assert(sizeof(Bf16) == 2, "Bf16 must be 2 bytes");

}  // namespace vdsr
