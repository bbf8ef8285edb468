// What a successful decode promises, for the image fuzz targets: a positive size, 1-4 channels, 8 or
// 16 bits, exactly width x height x channels samples, 8-bit samples at most 255. Aborts (a finding)
// otherwise.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "image/image_io.h"

inline void check_image_invariants(const vdsr::Image& img) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 || (img.bits != 8 && img.bits != 16) ||
      img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels))
    std::abort();
  if (img.bits == 8)
    for (const uint16_t v : img.pixels)
      if (v > 255) std::abort();
}
