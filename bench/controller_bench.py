#!/usr/bin/env python3
"""Controller benchmark: reaction to link failures, and API throughput.

For each topology a real `keel serve` runs on a loopback port with a fresh data
directory and gravity background traffic (`keel gen-tm`, NCFlow's model). Then:

* Failure reaction: the most loaded links are cut one at a time in the simulated
  network (POST /api/v1/sim/links/{id}/fail). For each cut we read, from the audit
  record of the allocation it caused, the time from the link-down event reaching
  the controller to the last update batch handed to the southbound (reaction_s),
  split into path computation, LP build and solve; and from the simulator the time
  from the cut to the first batch it received. The link is restored (and the
  restore re-planned) before the next cut.
* API throughput (first topology only): GET /api/v1/status and /api/v1/services
  from 4 client threads over keep-alive connections, a fixed number of requests;
  then service creations (each: validation, admission LP, durable SQLite commit)
  from 2 threads. The client is Python, so read rates are a lower bound.

Usage:
  cargo build --release
  python3 bench/controller_bench.py                      # B4, UsCarrier, Kdl
  python3 bench/controller_bench.py --topologies b4 --failures 5
Writes bench/results/controller.md (and .json).
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TOPOLOGIES = {
    "b4": ("data/b4.json", "B4 (12 sites)"),
    "uscarrier": ("data/uscarrier.json", "UsCarrier (158 sites)"),
    "kdl": ("../shared/data/topologies/teal-json/Kdl.json", "Kdl (754 sites)"),
}


class Api:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.token = u.hostname, u.port, token
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                data = None
                if body is not None:
                    data = json.dumps(body)
                    headers["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read()
                return r.status, (json.loads(text) if text else None)
            except (ConnectionError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def ok(self, method, path, body=None):
        status, v = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {v}")
        return v


def start_server(keel, topo, tm, data_dir):
    cmd = [keel, "serve", "-t", topo, "--traffic", tm, "--data-dir", data_dir,
           "--listen", "127.0.0.1:0", "--replay-day", "0", "--min-reroute-interval", "0s",
           "--counter-interval", "10s"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env={**os.environ, "RUST_LOG": "warn"})
    url = None
    for line in p.stdout:
        if line.startswith("keel controller listening on "):
            url = line.split()[-1]
            break
    if url is None:
        raise RuntimeError(f"server did not start: {' '.join(cmd)}")
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    with open(os.path.join(data_dir, "admin.token")) as f:
        token = f.read().strip()
    return p, Api(url, token)


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def last_install(api, cause_part, after_seq):
    rows = api.ok("GET", f"/api/v1/audit?after={after_seq}&limit=10000")
    for r in rows:
        if r["action"] == "allocation.install" and cause_part in r["detail"].get("cause", ""):
            return r
    return None


def audit_tail(api):
    rows = api.ok("GET", "/api/v1/audit?after=0&limit=100000")
    return rows[-1]["seq"] if rows else 0


def failure_reaction(api, failures, timeout):
    links = api.ok("GET", "/api/v1/links")
    links.sort(key=lambda l: -l["planned_bps"])
    out = []
    for l in links[:failures]:
        lid = l["id"]
        enc = urllib.parse.quote(lid, safe="")
        seq = audit_tail(api)
        api.ok("POST", f"/api/v1/sim/links/{enc}/fail")
        row = wait(lambda: last_install(api, f"link {lid} down", seq), timeout, f"re-plan after {lid} down")
        sim = api.ok("GET", "/api/v1/sim/stats")
        d = row["detail"]
        first = sim.get("last_failure_reaction")
        out.append({
            "link": lid,
            "planned_bps": l["planned_bps"],
            "reaction_s": d["reaction_s"],
            "paths_s": d["paths_s"], "build_s": d["build_s"], "solve_s": d["solve_s"],
            "first_batch_s": first["secs"] + first["nanos"] / 1e9 if first else None,
            "changes": d["changes"], "batches": d["batches"], "at_risk": len(d["at_risk"]),
            "solver": d["solver"], "gap": d["gap"], "phases_s": d["phases_s"],
        })
        print(f"  {lid}: reaction {d['reaction_s']:.3f} s (paths {d['paths_s']:.3f}, build "
              f"{d['build_s']:.3f}, solve {d['solve_s']:.3f}), {d['changes']} changes in "
              f"{d['batches']} batches, {len(d['at_risk'])} links at risk; phases {d['phases_s']}", flush=True)
        seq = audit_tail(api)
        api.ok("POST", f"/api/v1/sim/links/{enc}/restore")
        wait(lambda: last_install(api, f"link {lid} up", seq), timeout, f"re-plan after {lid} up")
    return out


def throughput(url, token, paths, threads, total):
    done = [0]
    lock = threading.Lock()

    def worker(n):
        api = Api(url, token)
        for i in range(n):
            path = paths[i % len(paths)]
            status, _ = api.call("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")
            with lock:
                done[0] += 1

    per = total // threads
    ts = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return done[0] / (time.perf_counter() - t0)


def creations(url, token, sites, threads, total):
    ok = [0]
    lock = threading.Lock()

    def worker(w, n):
        api = Api(url, token)
        for i in range(n):
            a, b = sites[(w + i) % len(sites)], sites[(w + 3 * i + 1) % len(sites)]
            if a == b:
                b = sites[(sites.index(a) + 1) % len(sites)]
            spec = {"kind": "intranet", "tenant": f"bench{w}", "class": "business",
                    "rate": "1M", "endpoints": [{"site": a}, {"site": b}]}
            status, v = api.call("POST", "/api/v1/services", spec)
            if status != 201:
                raise RuntimeError(f"create: {status} {v}")
            with lock:
                ok[0] += 1

    per = total // threads
    ts = [threading.Thread(target=worker, args=(w, per)) for w in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ok[0] / (time.perf_counter() - t0)


def keep_largest(tm_path, n):
    with open(tm_path) as f:
        tm = json.load(f)
    demands = tm["demands"]
    if n and len(demands) > n:
        # `keel gen-tm` writes rates as numbers in bit/s.
        demands.sort(key=lambda d: -float(d["rate"]))
        tm["demands"] = demands[:n]
    with open(tm_path, "w") as f:
        json.dump(tm, f)
    return len(tm["demands"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=os.path.join(ROOT, "target/release/keel"))
    ap.add_argument("--topologies", default="b4,uscarrier,kdl")
    ap.add_argument("--failures", type=int, default=10, help="links cut per topology (most loaded first)")
    ap.add_argument("--scale", type=float, default=16, help="gravity scale of the background traffic")
    ap.add_argument("--max-demands", type=int, default=20000,
                    help="keep only the largest background demands (Kdl has ~568k pairs)")
    ap.add_argument("--reads", type=int, default=4000, help="GET requests in the read test")
    ap.add_argument("--creates", type=int, default=200, help="services created in the write test")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "controller.md"))
    args = ap.parse_args()
    results = {"topologies": [], "api": None}
    for key in args.topologies.split(","):
        rel, label = TOPOLOGIES[key]
        topo = os.path.join(ROOT, rel)
        if not os.path.exists(topo):
            print(f"skip {key}: {topo} not found", file=sys.stderr)
            continue
        work = tempfile.mkdtemp(prefix=f"keel-ctl-{key}-")
        try:
            tm = os.path.join(work, "tm.json")
            subprocess.run([args.keel, "gen-tm", "-t", topo, "--model", "gravity", "--scale",
                            str(args.scale), "--seed", "1", "--out", tm], check=True,
                           stdout=subprocess.DEVNULL)
            n = keep_largest(tm, args.max_demands)
            print(f"{label}: {n} background demands", flush=True)
            t0 = time.perf_counter()
            proc, api = start_server(args.keel, topo, tm, os.path.join(work, "data"))
            try:
                wait(lambda: api.call("GET", "/api/v1/ready")[0] == 200, args.timeout, "ready")
                ready_s = time.perf_counter() - t0
                rows = failure_reaction(api, args.failures, args.timeout)
                entry = {"topology": label, "background_demands": n, "ready_s": ready_s, "failures": rows}
                results["topologies"].append(entry)
                if results["api"] is None:
                    url = f"http://{api.host}:{api.port}"
                    r1 = throughput(url, api.token, ["/api/v1/status", "/api/v1/services"], 4, args.reads)
                    sites = [s["id"] for s in api.ok("GET", "/api/v1/topology")["sites"]]
                    r2 = creations(url, api.token, sites, 2, args.creates)
                    results["api"] = {"topology": label, "reads_per_s": r1, "creates_per_s": r2,
                                      "reads": args.reads, "creates": args.creates}
                    print(f"  API: {r1:.0f} reads/s, {r2:.1f} service creations/s", flush=True)
            finally:
                proc.kill()
                proc.wait()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write(args, results)


def write(args, results):
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    lines = [
        "# Controller: failure reaction and API throughput",
        "",
        f"`python3 bench/controller_bench.py --topologies {args.topologies} --failures {args.failures} "
        f"--scale {args.scale:g} --max-demands {args.max_demands}` on {os.cpu_count()} cores, release build, "
        f"{time.strftime('%Y-%m-%d')}. Background: NCFlow gravity TM ×{args.scale:g} (seed 1), the largest "
        f"{args.max_demands} demands. Links cut: the most loaded first, restored between cuts.",
        "",
        "Reaction = link-down event received → last update batch handed to the (simulated) southbound; "
        "first batch = cut → first batch at the simulator. Medians (min–max) over the cuts.",
        "",
        "| topology | demands | cuts | reaction s | paths s | build s | solve s | first batch s | changes | links at risk |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in results["topologies"]:
        f = t["failures"]
        rs = [r["reaction_s"] for r in f]
        fb = [r["first_batch_s"] for r in f if r["first_batch_s"] is not None]
        lines.append(
            f"| {t['topology']} | {t['background_demands']} | {len(f)} | {med(rs):.3f} ({min(rs):.3f}–{max(rs):.3f}) "
            f"| {med([r['paths_s'] for r in f]):.3f} | {med([r['build_s'] for r in f]):.3f} "
            f"| {med([r['solve_s'] for r in f]):.3f} | {med(fb):.3f} | {med([r['changes'] for r in f]):.0f} "
            f"| {max(r['at_risk'] for r in f)} |")
    a = results["api"]
    if a:
        lines += ["", f"API on {a['topology']} (loopback, Python client): {a['reads_per_s']:.0f} reads/s "
                  f"({a['reads']} GETs of /status and /services, 4 threads); {a['creates_per_s']:.1f} service "
                  f"creations/s ({a['creates']} POSTs, 2 threads; each one validated, admitted by an LP and "
                  f"committed to SQLite before the reply)."]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
