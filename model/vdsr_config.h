// The layer tables of the networks the engine runs.
// VDSR: depth 3x3 conv layers with zero padding, 1 -> channels, (depth-2) x channels -> channels,
// channels -> 1; ReLU after every layer but the last; output = input + network(input).
// SRCNN (inference only): three layers f1 x f1 1 -> n1, f2 x f2 n1 -> n2, f3 x f3 n2 -> 1 with
// replicate padding (MATLAB's imfilter(..., 'same', 'replicate'), as the authors' test code);
// ReLU after the first two; output = network(input), no residual.
// Flat parameter layout (parameters, gradients and momentum all share it): every layer's weights
// in layer order (OIHW each), then every layer's biases, so weight decay covers one prefix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv_shape.h"

namespace vdsr {

enum class Arch { Vdsr, Srcnn };

struct VdsrConfig {
  int depth = 20;     // conv layers, >= 2 (SRCNN: 3)
  int channels = 64;  // VDSR: the hidden layers' channels; SRCNN: n1, the first layer's outputs
  bool bias = true;   // official weights have biases; some PyTorch ports do not
  Arch arch = Arch::Vdsr;
  // SRCNN only: the kernel sizes f1-f2-f3 (9-5-5, 9-3-5 or 9-1-5 in the paper) and n2.
  int srcnn_kernel[3] = {9, 5, 5};
  int srcnn_n2 = 32;

  bool operator==(const VdsrConfig& o) const;
  bool residual() const { return arch == Arch::Vdsr; }  // output = input + network(input)
  int widest() const;            // the most channels of any feature map between layers
  std::string describe() const;  // "depth 20, 64 channels, with biases" / "SRCNN 9-5-5, 64/32 channels, ..."
};

// An SRCNN configuration (depth 3).
VdsrConfig srcnn_config(int f1, int f2, int f3, int n1, int n2, bool bias);

struct LayerDesc {
  int C = 0, K = 0;         // input and output channels
  int R = 3;                // kernel size (R x R)
  Padding pad = Padding::Zero;
  bool relu = false;        // ReLU fused after this layer
  int64_t w_offset = 0;     // [K][C][R][R] at params + w_offset
  int64_t b_offset = -1;    // [K] at params + b_offset, -1 without bias

  ConvShape shape(int64_t N, int64_t H, int64_t W) const {
    ConvShape s{N, H, W, C, K};
    s.R = R;
    s.pad = pad;
    return s;
  }
  int64_t weight_elems() const { return int64_t(K) * C * R * R; }
};

std::vector<LayerDesc> layer_table(const VdsrConfig& cfg);  // validates cfg
int64_t weight_count(const VdsrConfig& cfg);  // all conv weights (the weight-decay prefix)
int64_t param_count(const VdsrConfig& cfg);   // weights + biases

}  // namespace vdsr
