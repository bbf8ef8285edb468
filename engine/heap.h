// The host heap's policy for work that allocates and frees planes of megabytes over and over (the
// training set's preparation, the upscaler's images).
#pragma once

namespace vdsr {

// glibc hands the top of a heap back to the kernel as soon as it exceeds a small threshold (128 KiB,
// raised dynamically only up to the size of the last freed mmap'd block) and serves blocks over the
// mmap threshold with fresh mappings, so planes of a few MB were faulted in and zeroed by the kernel
// afresh every time (measured: 2/3 of the training set's preparation, and 90% of the upscaler's
// preparation of a 960 x 540 image, docs/training.md and docs/perf.md). After this call blocks up to
// 32 MiB come from the heaps and a heap keeps up to 64 MiB of free top. Process-wide, once, from
// any thread; other C libraries are left alone.
void keep_working_memory();

}  // namespace vdsr
