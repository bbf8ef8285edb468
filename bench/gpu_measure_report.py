#!/usr/bin/env python3
"""gpu_measure_report.py: the arithmetic and the record of bench/gpu_measure.sh (issue 21).

    gpu_measure_report.py suggest OUT FORMAT   the -j L:P:S of a second vdsr_sr run for FORMAT (png or
                                               jpg): printed when the first run's end-to-end rate is
                                               below 90% of the network-only rate and the stages
                                               suggest another -j; nothing otherwise (why, on stderr)
    gpu_measure_report.py record OUT ROOT      writes OUT/record.md and OUT/measure.json from what
                                               gpu_measure.sh left in OUT (ROOT: the repository)

Inputs in OUT: facts.tsv (key, value), steps.tsv (one line a step: planned and cap seconds, start
and end in epoch seconds, exit status), clocks.csv (nvidia-smi every 200 ms: UTC timestamp, SM and
memory clock MHz, power W, temperature C, clock event reasons), clocks-q.txt, the steps' outputs
NAME.txt / NAME.stderr, and nodes.json, bench.json, pdl-off.json, pdl-on.json, stages.json, sr-*.json,
peer.json, ncu.txt.
Anything missing or unreadable is said in the record instead of stopping it.

The folder verdict: end-to-end rate = the vdsr_sr report's output megapixels over its seconds;
network-only rate = the --stages run's network row (the same precision, every image whole on a
GPU). The pipeline's stages with -j L:P:S bound it at
    load    L / (1 / decode + 1 / prepare)   (a load thread decodes, then splits the colour and
                                             upscales the luma; output Mpx/s per thread)
    process network                          (the process worker runs the network alone: one per GPU
                                             whatever P says)
    save    S / (1 / finish + 1 / encode)    (a save thread upscales the chroma, goes back to RGB,
                                             then runs the format's encoder)
and the smallest of the three names the bounding stage.
"""

import csv
import datetime
import json
import math
import os
import re
import statistics
import sys

THRESHOLD = 0.9  # the bar: the pipeline reaches >= 90% of the network-only rate
DEFAULT_J = (1, 2, 2)  # vdsr_sr's -j default on the CPU (vdsr_sr --help)


def default_j(on_gpu, gpus=1):
    """vdsr_sr's -j when none is given (io/batch_pipeline.h, gpu_pipeline_threads on GPUs); this
    report runs on the machine vdsr_sr ran on, so its CPU count is the one vdsr_sr saw."""
    if not on_gpu:
        return DEFAULT_J
    hw = max(os.cpu_count() or 1, 1)
    load = min(max(hw // 4, 1), 256)
    return (load, max(gpus, 1), min(max(hw - load - gpus, 2), 256))
ENCODER_SETTING = {"png": "png level 1", "jpg": "jpg q95"}  # vdsr_sr's defaults (--png-level 1, --jpg-quality 95)
REASONS = [  # nvidia-smi clocks_event_reasons.active bits (NVML nvmlClocksEventReason*)
    (0x1, "GpuIdle"), (0x2, "ApplicationsClocksSetting"), (0x4, "SwPowerCap"), (0x8, "HwSlowdown"),
    (0x10, "SyncBoost"), (0x20, "SwThermalSlowdown"), (0x40, "HwThermalSlowdown"),
    (0x80, "HwPowerBrakeSlowdown"), (0x100, "DisplayClockSetting")]


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_facts(out):
    facts = {}
    text = read_text(os.path.join(out, "facts.tsv")) or ""
    for line in text.splitlines():
        k, _, v = line.partition("\t")
        if k:
            facts[k] = v
    return facts


def read_steps(out):
    steps = []
    try:
        with open(os.path.join(out, "steps.tsv")) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                for k in ("start", "end"):
                    r[k] = float(r[k]) if r.get(k) else None
                r["seconds"] = r["end"] - r["start"] if r["start"] is not None and r["end"] is not None else None
                steps.append(r)
    except OSError:
        pass
    return steps


def step(steps, name):
    return next((s for s in steps if s["name"] == name), None)


def num(text):
    try:
        v = float(text)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def fmt(v, spec=".3f", none="-"):
    return none if v is None else format(v, spec)


# ---- clocks ---------------------------------------------------------------------------------------

def read_clocks(out):
    """Samples [(epoch, sm MHz, mem MHz, power W, temp C, reasons int or None)] from clocks.csv."""
    samples = []
    text = read_text(os.path.join(out, "clocks.csv")) or ""
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6:
            continue
        try:
            t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f")
        except ValueError:
            continue
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()  # nvidia-smi ran with TZ=UTC
        try:
            reasons = int(parts[5], 16)
        except ValueError:
            reasons = None
        samples.append((t, num(parts[1]), num(parts[2]), num(parts[3]), num(parts[4]), reasons))
    return samples


def reason_names(mask):
    names = [n for bit, n in REASONS if mask & bit]
    rest = mask & ~sum(b for b, _ in REASONS)
    if rest:
        names.append("0x%x" % rest)
    return names


def clock_summary(samples, start=None, end=None):
    sel = [s for s in samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
    if not sel:
        return None

    def col(i):
        return [s[i] for s in sel if s[i] is not None]
    sm, mem, pw, temp = col(1), col(2), col(3), col(4)
    masks = {s[5] for s in sel if s[5] is not None}
    busy = sorted({n for m in masks for n in reason_names(m) if n != "GpuIdle"})
    return {
        "samples": len(sel),
        "sm_mhz_median": statistics.median(sm) if sm else None, "sm_mhz_min": min(sm) if sm else None,
        "sm_mhz_max": max(sm) if sm else None,
        "mem_mhz_median": statistics.median(mem) if mem else None,
        "power_w_median": statistics.median(pw) if pw else None, "power_w_max": max(pw) if pw else None,
        "temp_c_max": max(temp) if temp else None,
        "reasons_non_idle": busy,
        "reason_masks": sorted("0x%x" % m for m in masks),
    }


def clock_cells(c):
    if c is None:
        return "no samples"
    return "%s MHz (%s..%s), %s W (max %s), max %s C, %s" % (
        fmt(c["sm_mhz_median"], ".0f"), fmt(c["sm_mhz_min"], ".0f"), fmt(c["sm_mhz_max"], ".0f"),
        fmt(c["power_w_median"], ".0f"), fmt(c["power_w_max"], ".0f"), fmt(c["temp_c_max"], ".0f"),
        ", ".join(c["reasons_non_idle"]) or "no non-idle reason")


def clock_facts(text):
    """The lines of nvidia-smi -q -d CLOCK,POWER worth a record: application, default, max clocks
    and the power limits."""
    keep, section = [], ""
    for line in (text or "").splitlines():
        s = line.strip()
        if not s:
            continue
        if ":" not in s:
            section = s
            continue
        k, _, v = s.partition(":")
        k, v = k.strip(), v.strip()
        if section in ("Applications Clocks", "Default Applications Clocks", "Max Clocks") and k in ("Graphics", "SM", "Memory"):
            keep.append("%s %s %s" % (section, k, v))
        elif k in ("Current Power Limit", "Default Power Limit", "Max Power Limit", "Power Limit") and v:
            keep.append("%s %s" % (k, v))
    return keep


# ---- folder ---------------------------------------------------------------------------------------

def stage_rates(stages):
    """(network, prepare, finish, decode per thread in output Mpx/s, {setting: encode Mpx/s})."""
    net = stages.get("net_rate_mpx_per_s")
    decode = stages.get("decode_output_mpx_per_s")
    prepare, finish, encode = None, None, {}
    for r in stages.get("rows", []):
        if r.get("stage", "").startswith("prepare"):
            prepare = r.get("mpx_per_s")
        elif r.get("stage", "").startswith("finish"):
            finish = r.get("mpx_per_s")
        elif r.get("stage") == "encode" and not r.get("baseline"):
            encode[r.get("setting")] = r.get("mpx_per_s")
    return net, prepare, finish, decode, encode


def serial(*rates):
    """One thread doing these steps one after the other: 1 / sum(1 / rate)."""
    return 1.0 / sum(1.0 / r for r in rates) if rates and all(rates) else None


def parse_j(text):
    try:
        l, p, s = (int(x) for x in text.split(":"))
        return l, p, s
    except (AttributeError, ValueError):
        return None


def bound(stages, fmt_name, j):
    """The pipeline's stage capacities (output Mpx/s) with -j j, and the smallest."""
    net, prepare, finish, decode, encode = stage_rates(stages)
    enc = encode.get(ENCODER_SETTING[fmt_name])
    caps = {}
    load = serial(decode, prepare)
    if load:
        caps["load (decode, prepare)"] = j[0] * load
    if net:
        # One worker per GPU; on the CPU the P workers share the pool that runs the network.
        caps["process (the network)"] = net
    save = serial(finish, enc)
    if save:
        caps["save (finish, %s encode)" % ENCODER_SETTING[fmt_name]] = j[2] * save
    if not caps:
        return caps, None
    return caps, min(caps, key=caps.get)


def sr_result(out, steps, name, on_gpu):
    doc = load_json(os.path.join(out, name + ".json"))
    st = step(steps, name)
    if doc is None:
        return None
    t = doc.get("totals", {})
    mpx, secs = t.get("output_megapixels"), t.get("seconds")
    cmd = (st or {}).get("command", "")
    m = re.search(r"-j (\d+:\d+:\d+)", cmd)
    return {
        "run": name, "format": "png" if name.startswith("sr-png") else "jpg",
        "j": m.group(1) if m else "%d:%d:%d" % default_j(on_gpu),
        "images": t.get("images"), "done": t.get("done"), "failed": t.get("failed"),
        "output_mpx": mpx, "report_seconds": secs,
        "wall_seconds": (st or {}).get("seconds"),
        "mpx_per_s": mpx / secs if mpx and secs else None,
        "mpx_per_s_wall": mpx / st["seconds"] if mpx and st and st.get("seconds") else None,
        "status": (st or {}).get("status"),
    }


def folder_results(out, steps, on_gpu):
    stages = load_json(os.path.join(out, "stages.json"))
    runs = [r for r in (sr_result(out, steps, n, on_gpu) for n in ("sr-png", "sr-jpg", "sr-png-j", "sr-jpg-j")) if r]
    net = stages.get("net_rate_mpx_per_s") if stages else None
    for r in runs:
        r["ratio"] = r["mpx_per_s"] / net if r["mpx_per_s"] and net else None
        r["meets"] = r["ratio"] is not None and r["ratio"] >= THRESHOLD
        if stages and parse_j(r["j"]):
            caps, b = bound(stages, r["format"], parse_j(r["j"]))
            r["stage_caps_mpx_per_s"] = caps
            r["bound"] = b
            r["predicted_mpx_per_s"] = caps.get(b) if b else None
    sugg = {}
    for s in (stages or {}).get("suggestions", []):
        if not s.get("baseline"):
            sugg[s.get("setting")] = s.get("threads")
    network_what = next((r.get("setting") for r in (stages or {}).get("rows", [])
                         if r.get("stage", "").startswith("network")), None)
    return {"network_mpx_per_s": net, "network_what": network_what, "stages": stages is not None, "runs": runs,
            "suggestions": sugg, "threshold": THRESHOLD}


def cmd_suggest(out, fmt_name):
    steps = read_steps(out)
    stages = load_json(os.path.join(out, "stages.json"))
    if stages is None:
        print("no stages.json: no network rate to compare with", file=sys.stderr)
        return 0
    r = sr_result(out, steps, "sr-" + fmt_name, read_facts(out).get("gpu", "0") != "-1")
    net = stages.get("net_rate_mpx_per_s")
    if r is None or not r["mpx_per_s"] or not net:
        print("no end-to-end rate for %s" % fmt_name, file=sys.stderr)
        return 0
    ratio = r["mpx_per_s"] / net
    j = next((s.get("threads") for s in stages.get("suggestions", [])
              if s.get("setting") == ENCODER_SETTING[fmt_name] and not s.get("baseline")), None)
    sj, used = parse_j(j), parse_j(r["j"])
    if ratio >= THRESHOLD:
        print("%s reaches %.0f%% of the network rate" % (fmt_name, 100 * ratio), file=sys.stderr)
    elif not sj or not used:
        print("the stages suggest no -j for %s" % ENCODER_SETTING[fmt_name], file=sys.stderr)
    else:
        # Never fewer threads than the run had; at most 2 load and 2 save threads per core, and one
        # process worker per core (on a GPU vdsr_sr runs one per GPU anyway).
        cores = os.cpu_count() or 1
        jj = (max(used[0], min(sj[0], 2 * cores)), max(used[1], min(sj[1], cores)),
              max(used[2], min(sj[2], 2 * cores)))
        if jj == used:
            print("%s: %.0f%% of the network rate; the stages' -j %s asks for no more threads than -j %s"
                  % (fmt_name, 100 * ratio, j, r["j"]), file=sys.stderr)
        else:
            print("%d:%d:%d" % jj)
    return 0


# ---- bench, peer, ncu -----------------------------------------------------------------------------

def batch_of(shape):
    m = re.match(r"(\d+)x", shape or "")
    return int(m.group(1)) if m else None


def spread(values):
    vals = [v for v in (values or []) if isinstance(v, (int, float))]
    return (min(vals), max(vals)) if vals else None


def bench_summary(bench):
    """From vdsr_bench's JSON (rows with median_ms, block_ms, run_ms; ours rows with cudnn_best_ms,
    cudnn_best_algo, cudnn_best_run_ms; training rows with extra.samples_per_s): the batch scaling,
    ours against cuDNN's best with both spreads, and the per-call / block cross-check."""
    rows = bench.get("rows", []) if bench else []
    out = {"commit": bench.get("commit") if bench else None, "runs": (bench or {}).get("timing", {}).get("runs"),
           "scaling": [], "vs_cudnn": [], "block_check": []}
    for r in rows:
        if r.get("status") != "ok":
            continue
        ms = r.get("median_ms")
        if r.get("op") == "train_iteration":
            b = batch_of(r.get("shape"))
            sps = (r.get("extra") or {}).get("samples_per_s") or (b / ms * 1e3 if b and ms else None)
            out["scaling"].append({"batch": b, "precision": r.get("precision"), "algo": r.get("algo"),
                                   "median_ms": ms, "block_ms": r.get("block_ms"), "samples_per_s": sps,
                                   "runs": spread(r.get("run_ms")), "tflops": r.get("tflops")})
        if r.get("impl") == "ours" and r.get("cudnn_best_ms"):
            out["vs_cudnn"].append({"op": r.get("op"), "shape": r.get("shape"), "precision": r.get("precision"),
                                    "ours": r.get("algo"), "ours_ms": ms, "ours_runs": spread(r.get("run_ms")),
                                    "cudnn_algo": r.get("cudnn_best_algo"), "cudnn_ms": r["cudnn_best_ms"],
                                    "cudnn_runs": spread(r.get("cudnn_best_run_ms")),
                                    "x_cudnn": r["cudnn_best_ms"] / ms if ms else None})
        if ms and r.get("block_ms"):
            out["block_check"].append({"row": "%s %s %s %s %s" % (r.get("op"), r.get("shape"), r.get("impl"),
                                                                 r.get("precision"), r.get("algo")),
                                       "median_ms": ms, "block_ms": r["block_ms"],
                                       "block_over_median": r["block_ms"] / ms})
    return out


def pdl_pairs(off, on):
    """Our rows of the two `vdsr_bench --pdl off|on` runs, paired by op, shape, precision and kernel:
    [{op, shape, precision, algo, off_ms, on_ms, on_over_off, off_block_ms, on_block_ms, block_on_over_off}]
    in the off run's order. The per-call medians put an event between calls, which separates a launch
    from the kernel before it, so only the block times (back to back, events at the two ends) can show
    the overlap a programmatic launch buys."""
    def key(r):
        return (r.get("op"), r.get("shape"), r.get("precision"), r.get("algo"))

    def ratio(a, b):
        return b / a if a and b else None
    on_rows = {key(r): r for r in (on or {}).get("rows", []) if r.get("impl") == "ours" and r.get("status") == "ok"}
    pairs = []
    for r in (off or {}).get("rows", []):
        if r.get("impl") != "ours" or r.get("status") != "ok" or key(r) not in on_rows:
            continue
        o = on_rows[key(r)]
        a, b = r.get("median_ms"), o.get("median_ms")
        ab, bb = r.get("block_ms"), o.get("block_ms")
        pairs.append({"op": r.get("op"), "shape": r.get("shape"), "precision": r.get("precision"),
                      "algo": r.get("algo"), "off_ms": a, "on_ms": b, "on_over_off": ratio(a, b),
                      "off_block_ms": ab, "on_block_ms": bb, "block_on_over_off": ratio(ab, bb)})
    return pairs


def ours(bench, op, shape_prefix, precision, graph=None):
    for r in (bench or {}).get("rows", []):
        if (r.get("impl") == "ours" and r.get("op") == op and str(r.get("shape", "")).startswith(shape_prefix)
                and r.get("precision") == precision and r.get("status") == "ok"
                and (graph is None or (("graph" in r.get("algo", "")) == graph))):
            return r
    return None


def peer_table(peer, planned):
    lines = ["| work | mode | precision | median ms | block ms | first s | status |", "|---|---|---|---|---|---|---|"]
    done = set()
    for r in (peer or {}).get("rows", []):
        done.add((r["workload"], r["mode"], r["precision"]))
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["workload"], r["mode"], r["precision"], fmt(r.get("median_ms")), fmt(r.get("block_mean_ms")),
            fmt(r.get("first_s"), ".1f"), r.get("status", "") + (" (%s)" % r["note"] if r.get("note") else "")))
    for row in planned:
        if tuple(row) not in done:
            lines.append("| %s | %s | %s | | | | not reached (the step's cap or an earlier failure) |" % tuple(row))
    return lines


def peer_best(peer, workload):
    ok = [r for r in (peer or {}).get("rows", []) if r["workload"] == workload and r.get("status") == "ok"
          and r.get("median_ms")]
    return min(ok, key=lambda r: r["median_ms"]) if ok else None


def ncu_summary(text):
    """[(kernel, grid x block, duration us, SM GHz, compute %, memory %)] from ncu's text report."""
    rows, cur = [], None
    for line in (text or "").splitlines():
        m = re.match(r"^\s{2}(\S.*?) (\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)), Context", line)
        if m:
            cur = {"kernel": m.group(1), "launch": m.group(2)}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"^\s+(Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput)\s+(\S+)\s+([\d.,]+)", line)
        if m:
            cur[m.group(1)] = "%s %s" % (m.group(3), m.group(2))
    return rows


# ---- the record -----------------------------------------------------------------------------------

def code_block(lines_or_text):
    text = lines_or_text if isinstance(lines_or_text, str) else "\n".join(lines_or_text)
    return ["```", text.rstrip("\n"), "```"]


def step_output(out, name, what):
    text = read_text(os.path.join(out, name + ".txt"))
    if text and text.strip():
        return code_block(text)
    err = read_text(os.path.join(out, name + ".stderr"))
    if err is None:
        return ["%s: not run." % what]
    return ["%s produced no output. The end of its error output:" % what, ""] + code_block(
        "\n".join(err.rstrip("\n").splitlines()[-15:]) or "(empty)")


def cmd_record(out, root):
    facts = read_facts(out)
    steps = read_steps(out)
    samples = read_clocks(out)
    prec = facts.get("precision", "bf16")
    on_gpu = facts.get("gpu", "0") != "-1"
    bench = load_json(os.path.join(out, "bench.json"))
    peer = load_json(os.path.join(out, "peer.json"))
    for s in steps:
        s["clocks"] = clock_summary(samples, s["start"], s["end"]) if s["start"] else None
    overall = clock_summary(samples)
    folder = folder_results(out, steps, on_gpu)
    bsum = bench_summary(bench)
    planned_peer = [r.split("/") for r in facts.get("peer_rows", "").split(",") if r]
    gpu_name = facts.get("gpu_line", "").split(",")[0] or "unknown GPU"
    if not on_gpu:
        gpu_name = "CPU dry run"
    L = []
    L += ["# %s — %s, commit %s: the measurement of issue 21" % (facts.get("stamp"), gpu_name, facts.get("commit")),
          "", "Written by `bench/gpu_measure.sh` (never edited by hand)."
          + (" A dry run on the CPU (`--dry-run`): no GPU figures." if facts.get("dry_run") == "1" else ""), ""]
    L.append("- GPU (nvidia-smi: name, driver, memory): %s" % facts.get("gpu_line"))
    L.append("- commit: %s (%s)" % (facts.get("commit"), facts.get("commit_src")))
    bc = bsum["commit"]
    if bc is not None:
        L.append("- bench.json's `commit` (the build's): %s — %s" % (
            bc, "matches" if bc == facts.get("commit") else "DIFFERS from the commit above"))
    L.append("- date (UTC): %s to %s; budget %s s, the run took %s s" % (
        facts.get("stamp"), facts.get("end_stamp"), facts.get("budget"), facts.get("elapsed")))
    L.append("- build: %s" % facts.get("build_note"))
    L.append("- cuDNN root: %s" % facts.get("cudnn_root"))
    L.append("- precision: %s%s" % (prec, "; device -g %s" % facts.get("gpu") if not on_gpu else ""))
    L.append("- clocks over the whole run (nvidia-smi `%s`, every 200 ms): %s" % (
        facts.get("clock_fields"), clock_cells(overall) if samples else "no samples (%s)" % (
            (read_text(os.path.join(out, "clocks-q.txt")) or "nvidia-smi not run").strip().splitlines()[0])))
    cf = clock_facts(read_text(os.path.join(out, "clocks-q.txt")))
    if cf:
        L.append("- clocks and power limits (nvidia-smi -q -d CLOCK,POWER): " + "; ".join(cf))
    L.append("")

    # Steps with their clocks.
    L += ["## Steps", "",
          "Each step's SM clock (median, min..max), power (median, max), hottest temperature and any clock event"
          " reason other than GpuIdle, from the samples taken while it ran.", "",
          "| step | planned s | cap s | took s | status | SM MHz, power, temperature, reasons |", "|---|---|---|---|---|---|"]
    for s in steps:
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            s["name"], s.get("planned_s", ""), s.get("cap_s", ""), fmt(s["seconds"], ".1f", ""), s.get("status", ""),
            clock_cells(s["clocks"]) if s.get("clocks") else ""))
    L += ["", "Commands (from the repository root; `.carry` made by `VDSR_CARRY_DATA=\"Set14 B100\""
          " bench/prepare_carry.sh`):", ""]
    cmds = ["bench/gpu_measure.sh%s" % ((" " + facts["options"]) if facts.get("options") else "")]
    if facts.get("build_note", "").startswith("configured"):
        cmds.append(facts.get("configure", ""))
    for s in steps:
        if s.get("command"):
            c = s["command"].replace(root.rstrip("/") + "/", "")
            uses_cudnn = s["name"] in ("bench", "ncu") or s["name"].startswith("nodes")
            if facts.get("ld_library_path") and uses_cudnn:
                c = "LD_LIBRARY_PATH=%s:... %s" % (facts["ld_library_path"], c)
            cmds.append(c)
    L += code_block(cmds) + [""]

    # Per-node tables.
    L += ["## Per-node times inside one training iteration and one 1080p frame (`vdsr_bench --nodes`)", ""]
    L += step_output(out, "nodes", "vdsr_bench --nodes --precision %s" % prec) + [""]
    for p in ("fp32", "tf32"):
        if step(steps, "nodes-" + p) and step(steps, "nodes-" + p).get("start"):
            L += ["%s:" % p, ""] + step_output(out, "nodes-" + p, "vdsr_bench --nodes --precision " + p) + [""]

    # Bench: scaling, cuDNN, block check, then the whole output.
    L += ["## Batch scaling, cuDNN's best, per-call against block timing (`vdsr_bench --train-batches"
          " --runs`)", ""]
    if bench is None:
        L += ["No bench.json (see the bench step above)." , ""]
    else:
        if bench.get("complete") is False:
            L += ["**bench.json is partial**: vdsr_bench was stopped before its end (`complete: false`); what"
                  " follows is the rows it finished.", ""]
        def rng(v):
            return "%s..%s" % (fmt(v[0], ".4f"), fmt(v[1], ".4f")) if v else "-"
        L.append("Every row timed %s time(s) (`runs`): median ms is the median of the runs' medians, the spread"
                 " their min..max." % (bsum["runs"] or 1))
        L.append("")
        if bsum["scaling"]:
            L += ["Training iteration rows (samples/s = batch / median):", "",
                  "| batch | precision | how | median ms | runs | block ms | samples/s | TFLOP/s |",
                  "|---|---|---|---|---|---|---|---|"]
            for r in sorted(bsum["scaling"], key=lambda r: (r["precision"] or "", r["algo"] or "", r["batch"] or 0)):
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    r["batch"], r["precision"], r["algo"], fmt(r["median_ms"], ".4f"), rng(r["runs"]),
                    fmt(r["block_ms"], ".4f"), fmt(r["samples_per_s"], ".0f"), fmt(r["tflops"], ".1f")))
            L.append("")
        if bsum["vs_cudnn"]:
            L += ["Ours against cuDNN's best of the same op, shape and precision (cuDNN's best: each run's fastest"
                  " algorithm, the median over the runs; xcuDNN > 1: ours faster):", "",
                  "| op | shape | precision | ours | ours ms | runs | cuDNN's best | cuDNN ms | runs | xcuDNN |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
            for r in bsum["vs_cudnn"]:
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    r["op"], r["shape"], r["precision"], r["ours"], fmt(r["ours_ms"], ".4f"), rng(r["ours_runs"]),
                    r["cudnn_algo"], fmt(r["cudnn_ms"], ".4f"), rng(r["cudnn_runs"]), fmt(r["x_cudnn"], ".2f")))
            L.append("")
        if bsum["block_check"]:
            off = [b for b in bsum["block_check"] if abs(b["block_over_median"] - 1) > 0.1]
            L.append("Per-call median against one block of back-to-back calls: %d rows, block / median %s..%s;"
                     " %d rows differ by more than 10%%%s" % (
                         len(bsum["block_check"]), fmt(min(b["block_over_median"] for b in bsum["block_check"]), ".3f"),
                         fmt(max(b["block_over_median"] for b in bsum["block_check"]), ".3f"), len(off),
                         ":" if off else "."))
            for b in off:
                L.append("- %s: median %s ms, block %s ms" % (b["row"], fmt(b["median_ms"], ".4f"), fmt(b["block_ms"], ".4f")))
            L.append("")
        else:
            L += ["bench.json has no `block_ms`: no block check.", ""]
    L += ["vdsr_bench output:", ""] + step_output(out, "bench", "vdsr_bench") + [""]

    # Programmatic dependent launch, off against on.
    L += ["## Programmatic dependent launch (`vdsr_bench --impl ours --no-hd-convs --conv-batches 1,64 --runs 3"
          " --pdl off`, then `--pdl on`)", ""]
    pdl = {m: load_json(os.path.join(out, "pdl-%s.json" % m)) for m in ("off", "on")}
    if pdl["off"] is None or pdl["on"] is None:
        st = [(step(steps, n) or {}).get("status") for n in ("pdl", "pdl-off", "pdl-on")]
        L += ["Not compared (%s)." % ("; ".join(s for s in st if s) or "no pdl-off.json / pdl-on.json"), ""]
    else:
        pairs = pdl_pairs(pdl["off"], pdl["on"])
        L += ["Medians of 3 runs each, the two runs back to back (on / off < 1: PDL faster). What is launched"
              " with the attribute and what a kernel does before its wait: docs/kernels.md. The conv rows at"
              " batch 1 (`1x41x41`: 8 tiles, one per busy CTA) take about a launch's fixed cost; those at batch"
              " 64 about four tiles per CTA more. The per-call times have an event between calls, which keeps a"
              " launch apart from the kernel before it: for a single kernel the overlap can show only in the"
              " block columns (calls back to back, events at the two ends); the step rows launch many kernels"
              " per call and show it in both.", "",
              "| op | shape | precision | kernel | off ms | on ms | on / off | off block ms | on block ms"
              " | block on / off |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in pairs:
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["op"], r["shape"], r["precision"], r["algo"], fmt(r["off_ms"], ".4f"), fmt(r["on_ms"], ".4f"),
                fmt(r["on_over_off"], ".3f"), fmt(r["off_block_ms"], ".4f"), fmt(r["on_block_ms"], ".4f"),
                fmt(r["block_on_over_off"], ".3f")))
        L.append("")
        bsum["pdl"] = pairs

    # Peer.
    L += ["## The PyTorch peer on this GPU (`bench/pytorch_peer.py --rows`)", ""]
    if peer is None and not (step(steps, "peer") or {}).get("start"):
        L += ["Not run (%s)." % ((step(steps, "peer") or {}).get("status") or "no GPU"), ""]
    else:
        if peer:
            L.append("torch %s, cuDNN %s, Triton %s. Rows in the order run; medians of per-call event times,"
                     " block = mean over one block of back-to-back calls; first s = compile, autotune and capture."
                     % (peer.get("torch"), peer.get("cudnn"), peer.get("triton")))
            L.append("")
        L += peer_table(peer, planned_peer) + [""]
        ours_train = ours(bench, "train_iteration", "64x", prec, graph=True)
        ours_infer = ours(bench, "inference", "1x1080x1920", prec)
        for wl, mine in (("train", ours_train), ("infer", ours_infer)):
            best = peer_best(peer, wl)
            if best and mine:
                L.append("- %s: ours %.4f ms (%s), PyTorch's best %.3f ms (%s %s): ours faster by %.2fx" % (
                    "training iteration 64x41x41" if wl == "train" else "1080p frame", mine["median_ms"],
                    mine.get("algo"), best["median_ms"], best["mode"], best["precision"],
                    best["median_ms"] / mine["median_ms"]))
        L.append("")

    # Folder.
    L += ["## Folder upscaling end to end (`vdsr_sr -g %s --precision %s -s 2`)" % (facts.get("gpu"), prec), ""]
    if not folder["runs"] and not folder["stages"]:
        L += ["Not run (%s)." % ((step(steps, "folder") or {}).get("status") or "see the steps"), ""]
    else:
        L.append("%s images (%s, interleaved by name into one folder); the stages ran on the first %s of them, %s"
                 " timed call(s) each." % (facts.get("folder_images"), facts.get("folder_sets", "").replace(
                     root.rstrip("/") + "/", ""), facts.get("stage_images"), facts.get("stage_reps")))
        net = folder["network_mpx_per_s"]
        L.append("Network-only rate (the stages' network row, %s, %s): **%s output Mpx/s**." % (
            folder["network_what"] or "?", prec, fmt(net)))
        L += ["", "| run | format | -j | images done / failed | output Mpx | process s | pipeline s (report)"
              " | Mpx/s | of the network rate | bound by (model) | model Mpx/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in folder["runs"]:
            L.append("| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["run"], r["format"], r["j"], r["done"], r["failed"], fmt(r["output_mpx"], ".2f"),
                fmt(r["wall_seconds"], ".2f"), fmt(r["report_seconds"], ".2f"), fmt(r["mpx_per_s"], ".2f"),
                "%s%%" % fmt(100 * r["ratio"], ".0f") if r["ratio"] is not None else "-",
                r.get("bound") or "-", fmt(r.get("predicted_mpx_per_s"), ".2f")))
        L.append("")
        for r in folder["runs"]:
            if r["ratio"] is None:
                L.append("- %s: no verdict (no rate)." % r["run"])
            elif r["meets"]:
                L.append("- %s: **meets** the bar: %.0f%% of the network-only rate." % (r["run"], 100 * r["ratio"]))
            else:
                sug = folder["suggestions"].get(ENCODER_SETTING[r["format"]])
                why = ""
                if r.get("bound", "").startswith("process") and on_gpu:
                    why = (" The process worker runs the network alone, so the network's own rate in the"
                           " pipeline (feeding, tiling, the copies) is what falls short.")
                again = next((x for x in folder["runs"] if x["run"] == "sr-%s-j" % r["format"]), None)
                if again and again is not r and again["ratio"] is not None:
                    why += " With -j %s (%s): %.0f%%." % (again["j"], again["run"], 100 * again["ratio"])
                L.append("- %s: **below** the bar: %.0f%% of the network-only rate; bounding stage (model): %s;"
                         " the stages' -j for %s: %s.%s" % (r["run"], 100 * r["ratio"], r.get("bound") or "unknown",
                                                           ENCODER_SETTING[r["format"]], sug or "none", why))
            if r.get("stage_caps_mpx_per_s"):
                L.append("  Stage capacities with -j %s (output Mpx/s): %s." % (r["j"], ", ".join(
                    "%s %.2f" % (k, v) for k, v in r["stage_caps_mpx_per_s"].items())))
        L += ["", "vdsr_bench --stages output:", ""] + step_output(out, "stages", "vdsr_bench --stages") + [""]

    # ncu.
    L += ["## Nsight Compute (SpeedOfLight, `--clock-control none`)", ""]
    ncu_text = read_text(os.path.join(out, "ncu.txt"))
    probe = (read_text(os.path.join(out, "ncu-probe.txt")) or "").strip()
    if probe == "ncu not available":
        L += ["ncu not available on this machine.", ""]
    elif not ncu_text:
        st = step(steps, "ncu")
        L += ["ncu not run or no report (%s)." % ((st or {}).get("status") or "skipped"), ""]
    else:
        rows = ncu_summary(ncu_text)
        L.append("%s; %d kernel launches profiled (ncu.txt beside this record)." % (
            probe.splitlines()[-1] if probe else "ncu", len(rows)))
        L += ["", "| kernel | grid x block | duration | SM frequency | compute (SM) | memory |", "|---|---|---|---|---|---|"]
        for r in rows:
            L.append("| `%s` | %s | %s | %s | %s %% | %s %% |" % (
                r["kernel"][:90], r["launch"], r.get("Duration", ""), r.get("SM Frequency", ""),
                r.get("Compute (SM) Throughput", "").split(" ")[0], r.get("Memory Throughput", "").split(" ")[0]))
        L.append("")

    L += ["## Files", "",
          "record.md, nodes.json, bench.json, stages.json, peer.json, measure.json (steps with their clocks,"
          " the folder runs, the summaries above), ncu.txt when ncu ran, and logs.tar.gz (every step's output"
          " and error output, clocks.csv, nvidia-smi -q, the vdsr_sr reports, nodes-fp32/tf32.json,"
          " pdl-off/on.json). Folder:"
          " docs/perf-data/%s/." % facts.get("record_dir", "").split("docs/perf-data/")[-1], ""]
    with open(os.path.join(out, "record.md"), "w") as f:
        f.write("\n".join(L))
    measure = {"facts": facts, "steps": steps, "clocks": overall, "folder": folder, "bench": bsum,
               "peer_planned": ["/".join(r) for r in planned_peer]}
    tmp = os.path.join(out, "measure.json.tmp")
    with open(tmp, "w") as f:
        json.dump(measure, f, indent=1, default=str)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "measure.json"))
    # The short table the device reply's tail shows.
    print("gpu_measure: steps")
    for s in steps:
        print("  %-12s %-28s %s s" % (s["name"], s.get("status", ""), fmt(s["seconds"], ".1f", "-")))
    for r in folder["runs"]:
        print("  %-12s %s Mpx/s end to end, %s of the network's %s" % (
            r["run"], fmt(r["mpx_per_s"], ".2f"), "%s%%" % fmt(100 * r["ratio"], ".0f") if r["ratio"] else "-",
            fmt(folder["network_mpx_per_s"], ".2f")))
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == "suggest" and argv[2] in ENCODER_SETTING:
        return cmd_suggest(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "record":
        return cmd_record(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
