// The image library compiled as on a machine without libjpeg-turbo, libwebp and libtiff (the codec
// sources built again without VDSR_HAVE_JPEG/WEBP/TIFF; tests/CMakeLists.txt): each of those formats
// is still recognised by its signature and extension, and reading or writing it is refused with the
// file named and a message saying which library to install. PNG, BMP and TGA still work. A plain
// main (not Catch) because the test support library links the full image library.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "image/image_io.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const vdsr::Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vdsr_codecs_off_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Case {
    const char* name;
    std::vector<unsigned char> head;  // the format's signature, then filler
    const char* library;
    const char* package;
  };
  const Case cases[] = {
      {"a.jpg", {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0}, "libjpeg-turbo", "libjpeg62-turbo-dev"},
      {"a.webp", {'R', 'I', 'F', 'F', 30, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '}, "libwebp", "libwebp-dev"},
      {"a.tif", {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0}, "libtiff", "libtiff-dev"},
  };
  for (const Case& c : cases) {
    const std::string path = (dir / c.name).string();
    std::vector<unsigned char> bytes = c.head;
    bytes.resize(64, 0);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    const std::string e = error_of([&] { vdsr::load_image(path); });
    expect(has(e, path) && has(e, c.library) && has(e, "not found when vdsr was built") && has(e, c.package),
           std::string("reading ") + c.name + " names the missing library: " + e);
    expect(vdsr::has_image_extension(path), std::string(c.name) + " is still an image name (refused, not skipped)");
    const std::string ext = fs::path(c.name).extension().string().substr(1);
    const std::string w = error_of([&] { vdsr::parse_image_format(ext); });
    expect(has(w, "cannot write " + ext) && has(w, c.library), "-f " + ext + " is refused: " + w);
  }
  const std::string text = vdsr::image_codecs_text();
  expect(has(text, "jpeg off") && has(text, "webp off") && has(text, "tiff off") && has(text, "png libpng"),
         "the codec listing says which are off: " + text);
  // What does not need those libraries still works.
  vdsr::Image img;
  img.width = 3;
  img.height = 2;
  img.channels = 3;
  img.pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  for (const char* name : {"ok.png", "ok.bmp"}) {
    const std::string path = (dir / name).string();
    vdsr::save_image(path, img, vdsr::parse_image_format(fs::path(name).extension().string().substr(1)));
    expect(vdsr::load_image(path).pixels == img.pixels, std::string(name) + " round trip");
  }
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
