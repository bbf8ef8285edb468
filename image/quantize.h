// A double to an integer sample of range 0..max as MATLAB converts it (uint8(x), uint16(x)): round
// half away from zero, saturate, NaN to 0.
#pragma once

#include <cstdint>

namespace vdsr {

// max is a whole number (255 or 65535). The same values as clamp(std::round(v), 0, max) (with NaN
// to 0) without the C library's round(), a call per sample on x86-64's baseline: below max the
// truncation is exact and so is v - t, the fraction that decides the rounding. (A -0.0 from
// round(-0.3) comes out +0.0: the same sample.)
inline double round_saturate(double v, double max) {
  if (!(v >= 0.0)) return 0.0;  // negative, or NaN
  if (v >= max) return max;     // from max on, the rounding cannot bring it back below
  const double t = double(int64_t(v));
  return t + double(v - t >= 0.5);  // no branch: the fraction is as likely above 0.5 as below
}

}  // namespace vdsr
