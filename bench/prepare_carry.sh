#!/usr/bin/env bash
# prepare_carry.sh: run on the build machine (Debian, with setup.sh's packages) from anywhere.
# Creates the git-ignored folder .carry/ at the repository root with what the GPU machine lacks
# (it has nvcc, CMake and python3 with torch and nvidia-cudnn, but no Debian packages):
#   .carry/include/{stb/, nlohmann/, catch2/, png.h, pngconf.h, pnglibconf.h, libpng16/, zlib.h, zconf.h,
#                   jpeglib.h, jconfig.h, jmorecfg.h, jerror.h}
#   .carry/lib/{libpng16.a, libz.a, libjpeg.a, libCatch2WithMain.a}
#   .carry/share/cmake/{nlohmann_json/, Catch2/}   (config files, absolute /usr paths made relative)
# Idempotent: replaces exactly these entries and leaves anything else under .carry/ alone.
# Fails when .carry and the tree together are over the 64 MiB a device call carries
# (VDSR_CARRY_LIMIT_MB).
# Use on the GPU machine: cmake -DCMAKE_PREFIX_PATH=$PWD/.carry ... (bench/gpu_check.sh does it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
carry="$root/.carry"
inc=/usr/include
lib=/usr/lib/x86_64-linux-gnu

need() { [ -e "$1" ] || { echo "prepare_carry: missing $1 (run ./setup.sh first)" >&2; exit 1; }; }
for p in "$inc/stb/stb_image.h" "$inc/nlohmann/json.hpp" "$inc/catch2/catch.hpp" "$inc/png.h" \
         "$inc/libpng16" "$inc/zlib.h" "$inc/zconf.h" "$lib/libpng16.a" "$lib/libz.a" \
         "$inc/jpeglib.h" "$inc/jmorecfg.h" "$inc/jerror.h" "$inc/x86_64-linux-gnu/jconfig.h" "$lib/libjpeg.a" \
         /usr/share/cmake/nlohmann_json /usr/lib/cmake/Catch2; do
  need "$p"
done
catch_lib=""
for c in /usr/lib/libCatch2WithMain.a "$lib/libCatch2WithMain.a"; do
  [ -e "$c" ] && catch_lib="$c" && break
done

mkdir -p "$carry/include" "$carry/lib" "$carry/share/cmake"
copy() {  # copy SRC DST: replaces DST, following symbolic links
  rm -rf "$2"
  cp -rL "$1" "$2"
}
copy "$inc/stb" "$carry/include/stb"
copy "$inc/nlohmann" "$carry/include/nlohmann"
copy "$inc/catch2" "$carry/include/catch2"
copy "$inc/libpng16" "$carry/include/libpng16"
for h in png.h pngconf.h pnglibconf.h zlib.h zconf.h jpeglib.h jmorecfg.h jerror.h; do copy "$inc/$h" "$carry/include/$h"; done
copy "$inc/x86_64-linux-gnu/jconfig.h" "$carry/include/jconfig.h"  # libjpeg-turbo's, multiarch
copy "$lib/libjpeg.a" "$carry/lib/libjpeg.a"
copy "$lib/libpng16.a" "$carry/lib/libpng16.a"
copy "$lib/libz.a" "$carry/lib/libz.a"
[ -n "$catch_lib" ] && copy "$catch_lib" "$carry/lib/libCatch2WithMain.a"
copy /usr/share/cmake/nlohmann_json "$carry/share/cmake/nlohmann_json"
copy /usr/lib/cmake/Catch2 "$carry/share/cmake/Catch2"

# shellcheck disable=SC2016  # ${CMAKE_CURRENT_LIST_DIR} is for CMake, not the shell
# Catch2's config files pin the install prefix "/usr" for the "/usr move" case; make them derive
# the prefix from their own location (.carry/share/cmake/Catch2 -> .carry) instead.
sed -i \
  -e 's|"/usr/lib/cmake/Catch2"|"${CMAKE_CURRENT_LIST_DIR}"|g' \
  -e 's|set(PACKAGE_PREFIX_DIR "/usr")|get_filename_component(PACKAGE_PREFIX_DIR "${CMAKE_CURRENT_LIST_DIR}/../../../" ABSOLUTE)|' \
  "$carry/share/cmake/Catch2/Catch2Config.cmake" "$carry/share/cmake/Catch2/Catch2Targets.cmake"
# nlohmann_json's and Catch2's targets derive _IMPORT_PREFIX three levels up from their folder:
# share/cmake/<name> -> .carry, as wanted. Anything absolute left outside comments is an error.
if grep -rn '"/usr' "$carry/share/cmake" | grep -v ':[0-9]*:\s*#'; then
  echo "prepare_carry: absolute /usr paths remain in the CMake config copies (above)" >&2
  exit 1
fi
# Data sets the GPU run needs (../shared does not travel): VDSR_CARRY_DATA="T91 BSD200 Set5" copies
# those folders of $VDSR_DATA_DIR (default ../shared/data beside the checkout) into .carry/data/.
# Mind the 64 MiB a call can carry: T91 + BSD200 + Set5 + Set14 + B100 is about 40 MB; Urban100
# alone is 44 MB. The measurement (bench/gpu_measure.sh, its folder run) wants
#   VDSR_CARRY_DATA="Set14 B100" bench/prepare_carry.sh
# Set14 5.0 MB + B100 9.3 MB, with the headers and libraries (7.4 MB) and the tracked tree (5.7 MB)
# about 27 MB in all (measured 2026-12-04).
data_src="${VDSR_DATA_DIR:-$root/../shared/data}"
rm -rf "$carry/data"
for set in ${VDSR_CARRY_DATA:-}; do
  need "$data_src/$set"
  mkdir -p "$carry/data"
  cp -r "$data_src/$set" "$carry/data/$set"
done

# The commit this .carry was made for, for the record when the GPU machine's copy has no .git.
{
  git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown
  git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | head -50
  date -u +%Y-%m-%dT%H:%M:%SZ
} > "$carry/commit.txt.tmp"
first="$(head -1 "$carry/commit.txt.tmp")"
if [ "$(wc -l < "$carry/commit.txt.tmp")" -gt 2 ]; then first="$first-dirty"; fi
{ echo "$first"; tail -n +2 "$carry/commit.txt.tmp"; } > "$carry/commit.txt"
rm -f "$carry/commit.txt.tmp"
# Every file the call carries besides .carry, with its SHA-1: the GPU side (bench/gpu_build.sh's
# gpu_commit) marks its record "-stale" when the tree it runs is not this one.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | sort -z |
  xargs -0 -r sha1sum) > "$carry/tree.sha1"
# A device call carries the tracked tree, the untracked files git does not ignore and .carry: 64 MiB
# in all, or the call is refused. Said here, on the build machine, rather than there.
limit_mb="${VDSR_CARRY_LIMIT_MB:-64}"
tree_bytes="$(cd "$root" && git ls-files -z --cached --others --exclude-standard 2> /dev/null |
  du -cb --files0-from=- 2> /dev/null | tail -1 | cut -f1)" || true
carry_bytes="$(du -sb "$carry" | cut -f1)"
total=$(( ${tree_bytes:-0} + carry_bytes ))
if [ "$total" -gt $(( limit_mb * 1024 * 1024 )) ]; then
  echo "prepare_carry: .carry ($((carry_bytes / 1048576)) MiB) and the tree ($((${tree_bytes:-0} / 1048576)) MiB) are over the $limit_mb MiB a device call carries: carry fewer data sets (VDSR_CARRY_DATA)" >&2
  exit 1
fi
echo "prepare_carry: $carry ready ($(du -sh "$carry" | cut -f1); with the tree $((total / 1048576)) of the $limit_mb MiB a call carries)"
