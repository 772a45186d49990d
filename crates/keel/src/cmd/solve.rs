//! `keel solve`: engineer a traffic matrix over a topology and explain the result.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use keel_formats::TrafficFormat;
use keel_te::{
    CandidatePaths, Fairness, Objective, PathKind, PathMetric, PathOptions, Problem, SolveOptions,
    Tolerance,
};

use crate::input::{self, TopologyArgs};
use crate::report::{self, SolveReport};

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
    /// Traffic matrix: `src dst rate` text, CSV, SNDlib or Repetita demands, or
    /// Keel's native TOML/JSON. Detected from the content.
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    /// Force the traffic format instead of detecting it.
    #[arg(long, value_name = "FORMAT")]
    pub traffic_format: Option<TrafficFormat>,
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
    /// Solver. `exact` solves the path-form LP with an interior-point method.
    #[arg(long, default_value = "exact", value_parser = ["exact"])]
    pub solver: String,
    /// Treat all classes alike instead of serving them in strict priority order.
    #[arg(long)]
    pub no_class_priority: bool,
    /// Share within a class: none (any optimum) or max-min fair.
    #[arg(long, default_value = "none")]
    pub fairness: Fairness,
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

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.paths == 0 {
        return Err(input::UsageError("--paths must be at least 1".into()).into());
    }
    let (topology, source) = args.topo.load()?;
    let traffic = input::load_traffic(
        args.traffic.as_deref(),
        args.traffic_format,
        &args.topo,
        &topology,
    )?;

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
        ..SolveOptions::default()
    };
    if let Some(path) = &args.export_lp {
        input::write_output(path, &export_lp(&problem, &solve_opts)?)?;
    }
    let mut solution = keel_te::solve_exact(&problem, &solve_opts)?;
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
