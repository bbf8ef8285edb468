// Programmatic dependent launch (PDL, compute 9.0 and later): a kernel queued behind another may
// start while that one finishes, and waits inside itself (griddepcontrol.wait, kernels/pdl.cuh)
// before it touches what the kernel ahead writes. It hides the launch and the drain between two
// kernels, which the 86 kernels of a bf16 training iteration pay at every boundary (docs/kernels.md,
// "Programmatic dependent launch"). Off by default until a GPU run has verified and measured it;
// VDSR_PDL=1 in the environment or set_programmatic_launch(true) turns it on. Results are the same
// bits either way; only the overlap changes.
#pragma once

namespace vdsr {

// Whether the kernels that support it are launched with the programmatic attribute (on devices of
// compute 9.0 or later; elsewhere the setting has no effect). Starts from VDSR_PDL ("1" on; unset,
// empty or "0" off; any other value a UserError, which the tools raise before any work).
bool programmatic_launch();
void set_programmatic_launch(bool on);

}  // namespace vdsr
