// libFuzzer target, one binary per codec (fuzz_decode_png, _jpeg, _webp, _tiff, _bmp, _tga; the
// codec row is VDSR_FUZZ_CODEC): the row's probe on the bytes, the fuzz limits, then its decode, with
// no file and no sniffing in between, so each decoder wrapper (image/codec_*.cpp) and the library
// under it get every input. The only acceptable failure is a vdsr::Error; any other exception, a
// crash, a sanitizer report, or a success whose image breaks what the probe said is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "image/codec.h"
#include "tests/fuzz/image_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const vdsr::codec::Codec& c = vdsr::codec::VDSR_FUZZ_CODEC();
  if (c.missing != nullptr) return 0;  // this build has no library for it: nothing to fuzz
  const vdsr::codec::Bytes b{data, size};
  try {
    const vdsr::ImageInfo info = c.probe(b, "in");
    // 4 Mpx at most (32 MiB as 16-bit RGBA), as fuzz_image_load: legal but huge images are not news.
    if (info.width > 8192 || info.height > 8192 || int64_t(info.width) * info.height > (int64_t(1) << 22)) return 0;
    int orientation = 0;
    const vdsr::Image img = c.decode(b, "in", info, orientation);
    check_image_invariants(img);
    if (img.width != info.width || img.height != info.height || img.channels != info.channels ||
        img.bits != info.bits || orientation < 1 || orientation > 8)
      std::abort();
  } catch (const vdsr::Error&) {
  }
  return 0;
}
