// EXIF orientation (see image_io.h): reading the tag from a JPEG's APP1 segment or from EXIF bytes,
// resetting it once applied, and turning the pixels. EXIF is a little TIFF file: a header ("II*\0"
// little-endian or "MM\0*" big-endian, IFD0's offset), then IFD0: a count and 12-byte entries (tag,
// type, count, value). Every offset is checked against the size; anything malformed reads as 1.
#include <cstring>

#include "image/image_io.h"

namespace vdsr {

namespace {

// The byte offset of the orientation entry's value in EXIF bytes `t` (from the TIFF header), or 0
// when there is none or the data is malformed; `little` gets the byte order.
size_t orientation_value_offset(const unsigned char* t, size_t tn, bool& little) {
  if (tn < 8) return 0;
  if (t[0] == 'I' && t[1] == 'I' && t[2] == 42 && t[3] == 0)
    little = true;
  else if (t[0] == 'M' && t[1] == 'M' && t[2] == 0 && t[3] == 42)
    little = false;
  else
    return 0;
  auto u16 = [&](size_t off) {
    return little ? uint32_t(t[off]) | (uint32_t(t[off + 1]) << 8) : (uint32_t(t[off]) << 8) | uint32_t(t[off + 1]);
  };
  auto u32 = [&](size_t off) { return little ? u16(off) | (u16(off + 2) << 16) : (u16(off) << 16) | u16(off + 2); };
  const size_t ifd = u32(4);
  if (ifd < 8 || ifd > tn || tn - ifd < 2) return 0;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e > tn || tn - e < 12) return 0;
    if (u16(e) != 0x0112) continue;
    if (u16(e + 2) != 3 || u32(e + 4) != 1) return 0;  // SHORT, one value (in the value field)
    return e + 8;
  }
  return 0;
}

int orientation_at(const unsigned char* t, size_t tn) {
  bool little = false;
  const size_t at = orientation_value_offset(t, tn, little);
  if (at == 0) return 1;
  const uint32_t v = little ? uint32_t(t[at]) | (uint32_t(t[at + 1]) << 8) : (uint32_t(t[at]) << 8) | uint32_t(t[at + 1]);
  return v >= 1 && v <= 8 ? int(v) : 1;
}

}  // namespace

int exif_orientation(const std::vector<unsigned char>& exif) { return orientation_at(exif.data(), exif.size()); }

bool exif_reset_orientation(std::vector<unsigned char>& exif) {
  bool little = false;
  const size_t at = orientation_value_offset(exif.data(), exif.size(), little);
  if (at == 0) return false;
  exif[at] = little ? 1 : 0;
  exif[at + 1] = little ? 0 : 1;
  return true;
}

int jpeg_exif_orientation(const unsigned char* data, size_t size) {
  if (data == nullptr || size < 4 || data[0] != 0xff || data[1] != 0xd8) return 1;
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xff) return 1;  // not at a marker: malformed
    const unsigned char marker = data[pos + 1];
    if (marker == 0xff) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xda || marker == 0xd9) return 1;  // image data or end: no Exif before it
    if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {  // no length
      pos += 2;
      continue;
    }
    const size_t len = (size_t(data[pos + 2]) << 8) | data[pos + 3];  // includes its own 2 bytes
    if (len < 2 || len > size - pos - 2) return 1;
    // The first Exif segment decides; other APP1 segments (XMP) are passed over.
    if (marker == 0xe1 && len - 2 >= 6 && std::memcmp(data + pos + 4, "Exif\0\0", 6) == 0)
      return orientation_at(data + pos + 10, len - 8);
    pos += 2 + len;
  }
  return 1;
}

Image apply_exif_orientation(const Image& img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? img.height : img.width;
  out.height = swap ? img.width : img.height;
  out.channels = img.channels;
  out.bits = img.bits;
  out.pixels = img.pixels;  // the size; every value is overwritten
  const int W = img.width, H = img.height, C = img.channels;
  for (int r = 0; r < out.height; ++r) {
    for (int c = 0; c < out.width; ++c) {
      int sy = r, sx = c;  // the source pixel of output (r, c)
      switch (orientation) {
        case 2: sx = W - 1 - c; break;
        case 3: sy = H - 1 - r; sx = W - 1 - c; break;
        case 4: sy = H - 1 - r; break;
        case 5: sy = c; sx = r; break;
        case 6: sy = H - 1 - c; sx = r; break;
        case 7: sy = H - 1 - c; sx = W - 1 - r; break;
        default: sy = c; sx = W - 1 - r; break;  // 8
      }
      const uint16_t* s = img.pixels.data() + (size_t(sy) * size_t(W) + size_t(sx)) * size_t(C);
      uint16_t* d = out.pixels.data() + (size_t(r) * size_t(out.width) + size_t(c)) * size_t(C);
      for (int k = 0; k < C; ++k) d[k] = s[k];
    }
  }
  return out;
}

}  // namespace vdsr
