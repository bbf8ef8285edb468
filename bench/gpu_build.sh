# shellcheck shell=bash
# gpu_build.sh: sourced by bench/gpu_check.sh and bench/gpu_measure.sh, which build build-gpu/ on the
# GPU machine the same way: one place for the commit of the copy, cuDNN from PyTorch's Python
# package, the configure line (CUDA on, sm_90, dependencies from .carry/) and the build. The caller
# sets root, carry (the .carry folder), build (the build folder) and out (its results folder), and
# defines say MESSAGE (log a line) and fail MESSAGE (log a failure and remember it).
# shellcheck disable=SC2154,SC2034  # the caller's variables in; commit, configure... out to it

# gpu_commit: sets commit and commit_src for the record. .carry/commit.txt first: the device tool's
# copy may hold a .git of an older commit with the newer tree on top (seen: "2abbcfab6fe9-dirty" for
# a tree that was 47660d0d1433).
# .carry outlives commits (it is ignored), so prepare_carry.sh also lists the tree's files with their
# SHA-1 (tree.sha1): a tree that no longer matches is marked "-stale" rather than recorded under a
# commit it is not.
gpu_commit() {
  if [ -f "$carry/commit.txt" ]; then
    commit="$(head -1 "$carry/commit.txt")"
    commit_src=".carry/commit.txt written by prepare_carry.sh on the build machine"
    if [ -f "$carry/tree.sha1" ] && ! (cd "$root" && sha1sum --quiet -c "$carry/tree.sha1" > /dev/null 2>&1); then
      commit="$commit-stale"
      commit_src="$commit_src, for another tree: files changed since (run bench/prepare_carry.sh again)"
      say "WARNING: the tree is not the one .carry was made for: recorded as $commit"
    fi
  elif git -C "$root" rev-parse --short=12 HEAD > /dev/null 2>&1; then
    commit="$(git -C "$root" rev-parse --short=12 HEAD)"
    [ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-dirty"
    commit_src="git on this machine"
  else
    commit="unknown"
    commit_src="no git here and no .carry/commit.txt"
  fi
}

# gpu_find_cudnn: sets cudnn_root and cudnn_lib ("" when not found) and puts the library's folder on
# LD_LIBRARY_PATH (vdsr_bench's cuDNN rows load it at run time).
gpu_find_cudnn() {
  # cuDNN from PyTorch's Python packages: nvidia.cudnn (a namespace package may have no __file__);
  # wheels differ in layout, so look for the header and the library anywhere under nvidia/.
  local found
  found="$(python3 - 2>/dev/null <<'PY'
import glob, os
roots = []
try:
    import nvidia.cudnn as m
    f = getattr(m, "__file__", None)
    roots += [os.path.dirname(f)] if f else list(m.__path__)
except Exception:
    pass
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
for r in roots:
    hs = sorted(glob.glob(os.path.join(r, "**", "cudnn_version.h"), recursive=True))
    ls = sorted(glob.glob(os.path.join(r, "**", "libcudnn.so*"), recursive=True))
    ls = [l for l in ls if os.path.basename(l).split(".so")[0] == "libcudnn"]
    if hs and ls:
        print(os.path.dirname(os.path.dirname(hs[0])) + "|" + ls[0])
        break
PY
)" || true
  cudnn_root="${found%%|*}"
  cudnn_lib="${found#*|}"
  if [ -n "$found" ] && [ -f "$cudnn_root/include/cudnn_version.h" ] && [ -f "$cudnn_lib" ]; then
    say "cuDNN from Python: headers $cudnn_root/include, library $cudnn_lib"
    LD_LIBRARY_PATH="$(dirname "$cudnn_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
  else
    say "cuDNN Python package not found (or without headers): the build looks in the CUDA toolkit only"
    cudnn_root="" cudnn_lib=""
  fi
}

# gpu_configure_cmd USE_MACHINE_HEADERS: sets the arrays configure (the cmake configure line) and
# build_cmd (the build line). With USE_MACHINE_HEADERS=1, where the GPU machine has its own copy of a
# header-only package, use it and drop the carried one (in this copy only): two versions of nlohmann
# on the include path break the build. cuDNN's paths join the line when gpu_find_cudnn found them.
gpu_configure_cmd() {
  [ -d "$carry/include" ] || say "WARNING: $carry is missing: run bench/prepare_carry.sh on the build machine and carry .carry"
  local stb_dir="$carry/include/stb" h
  for h in nlohmann/json.hpp catch2/catch.hpp stb/stb_image.h; do
    if [ "$1" = 1 ] && [ -f "/usr/include/$h" ] && [ -d "$carry/include/${h%%/*}" ]; then
      say "using the machine's /usr/include/${h%%/*} instead of the carried copy"
      rm -rf "${carry:?}/include/${h%%/*}"
    fi
  done
  [ -d "$stb_dir" ] || stb_dir=/usr/include/stb
  local generator=()
  command -v ninja > /dev/null 2>&1 && generator=(-G Ninja)
  configure=(cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
    -DVDSR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DVDSR_CUDA_ARCHS=90
    -DCMAKE_PREFIX_PATH="$carry"
    -Dnlohmann_json_DIR="$carry/share/cmake/nlohmann_json" -DCatch2_DIR="$carry/share/cmake/Catch2"
    -DSTB_INCLUDE_DIR="$stb_dir"
    -DPNG_PNG_INCLUDE_DIR="$carry/include" -DPNG_LIBRARY="$carry/lib/libpng16.a"
    -DZLIB_INCLUDE_DIR="$carry/include" -DZLIB_LIBRARY="$carry/lib/libz.a"
    -DJPEG_INCLUDE_DIR="$carry/include" -DJPEG_LIBRARY="$carry/lib/libjpeg.a"
    # WebP and TIFF stay off there (libtiff's static library drags in six more): their tests skip.
    -DVDSR_WITH_WEBP=OFF -DVDSR_WITH_TIFF=OFF
    # No MPI there, whatever the image holds (its Python has mpi4py): the build stays the same.
    -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON)
  [ -n "${cudnn_lib:-}" ] && configure+=(-DCUDNN_ROOT="$cudnn_root" -DCUDNN_LIBRARY="$cudnn_lib")
  build_cmd=(cmake --build "$build" -j16)
}

# gpu_configure: runs the configure line into $out/configure.log; returns non-zero (after fail) when
# it fails.
gpu_configure() {
  say "configure: ${configure[*]}"
  if ! "${configure[@]}" > "$out/configure.log" 2>&1; then
    tail -30 "$out/configure.log" >&2
    fail "configure (see configure.log)"
    return 1
  fi
  grep -E "vdsr|cuDNN" "$out/configure.log" | tee -a "$out/progress.log" >&2
}
