// Devices: where a buffer lives and where ops run. The CPU backend always exists; the CUDA backend
// exists when the build has CUDA (VDSR_HAVE_CUDA) and a usable GPU is present at run time.
#pragma once

#include <cstdint>
#include <string>

namespace vdsr {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device cpu() { return {}; }
  static Device cuda(int i) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string name() const;  // "cpu" or "cuda:0"
};

// True when this binary was built with the CUDA backend.
bool cuda_compiled();

// Number of CUDA devices this build can run on; 0 without CUDA, without a driver, with a driver too
// old for the runtime, or when no kernel image in the build fits the device. `why` (optional)
// receives the reason when it returns 0 in a CUDA build. The kernel-image check launches on
// `probe_device` (device 0 when out of range), the one the caller means to use: a launch makes a
// context there.
int usable_cuda_devices(std::string* why = nullptr, int probe_device = 0);

// CUDA devices the driver lists, without launching anything (no context is made); 0 without CUDA.
int cuda_device_count();

// GPU `preferred` if usable, else the CPU with the reason through log_info: -g's default.
Device default_device(int preferred);

// Resolves the -g/--gpu flag. requested = -1: the CPU; >= 0: that GPU, or an Error if it is not
// usable; kDefaultDevice: GPU 0 if usable, else the CPU with a message through log_info.
constexpr int kDefaultDevice = -1000;
Device select_device(int requested);

// Memory a device has in all: the host's physical memory for the CPU, the GPU's global memory
// for a CUDA device. For checks of a requested size before allocating it.
uint64_t memory_bytes(Device d);
// Free and total bytes of a CUDA device's memory now (cudaMemGetInfo); makes `d` the calling
// thread's current device. An Error for the CPU, in a build without CUDA, or when CUDA fails.
struct DeviceMemory {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};
DeviceMemory cuda_memory_info(Device d);
// Makes `d` the calling thread's current GPU (a no-op for the CPU). Kernels launch on the current
// GPU, and a thread starts on GPU 0, so an entry point that any thread may call (a model's forward
// on vdsr_sr's process workers) makes its device current first. Cheap when it already is.
void make_current(Device d);
// "1.5 GB": bytes in decimal units, for messages.
std::string format_bytes(double bytes);

// One line per fact for --version: CUDA runtime and driver, cuDNN headers seen at build time,
// compiled GPU architectures, CPU threads.
std::string backend_info();

}  // namespace vdsr
