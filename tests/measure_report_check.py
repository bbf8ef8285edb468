#!/usr/bin/env python3
"""measure_report_check.py WORK_DIR: bench/gpu_measure_report.py's arithmetic on a results folder
made up here, whose every figure is chosen (the CPU dry run of bench/gpu_measure.sh only checks the
record's sections: its rates are whatever this machine gives). A ctest case.

The folder: a network-only rate of 100 output Mpx/s; a load thread decodes at 40 and prepares at
120 (30 a thread), a save thread finishes at 60 and encodes PNG level 1 at 30 (20 a thread); vdsr_sr
to PNG with -j 2:1:4 at 80 Mpx/s (80 output Mpx over 1 s: below the 90% bar; stage capacities load
60, process 100, save 80: bound by load), to JPEG at 90 (exactly the bar: it meets it); the stages
suggest -j 3:1:6 for PNG. bench.json: our row at 1 ms against cuDNN's best at 2 ms (2x). pdl-off/on.json:
one row, 0.5 ms a call both ways, 0.5 and 0.4 ms a call back to back (on / off 0.8 only in the block).
"""

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "bench", "gpu_measure_report.py")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def make_out(out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    write(os.path.join(out, "facts.tsv"), "".join("%s\t%s\n" % kv for kv in [
        ("stamp", "2026-12-01T00:00:00Z"), ("end_stamp", "2026-12-01T00:05:00Z"), ("gpu_line", "Test GPU, 1.0, 80 GiB"),
        ("commit", "abc"), ("commit_src", "test"), ("gpu", "0"), ("precision", "bf16"), ("budget", "345"),
        ("elapsed", "300"), ("dry_run", "0"), ("folder_images", "4"), ("folder_sets", "Set14"),
        ("stage_images", "4"), ("stage_reps", "1"), ("peer_rows", ""), ("record_dir", "none")]))
    steps = [("sr-png", "-g 0 --precision bf16 -s 2 -f png -j 2:1:4", 100.0, 101.25),
             ("sr-jpg", "-g 0 --precision bf16 -s 2 -f jpg -j 2:1:4", 200.0, 201.0)]
    write(os.path.join(out, "steps.tsv"), "name\tplanned_s\tcap_s\tstart\tend\trc\tstatus\tcommand\n" + "".join(
        "%s\t12\t90\t%s\t%s\t0\tok\tvdsr_sr %s\n" % (n, a, b, c) for n, c, a, b in steps))
    stages = {"net_rate_mpx_per_s": 100.0, "decode_output_mpx_per_s": 40.0, "rows": [
        {"stage": "network x2", "setting": "all of image 1", "mpx_per_s": 100.0},
        {"stage": "prepare x2", "setting": "2 colour", "mpx_per_s": 120.0},
        {"stage": "finish x2", "setting": "2 colour", "mpx_per_s": 60.0},
        {"stage": "encode", "setting": "png level 1", "mpx_per_s": 30.0, "baseline": False},
        {"stage": "encode", "setting": "png level 1", "mpx_per_s": 1000.0, "baseline": True},
        {"stage": "encode", "setting": "jpg q95", "mpx_per_s": 60.0, "baseline": False}],
        "suggestions": [{"setting": "png level 1", "threads": "3:1:6", "baseline": False},
                        {"setting": "png level 1", "threads": "9:9:9", "baseline": True}]}
    json.dump(stages, open(os.path.join(out, "stages.json"), "w"))
    for name, mpx in (("sr-png", 80.0), ("sr-jpg", 90.0)):
        json.dump({"totals": {"images": 4, "done": 4, "failed": 0, "output_megapixels": mpx,
                              "input_megapixels": mpx / 4, "seconds": 1.0}}, open(os.path.join(out, name + ".json"), "w"))
    bench = {"commit": "abc", "timing": {"runs": 5}, "rows": [
        {"op": "conv3x3_fwd", "shape": "64x41x41 64->64", "impl": "ours", "precision": "bf16", "algo": "wgmma",
         "status": "ok", "median_ms": 1.0, "block_ms": 1.0, "run_ms": [0.9, 1.0, 1.1],
         "cudnn_best_ms": 2.0, "cudnn_best_algo": "IMPLICIT_GEMM", "cudnn_best_run_ms": [1.9, 2.0, 2.2]},
        {"op": "train_iteration", "shape": "128x41x41", "impl": "ours", "precision": "bf16", "algo": "graph",
         "status": "ok", "median_ms": 4.0, "block_ms": 4.0}]}
    json.dump(bench, open(os.path.join(out, "bench.json"), "w"))
    # --pdl off / on: per call the same (an event between calls), back to back 0.8 of off.
    for mode, block in (("off", 0.5), ("on", 0.4)):
        json.dump({"rows": [{"op": "conv3x3_fwd", "shape": "1x41x41 64->64", "impl": "ours", "precision": "bf16",
                             "algo": "wgmma", "status": "ok", "median_ms": 0.5, "block_ms": block}]},
                  open(os.path.join(out, "pdl-%s.json" % mode), "w"))


def main(work):
    out = os.path.join(work, "measure-report-check")
    make_out(out)
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append("%s: %r, not %r" % (what, got, want))

    r = subprocess.run([sys.executable, REPORT, "record", out, ROOT], capture_output=True, text=True)
    expect("record's exit status", r.returncode, 0)
    if r.returncode:
        print(r.stderr, file=sys.stderr)
    m = json.load(open(os.path.join(out, "measure.json")))
    runs = {x["run"]: x for x in m["folder"]["runs"]}
    png, jpg = runs.get("sr-png", {}), runs.get("sr-jpg", {})
    expect("PNG Mpx/s (output Mpx / the report's seconds)", png.get("mpx_per_s"), 80.0)
    expect("PNG of the network rate", png.get("ratio"), 0.8)
    expect("PNG meets the 90% bar", png.get("meets"), False)
    expect("JPEG (exactly 90%) meets the bar", jpg.get("meets"), True)
    expect("PNG -j (from the step's command)", png.get("j"), "2:1:4")
    expect("PNG stage capacities", png.get("stage_caps_mpx_per_s"),
           {"load (decode, prepare)": 60.0, "process (the network)": 100.0, "save (finish, png level 1 encode)": 80.0})
    expect("PNG bounding stage", png.get("bound"), "load (decode, prepare)")
    expect("PNG model rate", png.get("predicted_mpx_per_s"), 60.0)
    expect("PNG wall Mpx/s (over the step's 1.25 s)", png.get("mpx_per_s_wall"), 64.0)
    expect("the stages' -j suggestions (not the stb baseline's)", m["folder"]["suggestions"], {"png level 1": "3:1:6"})
    vs = m["bench"]["vs_cudnn"]
    expect("ours against cuDNN rows", len(vs), 1)
    if vs:
        expect("xcuDNN (cuDNN's best / ours)", vs[0]["x_cudnn"], 2.0)
        expect("cuDNN's spread", list(vs[0]["cudnn_runs"]), [1.9, 2.2])
    sc = m["bench"]["scaling"]
    expect("batch scaling rows", [(x["batch"], x["samples_per_s"]) for x in sc], [(128, 32000.0)])
    pdl = m["bench"].get("pdl", [])
    expect("pdl pairs", len(pdl), 1)
    if pdl:
        expect("pdl on / off per call", pdl[0]["on_over_off"], 1.0)
        expect("pdl on / off back to back (the block times)", pdl[0]["block_on_over_off"], 0.8)
    record = open(os.path.join(out, "record.md")).read()
    for line in ("- sr-png: **below** the bar: 80% of the network-only rate; bounding stage (model): load (decode, prepare);"
                 " the stages' -j for png level 1: 3:1:6.",
                 "- sr-jpg: **meets** the bar: 90% of the network-only rate."):
        if line not in record:
            problems.append("record.md has no line '%s'" % line)
    # suggest: PNG at 80% asks for the stages' -j, never fewer threads than the run had and at most
    # 2 load / 2 save threads a core; JPEG at 90% asks for nothing.
    cores = os.cpu_count() or 1
    want = "%d:%d:%d" % (max(2, min(3, 2 * cores)), max(1, min(1, cores)), max(4, min(6, 2 * cores)))
    want = "" if want == "2:1:4" else want
    r = subprocess.run([sys.executable, REPORT, "suggest", out, "png"], capture_output=True, text=True)
    expect("suggest png", r.stdout.strip(), want)
    r = subprocess.run([sys.executable, REPORT, "suggest", out, "jpg"], capture_output=True, text=True)
    expect("suggest jpg (at the bar)", r.stdout.strip(), "")
    # A bench.json that vdsr_bench left midway (complete: false) is said to be partial; a whole one is not.
    expect("a whole bench.json called partial", "bench.json is partial" in record, False)
    bench = json.load(open(os.path.join(out, "bench.json")))
    bench["complete"] = False
    json.dump(bench, open(os.path.join(out, "bench.json"), "w"))
    subprocess.run([sys.executable, REPORT, "record", out, ROOT], capture_output=True, text=True)
    expect("a partial bench.json said so", "**bench.json is partial**" in open(os.path.join(out, "record.md")).read(), True)
    for p in problems:
        print("measure_report_check: FAILED: " + p, file=sys.stderr)
    if not problems:
        print("measure_report_check: passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
