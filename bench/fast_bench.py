#!/usr/bin/env python3
"""Benchmark Keel's fast TE solver against Keel's exact solver and HiGHS.

Per instance (topology, traffic model, scale, seed), on the same traffic matrix
and the same candidate paths (4 edge-disjoint inv-cap paths per demand, as NCFlow
uses), max-flow objective, all demands in one class:

  1. `keel gen-tm` makes an NCFlow-style TM (NCFlow's per-topology parameters for
     NCFlow's topologies, Keel's defaults otherwise);
  2. Keel fast: `keel solve --solver fast --gap 0.01`;
  3. Keel exact (`--solver exact`) when the instance has at most
     --exact-max-paths candidate paths;
  4. `keel solve --export-lp` writes the LP, which bench/lp_anchor.py rebuilds
     independently and solves with HiGHS IPM and HiGHS PDLP (threads=2), each in
     a child process killed on the wall-clock timeout.

Timeouts (--timeout, default 300 s): Keel exact is killed at the timeout;
HiGHS gets it as its time limit and is killed 60 s later; Keel fast gets it as
--time-limit and is killed at twice the timeout + 60 s (path computation on the
largest instances takes minutes before the descent starts). Reported per (topology, model,
scale): medians over seeds of the objective as a fraction of total demand, the
certified gap, Keel's phase times and HiGHS's solve time, and
speedup = HiGHS IPM solve time / Keel fast total (paths + build + solve).
Published NCFlow/POP figures for the same topology, model and scale are set
beside them (different machine and TMs, comparable only statistically).

Writes bench/results/fast-bench.md and bench/results/fast-bench.json.
Exit status 1 on a harness error: a command that fails, a result the verifier
rejects, runs that disagree on the candidate paths, a value or certified bound
that HiGHS's optimum contradicts, or a keel binary that changed during the run
(the target directory may be shared). A fast solve that stops short of the gap,
or any timeout, is data.

  python3 bench/fast_bench.py                     # small default set (a few minutes, 2 cores)
  python3 bench/fast_bench.py --full              # everything (hours)
  python3 bench/fast_bench.py --topologies Kdl --models gravity,uniform --scales 1,64 --seeds 3
  python3 bench/fast_bench.py --objective mlu     # min-MLU instead (also max-concurrent)

Needs: pip install highspy numpy; cargo build --release --bin keel.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
ANCHOR = os.path.join(ROOT, "bench", "lp_anchor.py")

ALL_MODELS = ("gravity", "uniform", "bimodal")
ALL_SCALES = (1.0, 16.0, 64.0)
# name -> (kind, file under the data directory, NCFlow problem file or None, models)
TOPOLOGIES = {
    "UsCarrier": ("graphml", "topologies/graphml/topology-zoo/UsCarrier.graphml", "UsCarrier.graphml", ALL_MODELS),
    "Cogentco": ("graphml", "topologies/graphml/topology-zoo/Cogentco.graphml", "Cogentco.graphml", ALL_MODELS),
    "GtsCe": ("graphml", "topologies/graphml/topology-zoo/GtsCe.graphml", "GtsCe.graphml", ALL_MODELS),
    "Kdl": ("graphml", "topologies/graphml/topology-zoo/Kdl.graphml", "Kdl.graphml", ALL_MODELS),
    # Teal's capacities; no published TMs or results: gravity with Keel's defaults.
    "ASN2k": ("teal", "topologies/teal-json/ASN2k.json", None, ("gravity",)),
}
DEFAULT_TOPOLOGIES = ("UsCarrier", "Cogentco", "GtsCe")
OBJECTIVES = ("max-flow", "mlu", "max-concurrent")
PATH_ARGS = ["--paths", "4", "--path-kind", "edge-disjoint",
             "--path-metric", "inv-cap", "--no-class-priority", "--json"]
CHECK_REL = 1e-6  # tolerance of the cross-checks against HiGHS's optimum
GRACE_S = 60  # extra wall time before a child is killed (loading, path computation)


class HarnessError(Exception):
    pass


def scaled(objective, value, total):
    """Max-flow as a fraction of total demand; utilisation and concurrent
    fraction as they are."""
    if value is None:
        return None
    return value / total if objective == "max-flow" else value


def log(msg):
    print(msg, flush=True)


def run(cmd, timeout=None):
    """Runs cmd in its own process group; kills that group on timeout.

    Returns (returncode or None on timeout, stdout, stderr, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, time.perf_counter() - start
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err, time.perf_counter() - start


def must(cmd, timeout=None):
    rc, out, err, wall = run(cmd, timeout)
    if rc != 0:
        raise HarnessError(f"{'timed out' if rc is None else f'exit {rc}'}: {shlex.join(cmd)}\n{err.strip()}")
    return out, wall


# ---------------------------------------------------------------- instances

def prepare_topology(args, name, work):
    """Topology arguments for keel. GraphML becomes NCFlow's view: directed,
    parallel arcs collapsed into one arc of capacity 1000 (Mbit/s here), which is
    `--default-capacity 1000M --merge-parallel` with the merged arcs reset to
    1000M (Keel sums parallel capacities; NCFlow does not)."""
    kind, rel, _, _ = TOPOLOGIES[name]
    src = os.path.join(args.data, rel)
    if kind == "teal":
        return ["-t", src]
    native = os.path.join(work, f"{name}-ncflow-view.json")
    must([args.keel, "convert", "topology", "-t", src, "--default-capacity", "1000M",
          "--merge-parallel", native])
    with open(native) as f:
        spec = json.load(f)
    for link in spec["links"]:
        link["capacity"] = "1000M"
    with open(native, "w") as f:
        json.dump(spec, f)
    info = json.loads(must([args.keel, "topo", "info", "--json", "-t", native])[0])
    if not info["strongly_connected"]:
        raise HarnessError(f"{name}: not strongly connected; NCFlow keeps only the largest component")
    return ["-t", native]


def keel_solve(args, topo, tm, extra, timeout):
    # reopt_bench.py shares this with its own arguments (max-flow only).
    objective = getattr(args, "objective", "max-flow")
    cmd = [args.keel, "solve", *topo, "--traffic", tm, "--objective", objective, *PATH_ARGS, *extra]
    rc, out, err, wall = run(cmd, timeout)
    if rc is None:
        return {"status": "timeout", "wall_s": wall}
    if rc != 0:
        raise HarnessError(f"exit {rc}: {shlex.join(cmd)}\n{err.strip()}")
    res = json.loads(out)
    if not res.get("verified"):
        raise HarnessError(f"verifier rejected the result of {shlex.join(cmd)}")
    o = res["objective"]
    return {
        "status": "ok",
        "solver": res["solver"],
        "demands": res["traffic"]["demands"],
        "total_demand_bps": res["traffic"]["total_bps"],
        "candidates": res["paths"]["candidates"],
        "value": o["value"],
        "bound": o["bound"],
        "gap": o["gap"],
        "gap_kind": o["gap_kind"],
        "runtime_s": res["runtime_s"],
        "wall_s": wall,
        "fast": res.get("fast"),
    }


def anchor(args, lp_file, solver):
    cmd = [sys.executable, ANCHOR, "--solver", solver, "--threads", "2",
           "--time-limit", str(args.timeout), "--mem-gb", str(args.anchor_mem_gb), lp_file]
    if solver == "pdlp" and args.pdlp_tol is not None:
        cmd += ["--pdlp-tol", str(args.pdlp_tol)]
    rc, out, err, wall = run(cmd, args.timeout + GRACE_S)
    if rc is None:
        return {"status": "timeout (killed)", "wall_s": wall}
    if rc != 0 or not out.strip():
        raise HarnessError(f"exit {rc}: {shlex.join(cmd)}\n{err.strip()[-2000:]}")
    # HiGHS 1.16 prints its banner on stdout when Highs() is created, before
    # output_flag can silence it: the result is the last line.
    res = json.loads(out.strip().splitlines()[-1])
    res["wall_s"] = wall
    return res


def run_instance(args, name, topo, model, scale, seed, work):
    _, _, ncflow, _ = TOPOLOGIES[name]
    tag = f"{name}/{model}/x{scale:g}/seed{seed}"
    tm = os.path.join(work, f"{name}-{model}-{scale:g}-{seed}.txt")
    gen = [args.keel, "gen-tm", *topo, "--model", model, "--scale", str(scale), "--seed", str(seed),
           "--out", tm]
    if ncflow:
        gen += ["--ncflow-params", args.params, "--ncflow-topology", ncflow]
    must(gen)
    rec = {"topology": name, "model": model, "scale": scale, "seed": seed, "errors": []}

    # --time-limit bounds the descent; the kill also leaves time for paths and loading.
    fast = keel_solve(args, topo, tm, ["--solver", "fast", "--gap", str(args.gap),
                                       "--time-limit", str(args.timeout)], 2 * args.timeout + GRACE_S)
    if fast["status"] != "ok":
        log(f"  {tag}: keel fast killed after {fast['wall_s']:.0f} s; nothing else is run")
        rec.update(fast=fast, demands=None, total_demand_bps=None, candidates=None,
                   exact={"status": "not run"}, ipm={"status": "not run"}, pdlp={"status": "not run"},
                   optimum=None, fast_true_gap=None, speedup_ipm=None, speedup_ipm_at_least=None)
        if not args.work_dir:
            os.remove(tm)
        return rec
    rec.update(demands=fast["demands"], total_demand_bps=fast["total_demand_bps"],
               candidates=fast["candidates"])
    rec["fast"] = fast
    log(f"  {tag}: {fast['demands']} demands, {fast['candidates']} paths; fast "
        f"{scaled(args.objective, fast['value'], fast['total_demand_bps']):.4f}, gap {fast['gap'] * 100:.2f}% "
        f"({fast['fast']['stop']}), {fast['runtime_s']['total']:.2f} s")

    if fast["candidates"] <= args.exact_max_paths:
        exact = keel_solve(args, topo, tm, ["--solver", "exact"], args.timeout)
        rec["exact"] = exact
        if exact["status"] == "ok":
            log(f"  {tag}: exact {scaled(args.objective, exact['value'], exact['total_demand_bps']):.4f}, "
                f"{exact['runtime_s']['total']:.2f} s")
        else:
            log(f"  {tag}: exact timed out after {args.timeout} s")
    else:
        rec["exact"] = {"status": f"skipped (> {args.exact_max_paths} paths)"}

    if args.no_highs:
        rec["ipm"] = rec["pdlp"] = {"status": "skipped (--no-highs)"}
    elif fast["candidates"] > args.anchor_max_paths:
        rec["ipm"] = rec["pdlp"] = {"status": f"skipped (> {args.anchor_max_paths} paths)"}
    else:
        lp = os.path.join(work, "problem.lp.json")
        # A near-instant fast solve, only to write the LP Keel solves.
        export = keel_solve(args, topo, tm, ["--solver", "fast", "--time-limit", "0.001",
                                             "--export-lp", lp], 2 * args.timeout + GRACE_S)
        if export["status"] != "ok":
            raise HarnessError(f"{tag}: the LP export did not finish")
        for solver in args.anchors:
            res = anchor(args, lp, solver)
            rec[solver] = res
            # mlu and max-concurrent add one column (the utilisation or ratio).
            extra_cols = 0 if args.objective == "max-flow" else 1
            if res.get("status") == "Optimal" and res["cols"] != fast["candidates"] + extra_cols:
                rec["errors"].append(f"HiGHS LP has {res['cols']} columns, Keel {fast['candidates']} paths")
            log(f"  {tag}: HiGHS {solver} {res['status']}"
                + (f" {scaled(args.objective, res['objective'], fast['total_demand_bps']):.4f}"
                   if res["status"] == "Optimal" else "")
                + (f", {res['run_s']:.2f} s" if "run_s" in res else f", killed after {res['wall_s']:.0f} s"))
        os.remove(lp)
        if export["candidates"] != fast["candidates"]:
            rec["errors"].append(f"the LP export saw {export['candidates']} paths, fast {fast['candidates']}")
    if rec["exact"].get("status") == "ok" and rec["exact"]["candidates"] != fast["candidates"]:
        rec["errors"].append(f"exact saw {rec['exact']['candidates']} paths, fast {fast['candidates']}")
    if not args.work_dir:
        os.remove(tm)
    check(rec, args.objective)
    for e in rec["errors"]:
        log(f"  {tag}: CHECK FAILED: {e}")
    return rec


def check(rec, objective="max-flow"):
    """Cross-checks against HiGHS IPM's optimum: Keel's values may not be better
    than it, Keel's certified bounds may not be worse (for mlu, lower is better),
    exact must match it."""
    ipm = rec.get("ipm", {})
    rec["optimum"] = ipm["objective"] if ipm.get("status") == "Optimal" else None
    opt = rec["optimum"]
    fast = rec["fast"]
    rec["speedup_ipm"] = (ipm["run_s"] / fast["runtime_s"]["total"]
                          if ipm.get("status") == "Optimal" else None)
    # HiGHS ran out of time: the speedup is at least the time it was given.
    rec["speedup_ipm_at_least"] = (ipm.get("run_s", ipm.get("wall_s", 0.0)) / fast["runtime_s"]["total"]
                                   if ipm.get("status", "").startswith(("Time limit", "timeout")) else None)
    if opt is None:
        rec["fast_true_gap"] = None
        return
    tol = CHECK_REL * abs(opt)
    sign = -1.0 if objective == "mlu" else 1.0  # +1: larger is better
    rec["fast_true_gap"] = sign * (opt - fast["value"]) / opt if opt else 0.0
    for k in ("fast", "exact"):
        r = rec.get(k, {})
        if r.get("status") != "ok":
            continue
        if sign * (r["value"] - opt) > tol:
            rec["errors"].append(f"{k} value {r['value']:.9g} is better than HiGHS optimum {opt:.9g}")
        if r["gap_kind"] == "certified" and sign * (opt - r["bound"]) > tol:
            rec["errors"].append(f"{k} certified bound {r['bound']:.9g} contradicts HiGHS optimum {opt:.9g}")
    ex = rec.get("exact", {})
    if ex.get("status") == "ok" and abs(ex["value"] - opt) > tol:
        rec["errors"].append(f"exact {ex['value']:.9g} differs from HiGHS {opt:.9g} by more than {CHECK_REL:g}")


# ---------------------------------------------------------------- published anchors

def published(data):
    """(problem file, model, scale) -> {algo: (median obj/total_demand, median runtime, TMs)}."""
    base = os.path.join(data, "results", "ncflow-pop", "total-flow")
    groups = {}

    def add(key, algo, frac, runtime):
        groups.setdefault(key, {}).setdefault(algo, []).append((frac, runtime))

    with open(os.path.join(base, "path-form-total_flow-slice_0_1_2_3_4.csv")) as f:
        for r in csv.DictReader(f):
            add((r["problem"], r["tm_model"], float(r["scale_factor"])), "path-form",
                float(r["obj_val"]) / float(r["total_demand"]), float(r["runtime"]))
    # NCFlow is iterative: one row per iteration; a TM's flow and time are the sums.
    ncflow = {}
    with open(os.path.join(base, "ncflow-total_flow-slices_0_1_2_3_4.csv")) as f:
        for r in csv.DictReader(f):
            key = (r["problem"], r["tm_model"], float(r["scale_factor"]), r["traffic_seed"],
                   r["clustering_algo"], r["num_partitions"])
            acc = ncflow.setdefault(key, [0.0, 0.0, float(r["total_demand"])])
            acc[0] += float(r["obj_val"])
            acc[1] += float(r["runtime"])
    for key, (obj, runtime, total) in ncflow.items():
        add(key[:3], "NCFlow", obj / total, runtime)
    with open(os.path.join(base, "pop-total_flow-slice_0_1_2_3_4-k_16.csv")) as f:
        for r in csv.DictReader(f):
            if float(r["split_fraction"]) != 0.0:
                continue
            add((r["problem"], r["tm_model"], float(r["scale_factor"])), "POP",
                float(r["obj_val"]) / float(r["total_demand"]), float(r["runtime"]))
    return {k: {a: (statistics.median(x for x, _ in v), statistics.median(t for _, t in v), len(v))
                for a, v in algos.items()} for k, algos in groups.items()}


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def pct(v, digits):
    """A fraction as a percentage; rounding noise around zero prints as 0."""
    if v is None:
        return "–"
    if abs(v) < 0.5 * 10 ** -(digits + 2):
        v = 0.0
    return f"{v * 100:.{digits}f}%"


def fmt(v, spec=".4f", none="–"):
    return none if v is None else format(v, spec)


def summarize(records, objective="max-flow"):
    groups = {}
    for r in records:
        groups.setdefault((r["topology"], r["model"], r["scale"]), []).append(r)
    rows = []
    for (topo, model, scale), all_rs in groups.items():
        rs = [r for r in all_rs if r["fast"]["status"] == "ok"]
        if not rs:
            rows.append({"topology": topo, "model": model, "scale": scale, "seeds": len(all_rs),
                         "fast_timeouts": len(all_rs)})
            continue

        def frac(k):
            return med(scaled(objective, r[k]["value"], r["total_demand_bps"])
                       if r.get(k, {}).get("status") == "ok" else None for r in rs)

        def anchor_frac(k):
            return med(scaled(objective, r[k]["objective"], r["total_demand_bps"])
                       if r.get(k, {}).get("status") == "Optimal" else None for r in rs)

        def anchor_time(k):
            return med(r[k]["run_s"] if r.get(k, {}).get("status") == "Optimal" else None for r in rs)

        def status(k):
            bad = sorted({r.get(k, {}).get("status", "–") for r in rs} - {"ok", "Optimal"})
            return ", ".join(bad)

        rows.append({
            "topology": topo, "model": model, "scale": scale, "seeds": len(all_rs),
            "fast_timeouts": len(all_rs) - len(rs),
            "demands": med(r["demands"] for r in rs), "candidates": med(r["candidates"] for r in rs),
            "fast_frac": frac("fast"),
            "fast_gap": med(r["fast"]["gap"] for r in rs),
            "fast_gap_max": max(r["fast"]["gap"] for r in rs),
            "fast_true_gap": med(r.get("fast_true_gap") for r in rs),
            "fast_reached": sum(r["fast"]["fast"]["stop"] == "gap reached" for r in rs),
            "fast_iters": med(r["fast"]["fast"]["iterations"] for r in rs),
            "fast_paths_s": med(r["fast"]["runtime_s"]["paths"] for r in rs),
            "fast_build_s": med(r["fast"]["runtime_s"]["build"] for r in rs),
            "fast_solve_s": med(r["fast"]["runtime_s"]["solve"] for r in rs),
            "fast_total_s": med(r["fast"]["runtime_s"]["total"] for r in rs),
            "exact_frac": frac("exact"),
            "exact_total_s": med(r["exact"]["runtime_s"]["total"] if r["exact"].get("status") == "ok" else None
                                 for r in rs),
            "exact_build_s": med(r["exact"]["runtime_s"]["build"] if r["exact"].get("status") == "ok" else None
                                 for r in rs),
            "exact_solve_s": med(r["exact"]["runtime_s"]["solve"] if r["exact"].get("status") == "ok" else None
                                 for r in rs),
            "exact_status": status("exact"),
            "ipm_frac": anchor_frac("ipm"), "ipm_s": anchor_time("ipm"), "ipm_status": status("ipm"),
            "pdlp_frac": anchor_frac("pdlp"), "pdlp_s": anchor_time("pdlp"), "pdlp_status": status("pdlp"),
            "speedup": med(r.get("speedup_ipm") or r.get("speedup_ipm_at_least") for r in rs),
            "speedup_is_lower_bound": any(r.get("speedup_ipm_at_least") for r in rs),
        })
    return rows


def binary_id(path):
    """Short hash and build time of the keel binary: the target directory may be
    shared, so the binary can differ from the checked-out sources."""
    import hashlib
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        built = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return f"sha256 {digest}, built {built.strftime('%Y-%m-%d %H:%M UTC')}"
    except OSError:
        return "?"


def machine_facts(args):
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l.split()[1] for l in f if l.startswith("MemTotal")))
            mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version
        highs = version("highspy")
    except Exception:  # noqa: BLE001 - only for the report
        highs = "?"
    import numpy
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": sh(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "highspy": highs,
        "keel": sh([args.keel, "--version"]).removeprefix("keel ").strip(),
        "keel binary": binary_id(args.keel),
        "git": sh(["git", "rev-parse", "--short", "HEAD"]) + (" (with uncommitted changes)" if dirty else ""),
    }


def published_section(rows, pub):
    """Published NCFlow/POP max-flow figures beside Keel's (max-flow only)."""
    L = ["", "## Published NCFlow / POP figures beside Keel's", "",
          "**Published, different machine, TMs statistically comparable only**: NCFlow's own TMs are not "
          "public; the rows below are medians over the TMs in NCFlow/POP's result CSVs (`total-flow/`) for "
          "the same topology, model and scale: path-form = optimal path LP with Gurobi, NCFlow (flow and "
          "time summed over its iterations), POP with 16 subproblems (split fraction 0). Max total flow "
          "over 4 edge-disjoint inv-cap paths there too, but NCFlow takes its disjoint paths from a "
          "max-flow decomposition (the most disjoint paths, shortest first) where Keel's are greedy "
          "(shortest, then shortest avoiding it, ...): the candidate sets differ, and so can the optimum.", "",
          "| topology | model | scale | Keel fast of demand (here) | Keel fast s (here) "
          "| path-form of demand | path-form s | NCFlow of demand | NCFlow s | POP of demand | POP s | TMs (pf/NCFlow/POP) |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "fast_frac" not in r:
            continue
        _, _, ncflow, _ = TOPOLOGIES[r["topology"]]
        p = pub.get((ncflow, r["model"], r["scale"]), {}) if ncflow else {}
        if not p:
            L.append(f"| {r['topology']} | {r['model']} | {r['scale']:g} | {fmt(r['fast_frac'])} "
                     f"| {r['fast_total_s']:.2f} | – | – | – | – | – | – | none published |")
            continue
        cells = []
        for algo in ("path-form", "NCFlow", "POP"):
            f_, t_, _ = p.get(algo, (None, None, 0))
            cells += [fmt(f_), fmt(t_, ".2f")]
        counts = "/".join(str(p.get(a, (0, 0, 0))[2]) for a in ("path-form", "NCFlow", "POP"))
        L.append(f"| {r['topology']} | {r['model']} | {r['scale']:g} | {fmt(r['fast_frac'])} "
                 f"| {r['fast_total_s']:.2f} | " + " | ".join(cells) + f" | {counts} |")
    return L


def report_name(args):
    return "fast-bench" if args.objective == "max-flow" else f"fast-bench-{args.objective}"


def write_report(args, records, facts, command, pub, elapsed, errors):
    rows = summarize(records, args.objective)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, f"{report_name(args)}.json"), "w") as f:
        json.dump({"command": command, "machine": facts, "elapsed_s": elapsed,
                   "settings": settings(args), "summary": rows, "instances": records,
                   "harness_errors": errors}, f, indent=1)

    flow = args.objective == "max-flow"
    what = "of demand" if flow else "value"
    L = ["# Keel fast solver benchmark" + ("" if flow else f": {args.objective}"), "",
         f"Generated by `{command}` in {elapsed / 60:.1f} min.", "",
         "Machine and build:", ""] + [f"- {k}: {v}" for k, v in facts.items() if v] + ["",
         "## Setup", "",
         "- Instances: NCFlow-style TMs from `keel gen-tm` (NCFlow's per-topology parameters from "
         "`params/ncflow_tm_generation_params.json` for NCFlow's topologies; Keel's defaults for ASN2k), "
         "seeds 1..N. GraphML topologies in NCFlow's view: directed, parallel arcs collapsed, every arc "
         "1000 Mbit/s (TM numbers in the same unit). ASN2k: Teal's capacities.",
         "- Paths and objective: 4 edge-disjoint inv-cap candidate paths per demand (NCFlow's), "
         f"{args.objective}, one class (`--no-class-priority`). All solvers see the same paths: the exported LP's "
         "column count is checked against Keel's candidate count.",
         f"- Keel fast: `--solver fast --gap {args.gap} --time-limit {args.timeout:g}`. Keel exact "
         f"(interior point): only up to {args.exact_max_paths} candidate paths. Times are Keel's own "
         "phases (paths / LP build / solve), without reading files.",
         f"- HiGHS {facts.get('highspy', '')} on the LP rebuilt from `keel solve --export-lp` "
         "(bench/lp_anchor.py), threads=2: IPM without crossover, PDLP with "
         + (f"optimality tolerance {args.pdlp_tol:g}" if args.pdlp_tol is not None else "default tolerances")
         + ". HiGHS time is `Highs.run()` wall time (reading and building the LP excluded).",
         f"- Wall-clock timeout {args.timeout:g} s per run. Figures are medians over seeds; "
         + ("\"of demand\" = objective / total demand." if flow else
            "value = the objective itself (mlu: maximum utilisation; max-concurrent: the fraction of every "
            "demand carried)."),
         "- Certified gap = |bound - value| / bound with Keel's weak-duality bound; true gap = "
         "|HiGHS IPM optimum - Keel fast value| / optimum. Speedup = HiGHS IPM solve time / Keel fast total; "
         "\"≥\" where HiGHS ran out of time on some seed (its time so far counts).",
         "", "## Keel fast vs Keel exact vs HiGHS (this machine)", "",
         f"| topology | model | scale | seeds | demands | paths | fast {what} | certified gap med / max "
         f"| gap reached | true gap | fast paths / build / solve s | fast total s | exact {what} "
         f"| exact total s | HiGHS IPM {what} | IPM s | HiGHS PDLP {what} | PDLP s | speedup vs IPM |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        def t(v, status):
            return fmt(v, ".2f") if v is not None else (status or "–")
        if "fast_frac" not in r:
            L.append(f"| {r['topology']} | {r['model']} | {r['scale']:g} | {r['seeds']} | – | – "
                     f"| fast killed after {2 * args.timeout + GRACE_S:g} s on every seed |" + " |" * 12)
            continue
        L.append(
            f"| {r['topology']} | {r['model']} | {r['scale']:g} | {r['seeds']} | {r['demands']:.0f} "
            f"| {r['candidates']:.0f} | {fmt(r['fast_frac'])} "
            f"| {r['fast_gap'] * 100:.2f}% / {r['fast_gap_max'] * 100:.2f}% | {r['fast_reached']}/{r['seeds']} "
            f"| {pct(r['fast_true_gap'], 3)} "
            f"| {r['fast_paths_s']:.2f} / {r['fast_build_s']:.2f} / {r['fast_solve_s']:.2f} "
            f"| {r['fast_total_s']:.2f} | {fmt(r['exact_frac'])} | {t(r['exact_total_s'], r['exact_status'])} "
            f"| {fmt(r['ipm_frac'])} | {t(r['ipm_s'], r['ipm_status'])} "
            f"| {fmt(r['pdlp_frac'])} | {t(r['pdlp_s'], r['pdlp_status'])} "
            f"| {'≥ ' if r['speedup_is_lower_bound'] else ''}{fmt(r['speedup'], '.1f')}"
            f"{'x' if r['speedup'] is not None else ''} |")
    exact_rows = [r for r in rows if r.get("exact_total_s") is not None]
    if exact_rows:
        L += ["", "Keel exact phase split (median s): "
              + "; ".join(f"{r['topology']} {r['model']} x{r['scale']:g}: build {r['exact_build_s']:.2f}, "
                          f"solve {r['exact_solve_s']:.2f}" for r in exact_rows) + "."]

    if flow:
        L += published_section(rows, pub)

    notes = []
    for rec in records:
        tag = f"{rec['topology']} {rec['model']} x{rec['scale']:g} seed {rec['seed']}"
        if rec["fast"]["status"] != "ok":
            notes.append(f"- {tag}: Keel fast killed after {rec['fast']['wall_s']:.0f} s; nothing else run.")
            continue
        if rec["fast"]["fast"]["stop"] != "gap reached":
            notes.append(f"- {tag}: fast stopped on {rec['fast']['fast']['stop']} at certified gap "
                         f"{rec['fast']['gap'] * 100:.2f}% (target {args.gap * 100:g}%).")
        for k in ("exact", "ipm", "pdlp"):
            if k not in rec:
                continue
            st = rec[k].get("status", "")
            if st not in ("ok", "Optimal") and not st.startswith("skipped"):
                notes.append(f"- {tag}: {k} {st}.")
        for e in rec["errors"]:
            notes.append(f"- {tag}: **check failed**: {e}")
    for e in errors:
        notes.append(f"- harness error: {e}")
    L += ["", "## Notes", ""] + (notes or ["- Every fast solve reached the gap target; every run finished; "
                                          "all cross-checks against HiGHS passed."])
    with open(os.path.join(args.out_dir, f"{report_name(args)}.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def settings(args):
    return {k: v for k, v in vars(args).items() if k not in ("data",)}


def parse_list(ap, text, allowed, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    by_lower = {a.lower(): a for a in allowed}
    out = []
    for x in items:
        if x.lower() not in by_lower:
            ap.error(f"unknown {what} `{x}` (choose from {', '.join(allowed)})")
        out.append(by_lower[x.lower()])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=os.path.join(ROOT, "target", "release", "keel"))
    ap.add_argument("--data", default=DEFAULT_DATA, help="shared data directory (topologies, params, results)")
    ap.add_argument("--full", action="store_true",
                    help="all topologies, models gravity/uniform/bimodal, scales 1/16/64, 5 seeds")
    ap.add_argument("--topologies", help=f"comma list of {', '.join(TOPOLOGIES)}")
    ap.add_argument("--models", help="comma list of gravity, uniform, bimodal")
    ap.add_argument("--scales", help="comma list of scale factors, e.g. 1,16,64")
    ap.add_argument("--seeds", type=int, help="seeds 1..N per (topology, model, scale); default 2, --full 5")
    ap.add_argument("--timeout", type=float, default=300.0, help="wall-clock seconds per run (default 300)")
    ap.add_argument("--gap", type=float, default=0.01, help="fast solver's target certified gap")
    ap.add_argument("--objective", choices=OBJECTIVES, default="max-flow",
                    help="objective (default max-flow); others write fast-bench-OBJECTIVE.md/.json")
    ap.add_argument("--exact-max-paths", type=int, default=150_000)
    ap.add_argument("--anchor-max-paths", type=int, default=4_000_000,
                    help="skip HiGHS above this many candidate paths (the JSON export gets too big)")
    ap.add_argument("--anchor-mem-gb", type=float, default=16.0, help="address-space cap of a HiGHS child")
    ap.add_argument("--anchors", default="ipm,pdlp", help="HiGHS solvers to run: ipm, pdlp")
    ap.add_argument("--pdlp-tol", type=float, default=None, help="PDLP optimality tolerance (HiGHS default)")
    ap.add_argument("--no-highs", action="store_true", help="skip the HiGHS anchors")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--work-dir", help="keep TMs and topologies here instead of a temporary directory")
    args = ap.parse_args()

    args.params = os.path.join(args.data, "params", "ncflow_tm_generation_params.json")
    topologies = parse_list(ap, args.topologies, list(TOPOLOGIES), "topology") if args.topologies else (
        list(TOPOLOGIES) if args.full else list(DEFAULT_TOPOLOGIES))
    models = parse_list(ap, args.models, ALL_MODELS, "model") if args.models else (
        list(ALL_MODELS) if args.full else ["gravity"])
    try:
        scales = [float(s) for s in args.scales.split(",")] if args.scales else (
            list(ALL_SCALES) if args.full else [16.0])
    except ValueError:
        ap.error(f"--scales `{args.scales}`: expected numbers")
    seeds = args.seeds or (5 if args.full else 2)
    args.anchors = parse_list(ap, args.anchors, ["ipm", "pdlp"], "anchor")
    if "ipm" not in args.anchors and not args.no_highs:
        args.anchors.insert(0, "ipm")  # the cross-checks and the speedup need it
    if not os.access(args.keel, os.X_OK):
        sys.exit(f"{args.keel} not found: cargo build --release --bin keel")
    for p in (args.params, os.path.join(args.data, "results", "ncflow-pop")):
        if not os.path.exists(p):
            sys.exit(f"{p} not found (set --data)")

    command = "python3 bench/fast_bench.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    facts = machine_facts(args)
    pub = published(args.data)
    plan = [(t, m, s) for t in topologies for m in models for s in scales if m in TOPOLOGIES[t][3]]
    skipped = [(t, m) for t in topologies for m in models if m not in TOPOLOGIES[t][3]]
    for t, m in sorted(set(skipped)):
        log(f"note: {t} has no {m} instances (gravity only)")
    log(f"{len(plan) * seeds} instances: {', '.join(topologies)}; models {', '.join(models)}; "
        f"scales {', '.join(f'{s:g}' for s in scales)}; seeds 1..{seeds}; timeout {args.timeout:g} s")

    started = time.perf_counter()
    records, errors = [], []
    with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
        work = args.work_dir or tmp
        os.makedirs(work, exist_ok=True)
        topo_args = {}
        for i, (name, model, scale) in enumerate(plan, 1):
            try:
                if name not in topo_args:
                    topo_args[name] = prepare_topology(args, name, work)
                log(f"[{i}/{len(plan)}] {name} {model} x{scale:g}")
                for seed in range(1, seeds + 1):
                    records.append(run_instance(args, name, topo_args[name], model, scale, seed, work))
            except HarnessError as e:
                log(f"HARNESS ERROR: {e}")
                errors.append(str(e))
            if records:
                write_report(args, records, facts, command, pub, time.perf_counter() - started, errors)
    elapsed = time.perf_counter() - started
    if binary_id(args.keel) != facts["keel binary"]:
        errors.append(f"{args.keel} changed during the run (now {binary_id(args.keel)}): "
                      "the results mix two builds; run again")
    write_report(args, records, facts, command, pub, elapsed, errors)
    failed = [e for r in records for e in r["errors"]]
    log(f"wrote {os.path.join(args.out_dir, report_name(args) + '.md')} and .json: {len(records)} instances "
        f"in {elapsed / 60:.1f} min; {len(errors)} harness errors, {len(failed)} failed checks")
    sys.exit(1 if errors or failed else 0)


if __name__ == "__main__":
    main()
