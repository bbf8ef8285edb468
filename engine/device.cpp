#include "engine/device.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "engine/collective.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/thread_pool.h"

#ifdef VDSR_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "engine/cuda_check.h"
#endif

#ifdef VDSR_HAVE_CUDA
namespace vdsr {
// Defined in engine/cuda_probe.cu: launches a trivial kernel to prove the build has an image for
// the device; returns cudaSuccess or the launch error.
int cuda_probe_launch(int device);
}  // namespace vdsr
#endif

namespace vdsr {

std::string Device::name() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

void make_current(Device d) {
  if (d.is_cpu()) return;
#ifdef VDSR_HAVE_CUDA
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == d.index) return;
  VDSR_CUDA_CHECK(cudaSetDevice(d.index));
#else
  VDSR_FAIL("device " << d.name() << " requested but this build has no CUDA backend");
#endif
}

uint64_t memory_bytes(Device d) {
  if (d.is_cpu()) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  }
#ifdef VDSR_HAVE_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, d.index) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return uint64_t(prop.totalGlobalMem);
#else
  return 0;
#endif
}

DeviceMemory cuda_memory_info(Device d) {
  VDSR_CHECK(d.is_cuda(), "cuda_memory_info needs a CUDA device, not " << d.name());
#ifdef VDSR_HAVE_CUDA
  VDSR_CUDA_CHECK(cudaSetDevice(d.index));
  size_t free_bytes = 0, total_bytes = 0;
  VDSR_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return {uint64_t(free_bytes), uint64_t(total_bytes)};
#else
  VDSR_FAIL("device " << d.name() << " requested but this build has no CUDA backend");
#endif
}

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1000 && u < 5) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

bool cuda_compiled() {
#ifdef VDSR_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef VDSR_HAVE_CUDA
namespace {
// Why cudaGetDeviceCount failed, in words a user can act on; the runtime's own text in brackets.
std::string no_gpu_reason(cudaError_t err) {
  const std::string runtime_says = std::string(" (CUDA: ") + cudaGetErrorString(err) + ")";
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaGetLastError();
  const auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  if (err == cudaErrorNoDevice) return "no NVIDIA GPU found" + runtime_says;
  if (err == cudaErrorInsufficientDriver) {
    if (driver == 0) return "no NVIDIA driver is installed" + runtime_says;
    return "the NVIDIA driver supports CUDA " + version(driver) + ", older than this build's CUDA " +
           version(runtime) + "; update the driver" + runtime_says;
  }
  return "CUDA cannot start" + runtime_says;
}
}  // namespace
#endif

int usable_cuda_devices(std::string* why, int probe_device) {
#ifdef VDSR_HAVE_CUDA
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why != nullptr) *why = no_gpu_reason(err);
    return 0;
  }
  if (count == 0) {
    if (why != nullptr) *why = "no NVIDIA GPU found";
    return 0;
  }
  // The launch makes a context (hundreds of MB) on the device it runs on: probe the one the caller
  // will use, so that -g 1, or rank 3 of 4, leaves GPU 0 alone.
  const int device = probe_device >= 0 && probe_device < count ? probe_device : 0;
  const int probe = cuda_probe_launch(device);
  if (probe != 0) {
    if (why != nullptr) {
      const auto launch = static_cast<cudaError_t>(probe);
      cudaDeviceProp prop{};
      const bool named = cudaGetDeviceProperties(&prop, device) == cudaSuccess;
      cudaGetLastError();
      const std::string gpu = named ? std::string(prop.name) + ", compute " + std::to_string(prop.major) + "." +
                                          std::to_string(prop.minor)
                                    : std::string("compute capability unknown");
      *why = launch == cudaErrorNoKernelImageForDevice
                 ? "GPU " + std::to_string(device) + " cannot run this build: this build has kernels for GPU architectures " VDSR_CUDA_ARCHS
                   " only, not for this GPU (" + gpu + "); rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                       (named ? std::to_string(prop.major) + std::to_string(prop.minor) : std::string("<its>")) +
                       " (CUDA: " + cudaGetErrorString(launch) + ")"
                 : "GPU " + std::to_string(device) + " cannot run this build (" + gpu + "; CUDA: " + cudaGetErrorString(launch) + ")";
    }
    return 0;
  }
  return count;
#else
  (void)probe_device;
  if (why != nullptr)
    *why =
        "this build has no CUDA backend (configured with VDSR_CUDA=OFF, or AUTO where no CUDA "
        "compiler was found)";
  return 0;
#endif
}

int cuda_device_count() {
#ifdef VDSR_HAVE_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

Device default_device(int preferred) {
  std::string why;
  if (usable_cuda_devices(&why, preferred) > 0) return Device::cuda(preferred);
  log_info("running on the CPU: " + why);
  return Device::cpu();
}

Device select_device(int requested) {
  if (requested == -1) return Device::cpu();
  if (requested == kDefaultDevice) return default_device(0);
  std::string why;
  const int n = usable_cuda_devices(&why, requested);
  VDSR_USER_CHECK(requested >= 0, "invalid device " << requested << " (use -1 for the CPU)");
  VDSR_USER_CHECK(n > 0, "GPU " << requested << " is not usable: " << why);
  VDSR_USER_CHECK(requested < n, "GPU " << requested << " does not exist (" << n << " usable)");
  return Device::cuda(requested);
}

std::string backend_info() {
  std::ostringstream os;
#ifdef VDSR_HAVE_CUDA
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  os << "CUDA runtime " << runtime / 1000 << "." << runtime % 1000 / 10 << ", driver supports "
     << (driver > 0 ? std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10)
                    : std::string("none"))
     << "\n";
  os << "GPU architectures: " << VDSR_CUDA_ARCHS << "\n";
#else
  os << "CUDA: not built (CPU backend only)\n";
#endif
#ifdef VDSR_CUDNN_VERSION
  os << "cuDNN (bench and tests only): " << VDSR_CUDNN_VERSION << "\n";
#else
  os << "cuDNN: not found at build time\n";
#endif
#if defined(VDSR_NCCL_VERSION)
  const std::string nccl = " and NCCL " VDSR_NCCL_VERSION;
#elif defined(VDSR_HAVE_CUDA)
  const std::string nccl = " (NCCL not found at build time: GPU ranks average over MPI)";
#else
  const std::string nccl;
#endif
  os << "multi-process training: " << (mpi_compiled() ? "MPI" + nccl : "not built (no MPI)") << "\n";
  // --version answers even where a bad VDSR_THREADS stops every run: it says why.
  try {
    const int threads = ThreadPool::global().size();
    os << "CPU threads: " << threads;
  } catch (const UserError& e) {
    os << "CPU threads: none (" << e.message() << ")";
  }
  return os.str();
}

}  // namespace vdsr
