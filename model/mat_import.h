// MATLAB .mat models (the authors' releases), read with libmatio (v5, compressed or not; v7.3 when
// libmatio was built with HDF5) into our flat layout, single or double values.
// VDSR's MatConvNet layout: a struct `model` whose cell arrays `weight` and `bias` hold one entry
// per layer; layer i's weight is [kh][kw][in][out] in MATLAB's column-major order (the last layer's
// trailing 1 squeezed: [3, 3, 64]), applied as a cross-correlation with zero padding; bias [out, 1]
// (or [1, out]). Our wt[k][c][r][s] is MATLAB's weight(r+1, s+1, c+1, k+1).
// SRCNN's layout: weights_conv1 [f1^2, n1], weights_conv2 [n1, f2^2, n2] (2-D [n1, n2] when f2 =
// 1), weights_conv3 [n2, f3^2], biases_conv1..3 [n, 1]; each filter flattened column-major, so our
// wt[k][c][r][s] of layer 2 is weights_conv2(c+1, r+1 + f2 s, k+1). The layout has no place for
// the scale it serves: it is read from a token x2 / x3 / x4 in the file name (the release's
// x3.mat).
#pragma once

#include <string>

#include "model/weights_io.h"

namespace vdsr {

// True when the file starts like a MATLAB .mat file ("MATLAB 5.0 MAT-file" / "MATLAB 7.3 ...").
bool is_matlab_file(const std::string& path);

// The scale an SRCNN model file is for, from its name: a token x2, x3 or x4 (x3.mat,
// srcnn_955_imagenet_x3.mat, model_X4_v2.safetensors) not inside a longer word or number; 0 when
// none, or when tokens of two scales are (srcnn_x2_x3.mat). load_weights takes it into the metadata
// "scale" of an SRCNN model that has none.
int scale_from_file_name(const std::string& path);

// True when this build reads .mat files (libmatio was found at build time).
bool matlab_import_available();

// The VDSR or SRCNN model in a .mat file; a UserError naming the file and the variable when it is
// not one (or when this build has no libmatio).
VdsrWeights load_matlab_weights(const std::string& path);

}  // namespace vdsr
