#!/usr/bin/env python3
"""Re-optimisation benchmark: Keel's fast solver started cold vs warm.

On Kdl (NCFlow's view) with 4 edge-disjoint inv-cap paths, max-flow:
  - traffic sequence: gravity TMs seeds 1..25 at scale 16; TM i is solved cold
    and warm from TM i-1's link prices;
  - single-link failures: on TM 1, every failed link (both directions of a site
    pair; 895 on Kdl) is solved cold and warm from the no-failure prices, or
    --failures N of them spread evenly over the list.

Needs `keel solve --warm-start FILE --save-warm-start FILE --fail-link LINK_ID`;
without them it says so and exits 0 with no results. Writes
bench/results/reopt-bench.md and .json.

Each `keel solve` above is a new process, so its warm re-solve recomputes every
candidate path and repacks the problem. The same sequence and failures are then
run in one process by the `reopt` example of keel-te (build it with
`cargo build --release -p keel-te --examples`): a `Reoptimiser` kept across
re-solves, as in a running controller, recomputing only the paths a change
touches. Those are the "controller" columns; each failure there is warm from
the no-failure prices, and after it the link is restored and solved again
(reported on its own); then the failures again with `Reroute::DropDead` (demands
over the failed links keep their surviving candidates, new paths only for those
left with none). `--in-process-only` skips the per-process runs.

  python3 bench/reopt_bench.py                      # 25 TMs, every failure (hours on 2 cores)
  python3 bench/reopt_bench.py --failures 10        # 25 TMs, 10 failures (~10 min)
  python3 bench/reopt_bench.py --tms 3 --failures 2 --topology UsCarrier   # quick check
"""

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import tempfile
import time

import fast_bench as fb


def run_controller(args, topo_file, tms, pairs):
    """Runs the reopt example over the TM sequence and the failures; returns its
    per-solve figures."""
    if not os.path.exists(args.reopt):
        raise fb.HarnessError(f"{args.reopt} missing: cargo build --release -p keel-te --examples")
    binary = fb.binary_id(args.reopt)
    cmd = [args.reopt, topo_file, *tms, "--gap", str(args.gap), "--drop-dead"]
    for _, ids in pairs:
        cmd += ["--fail", ",".join(ids)]
    load_before = f"{os.getloadavg()[0]:.2f}"
    out, wall = fb.must(cmd, timeout=args.timeout * (len(tms) + 2 * len(pairs) + 2))
    load_after = f"{os.getloadavg()[0]:.2f}"
    runs, cold = [], None
    for line in out.splitlines():
        if not line.startswith("reopt "):
            continue
        r = dict(kv.split("=", 1) for kv in line.split()[1:])
        for k in ("paths_s", "build_s", "solve_s", "total_s", "gap", "value"):
            r[k] = float(r[k])
        for k in ("iterations", "changed"):
            r[k] = int(r[k])
        if r["verified"] != "true":
            raise fb.HarnessError(f"the verifier rejected {line}")
        if r["kind"] == "cold":
            cold = r
        elif r["kind"] != "setup":
            runs.append(r)
        if r["kind"] != "setup":
            fb.log(f"controller {r['kind']} {r['label']}: paths {r['paths_s']:.3f} s, build {r['build_s']:.3f} s, "
                   f"solve {r['solve_s']:.3f} s, total {r['total_s']:.3f} s, {r['iterations']} it, "
                   f"gap {r['gap'] * 100:.2f}%")
    if cold is None:
        raise fb.HarnessError(f"no output from {args.reopt}")
    return {"binary": binary, "wall_s": wall, "loadavg": [load_before, load_after], "cold": cold, "runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=os.path.join(fb.ROOT, "target", "release", "keel"))
    ap.add_argument("--reopt", default=os.path.join(fb.ROOT, "target", "release", "examples", "reopt"),
                    help="keel-te's reopt example (in-process re-optimisation)")
    ap.add_argument("--in-process-only", action="store_true",
                    help="skip the cold and warm-by-process runs of keel solve")
    ap.add_argument("--data", default=fb.DEFAULT_DATA)
    ap.add_argument("--topology", default="Kdl", choices=[t for t, v in fb.TOPOLOGIES.items() if v[0] == "graphml"])
    ap.add_argument("--tms", type=int, default=25, help="TMs in the sequence (seeds 1..N)")
    ap.add_argument("--scale", type=float, default=16.0)
    ap.add_argument("--failures", type=int, help="try only N single-link failures (default: every link)")
    ap.add_argument("--gap", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out-dir", default=os.path.join(fb.ROOT, "bench", "results"))
    args = ap.parse_args()

    rc, out, err, _ = fb.run([args.keel, "solve", "--help"])
    if rc != 0:
        sys.exit(f"{args.keel} solve --help failed: {err.strip()}")
    missing = [f for f in ("--warm-start", "--save-warm-start", "--fail-link")
               if not re.search(r"(?<![\w-])" + re.escape(f) + r"\b", out)]
    if missing:
        print(f"keel solve has no {', '.join(missing)} yet: nothing to measure (no results written).")
        return 0

    args.params = os.path.join(args.data, "params", "ncflow_tm_generation_params.json")
    command = "python3 bench/reopt_bench.py" + "".join(f" {a}" for a in sys.argv[1:])
    facts = fb.machine_facts(args)
    started = time.perf_counter()
    seq, fails = [], []
    with tempfile.TemporaryDirectory(prefix="keel-reopt-") as work:
        topo = fb.prepare_topology(args, args.topology, work)
        ncflow = fb.TOPOLOGIES[args.topology][2]

        def tm(seed):
            path = os.path.join(work, f"tm-{seed}.txt")
            fb.must([args.keel, "gen-tm", *topo, "--model", "gravity", "--scale", str(args.scale),
                     "--seed", str(seed), "--ncflow-params", args.params, "--ncflow-topology", ncflow,
                     "--out", path])
            return path

        def solve(traffic, warm=None, save=None, fail=()):
            extra = ["--solver", "fast", "--gap", str(args.gap), "--time-limit", str(args.timeout)]
            extra += ["--warm-start", warm] if warm else []
            extra += ["--save-warm-start", save] if save else []
            for link in fail:
                extra += ["--fail-link", link]
            r = fb.keel_solve(args, topo, traffic, extra, args.timeout + fb.GRACE_S)
            if r["status"] != "ok":
                raise fb.HarnessError(f"keel solve timed out: {traffic} {fail}")
            return r

        def brief(r):
            return {"value": r["value"], "gap": r["gap"], "stop": r["fast"]["stop"],
                    "iterations": r["fast"]["iterations"], "solve_s": r["runtime_s"]["solve"],
                    "total_s": r["runtime_s"]["total"]}

        prices = [os.path.join(work, f"prices-{i}.json") for i in range(2)]
        base_prices = os.path.join(work, "base-prices.json")
        tms = [tm(seed) for seed in range(1, args.tms + 1)]
        first = tms[0]
        if not args.in_process_only:
            base = solve(first, save=base_prices)
            fb.log(f"TM 1 cold: gap {base['gap'] * 100:.2f}%, {base['fast']['iterations']} iterations, "
                   f"solve {base['runtime_s']['solve']:.2f} s")
            for seed in range(2, args.tms + 1):
                traffic = tms[seed - 1]
                prev = base_prices if seed == 2 else prices[seed % 2]
                cur = prices[(seed + 1) % 2]
                cold = solve(traffic)
                warm = solve(traffic, warm=prev, save=cur)
                seq.append({"seed": seed, "cold": brief(cold), "warm": brief(warm)})
                fb.log(f"TM {seed}: cold {cold['fast']['iterations']} it / {cold['runtime_s']['solve']:.2f} s, "
                       f"warm {warm['fast']['iterations']} it / {warm['runtime_s']['solve']:.2f} s")

        info = json.loads(fb.must([args.keel, "topo", "info", "--json", "-t", topo[1]])[0])
        spec = json.load(open(topo[1]))
        pairs = {}
        for link in spec["links"]:
            pairs.setdefault(tuple(sorted((link["from"], link["to"]))), []).append(link["id"])
        pairs = sorted(pairs.items())
        if args.failures is not None:
            step = max(1, len(pairs) // max(1, args.failures))
            pairs = pairs[::step][:args.failures]
        if not args.in_process_only:
            for i, (pair, ids) in enumerate(pairs, 1):
                cold = solve(first, fail=ids)
                warm = solve(first, warm=base_prices, fail=ids)
                fails.append({"link": "-".join(pair), "ids": ids, "cold": brief(cold), "warm": brief(warm)})
                fb.log(f"failure {i}/{len(pairs)} {'/'.join(ids)}: cold {cold['fast']['iterations']} it / "
                       f"{cold['runtime_s']['solve']:.2f} s, warm {warm['fast']['iterations']} it / "
                       f"{warm['runtime_s']['solve']:.2f} s")
        controller = run_controller(args, topo[1], tms, pairs)

    def m(rows, side, key):
        return statistics.median(r[side][key] for r in rows) if rows else float("nan")

    if fb.binary_id(args.keel) != facts["keel binary"]:
        raise fb.HarnessError(f"{args.keel} changed during the run: the results mix two builds; run again")
    if fb.binary_id(args.reopt) != controller["binary"]:
        raise fb.HarnessError(f"{args.reopt} changed during the run: run again")
    L = ["# Keel fast solver: cold vs warm re-optimisation", "",
         f"Generated by `{command}` on {facts['date']} ({facts['nproc']} cores, {facts['cpu']}), "
         f"{(time.perf_counter() - started) / 60:.1f} min; keel binary {facts['keel binary']}, "
         f"reopt example {controller['binary']}, git {facts['git']}. {args.topology} in NCFlow's view, "
         f"gravity scale {args.scale:g}, {info['links']} arcs, 4 edge-disjoint inv-cap paths, max-flow, "
         f"gap target {args.gap:g}. Medians. The machine is shared: 1-minute load average "
         f"{facts['loadavg_at_start']} at the start, {controller['loadavg'][0]} before and "
         f"{controller['loadavg'][1]} after the controller runs.", ""]
    if seq or fails:
        L += ["## One process per solve (`keel solve`)", "",
              "Warm = `--warm-start` from the previous prices. Solve time excludes path computation "
              "(the same cold or warm); total = paths + build + solve.", "",
              "| scenario | runs | cold iterations | warm iterations | cold solve s | warm solve s "
              "| cold total s | warm total s | cold gap | warm gap | warm reached gap |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, rows in (("next TM in the sequence", seq), ("single-link failure", fails)):
            reached = sum(r["warm"]["stop"] == "gap reached" for r in rows)
            L.append(f"| {name} | {len(rows)} | {m(rows, 'cold', 'iterations'):.0f} | "
                     f"{m(rows, 'warm', 'iterations'):.0f} | {m(rows, 'cold', 'solve_s'):.2f} | "
                     f"{m(rows, 'warm', 'solve_s'):.2f} | {m(rows, 'cold', 'total_s'):.2f} | "
                     f"{m(rows, 'warm', 'total_s'):.2f} | {m(rows, 'cold', 'gap') * 100:.2f}% | "
                     f"{m(rows, 'warm', 'gap') * 100:.2f}% | {reached}/{len(rows)} |")
        L.append("")
    L += ["## Warm, in a running controller (keel-te `Reoptimiser`, `reopt` example)", "",
          "One process keeps the candidate paths, the packed problem and the last prices. Paths = "
          "the incremental path work of the change (matching the new TM's pairs to the old ones, "
          "paths for new pairs; for a failure, finding the demands with a path over the failed arcs "
          "and recomputing theirs on the surviving topology), build = patching the packed problem, "
          "solve = the fast solver from the previous prices (including its allocation and the "
          "independent bound). Every result passed the verifier. The cold first solve: "
          f"paths {controller['cold']['paths_s']:.2f} s, build {controller['cold']['build_s']:.2f} s, "
          f"solve {controller['cold']['solve_s']:.2f} s.", "",
          "| scenario | runs | demands re-pathed | iterations | paths s | build s | solve s | total s "
          "| max total s | gap | reached gap | total <= 1 s |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, kind in (("next TM in the sequence", "tm"), ("single-link failure (warm from no failure)", "fail"),
                       ("link restored (warm from the failure)", "restore"),
                       ("single-link failure, dead paths dropped (`Reroute::DropDead`)", "fail-drop"),
                       ("link restored after dropping", "restore-drop")):
        rows = [r for r in controller["runs"] if r["kind"] == kind]
        if not rows:
            continue

        def cm(key):
            return statistics.median(r[key] for r in rows)
        L.append(f"| {name} | {len(rows)} | {cm('changed'):.0f} | {cm('iterations'):.0f} | "
                 f"{cm('paths_s'):.3f} | {cm('build_s'):.3f} | {cm('solve_s'):.3f} | {cm('total_s'):.3f} | "
                 f"{max(r['total_s'] for r in rows):.2f} | {cm('gap') * 100:.2f}% | "
                 f"{sum(r['stop'] == 'GapReached' for r in rows)}/{len(rows)} | "
                 f"{sum(r['total_s'] <= 1.0 for r in rows)}/{len(rows)} |")
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "reopt-bench.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(args.out_dir, "reopt-bench.json"), "w") as f:
        json.dump({"command": command, "machine": facts, "date": datetime.date.today().isoformat(),
                   "tm_sequence": seq, "failures": fails, "controller": controller}, f, indent=1)
    fb.log(f"wrote {os.path.join(args.out_dir, 'reopt-bench.md')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except fb.HarnessError as e:
        sys.exit(f"HARNESS ERROR: {e}")
