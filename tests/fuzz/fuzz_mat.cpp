// libFuzzer target: the .mat model path (model/mat_import.h: the v5 completeness walk, then
// libmatio, then our checks of variables, classes and shapes) on the raw bytes of a file. libmatio
// reads files only, so each input is written to a per-process temporary file. The only acceptable
// failure is a vdsr::Error; any other exception, a crash or a sanitizer report is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/error.h"
#include "model/mat_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/vdsr_fuzz_mat_" + std::to_string(getpid()) + ".mat";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    (void)vdsr::load_matlab_weights(path);
  } catch (const vdsr::Error&) {
  }
  return 0;
}
