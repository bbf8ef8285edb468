// stb baseline codecs (bench/stb_baseline.h). stb_image's PNG and JPEG decoders are compiled into
// this unit alone (STB_IMAGE_STATIC: static functions, no clash with image/stb_impl.cpp, which links
// stb_image_write and the BMP / TGA decoders). stb's own code is not held to our warning flags.
#include "bench/stb_baseline.h"

#include <algorithm>

#include "engine/error.h"
#include "image/codec.h"

#include "image/stb_warnings.h"  // pushes; popped below
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>  // declarations only: the writers are compiled in image/stb_impl.cpp
#pragma GCC diagnostic pop

namespace vdsr::bench {

namespace {

void append(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

// The image's 8-bit samples (alpha dropped for JPEG), as the codec rows take them.
std::vector<unsigned char> bytes8(const Image& img, bool drop_alpha, int& channels) {
  VDSR_USER_CHECK(img.bits == 8, "stb_image_write writes 8-bit images only");
  return codec::samples8(img, drop_alpha, false, channels);
}

}  // namespace

Image stb_decode(const unsigned char* data, size_t size) {
  int w = 0, h = 0, c = 0;
  unsigned char* p = stbi_load_from_memory(data, int(size), &w, &h, &c, 0);
  VDSR_USER_CHECK(p != nullptr, "stb_image cannot decode it: " << stbi_failure_reason());
  Image img = codec::blank_image(w, h, c, 8);
  std::copy(p, p + img.pixels.size(), img.pixels.begin());
  stbi_image_free(p);
  return img;
}

std::vector<unsigned char> stb_encode_png(const Image& img) {
  int channels = 0;
  const std::vector<unsigned char> s = bytes8(img, false, channels);
  std::vector<unsigned char> out;
  VDSR_CHECK(stbi_write_png_to_func(append, &out, img.width, img.height, channels, s.data(),
                                    img.width * channels) != 0,
             "stb_image_write failed on a PNG");
  return out;
}

std::vector<unsigned char> stb_encode_jpeg(const Image& img, int quality) {
  int channels = 0;
  const std::vector<unsigned char> s = bytes8(img, true, channels);
  std::vector<unsigned char> out;
  VDSR_CHECK(stbi_write_jpg_to_func(append, &out, img.width, img.height, channels, s.data(), quality) != 0,
             "stb_image_write failed on a JPEG");
  return out;
}

}  // namespace vdsr::bench
