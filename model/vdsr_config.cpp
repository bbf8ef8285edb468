#include "model/vdsr_config.h"

#include <algorithm>

#include "engine/error.h"

namespace vdsr {

bool VdsrConfig::operator==(const VdsrConfig& o) const {
  if (depth != o.depth || channels != o.channels || bias != o.bias || arch != o.arch) return false;
  return arch != Arch::Srcnn || (std::equal(srcnn_kernel, srcnn_kernel + 3, o.srcnn_kernel) && srcnn_n2 == o.srcnn_n2);
}

int VdsrConfig::widest() const { return arch == Arch::Srcnn ? std::max(channels, srcnn_n2) : channels; }

std::string VdsrConfig::describe() const {
  const std::string b = bias ? "with biases" : "no biases";
  if (arch == Arch::Srcnn)
    return "SRCNN " + std::to_string(srcnn_kernel[0]) + "-" + std::to_string(srcnn_kernel[1]) + "-" +
           std::to_string(srcnn_kernel[2]) + ", " + std::to_string(channels) + "/" + std::to_string(srcnn_n2) +
           " channels, " + b;
  return "depth " + std::to_string(depth) + ", " + std::to_string(channels) + " channels, " + b;
}

VdsrConfig srcnn_config(int f1, int f2, int f3, int n1, int n2, bool bias) {
  VdsrConfig c;
  c.arch = Arch::Srcnn;
  c.depth = 3;
  c.channels = n1;
  c.bias = bias;
  c.srcnn_kernel[0] = f1;
  c.srcnn_kernel[1] = f2;
  c.srcnn_kernel[2] = f3;
  c.srcnn_n2 = n2;
  return c;
}

std::vector<LayerDesc> layer_table(const VdsrConfig& cfg) {
  std::vector<LayerDesc> layers;
  if (cfg.arch == Arch::Srcnn) {
    VDSR_CHECK(cfg.depth == 3, "SRCNN has 3 layers, got depth " << cfg.depth);
    VDSR_CHECK(cfg.channels >= 1 && cfg.srcnn_n2 >= 1,
               "SRCNN channels must be at least 1, got " << cfg.channels << " and " << cfg.srcnn_n2);
    const int C[3] = {1, cfg.channels, cfg.srcnn_n2}, K[3] = {cfg.channels, cfg.srcnn_n2, 1};
    for (int i = 0; i < 3; ++i) {
      const int R = cfg.srcnn_kernel[i];
      VDSR_CHECK(R >= 1 && R <= 15 && R % 2 == 1, "SRCNN kernel sizes must be odd, 1 to 15, got " << R);
      LayerDesc l;
      l.C = C[i];
      l.K = K[i];
      l.R = R;
      l.pad = Padding::Replicate;
      l.relu = i < 2;
      layers.push_back(l);
    }
  } else {
    VDSR_CHECK(cfg.depth >= 2, "VDSR depth must be at least 2, got " << cfg.depth);
    VDSR_CHECK(cfg.channels >= 1, "VDSR channels must be at least 1, got " << cfg.channels);
    layers.resize(static_cast<size_t>(cfg.depth));
    for (int i = 0; i < cfg.depth; ++i) {
      auto& l = layers[static_cast<size_t>(i)];
      l.C = i == 0 ? 1 : cfg.channels;
      l.K = i == cfg.depth - 1 ? 1 : cfg.channels;
      l.relu = i != cfg.depth - 1;
    }
  }
  int64_t off = 0;
  for (auto& l : layers) {
    l.w_offset = off;
    off += l.weight_elems();
  }
  if (cfg.bias)
    for (auto& l : layers) {
      l.b_offset = off;
      off += l.K;
    }
  return layers;
}

int64_t weight_count(const VdsrConfig& cfg) {
  const auto layers = layer_table(cfg);
  return layers.back().w_offset + layers.back().weight_elems();
}

int64_t param_count(const VdsrConfig& cfg) {
  int64_t n = weight_count(cfg);
  if (cfg.bias)
    for (const auto& l : layer_table(cfg)) n += l.K;
  return n;
}

}  // namespace vdsr
