#include "image/paper_table.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/values.h"

namespace vdsr {

namespace {

struct Row {
  const char* set;
  int images;
  double psnr[3][3];   // [scale 2, 3, 4][Bicubic, SRCNN, VDSR]
  double vdsr_ssim[3];  // [scale 2, 3, 4]
};

// Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks", CVPR
// 2016, Table 3.
constexpr Row kTable3[] = {
    {"Set5",
     5,
     {{33.66, 36.66, 37.53}, {30.39, 32.75, 33.66}, {28.42, 30.48, 31.35}},
     {0.9587, 0.9213, 0.8838}},
    {"Set14",
     14,
     {{30.24, 32.42, 33.03}, {27.55, 29.28, 29.77}, {26.00, 27.49, 28.01}},
     {0.9124, 0.8314, 0.7674}},
    {"B100",
     100,
     {{29.56, 31.36, 31.90}, {27.21, 28.41, 28.82}, {25.96, 26.90, 27.29}},
     {0.8960, 0.7976, 0.7251}},
    {"Urban100",
     100,
     {{26.88, 29.50, 30.76}, {24.46, 26.24, 27.14}, {23.14, 24.52, 25.18}},
     {0.9140, 0.8279, 0.7524}},
};

}  // namespace

const char* paper_method_name(PaperMethod m) {
  switch (m) {
    case PaperMethod::Bicubic: return "Bicubic";
    case PaperMethod::Srcnn: return "SRCNN";
    case PaperMethod::Vdsr: return "VDSR";
  }
  return "?";
}

namespace {
bool same_name(const std::string& a, const char* b) { return lower_case(a) == lower_case(b); }
}  // namespace

const char* paper_set_name(const std::string& set) {
  // B100 is the 100 test images of the Berkeley segmentation set, which other papers and
  // downloads call BSD100 or BSDS100.
  for (const char* alias : {"BSD100", "BSDS100"})
    if (same_name(set, alias)) return "B100";
  for (const Row& r : kTable3)
    if (same_name(set, r.set)) return r.set;
  return nullptr;
}

namespace {
const Row* find_row(const std::string& set, int scale) {
  const char* name = paper_set_name(set);
  if (name != nullptr && scale >= 2 && scale <= 4)
    for (const Row& r : kTable3)
      if (std::strcmp(name, r.set) == 0) return &r;
  return nullptr;
}
}  // namespace

int paper_set_images(const std::string& set) {
  const Row* r = find_row(set, 2);
  return r != nullptr ? r->images : 0;
}

double paper_psnr(PaperMethod m, const std::string& set, int scale) {
  const Row* r = find_row(set, scale);
  return r != nullptr ? r->psnr[scale - 2][int(m)] : std::numeric_limits<double>::quiet_NaN();
}

double paper_ssim(PaperMethod m, const std::string& set, int scale) {
  const Row* r = find_row(set, scale);
  return r != nullptr && m == PaperMethod::Vdsr ? r->vdsr_ssim[scale - 2] : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace vdsr
