// Launch facts of the persistent tensor-core kernels (see the header).
#include "kernels/kernel_launch.cuh"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/programmatic_launch.h"

namespace vdsr {

namespace {

struct DeviceFacts {
  int cc = 0, sms = 0;
  size_t smem_optin = 0;
  std::map<const void*, size_t> granted;  // kernel -> dynamic shared memory granted
  std::map<std::tuple<const void*, int, size_t, int>, int> clusters;  // active_clusters' answers
  std::map<const void*, int> ptx;  // kernel -> the PTX version its code on this device came from
};

std::mutex g_mu;
std::map<int, DeviceFacts> g_facts;
size_t g_smem_cap = SIZE_MAX;  // ScopedSmemLimit's cap on every device's opt-in limit

// The current device's facts (under g_mu).
DeviceFacts& facts_locked(int* dev_out) {
  int dev = 0;
  VDSR_CUDA_CHECK(cudaGetDevice(&dev));
  DeviceFacts& f = g_facts[dev];
  if (f.sms == 0) {
    int major = 0, minor = 0, sms = 0, optin = 0;
    VDSR_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    VDSR_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    VDSR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    VDSR_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    f.cc = major * 10 + minor;
    f.sms = sms;
    f.smem_optin = size_t(optin);
  }
  if (dev_out != nullptr) *dev_out = dev;
  return f;
}

}  // namespace

int current_device_cc() {
  const std::lock_guard<std::mutex> lock(g_mu);
  return facts_locked(nullptr).cc;
}

size_t max_dynamic_smem() {
  const std::lock_guard<std::mutex> lock(g_mu);
  return std::min(facts_locked(nullptr).smem_optin, g_smem_cap);
}

ScopedSmemLimit::ScopedSmemLimit(size_t bytes) {
  const std::lock_guard<std::mutex> lock(g_mu);
  saved_ = g_smem_cap;
  g_smem_cap = bytes;
}

ScopedSmemLimit::~ScopedSmemLimit() {
  const std::lock_guard<std::mutex> lock(g_mu);
  g_smem_cap = saved_;
}

int grant_dynamic_smem(const void* kernel, size_t smem, const char* who) {
  const std::lock_guard<std::mutex> lock(g_mu);
  DeviceFacts& f = facts_locked(nullptr);
  size_t& granted = f.granted[kernel];
  if (smem > granted || smem > g_smem_cap) {
    const size_t most = std::min(f.smem_optin, g_smem_cap);
    VDSR_CHECK(smem <= most, who << ": needs " << smem
                                 << " bytes of shared memory per CTA for this shape; "
                                    "this GPU grants at most "
                                 << most);
    VDSR_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    granted = smem;
  }
  return f.sms;
}

int persistent_grid(const void* kernel, int threads, size_t smem, int work, const char* who) {
  const int sms = grant_dynamic_smem(kernel, smem, who);
  int per_sm = 0;
  VDSR_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
  VDSR_CHECK(per_sm > 0, who << ": " << smem << " bytes of shared memory do not fit");
  return std::min(work, per_sm * sms);
}

int active_clusters(const void* kernel, int threads, size_t smem, int cluster, const char* who) {
  grant_dynamic_smem(kernel, smem, who);
  const std::lock_guard<std::mutex> lock(g_mu);
  auto& answers = facts_locked(nullptr).clusters;
  const auto key = std::make_tuple(kernel, threads, smem, cluster);
  const auto known = answers.find(key);
  if (known != answers.end()) return known->second;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(cluster));
  cfg.blockDim = dim3(unsigned(threads));
  cfg.dynamicSmemBytes = smem;
  cudaLaunchAttribute attr = cluster_attribute(unsigned(cluster));
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  int n = 0;
  VDSR_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&n, kernel, &cfg));
  answers[key] = n;
  return n;
}

int max_active_clusters(const void* kernel, int threads, size_t smem, int cluster, const char* who) {
  const int n = active_clusters(kernel, threads, smem, cluster, who);
  VDSR_CHECK(n > 0, who << ": no cluster of " << cluster << " CTAs with " << smem
                        << " bytes of shared memory each fits this GPU");
  return n;
}

bool programmatic_launch_here(const void* kernel) {
  if (!programmatic_launch()) return false;
  const std::lock_guard<std::mutex> lock(g_mu);
  DeviceFacts& f = facts_locked(nullptr);
  if (f.cc < 90) return false;
  const auto known = f.ptx.find(kernel);
  if (known != f.ptx.end()) return known->second >= 90;
  cudaFuncAttributes a = {};
  VDSR_CUDA_CHECK(cudaFuncGetAttributes(&a, kernel));
  f.ptx[kernel] = a.ptxVersion;
  return a.ptxVersion >= 90;
}

}  // namespace vdsr
