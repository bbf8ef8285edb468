#!/usr/bin/env python3
"""peer_deadline_check.py: bench/pytorch_peer.py's --deadline on a plan whose rows' times are chosen
(a fake clock and a fake run_row; no PyTorch needed). A ctest case.

Deadline 200 s. Rows: eager (takes 5 s), compile (30 s), max-autotune (120 s), max-autotune (40 s),
eager (5 s). The first max-autotune row starts at 35 s with 165 left, over its guess of 150: it runs
to 155 s. The second is then expected to take 1.2 x 120 = 144 s, more than the 45 left: skipped.
The last eager row is expected to take 6 s (1.2 x 5) and 45 are left: it runs. Then the same plan
started later on the clock, every mode's kind, and the exit status (skipped rows are no failure).
"""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("pytorch_peer", os.path.join(ROOT, "bench", "pytorch_peer.py"))
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

clock = [0.0]
takes = {"eager": [5.0, 5.0], "compile": [30.0], "compile-max-autotune": [120.0, 40.0]}


def run_row(wl, mode, prec):
    clock[0] += takes[mode].pop(0)
    return {"workload": wl, "mode": mode, "precision": prec, "status": "ok"}


plan = [("train", "eager", "bf16"), ("train", "compile", "bf16"), ("train", "compile-max-autotune", "bf16"),
        ("infer", "compile-max-autotune", "bf16"), ("infer", "eager", "bf16")]
seen = []
rows = peer.run_plan(plan, run_row, deadline=200.0, start=0.0, now=lambda: clock[0],
                     on_row=lambda r: seen.append(len(r)))
status = [r["status"].split(":")[0] for r in rows]
problems = []
if status != ["ok", "ok", "ok", "skipped", "ok"]:
    problems.append("statuses %s, not ok ok ok skipped ok" % status)
if "144 s" not in rows[3]["status"] or "45 s left" not in rows[3]["status"]:
    problems.append("the skipped row says '%s', not 45 s left and about 144 s" % rows[3]["status"])
if seen != [1, 2, 3, 4, 5]:
    problems.append("on_row saw %s rows, not 1..5" % seen)
if clock[0] != 160.0:
    problems.append("the clock ran to %s, not 160 (the skipped row must not run)" % clock[0])
# Without a deadline every row runs.
clock[0] = 0.0
takes = {"eager": [5.0, 5.0], "compile": [30.0], "compile-max-autotune": [120.0, 40.0]}
if [r["status"] for r in peer.run_plan(plan, run_row, now=lambda: clock[0])] != ["ok"] * 5:
    problems.append("without --deadline a row was skipped")
# The deadline counts from start, not from the clock's zero: the same plan at 1000 s on the clock.
clock[0] = 1000.0
takes = {"eager": [5.0, 5.0], "compile": [30.0], "compile-max-autotune": [120.0, 40.0]}
late = [r["status"].split(":")[0] for r in peer.run_plan(plan, run_row, 200.0, 1000.0, now=lambda: clock[0])]
if late != status:
    problems.append("started at 1000 s on the clock: %s, not %s" % (late, status))
# Every mode of the plan has its kind (a compile mode taken for eager would get 10 s, not 45).
kinds = {m: peer.row_kind(m) for m in peer.ALL_MODES}
want = {"eager": "eager", "eager-cudagraph": "eager", "compile": "compile", "compile-cudagraphs": "compile",
        "compile-max-autotune": "max-autotune", "compile-max-autotune-cudagraphs": "max-autotune"}
if kinds != want:
    problems.append("row kinds %s, not %s" % (kinds, want))
# The exit status: skipped rows are no failure; failures with no result at all are.
ok, failed, skipped = {"status": "ok"}, {"status": "failed: x"}, {"status": "skipped: --deadline"}
for rows_, want_rc in (([skipped, skipped], 0), ([failed, skipped], 1), ([ok, failed], 0), ([failed], 1), ([ok], 0)):
    if peer.exit_status(rows_) != want_rc:
        problems.append("exit status %d for %s, not %d" % (peer.exit_status(rows_), [r["status"] for r in rows_], want_rc))
if problems:
    print("peer_deadline_check: FAILED: " + "; ".join(problems))
    sys.exit(1)
print("peer_deadline_check: passed")
