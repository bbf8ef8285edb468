// The process-wide PDL setting (see the header).
#include "kernels/programmatic_launch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"

namespace vdsr {

namespace {

// Unset, empty or 0: off; 1: on. Anything else is refused rather than read as off, so that a
// VDSR_PDL=on or =yes does not time the kernels without PDL while saying nothing.
bool from_environment() {
  const char* v = std::getenv("VDSR_PDL");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0) return false;
  VDSR_USER_CHECK(
      std::strcmp(v, "1") == 0,
      "VDSR_PDL must be 0 or 1 (programmatic dependent launch off or on), got '" << v << "'");
  return true;
}

std::atomic<bool>& setting() {
  static std::atomic<bool> on{from_environment()};
  return on;
}

}  // namespace

bool programmatic_launch() { return setting().load(std::memory_order_relaxed); }

void set_programmatic_launch(bool on) { setting().store(on, std::memory_order_relaxed); }

}  // namespace vdsr
