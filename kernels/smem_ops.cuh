// Shared-memory data movement of the bf16 tensor-core kernels (conv3x3_mma.cuh,
// conv3x3_wgmma_sm90a.cu): global -> shared 16-byte copies without a trip through registers
// (cp.async, sm_80 and later) and 8 x 8 matrix loads into mma fragments (ldmatrix).
#pragma once

#include <cstdint>

namespace vdsr {
namespace dev {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// src_bytes = 0 writes zeros (pixels outside the image). The sm_75 build gets traps: the
// launchers refuse devices below compute capability 8.0, so they are never reached.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(src_bytes));
#else
  __trap();
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::);
#else
  __trap();
#endif
}

// Pipelined staging: close the group of copies issued so far; wait until at most one group (the
// newest) is still in flight.
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#else
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_wait_but_newest() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 1;\n" ::);
#else
  __trap();
#endif
}

// Four 8 x 8 b16 matrices, one row address per lane (lanes 8k .. 8k + 7: matrix k), into the
// mma fragment layout; .trans delivers each matrix transposed.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

}  // namespace dev
}  // namespace vdsr
