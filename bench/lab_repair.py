#!/usr/bin/env python3
"""Loss window on a link cut in the namespace lab: local repair vs the controller alone.

Builds `keel lab up` (built-in Abilene, release binary), picks single-path policies
whose first link is also the IGP's only way to the destination (so that nothing
but a repair can save the traffic), and for each: sends a 1000 pps sequence-numbered
UDP probe, cuts the first link after 1.5 s, measures the loss window exactly at the
receiver, restores the link and waits for the controller to settle. Then the same
with the ingress agent restarted with --no-local-repair (the controller's
re-optimisation alone). Also records the controller's reaction time (link-down
report to the last batch acknowledged by the agents) from /api/v1/status.

Needs root. Writes bench/results/lab-repair.md and .json.

  sudo python3 bench/lab_repair.py               # 5 cuts per mode
  sudo python3 bench/lab_repair.py --cuts 2      # quick check
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(keel, *args, check=True):
    out = subprocess.run([keel, *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        sys.exit(f"keel {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def api(url, token, path):
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def in_sync(url, token):
    try:
        v = api(url, token, "/api/v1/agents")
    except Exception:
        return False
    return all(a["connected"] and a["applied_generation"] == a["desired_generation"] for a in v["agents"])


def wait_sync(url, token, limit=60):
    start = time.time()
    while time.time() - start < limit:
        if in_sync(url, token):
            return
        time.sleep(0.1)
    sys.exit("the lab did not settle")


def candidates(lab, n_sites):
    """(ingress site, egress site, first link) of suitable single-path policies."""
    out = []
    for i in range(1, n_sites + 1):
        st = json.load(open(f"/run/keel-lab/{lab}/{i}.state.json"))
        for p in st["policies"]:
            paths = p["paths"]
            if p["table"] != 254 or len(paths) != 1 or len(paths[0]["links"]) < 2:
                continue
            prefix = p["prefixes"][0]
            if not prefix.startswith("fd00:0:"):
                continue
            first = paths[0]["links"][0]
            ul = [r for r in st["underlay"] if r["prefix"] == prefix]
            if ul and len(ul[0]["nexthops"]) == 1 and ul[0]["nexthops"][0]["link"] == first:
                out.append((st["site"], p["key"]["egress"], first))
    return out


def cut(keel, lab, url, token, src, dst, link):
    result = {}

    def probe():
        result["r"] = json.loads(run(keel, "lab", "traffic", "--name", lab, "--from", src, "--to", dst,
                                     "--rate", "1000", "--duration", "4s", "--json"))

    t = threading.Thread(target=probe)
    t.start()
    time.sleep(1.5)
    run(keel, "lab", "fail", "--name", lab, link)
    t.join()
    time.sleep(0.5)
    reaction = api(url, token, "/api/v1/status").get("last_reaction_s")
    run(keel, "lab", "restore", "--name", lab, link)
    time.sleep(0.5)
    wait_sync(url, token)
    r = result["r"]
    return {"from": src, "to": dst, "link": link, "lost": r["lost"], "sent": r["sent"],
            "max_gap_ms": r["max_gap_ms"], "reaction_s": reaction}


def restart_agent(site, extra):
    pid = subprocess.run(["pgrep", "-f", f"agent --site {site} "], capture_output=True, text=True).stdout.split()
    pid = [p for p in pid if "Z" not in open(f"/proc/{p}/stat").read().split(")")[1][:3]][0]
    args = open(f"/proc/{pid}/cmdline").read().split("\0")[:-1]
    args = [a for a in args if a != "--no-local-repair"]
    subprocess.run(["kill", pid])
    time.sleep(0.3)
    subprocess.Popen(args + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel", default=os.path.join(ROOT, "target", "release", "keel"))
    ap.add_argument("--cuts", type=int, default=5)
    ap.add_argument("--name", default="bench")
    ap.add_argument("--listen", default="127.0.0.1:7499")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "lab-repair.md"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    run(a.keel, "lab", "down", "--name", a.name, check=False)
    started = time.time()
    run(a.keel, "lab", "up", "--name", a.name, "--listen", a.listen, "--serve-arg=--min-reroute-interval=1s")
    up_s = time.time() - started
    url = "http://" + a.listen
    token = open(f"/run/keel-lab/{a.name}/controller/admin.token").read().strip()
    try:
        cands = candidates(a.name, 11)
        if not cands:
            sys.exit("no suitable policy in this lab")
        picks = [cands[(k * len(cands)) // a.cuts] for k in range(min(a.cuts, len(cands)))]
        rows = {"local repair": [], "controller only": []}
        for mode, extra in [("local repair", []), ("controller only", ["--no-local-repair"])]:
            for src, dst, link in picks:
                restart_agent(src, extra)
                time.sleep(0.5)
                wait_sync(url, token)
                r = cut(a.keel, a.name, url, token, src, dst, link)
                print(mode, r, flush=True)
                rows[mode].append(r)
            for src, _, _ in picks:
                restart_agent(src, [])
            wait_sync(url, token)
    finally:
        run(a.keel, "lab", "down", "--name", a.name, check=False)

    def med(mode, key):
        vals = [r[key] for r in rows[mode] if r[key] is not None]
        return statistics.median(vals) if vals else float("nan")

    lines = [
        "# Loss window on a link cut: local repair vs the controller alone",
        "",
        f"Measured {datetime.date.today()} on 2 cores with `python3 bench/lab_repair.py --cuts {a.cuts}`",
        f"(release build; built-in Abilene lab, links at 1/1000 of capacity; lab up in {up_s:.1f} s).",
        "Probe: 1000 pps UDP with sequence numbers, the first link of a single-path policy cut 1.5 s in;",
        "the loss window is the longest interval without arrivals at the receiver. Reaction: the",
        "controller's time from the link-down report to the last batch acknowledged by the agents.",
        "",
        "| mode | cuts | median loss window ms | max loss window ms | median lost packets | median controller reaction s |",
        "|---|---|---|---|---|---|",
    ]
    for mode in rows:
        rs = rows[mode]
        lines.append(f"| {mode} | {len(rs)} | {med(mode, 'max_gap_ms'):.1f} | "
                     f"{max(r['max_gap_ms'] for r in rs):.1f} | {med(mode, 'lost'):.0f} | {med(mode, 'reaction_s'):.3f} |")
    lines += ["", "| mode | ingress | egress | cut | lost | loss window ms | reaction s |", "|---|---|---|---|---|---|---|"]
    for mode, rs in rows.items():
        for r in rs:
            lines.append(f"| {mode} | {r['from']} | {r['to']} | {r['link']} | {r['lost']} | {r['max_gap_ms']:.1f} | "
                         f"{r['reaction_s'] if r['reaction_s'] is None else round(r['reaction_s'], 3)} |")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    open(a.out, "w").write("\n".join(lines) + "\n")
    json.dump(rows, open(a.out.replace(".md", ".json"), "w"), indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
