// Comparisons shared by the CPU and GPU convolution tests: float results against the double
// references with a bound that cannot flake, exact and bitwise equality, a ReLU source with exact
// zeros, and the CPU kernels' vector paths and forward methods.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv_shape.h"

namespace vdsr::test {

std::string shape_str(const ConvShape& s);
std::vector<double> abs_of(const std::vector<double>& v);

// Float result against the double reference. Each output is a float sum of `chain` terms (bias
// included) whose inputs are exactly the reference's; recursive summation then errs by at most
// gamma_chain * sum|terms| (Higham), and gamma_n < 2 n u = n 2^-23 here (one more rounding per term
// where there is no FMA is covered by the +2). sumabs is the reference run on |inputs|. Non-finite
// results (the NaN poison left unwritten) fail.
void require_close(const std::vector<float>& got, const std::vector<double>& want,
                   const std::vector<double>& sumabs, double chain, const std::string& what);
// Bit-exact comparison (float result against a double reference that is exactly representable).
void require_exact(const std::vector<float>& got, const std::vector<double>& want,
                   const std::string& what);
bool same_bits(const std::vector<float>& a, const std::vector<float>& b);

// The vector paths of the CPU conv kernels that this machine can run ("generic", "avx2", "avx512"),
// and a scope that forces one (VDSR_CPU_ISA) for the kernels called inside it.
std::vector<std::string> isa_paths();
struct IsaScope {
  explicit IsaScope(const std::string& isa);
  ~IsaScope();
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
};

// The CPU convolutions' methods (VDSR_CPU_CONV, kernels/conv_fwd.h: "auto", Winograd F(4x4) or F(2x2)
// where it suits the shape, "winograd2", F(2x2) only, and "direct") and a scope that forces one for
// the kernels called inside it (backward-data runs the forward too).
std::vector<std::string> cpu_conv_algos();
struct CpuConvScope {
  explicit CpuConvScope(const std::string& algo);
  ~CpuConvScope();
  CpuConvScope(const CpuConvScope&) = delete;
  CpuConvScope& operator=(const CpuConvScope&) = delete;
};

// A ReLU source with exact zeros (masked), positives and negatives (masked too).
std::vector<float> relu_source(size_t n, uint32_t seed);

}  // namespace vdsr::test
