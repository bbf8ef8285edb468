// MATLAB .mat models (the authors' releases). VDSR's MatConvNet layout: a struct `model` whose cell
// arrays `weight` and `bias` hold one entry per layer; layer i's weight is [kh][kw][in][out] in
// MATLAB's column-major order (the last layer's trailing 1 squeezed: [3, 3, 64]), single or double,
// applied as a cross-correlation with zero padding; bias [out, 1] (or [1, out]). Read with libmatio
// (v5, compressed or not; v7.3 when libmatio was built with HDF5) into our flat layout: our
// wt[k][c][r][s] is MATLAB's weight(r+1, s+1, c+1, k+1). SRCNN files (weights_conv1, ...) are
// recognised and refused until SRCNN inference exists.
#pragma once

#include <string>

#include "model/weights_io.h"

namespace vdsr {

// True when the file starts like a MATLAB .mat file ("MATLAB 5.0 MAT-file" / "MATLAB 7.3 ...").
bool is_matlab_file(const std::string& path);

// True when this build reads .mat files (libmatio was found at build time).
bool matlab_import_available();

// The VDSR model in a .mat file; a UserError naming the file and the variable when it is not one
// (or when this build has no libmatio).
VdsrWeights load_matlab_weights(const std::string& path);

}  // namespace vdsr
