// The one translation unit that compiles stb_image (its BMP and TGA decoders only: PNG, JPEG, WebP
// and TIFF go through their own libraries, image/codec_*.cpp) and stb_image_write (BMP is the one
// format written with it). The headers come from the system (libstb-dev); Debian's libstb is never linked.
// stb's own code is not held to our warning flags.

#include "image/stb_warnings.h"  // pushes; popped at the end

// Only the formats stb decodes for us (image/codec_stb.cpp): anything else is "unknown image type".
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#pragma GCC diagnostic pop
