#!/usr/bin/env bash
# ctest "vdsr_bench -g 0 smoke" (label gpu): every GPU row of vdsr_bench on its smallest settings
# (one repeat, batch 2, 64^3 GEMMs, no 1080p conv rows) must pass its verification: exit 0 and no
# FAILED row. Without a usable GPU it reports itself skipped (77), or fails with VDSR_REQUIRE_GPU=1.
# Usage: bench_smoke.sh BIN_DIR OUT_DIR
set -uo pipefail
bin="$1" out="$2"
mkdir -p "$out"
log="$out/bench-smoke.txt"
"$bin/vdsr_bench" -g 0 --reps 1 --batch 2 --gemm 64 --no-hd-convs --json "$out/bench-smoke.json" > "$log" 2>&1
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
echo "bench smoke: passed"
