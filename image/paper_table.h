// The paper's Table 3 (PSNR in dB on the Y channel, rounded to 2 decimals as published): Bicubic,
// SRCNN and VDSR on Set5, Set14, B100 and Urban100 at x2, x3, x4, and VDSR's SSIM (4 decimals).
// vdsr_eval prints its results beside these (--table3).
#pragma once

#include <string>

namespace vdsr {

enum class PaperMethod { Bicubic, Srcnn, Vdsr };

const char* paper_method_name(PaperMethod m);  // "Bicubic", "SRCNN", "VDSR"

// The paper's name of a set named by its folder: Set5, Set14, B100 or Urban100 in any case, and
// B100 for BSD100 or BSDS100; nullptr for a set the paper does not score.
const char* paper_set_name(const std::string& set);
// How many images the paper's set holds (Set5 5, Set14 14, B100 100, Urban100 100), by the names
// paper_set_name knows; 0 for any other set. A folder of another count is not the paper's set.
int paper_set_images(const std::string& set);
// The published PSNR for a set paper_set_name knows at scale 2, 3 or 4; NaN for any other set or
// scale.
double paper_psnr(PaperMethod m, const std::string& set, int scale);
// The published SSIM of VDSR, as paper_psnr; NaN for Bicubic and SRCNN (the product's
// specification quotes VDSR's SSIM only).
double paper_ssim(PaperMethod m, const std::string& set, int scale);

}  // namespace vdsr
