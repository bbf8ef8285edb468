// The device side of programmatic dependent launch (kernels/programmatic_launch.h; launched by
// kernel_launch.cuh's launch_kernel). Every kernel launched that way follows two rules:
//   1. pdl_wait() comes before its first read of anything a kernel ahead of it in the stream may
//      write, and before its first write to global memory (the kernel ahead may still read it).
//      It returns once the kernels ahead have completed and their writes are visible; without the
//      attribute (or below compute 9.0) it returns at once.
//   2. pdl_launch_dependents() comes after pdl_wait(). It lets the next kernel start while this one
//      runs; because it follows the wait, the next kernel starts only after every kernel ahead of
//      this one has completed, which is what lets a kernel read data older than the kernel
//      directly ahead of it before its own wait (the conv weights: conv3x3_wgmma_sm90a.cu).
//      That those older kernels' writes are visible before the wait is an assumption the PTX ISA
//      does not state (it promises visibility at the wait): a completed grid's writes are in L2,
//      and the early copies read through L2 (cp.async.cg). The GPU test "programmatic dependent
//      launch changes no bit" is what checks it.
#pragma once

namespace vdsr::dev {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Both, at the top of a kernel that has nothing to do before the kernel ahead completes.
__device__ __forceinline__ void pdl_begin() {
  pdl_wait();
  pdl_launch_dependents();
}

}  // namespace vdsr::dev
