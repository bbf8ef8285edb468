// JPEG through libjpeg-turbo's libjpeg API (the IJG decoder MATLAB's imread uses: accurate integer
// IDCT, smooth chroma upsampling). Grey stays one channel, colour comes out RGB; CMYK (Adobe's
// inverted convention, the one Photoshop writes) is turned into RGB as R = C K / 255. APP1 Exif and
// APP2 ICC segments are kept. A file that ends early ("Premature end of JPEG file") is an error, not
// a grey-filled image; libjpeg's other warnings (stray bytes between markers) are not.
// libjpeg reports errors through error_exit, which longjmps here: the functions holding the setjmp
// keep only trivially destructible objects in their frames.
// Written: 4:4:4 chroma at quality 90 and above (as ImageMagick does; fine colour edges are
// what an upscaler produces), 4:2:0 below; alpha is dropped.
#include "image/codec.h"

namespace vdsr::codec {
namespace {
bool sniff_jpeg(Bytes b, const std::string&) {
  return b.size >= 3 && b.data[0] == 0xff && b.data[1] == 0xd8 && b.data[2] == 0xff;
}
}  // namespace
}  // namespace vdsr::codec

#if VDSR_HAVE_JPEG

#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <cstdlib>
#include <cstring>
#include <csetjmp>

#include <jerror.h>
#include <jpeglib.h>

#include "engine/error.h"
#include "engine/log.h"

namespace vdsr::codec {

namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;  // first: libjpeg sees a jpeg_error_mgr*
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

void on_message(j_common_ptr c, int level) {
  if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) on_error(c);  // a truncated file
}

struct Reader {
  jpeg_decompress_struct cinfo{};
  ErrorMgr err;
  Reader() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
  }
  ~Reader() { jpeg_destroy_decompress(&cinfo); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
};

bool read_header(Reader* r, Bytes b) {
  if (setjmp(r->err.jump)) return false;
  jpeg_create_decompress(&r->cinfo);
  jpeg_mem_src(&r->cinfo, b.data, static_cast<unsigned long>(b.size));
  jpeg_save_markers(&r->cinfo, JPEG_APP0 + 1, 0xffff);  // Exif
  jpeg_save_markers(&r->cinfo, JPEG_APP0 + 2, 0xffff);  // ICC
  jpeg_read_header(&r->cinfo, TRUE);
  return true;
}

ImageInfo probe(Bytes b, const std::string& path) {
  Reader r;
  if (!read_header(&r, b)) fail_read(path, std::string("bad or truncated jpeg header (libjpeg: ") + r.err.message + ")");
  const auto& c = r.cinfo;
  if (c.image_width == 0 || c.image_height == 0 || c.image_width > 65535 || c.image_height > 65535)
    fail_read(path, "invalid jpeg header (" + std::to_string(c.image_width) + "x" + std::to_string(c.image_height) + ")");
  ImageInfo info;
  info.width = int(c.image_width);
  info.height = int(c.image_height);
  info.channels = c.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  info.bits = 8;
  info.format = "jpeg";
  return info;
}

// Decodes into img->pixels (sized by the caller) and its profile and EXIF; row holds one scanline
// of up to 4 samples a pixel.
bool decode_into(Reader* r, const ImageInfo* info, Image* img, unsigned char* row) {
  if (setjmp(r->err.jump)) return false;
  jpeg_decompress_struct& c = r->cinfo;
  const bool cmyk = c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK;
  c.out_color_space = info->channels == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  c.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&c);
  if (int(c.output_width) != info->width || int(c.output_height) != info->height ||
      int(c.output_components) != (cmyk ? 4 : info->channels)) {
    std::snprintf(r->err.message, sizeof r->err.message, "the decoded layout differs from the header's");
    return false;
  }
  const size_t w = size_t(info->width), ch = size_t(info->channels);
  while (c.output_scanline < c.output_height) {
    uint16_t* dst = img->pixels.data() + size_t(c.output_scanline) * w * ch;
    JSAMPROW rows[1] = {row};
    jpeg_read_scanlines(&c, rows, 1);
    if (cmyk) {
      for (size_t x = 0; x < w; ++x) {
        const unsigned k = row[4 * x + 3];
        for (size_t i = 0; i < 3; ++i) dst[3 * x + i] = static_cast<uint16_t>((row[4 * x + i] * k + 127) / 255);
      }
    } else {
      for (size_t i = 0; i < w * ch; ++i) dst[i] = row[i];
    }
  }
  JOCTET* icc = nullptr;
  unsigned int icc_len = 0;
  if (jpeg_read_icc_profile(&c, &icc, &icc_len) && icc != nullptr) {
    img->icc.assign(icc, icc + icc_len);
    std::free(icc);
  }
  for (jpeg_saved_marker_ptr m = c.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      img->exif.assign(m->data + 6, m->data + m->data_length);
      break;  // the first Exif segment; others (XMP) are not EXIF
    }
  }
  jpeg_finish_decompress(&c);
  return true;
}

Image decode(Bytes b, const std::string& path, const ImageInfo& info, int& orientation) {
  Image img = blank_image(info.width, info.height, info.channels, info.bits);
  std::vector<unsigned char> row(size_t(info.width) * 4);
  Reader r;
  const bool ok = read_header(&r, b) && decode_into(&r, &info, &img, row.data());
  VDSR_USER_CHECK(ok, "cannot decode image '" << path << "': corrupt or truncated jpeg (libjpeg: " << r.err.message
                                              << ")");
  orientation = exif_orientation(img.exif);
  return img;
}

struct Writer {
  jpeg_compress_struct cinfo{};
  ErrorMgr err;
  unsigned char* buf = nullptr;  // jpeg_mem_dest's, malloc'd by libjpeg
  unsigned long size = 0;
  Writer() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
  }
  ~Writer() {
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
};

bool encode_into(Writer* wr, const unsigned char* samples, int width, int height, int channels, int quality,
                 const std::vector<unsigned char>* icc, const std::vector<unsigned char>* exif) {
  if (setjmp(wr->err.jump)) return false;
  jpeg_compress_struct& c = wr->cinfo;
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &wr->buf, &wr->size);
  c.image_width = JDIMENSION(width);
  c.image_height = JDIMENSION(height);
  c.input_components = channels;
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  c.dct_method = JDCT_ISLOW;
  if (channels == 3 && quality >= 90)
    for (int i = 0; i < 3; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  // (encode keeps only an EXIF that fits one segment; ICC is split by libjpeg.)
  if (!exif->empty()) {
    jpeg_write_m_header(&c, JPEG_APP0 + 1, static_cast<unsigned int>(exif->size() + 6));
    for (const char ch : {'E', 'x', 'i', 'f', '\0', '\0'}) jpeg_write_m_byte(&c, ch);
    for (const unsigned char v : *exif) jpeg_write_m_byte(&c, v);
  }
  if (!icc->empty()) jpeg_write_icc_profile(&c, icc->data(), static_cast<unsigned int>(icc->size()));
  const size_t stride = size_t(width) * size_t(channels);
  while (c.next_scanline < c.image_height) {
    JSAMPROW rows[1] = {const_cast<unsigned char*>(samples + size_t(c.next_scanline) * stride)};
    jpeg_write_scanlines(&c, rows, 1);
  }
  jpeg_finish_compress(&c);
  return true;
}

// libjpeg's own limit (jmorecfg.h), which jpeg_start_compress would report after the work.
std::string too_large(int64_t width, int64_t height) {
  if (width <= JPEG_MAX_DIMENSION && height <= JPEG_MAX_DIMENSION) return "";
  return "too large for JPEG (at most " + std::to_string(JPEG_MAX_DIMENSION) + " pixels a side)";
}

constexpr size_t kMaxJpegExif = 65533 - 6;

std::vector<unsigned char> encode(const Image& img, const SaveOptions& o, const std::string& path) {
  int channels = 0;
  const std::vector<unsigned char> samples = samples8(img, true, false, channels);
  Writer wr;
  // An APP1 segment holds at most 65533 bytes, "Exif\0\0" and 65527 of EXIF: larger is left out.
  static const std::vector<unsigned char> none;
  const bool fits = img.exif.size() <= kMaxJpegExif;
  if (!fits)
    log_warning("'" + path + "': the input's EXIF (" + std::to_string(img.exif.size()) +
                " bytes) is more than a JPEG segment holds (65527): it is left out");
  const bool ok = encode_into(&wr, samples.data(), img.width, img.height, channels, o.jpeg_quality,
                              &fitting_profile(img, true, path), fits ? &img.exif : &none);
  VDSR_USER_CHECK(ok, "cannot write '" << path << "': libjpeg: " << wr.err.message);
  return std::vector<unsigned char>(wr.buf, wr.buf + wr.size);
}

#define VDSR_STR2(x) #x
#define VDSR_STR(x) VDSR_STR2(x)

}  // namespace

}  // namespace vdsr::codec

#endif  // VDSR_HAVE_JPEG

namespace vdsr::codec {

const Codec& jpeg_codec() {
#if VDSR_HAVE_JPEG
  static const Codec c{"jpeg", "libjpeg-turbo " VDSR_STR(LIBJPEG_TURBO_VERSION), nullptr, sniff_jpeg, probe, decode,
                       encode, too_large};
#else  // no libjpeg-turbo at build time: the format is recognised and refused with this message
  static const Codec c{"jpeg", "off",
                       "JPEG support is not built in: libjpeg-turbo was not found when vdsr was built (Debian: "
                       "libjpeg62-turbo-dev; ./setup.sh installs it, then rebuild)",
                       sniff_jpeg, nullptr, nullptr, nullptr};
#endif
  return c;
}

}  // namespace vdsr::codec
