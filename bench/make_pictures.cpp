// make_pictures: the before/after crops of docs/images/ (bench/make_pictures.sh picks the images and
// runs it). For one HR image, a scale and a crop rectangle it follows the evaluation protocol
// (image/eval_protocol.h, as vdsr_eval): the 8-bit HR Y, modcrop, its bicubic LR and the bicubic
// input, the network on the crop alone (with the receptive-field halo: the same pixels as a
// whole-image run, model/tiled.h). It writes four PNGs of the crop, PREFIX-{nearest,bicubic,vdsr,hr}.png:
// the LR enlarged by nearest neighbour, bicubic, the network, the ground truth (the HR file's own
// pixels). In colour as vdsr_sr shows it: Y as above, Cb and Cr (double rgb2ycbcr of the HR) bicubic
// down and up; grey stays grey. --zoom N enlarges every picture N times by nearest neighbour for display.
// It prints each crop's PSNR and SSIM on Y (the 8-bit prediction against the HR Y, on the crop, which
// must lie inside the protocol's shaved area, so these are the protocol's scores restricted to it).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/imresize.h"
#include "image/metrics.h"
#include "model/model_files.h"
#include "model/tiled.h"
#include "tools/cli.h"

using namespace vdsr;

namespace {

struct Options {
  std::string input, prefix, model;
  int scale = 3;
  std::vector<int> crop;  // x, y, width, height
  int zoom = 1;
  int gpu = kDefaultDevice;
};

// Every pixel of p repeated f x f times.
Plane nearest_up(const Plane& p, int f) {
  Plane out(p.height * f, p.width * f);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) out.at(y, x) = p.at(y / f, x / f);
  return out;
}

// The same for the pixels of an image (every channel).
Image nearest_up(const Image& img, int f) {
  Image out = img;
  out.width = img.width * f;
  out.height = img.height * f;
  out.pixels.resize(size_t(out.width) * size_t(out.height) * size_t(img.channels));
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < img.channels; ++c)
        out.pixels[(size_t(y) * size_t(out.width) + size_t(x)) * size_t(img.channels) + size_t(c)] =
            img.at(y / f, x / f, c);
  return out;
}

// The crop's rectangle of an image's colour channels (alpha dropped).
Image crop_image(const Image& img, int y0, int x0, int h, int w) {
  Image out;
  out.width = w;
  out.height = h;
  out.channels = img.channels >= 3 ? 3 : 1;
  out.bits = img.bits;
  out.pixels.resize(size_t(w) * size_t(h) * size_t(out.channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < out.channels; ++c)
        out.pixels[(size_t(y) * size_t(w) + size_t(x)) * size_t(out.channels) + size_t(c)] =
            img.at(y0 + y, x0 + x, c);
  return out;
}

// Chroma of the picture: Cb and Cr on the crop (empty planes for a grey image).
struct Chroma {
  Plane cb, cr;
};


int run(int argc, char** argv) {
  Options o;
  cli::Parser p("make_pictures", "before/after crops of one image: nearest LR, bicubic, VDSR, ground truth",
                "make_pictures -i HR_IMAGE -s 2|3|4 --crop X,Y,W,H -o PREFIX [--zoom N] [-m MODEL] [-g GPU]");
  p.add({"-i", "--input", "FILE", "the high-resolution image (8-bit)", [&](const std::string& v) { o.input = v; }});
  p.add({"-s", "--scale", "N", "scale 2, 3 or 4 [3]",
         [&](const std::string& v) { o.scale = cli::parse_int_list(v, 2, 4, "--scale").at(0); }});
  p.add({"", "--crop", "X,Y,W,H", "the crop in HR pixels: its top-left corner and size",
         [&](const std::string& v) { o.crop = cli::parse_int_list(v, 0, 1 << 20, "--crop"); }});
  p.add({"-o", "--output", "PREFIX", "writes PREFIX-nearest.png, PREFIX-bicubic.png, PREFIX-vdsr.png, PREFIX-hr.png",
         [&](const std::string& v) { o.prefix = v; }});
  p.add({"", "--zoom", "N", "enlarge every picture N times by nearest neighbour, for display [1]",
         [&](const std::string& v) { o.zoom = cli::parse_int_list(v, 1, 8, "--zoom").at(0); }});
  p.add({"-m", "--model", "FILE", "VDSR weights (safetensors or .mat) or a checkpoint [the bundled model]",
         [&](const std::string& v) { o.model = v; }});
  p.add({"-g", "--gpu", "N", "device: GPU index, -1 for the CPU [0 if a GPU is usable, else -1]",
         [&](const std::string& v) { o.gpu = cli::parse_int(v, "--gpu"); }});
  p.add_common();
  p.parse(argc, argv);
  VDSR_USER_CHECK(!o.input.empty() && !o.prefix.empty(), "give the image with -i and the output prefix with -o");
  VDSR_USER_CHECK(o.crop.size() == 4, "--crop takes four numbers X,Y,W,H");
  const int x0 = o.crop[0], y0 = o.crop[1], w = o.crop[2], h = o.crop[3], s = o.scale;

  const Image img = load_image(o.input);
  VDSR_USER_CHECK(img.bits == 8, o.input << " is a " << img.bits << "-bit image; the protocol takes 8-bit images");
  const EvalSample sample = make_eval_sample(img, s, o.input);
  const int H = sample.hr.height, W = sample.hr.width;
  // Inside the shaved area, and large enough for SSIM's 11x11 window.
  VDSR_USER_CHECK(w >= 11 && h >= 11 && x0 >= s && y0 >= s && x0 + w <= W - s && y0 + h <= H - s,
                  "--crop " << x0 << "," << y0 << "," << w << "," << h << " must be at least 11x11 and lie inside "
                            << "the scored area of " << o.input << " at x" << s << ": x in [" << s << ", " << W - s
                            << "), y in [" << s << ", " << H - s << ")");

  const std::string model_path = o.model.empty() ? bundled_model_path() : o.model;
  const std::unique_ptr<Vdsr> net = load_model(model_path, select_device(o.gpu));
  VDSR_USER_CHECK(net->config().arch == Arch::Vdsr, model_path << " is an SRCNN model; make_pictures shows VDSR");
  log_info("make_pictures: " + o.input + " x" + std::to_string(s) + " with " + model_path);

  // Chroma: the HR's Cb and Cr bicubic down, then nearest or bicubic up, as the Y.
  Chroma near_c, bic_c;
  if (img.channels >= 3) {
    const YCbCr ycc = rgb_to_ycbcr(img);
    const auto down_up = [&](const Plane& hr_c, Plane& nearest_c, Plane& bicubic_c) {
      const Plane lr = imresize(modcrop(hr_c, s), 1.0 / s);
      nearest_c = crop(nearest_up(lr, s), y0, x0, h, w);
      bicubic_c = crop(imresize(lr, double(s)), y0, x0, h, w);
    };
    down_up(ycc.cb, near_c.cb, bic_c.cb);
    down_up(ycc.cr, near_c.cr, bic_c.cr);
  }

  struct Shot {
    const char* name;
    Plane y01;  // the crop's Y in [0, 1]
    const Chroma* chroma;
  };
  const Shot shots[] = {
      {"nearest", crop(nearest_up(sample.lr, s), y0, x0, h, w), &near_c},
      {"bicubic", crop(sample.input, y0, x0, h, w), &bic_c},
      {"vdsr", run_model_region(*net, sample.input, y0, x0, h, w), &bic_c},
  };
  const Plane hr = crop(sample.hr, y0, x0, h, w);
  std::printf("%-8s %8s %7s  %s\n", "crop", "PSNR", "SSIM", "file");
  for (const Shot& shot : shots) {
    const std::string file = o.prefix + "-" + shot.name + ".png";
    const Image pic = picture_u8(shot.y01, shot.chroma->cb, shot.chroma->cr);  // grey when cb is empty
    save_image(file, nearest_up(pic, o.zoom), ImageFormat::PNG);
    const Scores sc = score_output(shot.y01, hr, 0);
    std::printf("%-8s %8.4f %7.4f  %s\n", shot.name, sc.psnr, sc.ssim, file.c_str());
  }
  const std::string file = o.prefix + "-hr.png";
  save_image(file, nearest_up(crop_image(img, y0, x0, h, w), o.zoom), ImageFormat::PNG);
  std::printf("%-8s %8s %7s  %s\n", "hr", "-", "-", file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
