//! Runs the fast solver on a topology and traffic matrix and prints its progress
//! phase by phase, the runtime split and the verifier's verdict.
//!
//! ```text
//! cargo run --release -p keel-te --example fast_solve -- TOPOLOGY TRAFFIC \
//!     [--objective max-flow|max-concurrent|mlu] [--gap 0.01] [--repeat N] \
//!     [--warm TRAFFIC2] [--quiet]
//! ```
//!
//! Paths are NCFlow's setting: 4 edge-disjoint inv-cap paths per demand, one
//! class. `--warm TRAFFIC2` then solves TRAFFIC2 warm-started from the first
//! solve's prices (and cold, for comparison).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use keel_formats::ReadOptions;
use keel_te::{
    FastOptions, Hooks, Objective, PathKind, PathMetric, PathOptions, Problem, Progress, Tolerance,
    WarmStart, compute_paths, solve_fast, verify, verify_routing,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fast_solve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut opts = FastOptions {
        class_priority: false,
        gap: 0.01,
        ..FastOptions::default()
    };
    let (mut repeat, mut warm_file, mut quiet) = (1usize, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--objective" => {
                opts.objective = value()?.parse::<Objective>().map_err(|e| e.to_string())?
            }
            "--gap" => opts.gap = value()?.parse().map_err(|e| format!("--gap: {e}"))?,
            "--repeat" => repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--warm" => warm_file = Some(PathBuf::from(value()?)),
            "--quiet" => quiet = true,
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [topo_file, tm_file] = files.as_slice() else {
        return Err("usage: fast_solve TOPOLOGY TRAFFIC [options]".into());
    };
    let read = ReadOptions::default();
    let topo = keel_formats::read_topology(topo_file, None, &read).map_err(|e| e.to_string())?;
    let path_opts = PathOptions {
        k: 4,
        kind: PathKind::EdgeDisjoint,
        metric: PathMetric::InvCapacity,
        latency_bounds: false,
    };
    let mut warm: Option<WarmStart> = None;
    let mut runs = vec![(tm_file.clone(), false)];
    if let Some(f) = warm_file {
        runs.push((f.clone(), false));
        runs.push((f, true));
    }
    for (run, (file, use_warm)) in runs.into_iter().enumerate() {
        let tm =
            keel_formats::read_traffic(&file, &topo, None, &read).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let paths = compute_paths(&topo, &tm, &path_opts);
        let paths_s = t.elapsed().as_secs_f64();
        let problem = Problem {
            topology: &topo,
            traffic: &tm,
            paths: &paths,
        };
        println!(
            "{} demands, {} paths ({:.2} s); {} warm={use_warm}",
            tm.len(),
            paths.total(),
            paths_s,
            file.display()
        );
        let progress = |p: &Progress| {
            if !quiet {
                println!(
                    "  it {:5}  {:7.3} s  gap {:.3}%",
                    p.iterations,
                    p.elapsed.as_secs_f64(),
                    p.gap * 100.0
                )
            }
        };
        let hooks = Hooks {
            progress: Some(&progress),
            cancel: None,
        };
        for _ in 0..repeat.max(1) {
            let start = if use_warm { warm.as_ref() } else { None };
            let out = solve_fast(&problem, &opts, start, hooks).map_err(|e| e.to_string())?;
            let sol = &out.solution;
            let tol = Tolerance {
                relative: 1e-7,
                absolute: 1e-6,
            };
            let ok = match opts.objective {
                Objective::MinMlu => {
                    verify_routing(&topo, &tm, Some(&paths), &sol.allocation, sol.value, tol)
                }
                _ => verify(&topo, &tm, Some(&paths), &sol.allocation, tol),
            }
            .is_ok();
            println!(
                "value {:.6e} bound {:.6e} gap {:.3}% it {} {:?} build {:.3} s solve {:.3} s verified {ok}",
                sol.value,
                sol.bound,
                sol.gap * 100.0,
                out.iterations,
                out.stop,
                sol.timings.build.as_secs_f64(),
                sol.timings.solve.as_secs_f64()
            );
            if run == 0 {
                warm = Some(out.warm);
            }
        }
    }
    Ok(())
}
