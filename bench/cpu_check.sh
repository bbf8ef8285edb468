#!/usr/bin/env bash
# cpu_check.sh: benchmark the CPU backend with vdsr_bench -g -1 and write a dated record (commit,
# CPU model, thread count, command, table) to docs/perf-data/<UTC date>-<commit12>/record.md
# (bench/record_dir.sh names the folder), so CPU figures, like GPU ones, are never typed by hand;
# docs/perf.md's list of records and current-results table are updated by hand from it.
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
table="$(VDSR_THREADS="$threads" "$bench" -g -1 "$@")"
echo "$table"
dest="$(record_dir "$root" "$stamp" "$commit")"
mkdir -p "$dest"
{
  echo "# $stamp — CPU backend, $cpu, $threads threads, commit $commit"
  echo
  echo "Written by \`bench/cpu_check.sh\` (never edited by hand). $(nproc) hardware threads seen;"
  echo "the load average at the start was $load (other work on the machine lowers the figures)."
  echo
  echo '```'
  echo "VDSR_THREADS=$threads $build/bin/vdsr_bench -g -1 $*"
  echo "$table"
  echo '```'
} > "$dest/record.md"
echo "cpu_check: record written to ${dest#"$root"/}/record.md; docs/perf.md is not touched:"
echo "cpu_check: update its list of records and its current-results table by hand from the record"
