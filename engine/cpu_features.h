// Which vector instruction set the CPU kernels use: the best the processor supports (AVX-512,
// AVX2 + FMA, or the generic baseline), chosen at run time so the default build needs no -march.
// VDSR_CPU_ISA=avx512|avx2|generic forces a path (an unsupported one is an Error); the tests use it
// to cover every path on one machine.
#pragma once

namespace vdsr {

enum class Isa { kGeneric, kAvx2, kAvx512 };

Isa cpu_isa();

// Vector width in floats of each path.
inline int isa_width(Isa isa) { return isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 4; }

// The path's name as VDSR_CPU_ISA spells it.
inline const char* isa_name(Isa isa) {
  return isa == Isa::kAvx512 ? "avx512" : isa == Isa::kAvx2 ? "avx2" : "generic";
}

}  // namespace vdsr
