// The process-wide PDL setting (see the header).
#include "kernels/programmatic_launch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace vdsr {

namespace {

bool from_environment() {
  const char* v = std::getenv("VDSR_PDL");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::atomic<bool>& setting() {
  static std::atomic<bool> on{from_environment()};
  return on;
}

}  // namespace

bool programmatic_launch() { return setting().load(std::memory_order_relaxed); }

void set_programmatic_launch(bool on) { setting().store(on, std::memory_order_relaxed); }

}  // namespace vdsr
