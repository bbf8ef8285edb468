// fp32 -> tf32 on the device (the tf32 mode: kernels/conv3x3_mma.cuh's activations, the weight
// copies of kernels/conv3x3_gemm_weights.cu): 10 fraction bits, round to nearest with ties away
// from zero (cvt.rna); the low 13 bits come back cleared on the GPUs we know, though the PTX ISA
// leaves the tf32 word's layout to the implementation (a copy kept as fp32 values clears them
// itself: conv3x3_gemm_weights.cu). sm_80 code:
// the sm_75 build gets a trap, which the tf32 launchers never reach (they refuse devices below
// compute capability 8.0).
#pragma once

#include <cstdint>

namespace vdsr {
namespace dev {

__device__ __forceinline__ uint32_t to_tf32(uint32_t f32_bits) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(__uint_as_float(f32_bits)));
  return r;
#else
  __trap();
  return 0;
#endif
}

}  // namespace dev
}  // namespace vdsr
