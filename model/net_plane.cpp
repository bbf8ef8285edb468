#include "model/net_plane.h"

#include <cstring>

namespace vdsr {

NetPlane::NetPlane(int height, int width, Device device)
    : height_(height), width_(width), device_(device),
      mem_(size_t(height) * size_t(width) * sizeof(float), device) {}

NetPlane::NetPlane(const NetPlane& o) : NetPlane(o.height_, o.width_, o.device_) {
  if (!o.empty()) std::memcpy(data(), o.data(), size_t(size()) * sizeof(float));
}

NetPlane& NetPlane::operator=(const NetPlane& o) {
  if (this != &o) *this = NetPlane(o);
  return *this;
}

NetPlane to_net_plane(const Plane& p, Device device) {
  NetPlane out(p.height, p.width, device);
  float* o = out.data();
  for (size_t i = 0; i < p.v.size(); ++i) o[i] = static_cast<float>(p.v[i]);
  return out;
}

Plane to_plane(const NetPlane& p) {
  Plane out(p.height(), p.width());
  const float* s = p.data();
  for (size_t i = 0; i < out.v.size(); ++i) out.v[i] = static_cast<double>(s[i]);
  return out;
}

}  // namespace vdsr
