// Precision as data for the conv ops (kernels/ops.h): the compute mode of a convolution, and the
// element type of the maps it reads and writes. Names and parsing: model/precision.h.
//   Fp32  fp32 operands and accumulation (CUDA cores; the CPU's only mode)
//   Tf32  fp32 storage; tensor-core products of operands rounded to tf32, fp32 accumulation
//   Bf16  bf16 feature maps and weight copies on the tensor cores, fp32 accumulation
#pragma once

namespace vdsr {

enum class Precision { Fp32, Tf32, Bf16 };

enum class DType { F32, BF16 };

// A feature map (or image, or gradient map) in the op's device memory, with its element type;
// [N][H][W][channels] as the conv shape says.
struct MapView {
  void* data = nullptr;
  DType dtype = DType::F32;
};
struct ConstMapView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  ConstMapView() = default;
  ConstMapView(const void* d, DType t) : data(d), dtype(t) {}
  ConstMapView(MapView m) : data(m.data), dtype(m.dtype) {}  // NOLINT: a writable map reads too
};

}  // namespace vdsr
