//! `keel solve`: engineer a traffic matrix over a topology and explain the result.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use keel_model::spec::TopologySpec;
use keel_model::{Topology, TrafficMatrix};
use keel_te::{
    CandidatePaths, Fairness, FastOptions, Hooks, Objective, PathKind, PathMetric, PathOptions,
    Problem, SolveOptions, Tolerance, WarmStart,
};

use crate::input::{self, TopologyArgs, TrafficArgs};
use crate::report::{self, FastInfo, SolveReport};
use crate::warm;

/// Compute paths and split ratios that carry the traffic matrix best.
///
/// Prints total demand, carried traffic, maximum link utilisation (MLU), figures
/// per class of service, the runtime split (paths / model build / solve) and the
/// certified gap to the optimum. Every result is checked by an independent
/// verifier before it is shown.
///
/// Examples:
///   keel solve                                   # built-in Abilene, demo traffic
///   keel solve -t data/b4.json --traffic tm.txt --objective mlu
///   keel solve -t net.graphml --default-capacity 10G --traffic tm.csv --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub topo: TopologyArgs,
    #[command(flatten)]
    pub traffic: TrafficArgs,
    /// What to optimise: max-flow (most traffic carried), max-concurrent (the
    /// largest fraction of every demand at once) or mlu (carry everything with
    /// the lowest maximum link utilisation).
    #[arg(short, long, default_value = "max-flow")]
    pub objective: Objective,
    /// Candidate paths per demand.
    #[arg(short = 'k', long = "paths", default_value_t = 4, value_name = "K")]
    pub paths: usize,
    /// How candidate paths are chosen: k shortest (Yen), edge-disjoint or
    /// SRLG-disjoint.
    #[arg(long, default_value = "shortest")]
    pub path_kind: PathKind,
    /// Path length: igp (link metric), latency, hops or inv-cap (1/capacity).
    #[arg(long, default_value = "igp")]
    pub path_metric: PathMetric,
    /// Keep paths longer than their class's latency bound.
    #[arg(long)]
    pub ignore_latency_bounds: bool,
    /// Solver. `exact` solves the path-form LP with an interior-point method;
    /// `fast` descends a smoothed dual over link prices and stops at --gap, with
    /// a certified bound either way; `auto` picks exact for small instances
    /// (up to 20,000 candidate paths) and fast otherwise.
    #[arg(long, default_value = "auto")]
    pub solver: SolverChoice,
    /// Fast solver: stop once the certified optimality gap is at most this
    /// fraction (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001, value_name = "FRACTION")]
    pub gap: f64,
    /// Fast solver: stop after this many seconds with the best allocation so far
    /// (Ctrl-C does the same at any time).
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Treat all classes alike instead of serving them in strict priority order.
    #[arg(long)]
    pub no_class_priority: bool,
    /// Share within a class: none (any optimum) or max-min fair.
    #[arg(long, default_value = "none")]
    pub fairness: Fairness,
    /// Among the optimal allocations, return the one on the shortest paths (by
    /// IGP metric): one more LP that keeps what each priority level achieved.
    /// Exact solver; ignored by mlu and max-min fairness.
    #[arg(long)]
    pub prefer_short: bool,
    /// Take a link out of service before solving (its id, as `keel topo info
    /// --json` or the allocation file names it, e.g. `NYCM->CHIN`); repeatable.
    /// Demands it disconnects are reported as not carried.
    #[arg(long = "fail-link", value_name = "LINK")]
    pub fail_links: Vec<String>,
    /// Make the allocation k-failure-safe: it stays congestion-free under any K
    /// simultaneous link failures (a link = both directions) when each ingress
    /// rescales its traffic onto its surviving paths, as in FFC (SIGCOMM'14).
    /// Solved as one compact LP (no enumeration of failures) with the exact
    /// solver; max-flow only. Prints the price: the throughput with k = 0, 1, 2.
    /// Every failure set of up to K links is then checked by enumeration when
    /// there are at most 20,000 of them (else every single failure).
    #[arg(long, value_name = "K")]
    pub protect: Option<usize>,
    /// Fast solver: start from the link prices saved by an earlier solve
    /// (`--save-warm-start`), e.g. after the traffic or a link changed.
    #[arg(long, value_name = "FILE")]
    pub warm_start: Option<PathBuf>,
    /// Fast solver: save the final link prices, by link id, to FILE.
    #[arg(long, value_name = "FILE")]
    pub save_warm_start: Option<PathBuf>,
    /// Print the result as one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    /// Write the allocation (every candidate path of every demand with its rate)
    /// as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the LP instance (capacities, demands, candidate paths as link
    /// indices) as JSON to FILE, for checking with another solver.
    #[arg(long, value_name = "FILE")]
    pub export_lp: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverChoice {
    Auto,
    Exact,
    Fast,
}

/// Largest instance (candidate paths) `--solver auto` gives the exact solver.
const AUTO_EXACT_MAX_PATHS: usize = 20_000;

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.paths == 0 {
        return Err(input::UsageError("--paths must be at least 1".into()).into());
    }
    if !(args.gap.is_finite() && args.gap >= 0.0) {
        return Err(input::UsageError(format!("--gap {} must be >= 0", args.gap)).into());
    }
    let time_limit = match args.time_limit {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            return Err(input::UsageError(format!("--time-limit {t} must be > 0")).into());
        }
        t => t.map(Duration::from_secs_f64),
    };
    let (topology, source) = args.topo.load()?;
    let traffic = args.traffic.load(&args.topo, &topology)?;
    let (topology, traffic) = if args.fail_links.is_empty() {
        (topology, traffic)
    } else {
        fail_links(&topology, &traffic, &args.fail_links)?
    };
    let warm = match &args.warm_start {
        Some(path) => Some(warm::load(path, &topology)?),
        None => None,
    };

    let path_opts = PathOptions {
        k: args.paths,
        kind: args.path_kind,
        metric: args.path_metric,
        latency_bounds: !args.ignore_latency_bounds,
    };
    let started = Instant::now();
    let paths = keel_te::compute_paths(&topology, &traffic, &path_opts);
    let path_time = started.elapsed();

    let problem = Problem {
        topology: &topology,
        traffic: &traffic,
        paths: &paths,
    };
    let solve_opts = SolveOptions {
        objective: args.objective,
        class_priority: !args.no_class_priority,
        fairness: args.fairness,
        prefer_short: args.prefer_short,
        ..SolveOptions::default()
    };
    if let Some(path) = &args.export_lp {
        input::write_output(path, &export_lp(&problem, &solve_opts)?)?;
    }
    let solver = match args.solver {
        SolverChoice::Auto if paths.total() <= AUTO_EXACT_MAX_PATHS => SolverChoice::Exact,
        SolverChoice::Auto => SolverChoice::Fast,
        chosen => chosen,
    };
    if solver == SolverChoice::Fast && args.fairness == Fairness::MaxMin {
        return Err(input::UsageError("--fairness max-min needs --solver exact".into()).into());
    }
    if args.protect.is_some() {
        if args.objective != Objective::MaxFlow || args.fairness != Fairness::None {
            return Err(input::UsageError(
                "--protect needs --objective max-flow and --fairness none".into(),
            )
            .into());
        }
        if args.solver == SolverChoice::Fast {
            return Err(input::UsageError(
                "--protect solves an LP: use --solver exact or auto".into(),
            )
            .into());
        }
    }
    let mut protect_info = None;
    let (mut solution, fast) = match (solver, args.protect) {
        (_, Some(k)) => {
            let (sol, info) = protect(&problem, k, !args.no_class_priority)?;
            protect_info = Some(info);
            (sol, None)
        }
        _ => match solver {
            SolverChoice::Fast => {
                let fast_opts = FastOptions {
                    objective: args.objective,
                    class_priority: !args.no_class_priority,
                    gap: args.gap,
                    time_limit,
                };
                let outcome = run_fast(&problem, &fast_opts, warm.as_ref())?;
                if let Some(path) = &args.save_warm_start {
                    warm::save(path, &topology, &outcome.warm)?;
                }
                let info = FastInfo {
                    iterations: outcome.iterations,
                    stop: outcome.stop,
                };
                (outcome.solution, Some(info))
            }
            _ => (keel_te::solve_exact(&problem, &solve_opts)?, None),
        },
    };
    solution.timings.paths = path_time;

    let tolerance = Tolerance {
        relative: 1e-7,
        absolute: 1e-6,
    };
    // A min-MLU answer routes all demand, possibly above capacity: check it
    // against the utilisation it claims rather than against capacity.
    let verified = match args.objective {
        Objective::MinMlu => keel_te::verify_routing(
            &topology,
            &traffic,
            Some(&paths),
            &solution.allocation,
            solution.value,
            tolerance,
        ),
        _ => keel_te::verify(
            &topology,
            &traffic,
            Some(&paths),
            &solution.allocation,
            tolerance,
        ),
    };
    let violations = verified.as_ref().err().map(Vec::len).unwrap_or(0);
    if let Err(v) = &verified {
        for violation in v.iter().take(10) {
            eprintln!("keel: verifier: {violation}");
        }
    }
    let summary = keel_te::summarize(&topology, &traffic, &solution.allocation);
    let report = SolveReport {
        source: &source,
        topology: &topology,
        traffic: &traffic,
        paths: &paths,
        path_opts: &path_opts,
        opts: &solve_opts,
        solution: &solution,
        summary: &summary,
        violations,
        fast,
        protect: protect_info,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::solve_json(&report))?
        );
    } else {
        print!("{}", report::solve_text(&report));
    }
    if let Some(out) = &args.out {
        let spec = keel_model::spec::AllocationSpec::new(&topology, &traffic, &solution.allocation);
        input::write_output(out, &serde_json::to_string_pretty(&spec)?)?;
    }
    anyhow::ensure!(
        violations == 0,
        "the verifier rejected the allocation ({violations} violations): this is a bug in Keel"
    );
    Ok(())
}

/// Runs the fast solver with a progress bar (on a terminal) showing the
/// certified gap, and Ctrl-C returning the best allocation so far.
fn run_fast(
    problem: &Problem,
    opts: &FastOptions,
    warm: Option<&WarmStart>,
) -> anyhow::Result<keel_te::FastOutcome> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    // A second handler cannot be installed; a failure only loses graceful Ctrl-C.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let progress = |p: &keel_te::Progress| {
        bar.set_message(format!(
            "stage {}/{} · {} iterations · certified gap {:.3}%",
            p.stage + 1,
            p.stages,
            p.iterations,
            p.gap * 100.0
        ));
        bar.tick();
    };
    let hooks = Hooks {
        progress: Some(&progress),
        cancel: Some(&cancel),
    };
    let outcome = keel_te::solve_fast(problem, opts, warm, hooks);
    bar.finish_and_clear();
    Ok(outcome?)
}

/// Most failure sets `--protect` checks by enumeration.
const PROTECT_CHECK_MAX: usize = 20_000;

/// The k-failure-safe allocation, the throughput at k = 0, 1, 2 (and k), and
/// the enumeration check of its failure sets.
fn protect(
    problem: &Problem,
    k: usize,
    class_priority: bool,
) -> anyhow::Result<(keel_te::Solution, report::ProtectInfo)> {
    let risk = keel_te::RiskModel::new(problem.topology);
    let mut ks = vec![0, 1, 2, k];
    ks.sort_unstable();
    ks.dedup();
    let mut price = Vec::new();
    let mut chosen = None;
    for kk in ks {
        let opts = keel_te::FfcOptions {
            k: kk,
            class_priority,
            ..keel_te::FfcOptions::default()
        };
        let sol = keel_te::solve_ffc(problem, &opts, &risk)?;
        price.push((kk, sol.value));
        if kk == k {
            chosen = Some(sol);
        }
    }
    let ffc = chosen.context("no k-failure-safe solve ran")?;
    let n = risk.link_count();
    let depth = if failure_sets(n, k) <= PROTECT_CHECK_MAX {
        k
    } else {
        k.min(1)
    };
    let (mut checked, mut overloaded) = (0, 0);
    let mut set = Vec::new();
    for_each_subset(n, depth, &mut set, &mut |links: &[usize]| {
        let mut failed = vec![false; problem.topology.link_count()];
        for &l in links {
            for a in &risk.link_arcs[l] {
                failed[a.index()] = true;
            }
        }
        let after = keel_te::rescale_after_failure(problem, &ffc, &failed);
        let crosses = after
            .demands
            .iter()
            .flat_map(|d| &d.paths)
            .any(|pf| pf.rate > 0.0 && pf.path.links.iter().any(|l| failed[l.index()]));
        let ok = keel_te::verify(
            problem.topology,
            problem.traffic,
            Some(problem.paths),
            &after,
            Tolerance::default(),
        )
        .is_ok();
        checked += 1;
        if crosses || !ok {
            overloaded += 1;
        }
    });
    let solution = keel_te::Solution {
        per_class: ffc.per_class.clone(),
        allocation: ffc.allocation.clone(),
        objective: Objective::MaxFlow,
        value: ffc.value,
        bound: ffc.value * (1.0 + ffc.solver_gap),
        gap: ffc.solver_gap,
        gap_kind: keel_te::GapKind::SolverReported,
        timings: ffc.timings,
        stages: ffc.stages,
    };
    let info = report::ProtectInfo {
        k,
        price,
        checked,
        checked_depth: depth,
        failed_checks: overloaded,
    };
    Ok((solution, info))
}

/// Number of failure sets of 1..=k out of n links (saturating).
fn failure_sets(n: usize, k: usize) -> usize {
    let mut total = 0usize;
    let mut c = 1usize;
    for i in 1..=k.min(n) {
        c = c.saturating_mul(n + 1 - i) / i;
        total = total.saturating_add(c);
    }
    total
}

/// Calls `f` on every non-empty subset of 0..n with at most `k` elements.
fn for_each_subset(n: usize, k: usize, set: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
    let start = set.last().map_or(0, |&l| l + 1);
    for i in start..n {
        set.push(i);
        f(set);
        if set.len() < k {
            for_each_subset(n, k, set, f);
        }
        set.pop();
    }
}

/// The topology without the named links, and the traffic re-checked against it
/// (site indices are unchanged: only links go).
fn fail_links(
    topology: &Topology,
    traffic: &TrafficMatrix,
    failed: &[String],
) -> anyhow::Result<(Topology, TrafficMatrix)> {
    let mut spec = TopologySpec::from_topology(topology);
    for id in failed {
        if !spec.links.iter().any(|l| l.id.as_deref() == Some(id)) {
            return Err(input::UsageError(format!("--fail-link: no link `{id}`")).into());
        }
    }
    spec.links
        .retain(|l| l.id.as_ref().is_none_or(|id| !failed.contains(id)));
    let reduced = spec.into_topology()?;
    let tm = TrafficMatrix::new_allow_unreachable(
        &reduced,
        traffic.classes().clone(),
        traffic.demands().to_vec(),
    )?;
    Ok((reduced, tm))
}

/// The LP instance as plain numbers: enough for an independent solver to rebuild
/// the same path-form LP.
fn export_lp(problem: &Problem, opts: &SolveOptions) -> anyhow::Result<String> {
    let CandidatePaths { per_demand } = problem.paths;
    let classes = problem.traffic.classes();
    let demands: Vec<_> = problem
        .traffic
        .demands()
        .iter()
        .zip(per_demand)
        .map(|(d, paths)| {
            serde_json::json!({
                "rate": d.rate.bps(),
                "class": classes.get(d.class).name,
                "priority": classes.get(d.class).priority,
                "paths": paths.iter().map(|p| p.links.iter().map(|l| l.0).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "objective": opts.objective.to_string(),
        "class_priority": opts.class_priority,
        "capacities": problem.topology.links().iter().map(|l| l.capacity.bps()).collect::<Vec<_>>(),
        "demands": demands,
    });
    serde_json::to_string(&doc).context("cannot encode the LP export")
}
