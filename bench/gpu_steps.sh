# shellcheck shell=bash
# gpu_steps.sh: sourced by bench/gpu_check.sh and bench/gpu_measure.sh: the steps of a device call
# under one wall-clock budget, and the packing of its results into the 8 files the device tool brings
# back. A device call has a hard limit (the caller's timeout_s); a step that overruns it, or a kernel
# that hangs, must cost that step alone and leave the record to be written.
# The caller sets out (its results folder) and budget (seconds), defines say MESSAGE and
# fail MESSAGE, and sources this file before its first step (the budget's clock starts here).
# shellcheck disable=SC2154  # the caller's variables

t_start="$EPOCHREALTIME"
elapsed() { echo $(( ${EPOCHREALTIME%.*} - ${t_start%.*} )); }
left() { echo $(( budget - $(elapsed) )); }
reserve=12  # seconds kept for the record and the packing at the end

# steps.tsv: name, planned s, cap s, start, end (epoch s), exit status, status, command. A caller
# that rebuilds a record from an earlier run's folder sets keep_steps_tsv=1 to keep that run's.
[ "${keep_steps_tsv:-0}" = 1 ] || printf 'name\tplanned_s\tcap_s\tstart\tend\trc\tstatus\tcommand\n' > "$out/steps.tsv"
note_step() {  # NAME PLANNED CAP START END RC STATUS COMMAND
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$out/steps.tsv"
}
# want NAME ENABLED PLANNED [optional]: whether to run a step; says why not. An optional step runs
# only if its planned time is left; any step needs some time left.
want() {
  local name="$1" enabled="$2" planned="$3" optional="${4:-}" l
  l="$(left)"
  if [ "$enabled" = 0 ]; then
    say "$name: skipped (option)"; note_step "$name" "$planned" 0 "" "" "" "skipped: option" ""; return 1
  fi
  if { [ -n "$optional" ] && [ "$l" -lt $((planned + reserve)) ]; } || [ "$l" -lt $((reserve + 5)) ]; then
    say "$name: skipped (budget: ${l} s left of $budget)"
    note_step "$name" "$planned" 0 "" "" "" "skipped: budget (${l} s left)" ""
    return 1
  fi
}
# step_cap CAP: the timeout step would give a step of cap CAP started now: min(CAP, budget left -
# reserve), at least 5 s. A tool with a time limit of its own (vdsr_bench --time-limit) takes a
# little less, so that it stops and writes its results before the timeout kills it.
step_cap() {
  local l c
  l="$(left)"
  c=$(( $1 < l - reserve ? $1 : l - reserve ))
  [ "$c" -ge 5 ] || c=5
  echo "$c"
}
# step NAME PLANNED CAP COMMAND...: runs COMMAND with its output in NAME.txt / NAME.stderr (both in
# NAME.txt when STEP_MERGE_OUTPUT=1), under timeout min(CAP, budget left - reserve); records the step.
# Returns the command's exit status.
step() {
  local name="$1" planned="$2" cap="$3"
  shift 3
  local l c rc t0 t1 st err="$out/$name.stderr"
  [ "${STEP_MERGE_OUTPUT:-0}" = 1 ] && err="$out/$name.txt"
  l="$(left)"
  c="$(step_cap "$cap")"
  say "$name: start (planned ${planned} s, cap ${c} s; ${l} s of the budget left): $*"
  t0="$EPOCHREALTIME"
  if [ "$err" = "$out/$name.txt" ]; then
    timeout --kill-after=10 "$c" "$@" > "$out/$name.txt" 2>&1
  else
    timeout --kill-after=10 "$c" "$@" > "$out/$name.txt" 2> "$err"
  fi
  rc=$?
  t1="$EPOCHREALTIME"
  st="ok"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    st="timed out after ${c} s"
  elif [ "$rc" != 0 ]; then
    st="failed (exit status $rc)"
  fi
  note_step "$name" "$planned" "$c" "$t0" "$t1" "$rc" "$st" "$*"
  local took
  took="$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")"
  if [ "$st" = ok ]; then
    say "$name: ok in ${took} s"
  else
    tail -5 "$err" >&2
    fail "$name: $st after ${took} s (see $(basename "$err"))"
  fi
  return "$rc"
}

# steps_table: steps.tsv as a Markdown table (step, planned s, cap s, took s, status).
steps_table() {
  python3 - "$out/steps.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| step | planned s | cap s | took s | status |")
print("|---|---:|---:|---:|---|")
for r in rows:
    took = "%.1f" % (float(r["end"]) - float(r["start"])) if r["start"] and r["end"] else "-"
    print(f"| {r['name']} | {r['planned_s']} | {r['cap_s'] or '-'} | {took} | {r['status']} |")
PY
}

# pack_out KEEP...: leaves the files named KEEP loose in $out and packs everything else (subfolders
# too) into $out/logs.tar.gz: the device tool brings back at most 8 files.
pack_out() {
  local pack f b
  pack="$(mktemp -d)"
  local excludes=(--exclude=logs.tar.gz)
  for b in "$@"; do excludes+=("--exclude=./$b"); done
  # GNU tar's status 1 is "some file changed as we read it" (a log still being written): the
  # archive is made, and leaving every log loose would send more files than the device tool returns.
  local rc=0
  (cd "$out" && tar czf "$pack/logs.tar.gz" "${excludes[@]}" .) || rc=$?
  if [ "$rc" -le 1 ] && [ -s "$pack/logs.tar.gz" ]; then
    for f in "$out"/* "$out"/.[!.]*; do
      [ -e "$f" ] || continue
      b="$(basename "$f")"
      printf '%s\n' "$@" | grep -qxF "$b" || rm -rf "$f"
    done
    mv "$pack/logs.tar.gz" "$out/"
  fi
  rm -rf "$pack"
}
