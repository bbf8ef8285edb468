// Functions written once for the CPU and the CUDA kernels (so the two cannot drift apart): under
// nvcc they are __host__ __device__, in the host compiler plain inline. VDSR_UNROLL asks nvcc's
// device pass to unroll the loop that follows and is nothing to a host compiler (GCC, also nvcc's
// host pass, would warn about an unknown pragma).
#pragma once

#ifdef __CUDACC__
#define VDSR_HOST_DEVICE __host__ __device__ inline
#else
#define VDSR_HOST_DEVICE inline
#endif

#ifdef __CUDA_ARCH__
#define VDSR_UNROLL _Pragma("unroll")
#else
#define VDSR_UNROLL
#endif
