#!/usr/bin/env bash
# ctest "vdsr_bench -g 0 smoke" (label gpu): every GPU row of vdsr_bench on its smallest settings
# (one repeat, two runs, batch 2 (training rows at 2 and 3), 64^3 GEMMs, no 1080p conv rows) must
# pass its verification: exit 0 and no FAILED row, the weight gradient's finish rows among them
# (both thread orders bit for bit against the CPU's finish) and the probes (--probes: probe 0 bit
# for bit against its registry row; on a GPU without wgmma a skipped row); then --nodes (batch 2,
# two repeats) must time every table and the node floor; then our rows with --pdl on (conv rows at
# batches 1 and 2) must pass their verification; and a run with --time-limit already passed must
# start no row, list what it left out as skipped, exit 0 and still write a complete JSON.
# Without a usable GPU it reports itself skipped (77), or fails with VDSR_REQUIRE_GPU=1.
# Usage: bench_smoke.sh BIN_DIR OUT_DIR
set -uo pipefail
bin="$1" out="$2"
mkdir -p "$out"
log="$out/bench-smoke.txt"
"$bin/vdsr_bench" -g 0 --reps 1 --runs 2 --batch 2 --train-batches 2,3 --gemm 64 --no-hd-convs --probes \
  --json "$out/bench-smoke.json" > "$log" 2>&1
rc=$?
cat "$log"
if grep -q "is not usable" "$log"; then
  [ "${VDSR_REQUIRE_GPU:-}" = 1 ] && { echo "VDSR_REQUIRE_GPU=1 but no GPU is usable"; exit 1; }
  echo "SKIPPED: no usable GPU"
  exit 77
fi
[ "$rc" = 0 ] || { echo "vdsr_bench exited $rc"; exit 1; }
if grep -q "FAILED" "$log" "$out/bench-smoke.json"; then echo "a row failed its verification"; exit 1; fi
grep -q '"rows"' "$out/bench-smoke.json" || { echo "no rows in the JSON"; exit 1; }
grep -q '"run_ms"' "$out/bench-smoke.json" || { echo "no per-run times (--runs 2) in the JSON"; exit 1; }
grep -q '"op": "wgrad_finish"' "$out/bench-smoke.json" || { echo "no weight-gradient finish rows in the JSON"; exit 1; }
grep -q '"impl": "probe"' "$out/bench-smoke.json" || { echo "no probe rows (--probes) in the JSON"; exit 1; }
grep -q '"complete": true' "$out/bench-smoke.json" || { echo "the finished run's JSON does not say complete"; exit 1; }
# --nodes: every op of an iteration replayed from its graph and of a 1080p frame, every precision.
nodes_log="$out/nodes-smoke.txt"
"$bin/vdsr_bench" -g 0 --nodes --reps 2 --batch 2 --json "$out/nodes-smoke.json" > "$nodes_log" 2>&1
rc=$?
cat "$nodes_log"
[ "$rc" = 0 ] || { echo "vdsr_bench --nodes exited $rc"; exit 1; }
if grep -q "FAILED" "$out/nodes-smoke.json"; then echo "a --nodes table failed"; exit 1; fi
grep -q '"empty_kernel_ms"' "$out/nodes-smoke.json" || { echo "no node floor in the --nodes JSON"; exit 1; }
# --pdl on: our rows with programmatic dependent launch must pass the same verification.
pdl_log="$out/pdl-smoke.txt"
"$bin/vdsr_bench" -g 0 --impl ours --reps 1 --batch 2 --conv-batches 1,2 --no-hd-convs --pdl on --json "$out/pdl-smoke.json" \
  > "$pdl_log" 2>&1
rc=$?
cat "$pdl_log"
[ "$rc" = 0 ] || { echo "vdsr_bench --pdl on exited $rc"; exit 1; }
if grep -q "FAILED" "$pdl_log" "$out/pdl-smoke.json"; then echo "a row failed its verification with --pdl on"; exit 1; fi
grep -q '"programmatic_launch": true' "$out/pdl-smoke.json" || { echo "the JSON does not say PDL was on"; exit 1; }
grep -q '"1x41x41 64->64"' "$out/pdl-smoke.json" && grep -q '"2x41x41 64->64"' "$out/pdl-smoke.json" ||
  { echo "--conv-batches 1,2 did not give conv rows at both batches"; exit 1; }
# --time-limit: a limit passed before the first row leaves every row out, in words.
limit_log="$out/limit-smoke.txt"
"$bin/vdsr_bench" -g 0 --impl ours --reps 1 --batch 2 --no-hd-convs --time-limit 0.001 --json "$out/limit-smoke.json" \
  > "$limit_log" 2>&1
rc=$?
cat "$limit_log"
[ "$rc" = 0 ] || { echo "vdsr_bench --time-limit exited $rc"; exit 1; }
grep -q '"complete": true' "$out/limit-smoke.json" || { echo "--time-limit: no complete JSON"; exit 1; }
n_ok="$(grep -c '"status": "ok"' "$out/limit-smoke.json")"
n_cut="$(grep -c 'skipped: --time-limit' "$out/limit-smoke.json")"
[ "$n_ok" = 0 ] && [ "$n_cut" -ge 3 ] ||
  { echo "--time-limit 0.001: $n_ok rows ran, $n_cut said the limit (want 0 and at least 3)"; exit 1; }
echo "bench smoke: passed"
