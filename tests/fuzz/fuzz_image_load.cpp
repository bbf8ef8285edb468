// libFuzzer target: image/image_io's reading path (signature sniffing, our PNG chunk walk, the
// BMP/TGA size checks, every codec's probe and decode: image/codec_*.cpp). load_image takes a path, so each input is written to
// one file in a private temp folder (in /dev/shm when it exists) and read back under two names:
// "in.TGA" (the TGA fallback, upper-case extension) is loaded, and "in.png", a symlink to it, is
// probed (no signature there means "unknown signature"). The only acceptable failure is a
// vdsr::Error; any other exception, a crash or a sanitizer report is a finding.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "image/image_io.h"
#include "tests/fuzz/image_invariants.h"

namespace {

std::string g_dir, g_load_path, g_probe_path;

void cleanup() {
  ::unlink(g_probe_path.c_str());
  ::unlink(g_load_path.c_str());
  ::rmdir(g_dir.c_str());
}

void setup() {
  const char* tmp = std::getenv("TMPDIR");
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp != nullptr ? tmp : "/tmp";
  std::string tmpl = std::string(base) + "/vdsr_fuzz_img.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  g_dir = tmpl;
  g_load_path = g_dir + "/in.TGA";
  g_probe_path = g_dir + "/in.png";
  if (::symlink("in.TGA", g_probe_path.c_str()) != 0) std::abort();
  std::atexit(cleanup);
}

// Small limits keep one input from making the fuzzer spend its time (and RSS) on a legal but
// huge image: 4 Mpx is 32 MiB as 16-bit RGBA.
vdsr::ImageLimits fuzz_limits() {
  vdsr::ImageLimits l;
  l.max_side = 8192;
  l.max_pixels = int64_t(1) << 22;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_dir.empty()) setup();
  FILE* f = std::fopen(g_load_path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();

  try {
    check_image_invariants(vdsr::load_image(g_load_path, fuzz_limits()));
  } catch (const vdsr::Error&) {
  }
  try {
    (void)vdsr::probe_image(g_probe_path);
  } catch (const vdsr::Error&) {
  }
  return 0;
}
