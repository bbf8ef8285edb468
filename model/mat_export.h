// Writing models as MATLAB .mat files (libmatio), in the layouts model/mat_import.h reads: a VDSR
// model as the release's MatConvNet struct `model` (cells `weight` {[3, 3, C, K]}, the last layer's
// trailing 1 dropped as MATLAB drops it, and `bias` {[K, 1]}), an SRCNN model as the SRCNN
// release's weights_conv1..3 / biases_conv1..3. So MATLAB code written for the authors' models
// (their test scripts) runs ours, and reading the file back gives the same weights bit for bit.
#pragma once

#include <string>

#include "model/weights_io.h"

namespace vdsr {

struct MatWriteOptions {
  // The values' class: as the release stores them (VDSR's MatConvNet model single, the SRCNN
  // release double; a float widens to double exactly), or single or double throughout.
  enum class Values { AsRelease, Single, Double } values = Values::AsRelease;
  bool v73 = false;            // MATLAB 7.3 (HDF5; only where libmatio was built with it) or v5
  bool compress = true;        // zlib
};

// True when this build writes .mat files (libmatio was found at build time).
bool matlab_export_available();

// Writes `w` to `path` atomically (a reader never sees a partial file). A UserError naming `path`
// when it cannot be written, or when this build has no libmatio. An SRCNN model's scale is not in
// the layout but in the name (scale_from_file_name): a name with another scale's x2 / x3 / x4 is
// refused, one without it warned about, and so is a model without biases (written as zeros).
void save_matlab_weights(const std::string& path, const VdsrWeights& w, const MatWriteOptions& opt = {});

}  // namespace vdsr
