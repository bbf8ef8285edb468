// Running a model on one image plane: the Y channel in [0, 1] goes through the network (VDSR or
// SRCNN) in float32. As a NetPlane (model/net_plane.h), floats staged for the device, as vdsr_sr
// runs it; or as a double plane, as the evaluation protocol prepares it, each value rounded to float
// on the way in and widened on the way out (the same output values). Also the test-time
// augmentation (-x): the mean of the outputs over the 8 rotations/flips.
#pragma once

#include "image/plane.h"
#include "model/net_plane.h"
#include "model/vdsr.h"

namespace vdsr {

// output = input + f(input) (SRCNN: f(input)), same size as the input; a NetPlane's output is
// staged for the model's device.
Plane run_model(Vdsr& model, const Plane& input01);
NetPlane run_model(Vdsr& model, const NetPlane& input);

// The 8 dihedral transforms: t in 0..7 = (transpose if t & 4) then (flip rows if t & 2) then
// (flip columns if t & 1); invert_transform undoes it.
Plane transform_plane(const Plane& p, int t);
Plane invert_transform(const Plane& p, int t);
NetPlane transform_plane(const NetPlane& p, int t);
NetPlane invert_transform(const NetPlane& p, int t);

// Mean (in double) of invert_transform(run_model(transform_plane(input, t)), t) over t = 0..7.
Plane run_model_tta(Vdsr& model, const Plane& input01);
// The same with each transformed input run tile by tile (model/tiled.h; tile <= 0: whole image);
// the result equals the untiled one bit for bit.
Plane run_model_tta(Vdsr& model, const Plane& input01, int tile);
Plane run_model_tta(Vdsr& model, const NetPlane& input, int tile);

}  // namespace vdsr
