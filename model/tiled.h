// Tiled inference: any image size with bounded activation memory. The output is cut into tiles of
// `tile` x `tile` pixels; each runs through the network with a halo of tile_halo pixels on every
// side (the layers' reach: R / 2 per R x R layer, VDSR's depth and SRCNN 9-5-5's 8, or 3 for the
// CPU's F(4x4) Winograd layers, VDSR's 56 there), clipped at the image
// border where the network's own padding applies, and widened by up to three rows or columns so that
// it starts at multiples of 4. Because every conv output pixel is computed the same way wherever it
// sits, or (the CPU's Winograd layers, tiles of 4 x 4 or 2 x 2 outputs) the same way wherever it sits
// relative to multiples of 4, from inputs no further than the halo counts (tile_halo), the tiled
// output equals the whole-image output bit for bit.
#pragma once

#include <cstdint>

#include "image/plane.h"
#include "model/net_plane.h"
#include "model/vdsr.h"

namespace vdsr {

// The halo a tile needs on device d: how far the inputs that can change an output's bits reach,
// the sum over the layers of each one's reach (ops::conv_fwd_reach): R / 2 on a GPU (the
// receptive-field radius: VDSR's depth), 3 for the CPU's F(4x4) Winograd layers, so VDSR's is
// 1 + 18 x 3 + 1 = 56 on the CPU by default.
int tile_halo(const VdsrConfig& cfg, Device d);

// run_model's output (input + f(input); SRCNN: f(input)), computed tile by tile; tile <= 0 or >= the image: one piece.
NetPlane run_model_tiled(Vdsr& model, const NetPlane& input, int tile);
Plane run_model_tiled(Vdsr& model, const Plane& input01, int tile);

// run_model's output on the region [y0, y0 + h) x [x0, x0 + w) alone (an h x w plane), computed from
// that region plus the halo: the same pixels as the whole-image run, at the cost of the region.
Plane run_model_region(Vdsr& model, const Plane& input01, int y0, int x0, int h, int w);

// Pixels the network runs over for a tile x tile pass of an H x W plane: the pieces with their
// halos (H W when untiled). For progress: each forward covers one region.
int64_t tiled_work_pixels(const VdsrConfig& cfg, Device d, int H, int W, int tile);

// Inference bytes per pixel of a region: the two ping-pong feature maps (the widest map's floats)
// plus the float input and output planes that stage it on the device (Vdsr::forward_host).
int64_t inference_bytes_per_pixel(const VdsrConfig& cfg);

// The most pixels one forward's region (a tile with its halo, or the whole image) may hold on
// device d: what the convolutions take in one image (ops::conv_max_image_pixels: 33,554,431 for
// VDSR on a GPU, whose memory alone would allow four times that on an H200; unbounded on the CPU).
int64_t max_region_pixels(const VdsrConfig& cfg, Device d);

// The largest tile (a multiple of 8, at least 32) whose haloed activations fit in `budget_bytes`
// for this model in inference on device d, and whose haloed region max_region_pixels allows (with
// the up to three rows and columns of alignment).
int auto_tile_size(const VdsrConfig& cfg, Device d, int64_t budget_bytes);

// -t 0's choice for an H x W plane: 0 (the whole image in one piece) when its activations fit
// `budget_bytes` and it is within max_region_pixels, else auto_tile_size.
int auto_tile(const VdsrConfig& cfg, Device d, int H, int W, int64_t budget_bytes);

// Bytes the activations of one piece may take on the model's device: on the CPU a quarter of
// physical memory, at most 4 GiB; on a GPU half of its free memory now.
int64_t activation_budget(const Vdsr& model);

// -t 0 for an H x W plane through this model on its device: auto_tile with activation_budget.
// Every whole-image run that may meet a large image (vdsr_sr, vdsr_eval, validation) goes through
// it, so a GPU never gets a region its convolutions refuse.
int auto_tile(const Vdsr& model, int H, int W);

// The largest tile whose haloed region, aligned, is within max_region_pixels at any image size
// (5749 for VDSR on a GPU); INT32_MAX where nothing bounds it (the CPU). A larger -t is taken as
// this one: tiling never changes the result.
int max_user_tile(const VdsrConfig& cfg, Device d);

}  // namespace vdsr
