#!/usr/bin/env bash
# The demo: builds vdsr and upscales the sample images in samples/ by 2 into out/samples_x2 with
# the bundled model (model/vdsr.safetensors; docs/results.md), on GPU 0 if usable, else the CPU.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
cmake -S . -B build -DVDSR_CUDA="${VDSR_CUDA:-AUTO}"
cmake --build build -j "${JOBS:-$(nproc)}" --target vdsr_sr
./build/bin/vdsr_sr -s 2 -i samples -o out/samples_x2
ls -l out/samples_x2
