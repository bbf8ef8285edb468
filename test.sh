#!/usr/bin/env bash
# Builds vdsr and runs every test with ctest. Environment (all optional):
#   VDSR_CUDA=AUTO|ON|OFF   build the CUDA backend (default AUTO: when nvcc is found)
#   BUILD_DIR=build         build folder
#   JOBS=<cores>            parallel build jobs
#   VDSR_CMAKE_ARGS="..."   more CMake options (e.g. -DVDSR_DATA_DIR=/data)
# GPU tests (label gpu) report "skipped" without a GPU. Data tests read ../shared/data (or
# -DVDSR_DATA_DIR); they skip when it is missing unless VDSR_REQUIRE_DATA=1. Multi-process tests
# (label mpi) run mpirun -np 2 and -np 3 on the CPU; they skip without MPI unless
# VDSR_REQUIRE_MPI=1.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
build="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
cmake -S . -B "$build" -DVDSR_CUDA="${VDSR_CUDA:-AUTO}" -DVDSR_WERROR=ON ${VDSR_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
