// stb's PNG / JPEG decoders and its PNG / JPEG writers, as the baseline rows of vdsr_bench --stages
// (bench/stages.h): the codecs image files went through before libpng and libjpeg-turbo took over.
// The decoders are compiled here, static to bench/stb_baseline.cpp (the library's own stb unit,
// image/stb_impl.cpp, keeps BMP and TGA only); the writers are the library's stb_image_write.
// Each works on bytes in memory and converts to / from Image as the codec rows do (image/codec.h),
// so the rows compare like with like.
#pragma once

#include <cstddef>
#include <vector>

#include "image/image_io.h"

namespace vdsr::bench {

// stb_image's decode of PNG or JPEG bytes, channels as stored, 8 bits; throws naming stb's reason.
Image stb_decode(const unsigned char* data, size_t size);
// stb_image_write's PNG at its default zlib level (8) and its JPEG at `quality` (1..100), of an
// 8-bit image (JPEG drops alpha as our codec does; 16-bit images: an Error).
std::vector<unsigned char> stb_encode_png(const Image& img);
std::vector<unsigned char> stb_encode_jpeg(const Image& img, int quality);

}  // namespace vdsr::bench
