//! Re-optimisation in a running controller: one [`Reoptimiser`] kept across
//! re-solves, each warm from the previous prices, with the runtime split into
//! incremental path work, packing and solving. `bench/reopt_bench.py` runs it.
//!
//! ```text
//! cargo run --release -p keel-te --example reopt -- TOPOLOGY TM1 [TM2 ...] \
//!     [--fail LINK[,LINK...]]... [--gap 0.01] [--drop-dead]
//! ```
//!
//! Paths are NCFlow's setting (4 edge-disjoint inv-cap paths per demand, one
//! class), max-flow. TM1 is solved cold; then (a) TM2, TM3, ... each warm from
//! the one before; then (b) on TM1, each `--fail` set (e.g. both directions of a
//! fibre) is taken down and solved warm from TM1's prices, and (c) brought back
//! up and solved warm from the failure's prices. `--drop-dead` then repeats (b)
//! and (c) keeping the surviving candidates of the demands over the failed
//! links instead of recomputing theirs (`Reroute::DropDead`; kinds fail-drop
//! and restore-drop). Every result goes through the verifier (outside the
//! timings). One line per solve:
//!
//! ```text
//! reopt kind=tm|fail|restore|... label=... paths_s=... build_s=... solve_s=...
//!     total_s=... gap=... iterations=... stop=... value=... changed=... verified=true
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use keel_formats::ReadOptions;
use keel_model::{LinkId, Topology};
use keel_te::{
    FastOptions, FastOutcome, Hooks, Objective, PathKind, PathMetric, PathOptions, Reoptimiser,
    Reroute, Tolerance, verify,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reopt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut drop_dead = false;
    let mut opts = FastOptions {
        objective: Objective::MaxFlow,
        class_priority: false,
        gap: 0.01,
        time_limit: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--gap" => opts.gap = value()?.parse().map_err(|e| format!("--gap: {e}"))?,
            "--fail" => failures.push(value()?),
            "--drop-dead" => drop_dead = true,
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [topo_file, tm_files @ ..] = files.as_slice() else {
        return Err("usage: reopt TOPOLOGY TM1 [TM2 ...] [--fail LINK[,LINK...]]...".into());
    };
    let Some(first_file) = tm_files.first() else {
        return Err("no traffic matrix given".into());
    };
    let read = ReadOptions::default();
    let topo = keel_formats::read_topology(topo_file, None, &read).map_err(|e| e.to_string())?;
    let load = |f: &PathBuf| {
        keel_formats::read_traffic(f, &topo, None, &read)
            .map_err(|e| format!("{}: {e}", f.display()))
    };
    let fail_sets: Vec<Vec<LinkId>> = failures
        .iter()
        .map(|set| set.split(',').map(|id| link_by_id(&topo, id)).collect())
        .collect::<Result<_, _>>()?;
    let path_opts = PathOptions {
        k: 4,
        kind: PathKind::EdgeDisjoint,
        metric: PathMetric::InvCapacity,
        latency_bounds: false,
    };
    let first = load(first_file)?;
    let mut reopt = Reoptimiser::new(topo.clone(), first.clone(), path_opts, opts)
        .map_err(|e| e.to_string())?;
    println!(
        "# {} demands, {} candidate paths, {} links",
        first.len(),
        reopt.paths().total(),
        topo.link_count()
    );
    let base = solve(&mut reopt, "cold", "TM1", 0)?;
    let base_warm = base.warm;
    for (i, f) in tm_files.iter().enumerate().skip(1) {
        let tm = load(f)?;
        let changed = reopt.set_traffic(tm).map_err(|e| e.to_string())?;
        solve(&mut reopt, "tm", &format!("TM{}", i + 1), changed)?;
    }
    if tm_files.len() > 1 {
        // Back to TM1 before the failures, so that none of them pays for it.
        reopt.set_traffic(first).map_err(|e| e.to_string())?;
        reopt.set_warm_start(Some(base_warm.clone()));
        solve(&mut reopt, "setup", "TM1", 0)?;
    }
    let mut policies = vec![(Reroute::Recompute, "")];
    if drop_dead {
        policies.push((Reroute::DropDead, "-drop"));
    }
    for (policy, suffix) in policies {
        reopt.set_reroute(policy);
        let (fail, restore) = (format!("fail{suffix}"), format!("restore{suffix}"));
        for (set, label) in fail_sets.iter().zip(&failures) {
            reopt.set_warm_start(Some(base_warm.clone()));
            let changed = reopt.fail_links(set).map_err(|e| e.to_string())?;
            let out = solve(&mut reopt, &fail, label, changed)?;
            let carried_on_failed: f64 = out
                .solution
                .allocation
                .demands
                .iter()
                .flat_map(|d| &d.paths)
                .filter(|pf| pf.path.links.iter().any(|l| set.contains(l)))
                .map(|pf| pf.rate)
                .sum();
            if carried_on_failed > 0.0 {
                return Err(format!("{carried_on_failed} bit/s on failed links {label}"));
            }
            let changed = reopt.restore_links(set).map_err(|e| e.to_string())?;
            solve(&mut reopt, &restore, label, changed)?;
        }
    }
    Ok(())
}

fn link_by_id(topo: &Topology, id: &str) -> Result<LinkId, String> {
    topo.links()
        .iter()
        .position(|l| l.id == id)
        .map(|i| LinkId(i as u32))
        .ok_or_else(|| format!("no link `{id}`"))
}

/// One warm re-solve, verified and printed.
fn solve(
    reopt: &mut Reoptimiser,
    kind: &str,
    label: &str,
    changed: usize,
) -> Result<FastOutcome, String> {
    let out = reopt.solve(Hooks::default()).map_err(|e| e.to_string())?;
    let sol = &out.solution;
    let tol = Tolerance {
        relative: 1e-7,
        absolute: 1e-6,
    };
    let problem = reopt.problem();
    let verified = verify(
        problem.topology,
        problem.traffic,
        Some(problem.paths),
        &sol.allocation,
        tol,
    )
    .is_ok();
    if !verified {
        return Err(format!(
            "the verifier rejected the result of {kind} {label}"
        ));
    }
    let t = sol.timings;
    let (p, b, s) = (
        t.paths.as_secs_f64(),
        t.build.as_secs_f64(),
        t.solve.as_secs_f64(),
    );
    println!(
        "reopt kind={kind} label={label} paths_s={p:.4} build_s={b:.4} solve_s={s:.4} \
         total_s={:.4} gap={:.6} iterations={} stop={:?} value={:.6e} changed={changed} \
         verified={verified}",
        p + b + s,
        sol.gap,
        out.iterations,
        out.stop,
        sol.value,
    );
    Ok(out)
}
