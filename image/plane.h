// Plane: one image channel in double, row-major [height][width]. The image pipeline (colour
// conversion, MATLAB imresize, metrics) works on planes so that it is exact and device-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vdsr {

struct Plane {
  int height = 0, width = 0;
  std::vector<double> v;  // [height][width]

  Plane() = default;
  Plane(int h, int w, double fill = 0.0) : height(h), width(w), v(size_t(h) * size_t(w), fill) {}
  double& at(int y, int x) { return v[size_t(y) * size_t(width) + size_t(x)]; }
  double at(int y, int x) const { return v[size_t(y) * size_t(width) + size_t(x)]; }
  int64_t size() const { return int64_t(height) * width; }
};

}  // namespace vdsr
