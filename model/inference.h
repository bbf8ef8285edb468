// Running a model on one image plane: the Y channel in [0, 1] (double, as the evaluation protocol
// prepares it) goes through Vdsr::forward (VDSR or SRCNN) in float32 and comes back as a double plane. Also the
// test-time augmentation (-x): the mean of the outputs over the 8 rotations/flips.
#pragma once

#include "image/plane.h"
#include "model/vdsr.h"

namespace vdsr {

// output = input + f(input) (SRCNN: f(input)), same size as the input.
Plane run_model(Vdsr& model, const Plane& input01);

// The 8 dihedral transforms: t in 0..7 = (transpose if t & 4) then (flip rows if t & 2) then
// (flip columns if t & 1); invert_transform undoes it.
Plane transform_plane(const Plane& p, int t);
Plane invert_transform(const Plane& p, int t);

// Mean of invert_transform(run_model(transform_plane(input, t)), t) over t = 0..7.
Plane run_model_tta(Vdsr& model, const Plane& input01);
// The same with each transformed input run tile by tile (model/tiled.h; tile <= 0: whole image);
// the result equals the untiled one bit for bit.
Plane run_model_tta(Vdsr& model, const Plane& input01, int tile);

}  // namespace vdsr
