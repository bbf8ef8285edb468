# shellcheck shell=bash
# record_dir.sh: sourced by bench/gpu_check.sh and bench/cpu_check.sh, which write each record into
# a folder of its own (docs/perf.md lists them; its current-results table is updated by hand).
# record_dir ROOT STAMP COMMIT prints that folder for a record of COMMIT made at STAMP (UTC,
# 2026-11-22T20:13:26Z): ROOT/docs/perf-data/<date>-<commit>, or <date>T<HHMM>-<commit> when the
# first already holds a record (two runs of one commit on one day), or <date>T<HHMMSS>-<commit> when
# that one does too, so that no record overwrites another.
record_dir() {
  local stamp="$2" commit="$3" base="$1/docs/perf-data/${2:0:10}"
  local dir="$base-$commit"
  [ -e "$dir/record.md" ] && dir="${base}T${stamp:11:2}${stamp:14:2}-$commit"
  [ -e "$dir/record.md" ] && dir="${base}T${stamp:11:2}${stamp:14:2}${stamp:17:2}-$commit"
  echo "$dir"
}
