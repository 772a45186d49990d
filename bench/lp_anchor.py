#!/usr/bin/env python3
"""Solve the path-form LP that `keel solve --export-lp FILE` writes, with HiGHS.

The LP is rebuilt from the exported numbers alone (capacities, demands, candidate
paths as link indices); no Keel code is involved. Same model as
bench/exact_vs_highs.py, built with numpy instead of per-column Python loops so
that instances with millions of candidate paths fit in memory and time.

Rows: one per demand (sum of its path flows <= rate), one per link (load <=
capacity); max-concurrent adds one per demand (sum of path flows - t*rate >= 0),
mlu replaces the demand rows by equalities and capacities by load - u*cap <= 0.
Rates and capacities are rescaled so that the largest capacity is 1000 (same
optimum). Not to 1: HiGHS's absolute tolerances (1e-7) would then swallow the
smallest demands (presolve drops a row bound below the feasibility tolerance),
which on NCFlow's uniform TMs shifts the optimum by ~4e-6 relative.

As a script it solves one file and prints one JSON object on standard output, so
a caller can run it in a child process and kill it on a wall-clock timeout:

  python3 bench/lp_anchor.py --solver ipm --time-limit 300 problem.lp.json

Fields: status (HiGHS model status), objective (in Keel's units: bit/s for
max-flow), load_s (reading JSON), build_s (arrays and passModel), run_s (Highs.run
wall time), cols, rows, nnz, solver, iterations.
Needs: pip install highspy numpy.
"""

import argparse
import itertools
import json
import sys
import time

import highspy
import numpy as np


# Largest capacity after rescaling (NCFlow's unit: 1000 per arc).
CAPACITY_SCALE = 1000.0


def build_lp(problem):
    """Returns (HighsLp, scale, objective kind) for an exported problem."""
    objective = problem["objective"]
    caps = np.asarray(problem["capacities"], dtype=float)
    demands = problem["demands"]
    scale = float(caps.max()) / CAPACITY_SCALE if len(caps) else 1.0
    caps = caps / scale
    rates = np.fromiter((d["rate"] for d in demands), dtype=float, count=len(demands)) / scale
    n_d, n_e = len(demands), len(caps)
    inf = highspy.kHighsInf

    per_demand = np.fromiter((len(d["paths"]) for d in demands), dtype=np.int64, count=n_d)
    n_p = int(per_demand.sum())
    lens = np.fromiter((len(p) for d in demands for p in d["paths"]), dtype=np.int64, count=n_p)
    links = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(d["paths"] for d in demands)),
        dtype=np.int64,
        count=int(lens.sum()),
    )
    demand_of = np.repeat(np.arange(n_d, dtype=np.int64), per_demand)

    concurrent = objective == "max-concurrent"
    extra = 2 if concurrent else 1  # demand row (+ lower-bound row)
    col_nnz = lens + extra
    starts = np.zeros(n_p + 1, dtype=np.int64)
    np.cumsum(col_nnz, out=starts[1:])
    index = np.empty(int(starts[-1]), dtype=np.int64)
    index[starts[:-1]] = demand_of
    link_start = np.zeros(n_p, dtype=np.int64)
    np.cumsum(lens[:-1], out=link_start[1:])
    offset = np.arange(len(links), dtype=np.int64) - np.repeat(link_start, lens)
    index[np.repeat(starts[:-1] + 1, lens) + offset] = n_d + links
    if concurrent:
        index[starts[:-1] + 1 + lens] = n_d + n_e + demand_of
    value = np.ones(len(index), dtype=float)

    cost = np.full(n_p, -1.0 if objective == "max-flow" else 0.0)
    row_lower = np.full(n_d + n_e, -inf)
    row_upper = np.concatenate([rates, caps])
    if concurrent:
        # Column t: -rate_d in each lower-bound row.
        index = np.concatenate([index, n_d + n_e + np.arange(n_d)])
        value = np.concatenate([value, -rates])
        starts = np.append(starts, len(index))
        cost = np.append(cost, -1.0)
        row_lower = np.concatenate([row_lower, np.zeros(n_d)])
        row_upper = np.concatenate([row_upper, np.full(n_d, inf)])
    elif objective == "mlu":
        # Column u: -cap_e in each link row; demands are carried in full.
        index = np.concatenate([index, n_d + np.arange(n_e)])
        value = np.concatenate([value, -caps])
        starts = np.append(starts, len(index))
        cost = np.append(cost, 1.0)
        row_lower[:n_d] = rates
        row_upper[n_d:] = 0.0
    elif objective != "max-flow":
        raise ValueError(f"unknown objective {objective!r}")

    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lower)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = np.full(len(cost), inf)
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value
    return lp, scale, objective


def solve(problem, solver="ipm", threads=2, time_limit=None, pdlp_tol=None, crossover=False):
    """Builds and solves; returns a dict of the figures (see the module docstring)."""
    t0 = time.perf_counter()
    lp, scale, objective = build_lp(problem)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", solver)
    h.setOptionValue("threads", threads)
    if solver == "ipm":
        h.setOptionValue("run_crossover", "on" if crossover else "off")
    if solver == "pdlp" and pdlp_tol is not None:
        h.setOptionValue("pdlp_optimality_tolerance", pdlp_tol)
    if time_limit is not None:
        h.setOptionValue("time_limit", max(1.0, float(time_limit)))
    h.passModel(lp)
    build_s = time.perf_counter() - t0
    start = time.perf_counter()
    h.run()
    run_s = time.perf_counter() - start
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    obj = info.objective_function_value
    if objective == "max-flow":
        obj = -obj * scale
    elif objective == "max-concurrent":
        obj = -obj
    iterations = info.ipm_iteration_count if solver == "ipm" else info.pdlp_iteration_count
    return {
        "solver": solver,
        "status": status,
        "objective": obj,
        "build_s": build_s,
        "run_s": run_s,
        "cols": lp.num_col_,
        "rows": lp.num_row_,
        "nnz": int(len(lp.a_matrix_.index_)),
        "iterations": int(iterations),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("problem", help="file written by keel solve --export-lp")
    ap.add_argument("--solver", choices=["ipm", "pdlp", "simplex"], default="ipm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds for the whole child, JSON reading included")
    ap.add_argument("--pdlp-tol", type=float, default=None,
                    help="PDLP relative optimality tolerance (HiGHS default 1e-7)")
    ap.add_argument("--crossover", action="store_true", help="IPM: run crossover to a vertex")
    ap.add_argument("--mem-gb", type=float, default=None,
                    help="cap the child's address space (a MemoryError is reported, not a crash)")
    args = ap.parse_args()
    if args.mem_gb:
        import resource
        limit = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    started = time.perf_counter()
    try:
        with open(args.problem) as f:
            problem = json.load(f)
        load_s = time.perf_counter() - started
        remaining = None if args.time_limit is None else args.time_limit - load_s
        result = solve(problem, args.solver, args.threads, remaining, args.pdlp_tol, args.crossover)
        result["load_s"] = load_s
    except MemoryError:
        result = {"solver": args.solver, "status": "out of memory"}
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
