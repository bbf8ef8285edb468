// Owning handles for libmatio's files and variables, shared by the .mat reader and writer
// (model/mat_import.cpp, model/mat_export.cpp). Include only where VDSR_HAVE_MATIO is defined.
#pragma once

#include <matio.h>

#include <memory>

namespace vdsr {

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatFile = std::unique_ptr<mat_t, MatCloser>;
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

}  // namespace vdsr
