#!/usr/bin/env bash
# Installs the Debian packages vdsr builds with, if any is missing. Idempotent: does nothing when
# everything is there. The CUDA Toolkit is not a Debian package here: install it from NVIDIA
# (/usr/local/cuda) to get the CUDA backend; without it the CPU backend builds and runs.
set -euo pipefail

packages=(cmake g++ make libstb-dev nlohmann-json3-dev catch2 libpng-dev pkg-config python3 libmatio-dev
          libjpeg62-turbo-dev libwebp-dev libtiff-dev  # image codecs (docs/formats.md)
          libopenmpi-dev openmpi-bin  # multi-process vdsr_train (engine/collective.h) and its tests
          clang libclang-rt-14-dev)  # clang: the fuzz targets (tests/fuzz/), which CI builds
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup.sh: all packages present (${packages[*]})"
  exit 0
fi
echo "setup.sh: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
