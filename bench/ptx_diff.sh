#!/usr/bin/env bash
# ptx_diff.sh REV [ARCHS]: the PTX of every CUDA conv kernel at git revision REV against the working
# tree, kernel by kernel, for each compute architecture in ARCHS (default "80 90"; the wgmma file is
# always compiled for 90a), identical up to names and register numbering or not. How a refactor of
# kernels/ shows it leaves the generated code alone (docs/kernels.md). No GPU needed; nvcc only.
#   bench/ptx_diff.sh HEAD~1          # what the last commit and the working tree changed
# Exit 1 when a kernel present on both sides differs.
set -euo pipefail
rev="${1:?usage: bench/ptx_diff.sh REV [ARCHS]}"
archs="${2:-80 90}"
root="$(cd "$(dirname "$0")/.." && pwd)"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/old" "$rev" >/dev/null 2>&1

ptx() {  # source tree, output folder
  mkdir -p "$2"
  local flags=(-O3 -DNDEBUG -std=c++17 -DVDSR_HAVE_CUDA=1 -DVDSR_HAVE_WGMMA -I"$1")
  for f in "$1"/kernels/*.cu; do
    local n; n="$(basename "$f" .cu)"
    if [[ "$n" == *_sm90a ]]; then
      "$nvcc" "${flags[@]}" -arch=compute_90a -ptx "$f" -o "$2/$n.90a.ptx"
    else
      for a in $archs; do "$nvcc" "${flags[@]}" -arch="compute_$a" -ptx "$f" -o "$2/$n.$a.ptx"; done
    fi
  done
}
ptx "$work/old" "$work/a"
ptx "$root" "$work/b"
python3 "$root/bench/ptx_entries.py" "$work/a" "$work/b"
