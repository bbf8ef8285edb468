#!/usr/bin/env bash
# cpu_check.sh: benchmark the CPU backend with vdsr_bench -g -1 and write a dated record (commit,
# CPU model, thread count, command, table) to docs/perf-data/<UTC date>-<commit12>/record.md
# (bench/record_dir.sh names the folder), so CPU figures, like GPU ones, are never typed by hand;
# docs/perf.md's list of records and current-results table are updated by hand from it.
# The op rows come with the same threads' measured multiply-add peak (% of peak) and, where PyTorch
# imports (PYTHON, else python3, else /usr/bin/python3; Debian: apt-get install python3-torch),
# bench/pytorch_cpu_peer.py's same rows on the same threads and the ratio per row; both JSON files
# are kept beside the record. --stages runs (the image pipeline) have no peer.
# Usage (repository root): bench/cpu_check.sh [BUILD_DIR] [-- VDSR_BENCH_ARGS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/record_dir.sh
. "$root/bench/record_dir.sh"
build="build"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
bench="$root/$build/bin/vdsr_bench"
[ -x "$bench" ] || { echo "cpu_check: $bench not built (cmake --build $build)" >&2; exit 2; }
threads="${VDSR_THREADS:-$(nproc)}"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-dirty"
stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
dest="$(record_dir "$root" "$stamp" "$commit")"
if [ ! -e "$dest" ]; then  # a run that fails leaves no half-written record folder behind
  trap '[ -e "$dest/record.md" ] || rm -rf "$dest"' EXIT
fi
mkdir -p "$dest"
stages=0
for a in "$@"; do [ "$a" = "--stages" ] && stages=1; done
json_args=()
[ "$stages" = 1 ] || json_args=(--json "$dest/cpu-bench.json")
table="$(VDSR_THREADS="$threads" "$bench" -g -1 "$@" "${json_args[@]}")"
echo "$table"
peer="" have_torch=0
if [ "$stages" = 0 ]; then
  for py in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$py" -c 'import torch' 2>/dev/null; then
      have_torch=1
      peer="$("$py" "$root/bench/pytorch_cpu_peer.py" --threads "$threads" --ours "$dest/cpu-bench.json" \
        --json "$dest/pytorch-cpu.json")" || {
        echo "cpu_check: bench/pytorch_cpu_peer.py failed (above); the record holds our rows only" >&2
        peer=""
      }
      echo "$peer"
      break
    fi
  done
  [ "$have_torch" = 1 ] || echo "cpu_check: PyTorch does not import here: no peer rows (Debian: apt-get install python3-torch)"
fi
{
  echo "# $stamp — CPU backend, $cpu, $threads threads, commit $commit"
  echo
  echo "Written by \`bench/cpu_check.sh\` (never edited by hand). $(nproc) hardware threads seen;"
  echo "the load average at the start was $load (other work on the machine lowers the figures)."
  echo
  echo '```'
  echo "VDSR_THREADS=$threads $build/bin/vdsr_bench -g -1${*:+ $*}${json_args[*]:+ --json cpu-bench.json}"
  echo "$table"
  echo '```'
  if [ -n "$peer" ]; then
    echo
    echo "PyTorch on the same threads (\`bench/pytorch_cpu_peer.py --threads $threads\`; every configuration"
    echo "timed, the fastest per row is the peer; pytorch-cpu.json beside this file):"
    echo
    echo '```'
    echo "$peer"
    echo '```'
  fi
} > "$dest/record.md"
echo "cpu_check: record written to ${dest#"$root"/}/record.md; docs/perf.md is not touched:"
echo "cpu_check: update its list of records and its current-results table by hand from the record"
