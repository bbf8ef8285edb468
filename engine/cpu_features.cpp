#include "engine/cpu_features.h"

#include <cstdlib>
#include <string>

#include "engine/error.h"

namespace vdsr {

Isa cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  const bool avx512 = false, avx2 = false;
#endif
  const char* env = std::getenv("VDSR_CPU_ISA");
  if (env == nullptr || *env == '\0')
    return avx512 ? Isa::kAvx512 : avx2 ? Isa::kAvx2 : Isa::kGeneric;
  const std::string want(env);
  if (want == isa_name(Isa::kGeneric)) return Isa::kGeneric;
  if (want == isa_name(Isa::kAvx2) && avx2) return Isa::kAvx2;
  if (want == isa_name(Isa::kAvx512) && avx512) return Isa::kAvx512;
  VDSR_USER_FAIL("VDSR_CPU_ISA=" << want
                            << " is not one of generic, avx2, avx512 that this CPU supports");
}

}  // namespace vdsr
