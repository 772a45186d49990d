//! `keel whatif`: what failures do to the engineered traffic, and how well the
//! backups protect it.

use std::fmt::Write;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use keel_model::{Bandwidth, DemandId, Topology, TrafficMatrix};
use keel_sim::{
    Base, Probabilities, ReoptOptions, Reoptimise, ScenarioKind, ScenarioSet, SimError, Solver,
    WhatIfReport,
};
use keel_te::{
    Coverage, FastOptions, Hooks, Objective, PathKind, PathMetric, PathOptions, Problem, RiskModel,
    SolveOptions, Tolerance, Unprotectable, WarmStart,
};
use serde_json::{Value, json};

use crate::input::{TopologyArgs, TrafficArgs, UsageError};

/// Fail links, sites or SRLGs and see what happens to the traffic.
///
/// Engineers the traffic as `keel solve` does (max-flow, classes in strict
/// priority), pre-computes a backup for every path that carries traffic, then
/// for every failure scenario reports:
///   local repair   each ingress moves the traffic of its failed paths onto
///                  their backups, nothing else changes: traffic without a
///                  surviving backup is lost, and links the backups overload
///                  drop the lowest classes first (strict priority);
///   re-optimised   the controller re-solves on the surviving paths (and the
///                  backups), the fast solver warm-started from the base
///                  prices; every result passes the independent verifier.
/// The summary gives the worst-case utilisation of every link and the scenario
/// causing it, the scenarios ranked by lost demand, and the expected
/// availability of every class.
///
/// A link is a physical link: both directions fail together. Backups are
/// end-to-end at the ingress, computed as TI-LFA computes repair paths (the
/// post-convergence shortest path, same metric, once the protected element is
/// gone); the protected element is the whole primary — its links, everything
/// sharing an SRLG with them, and its transit sites — relaxed in that order
/// (node, then SRLG disjointness dropped) where the topology allows no better;
/// when no single path avoids all its links, one backup per link of the
/// primary (TI-LFA's per-element repair path). A link every path of a demand
/// crosses (a bridge) cannot be protected: --coverage names it.
///
/// Scenario sets (--failures):
///   single-link   every physical link alone
///   single-srlg   every SRLG alone
///   single-node   every site alone (its traffic as source or sink is lost)
///   double-link   pairs of links, the --max-pairs most probable ones (by the
///                 product of their down-probabilities); the pairs left out are
///                 counted, with their total probability, as not evaluated
///   FILE          one scenario per line: elements separated by spaces or
///                 commas, `link:A->B` (either arc's id), `node:SITE`,
///                 `srlg:NAME`; `#` starts a comment
///
/// Probabilities (for availability): each element is down independently. A
/// link's probability is derived from its length — great-circle km, else its
/// latency at fibre speed, else 500 km assumed — at 3 cuts per 1000 km per year
/// repaired in 12 h, plus 1e-5 for equipment; a site 1e-5, an SRLG 1e-4.
/// These are Keel's default assumptions, not measurements: give yours with
/// --probabilities (lines `link|node|srlg ID PROBABILITY`). Availability is a
/// bracket: the lower bound counts the states not evaluated as total loss.
///
/// Examples:
///   keel whatif                                        # built-in Abilene, every link
///   keel whatif -t data/b4.json --traffic tm.toml --failures single-node
///   keel whatif --failures double-link --max-pairs 500 --json
///   keel whatif --coverage                             # protection coverage only
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub topo: TopologyArgs,
    #[command(flatten)]
    pub traffic: TrafficArgs,
    /// single-link, single-srlg, single-node, double-link, or a scenario FILE.
    #[arg(long, default_value = "single-link", value_name = "SET|FILE")]
    pub failures: String,
    /// double-link: evaluate at most this many pairs, the most probable first.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_pairs: usize,
    /// Per-element down-probabilities overriding the defaults: lines
    /// `link|node|srlg ID PROBABILITY`.
    #[arg(long, value_name = "FILE")]
    pub probabilities: Option<PathBuf>,
    /// What re-optimisation may move: all (every demand, on the surviving
    /// paths), affected (only demands that lost a path, on the capacity the
    /// others leave: much faster on large networks, a lower bound on `all`),
    /// or none (local repair only).
    #[arg(long, default_value = "all", value_name = "MODE")]
    pub reoptimise: String,
    /// Candidate paths per demand.
    #[arg(short = 'k', long = "paths", default_value_t = 4, value_name = "K")]
    pub paths: usize,
    /// How candidate paths are chosen: shortest, edge-disjoint, srlg-disjoint.
    #[arg(long, default_value = "shortest")]
    pub path_kind: PathKind,
    /// Path length (also for backups): igp, latency, hops or inv-cap.
    #[arg(long, default_value = "igp")]
    pub path_metric: PathMetric,
    /// Keep paths longer than their class's latency bound.
    #[arg(long)]
    pub ignore_latency_bounds: bool,
    /// Treat all classes alike instead of in strict priority order.
    #[arg(long)]
    pub no_class_priority: bool,
    /// Solver for the base and the re-optimisations: exact, fast, or auto
    /// (exact up to 20,000 candidate paths).
    #[arg(long, default_value = "auto")]
    pub solver: String,
    /// Fast solver: certified gap target.
    #[arg(long, default_value_t = 0.001, value_name = "FRACTION")]
    pub gap: f64,
    /// Print the protection coverage of the base allocation (share of traffic
    /// protected against link, node and SRLG failures, and every path without
    /// a backup with the reason) instead of running scenarios.
    #[arg(long)]
    pub coverage: bool,
    /// Rows in the ranking and worst-link tables.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

enum FailureSet {
    Kind(ScenarioKind),
    File(PathBuf),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.paths == 0 {
        return Err(UsageError("--paths must be at least 1".into()).into());
    }
    if !(args.gap.is_finite() && args.gap >= 0.0) {
        return Err(UsageError(format!("--gap {} must be >= 0", args.gap)).into());
    }
    let mode: Reoptimise = args
        .reoptimise
        .parse()
        .map_err(|e: String| UsageError(format!("--reoptimise: {e} (all, affected, none)")))?;
    let solver = match args.solver.as_str() {
        "auto" => Solver::Auto,
        "exact" => Solver::Exact,
        "fast" => Solver::Fast,
        s => {
            return Err(UsageError(format!(
                "--solver: unknown solver `{s}` (auto, exact, fast)"
            ))
            .into());
        }
    };
    let set_arg = match args.failures.parse::<ScenarioKind>() {
        Ok(k) => FailureSet::Kind(k),
        Err(_) => {
            let p = PathBuf::from(&args.failures);
            if !p.exists() {
                return Err(UsageError(format!(
                    "--failures: `{}` is neither a scenario set (single-link, single-srlg, \
                     single-node, double-link) nor a file",
                    args.failures
                ))
                .into());
            }
            FailureSet::File(p)
        }
    };
    let started = Instant::now();
    let (topology, source) = args.topo.load()?;
    let traffic = args.traffic.load(&args.topo, &topology)?;
    let risk = RiskModel::new(&topology);
    let mut probs = Probabilities::defaults(&topology, &risk);
    if let Some(p) = &args.probabilities {
        let text = std::fs::read_to_string(p)?;
        probs
            .apply_file(&text, &topology, &risk)
            .map_err(|e| input_error(e, p))?;
    }
    let set = match &set_arg {
        FailureSet::Kind(k) => keel_sim::scenario_set(*k, &topology, &risk, &probs, args.max_pairs),
        FailureSet::File(p) => {
            let text = std::fs::read_to_string(p)?;
            let scenarios = keel_sim::parse_scenarios(&text, &topology, &risk)
                .map_err(|e| input_error(e, p))?;
            let universe = keel_sim::universe_of(&scenarios);
            keel_sim::with_probabilities(scenarios, universe, &probs, (0, 0.0))
        }
    };
    let load_time = started.elapsed();

    let path_opts = PathOptions {
        k: args.paths,
        kind: args.path_kind,
        metric: args.path_metric,
        latency_bounds: !args.ignore_latency_bounds,
    };
    let t = Instant::now();
    let paths = keel_te::compute_paths(&topology, &traffic, &path_opts);
    let problem = Problem {
        topology: &topology,
        traffic: &traffic,
        paths: &paths,
    };
    let exact = match solver {
        Solver::Exact => true,
        Solver::Fast => false,
        Solver::Auto => paths.total() <= keel_sim::eval::AUTO_EXACT_MAX_PATHS,
    };
    let (base_solution, warm): (keel_te::Solution, Option<WarmStart>) = if exact {
        let so = SolveOptions {
            objective: Objective::MaxFlow,
            class_priority: !args.no_class_priority,
            ..SolveOptions::default()
        };
        (keel_te::solve_exact(&problem, &so)?, None)
    } else {
        let fo = FastOptions {
            objective: Objective::MaxFlow,
            class_priority: !args.no_class_priority,
            gap: args.gap,
            time_limit: None,
        };
        let out = keel_te::solve_fast(&problem, &fo, None, Hooks::default())?;
        (out.solution, Some(out.warm))
    };
    if let Err(v) = keel_te::verify(
        &topology,
        &traffic,
        Some(&paths),
        &base_solution.allocation,
        Tolerance::default(),
    ) {
        anyhow::bail!(
            "the verifier rejected the base allocation ({} violations): this is a bug in Keel",
            v.len()
        );
    }
    let base_time = t.elapsed();
    let t = Instant::now();
    let backups = keel_te::backup_paths(
        &topology,
        &traffic,
        &paths,
        args.path_metric,
        &risk,
        Some(&base_solution.allocation),
    );
    let coverage = keel_te::coverage(&traffic, &backups, Some(&base_solution.allocation));
    let backup_time = t.elapsed();
    let ctx = Ctx {
        topo: &topology,
        tm: &traffic,
        risk: &risk,
        source: &source,
        paths: &paths,
        base_solver: if exact { "exact" } else { "fast" },
        carried: base_solution.allocation.carried(),
    };
    if args.coverage {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&coverage_json(&ctx, &coverage))?
            );
        } else {
            print!("{}", coverage_text(&ctx, &coverage));
        }
        return Ok(());
    }

    let base = Base::new(
        problem,
        &base_solution.allocation,
        &backups,
        &risk,
        warm.as_ref(),
    );
    let reopt = ReoptOptions {
        mode,
        solver,
        class_priority: !args.no_class_priority,
        gap: args.gap,
        time_limit: None,
    };
    let t = Instant::now();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(set.scenarios.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios · {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let progress = |n: usize| bar.set_position(n as u64);
    let report = keel_sim::run_whatif(&base, &risk, &set, &reopt, &progress)?;
    bar.finish_and_clear();
    let times = Times {
        load: load_time,
        base: base_time,
        backups: backup_time,
        scenarios: t.elapsed(),
    };
    let view = View {
        ctx: &ctx,
        set: &set,
        set_name: &args.failures,
        mode,
        report: &report,
        coverage: &coverage,
        probs: &probs,
        times,
        top: args.top,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&whatif_json(&view))?);
    } else {
        print!("{}", whatif_text(&view));
    }
    Ok(())
}

fn input_error(e: SimError, file: &std::path::Path) -> anyhow::Error {
    UsageError(format!("{}: {e}", file.display())).into()
}

struct Ctx<'a> {
    topo: &'a Topology,
    tm: &'a TrafficMatrix,
    risk: &'a RiskModel,
    source: &'a str,
    paths: &'a keel_te::CandidatePaths,
    base_solver: &'static str,
    carried: f64,
}

struct Times {
    load: Duration,
    base: Duration,
    backups: Duration,
    scenarios: Duration,
}

struct View<'a> {
    ctx: &'a Ctx<'a>,
    set: &'a ScenarioSet,
    set_name: &'a str,
    mode: Reoptimise,
    report: &'a WhatIfReport,
    coverage: &'a Coverage,
    probs: &'a Probabilities,
    times: Times,
    top: usize,
}

fn rate(bps: f64) -> String {
    Bandwidth::from_bps(bps).to_string()
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn share(part: f64, total: f64) -> f64 {
    if total > 0.0 { part / total } else { 1.0 }
}

fn link_name(t: &Topology, l: Option<keel_model::LinkId>) -> String {
    l.map_or("-".into(), |l| t.link(l).id.clone())
}

fn reason_text(ctx: &Ctx, r: &Unprotectable) -> String {
    match r {
        Unprotectable::Bridge { link } => {
            format!(
                "bridge link {} (every path crosses it)",
                ctx.topo.link(*link).id
            )
        }
    }
}

fn demand_name(ctx: &Ctx, d: DemandId) -> String {
    let dm = ctx.tm.demand(d);
    format!(
        "{}->{} ({})",
        ctx.topo.site(dm.src).id,
        ctx.topo.site(dm.dst).id,
        ctx.tm.classes().get(dm.class).name
    )
}

/// A candidate path as its sites, `A B C`.
fn path_sites(ctx: &Ctx, d: DemandId, p: usize) -> String {
    ctx.paths.of(d).get(p).map_or(String::new(), |path| {
        path.sites(ctx.topo)
            .iter()
            .map(|s| ctx.topo.site(*s).id.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The network and base lines both reports start with.
fn header(ctx: &Ctx) -> String {
    let t = ctx.topo;
    format!(
        "network     {} — {} sites, {} arcs, {} physical links, {} SRLGs  ({})\n\
         base        {} carried of {} ({} solver, verified)\n",
        t.name(),
        t.site_count(),
        t.link_count(),
        ctx.risk.link_count(),
        ctx.risk.srlg_names.len(),
        ctx.source,
        rate(ctx.carried),
        rate(ctx.tm.total()),
        ctx.base_solver
    )
}

fn coverage_text(ctx: &Ctx, c: &Coverage) -> String {
    let mut o = header(ctx);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "traffic protected by its backup against a single failure on its path:"
    );
    let _ = writeln!(
        o,
        "  link failure        {}",
        pct(share(c.link_bps, c.total_bps))
    );
    let _ = writeln!(
        o,
        "  transit-site failure {}",
        pct(share(c.node_bps, c.total_bps))
    );
    let _ = writeln!(
        o,
        "  SRLG failure        {}",
        pct(share(c.srlg_bps, c.total_bps))
    );
    let _ = writeln!(o);
    if c.unprotected.is_empty() {
        let _ = writeln!(o, "unprotectable paths: none");
    } else {
        let _ = writeln!(
            o,
            "unprotectable paths ({}), most traffic first:",
            c.unprotected.len()
        );
        for u in &c.unprotected {
            let _ = writeln!(
                o,
                "  {:<36} via {:<30} {:>14}  {}",
                demand_name(ctx, u.demand),
                path_sites(ctx, u.demand, u.path),
                rate(u.rate_bps),
                reason_text(ctx, &u.reason)
            );
        }
    }
    o
}

fn coverage_json(ctx: &Ctx, c: &Coverage) -> Value {
    json!({
        "topology": { "name": ctx.topo.name(), "source": ctx.source, "sites": ctx.topo.site_count(),
                      "arcs": ctx.topo.link_count(), "links": ctx.risk.link_count(), "srlgs": ctx.risk.srlg_names.len() },
        "base": { "solver": ctx.base_solver, "carried_bps": ctx.carried },
        "protected_bps": c.total_bps,
        "coverage": {
            "link": share(c.link_bps, c.total_bps),
            "node": share(c.node_bps, c.total_bps),
            "srlg": share(c.srlg_bps, c.total_bps),
        },
        "unprotectable": c.unprotected.iter().map(|u| json!({
            "demand": demand_name(ctx, u.demand),
            "path": path_sites(ctx, u.demand, u.path),
            "rate_bps": u.rate_bps,
            "reason": reason_text(ctx, &u.reason),
        })).collect::<Vec<_>>(),
    })
}

fn set_text(v: &View) -> String {
    let mut s = format!("{} — {} scenarios", v.set_name, v.set.scenarios.len());
    if v.set.pruned > 0 {
        let _ = write!(
            s,
            " ({} less probable pairs not evaluated, total probability {:.3e})",
            v.set.pruned, v.set.pruned_probability
        );
    }
    s
}

fn mode_text(m: Reoptimise) -> &'static str {
    match m {
        Reoptimise::All => "all demands",
        Reoptimise::Affected => "affected demands only",
        Reoptimise::None => "none (local repair only)",
    }
}

fn whatif_text(v: &View) -> String {
    let (ctx, r) = (v.ctx, v.report);
    let t = ctx.topo;
    let carried = &r.carried_class;
    let mut o = header(ctx);
    let c = v.coverage;
    let _ = writeln!(
        o,
        "backups     traffic protected against link {} · transit site {} · SRLG {}; {} paths unprotectable",
        pct(share(c.link_bps, c.total_bps)),
        pct(share(c.node_bps, c.total_bps)),
        pct(share(c.srlg_bps, c.total_bps)),
        c.unprotected.len()
    );
    let _ = writeln!(o, "failures    {}", set_text(v));
    let _ = writeln!(o, "re-optimise {}", mode_text(v.mode));
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "scenarios by lost demand (top {}):",
        v.top.min(r.ranking.len())
    );
    let _ = writeln!(
        o,
        "  {:<34} {:>14} {:>14} {:>9}  {:<14} {:>14} {:>9}",
        "scenario", "local lost", "of which cong.", "local MLU", "on", "re-opt lost", "re-opt MLU"
    );
    for &i in r.ranking.iter().take(v.top) {
        let s = &r.scenarios[i];
        let cong: f64 = s.local.lost_congestion.iter().sum();
        let _ = writeln!(
            o,
            "  {:<34} {:>14} {:>14} {:>9}  {:<14} {:>14} {:>9}",
            s.name,
            rate(s.local_lost(carried)),
            rate(cong),
            pct(s.local.max_utilisation),
            link_name(t, s.local.max_link),
            s.reopt_lost(carried).map_or("-".into(), rate),
            s.reopt
                .as_ref()
                .map_or("-".into(), |x| pct(x.max_utilisation)),
        );
    }
    let _ = writeln!(o);
    let mut worst: Vec<&keel_sim::WorstLink> = r.worst.iter().collect();
    worst.sort_by(|a, b| b.local.0.total_cmp(&a.local.0).then(a.link.cmp(&b.link)));
    let _ = writeln!(
        o,
        "worst-case link utilisation (top {}):",
        v.top.min(worst.len())
    );
    let _ = writeln!(
        o,
        "  {:<16} {:>8} {:>12}  {:<34} {:>12}  caused by",
        "link", "base", "local", "caused by", "re-opt"
    );
    let name = |i: Option<usize>| i.map_or("(base)".to_string(), |i| r.scenarios[i].name.clone());
    for w in worst.iter().take(v.top) {
        let _ = writeln!(
            o,
            "  {:<16} {:>8} {:>12}  {:<34} {:>12}  {}",
            t.link(w.link).id,
            pct(w.base),
            pct(w.local.0),
            name(w.local.1),
            w.reopt.map_or("-".into(), |x| pct(x.0)),
            w.reopt.map_or("-".into(), |x| name(x.1)),
        );
    }
    let _ = writeln!(o);
    let given = v
        .probs
        .link_source
        .iter()
        .filter(|s| matches!(s, keel_sim::failure::ProbabilitySource::Given))
        .count();
    let _ = writeln!(
        o,
        "availability per class (independent failures; link probabilities {}; states evaluated cover {:.6}%):",
        if given > 0 {
            format!("{given} given, the rest from length")
        } else {
            "from length".into()
        },
        r.covered_probability * 100.0
    );
    let _ = writeln!(
        o,
        "  {:<14} {:>14} {:>14} {:>14}",
        "class", "local repair", "re-optimised", "upper bound"
    );
    for a in &r.availability {
        let _ = writeln!(
            o,
            "  {:<14} {:>14} {:>14} {:>14}",
            a.class,
            format!("{:.6}%", a.local_lower * 100.0),
            a.reopt_lower
                .map_or("-".into(), |x| format!("{:.6}%", x * 100.0)),
            format!("{:.6}%", a.upper * 100.0),
        );
    }
    let _ = writeln!(o);
    let tm = &v.times;
    let _ = writeln!(
        o,
        "runtime     load {:.2} s · base solve {:.2} s · backups {:.2} s · scenarios {:.2} s",
        tm.load.as_secs_f64(),
        tm.base.as_secs_f64(),
        tm.backups.as_secs_f64(),
        tm.scenarios.as_secs_f64()
    );
    let _ = writeln!(
        o,
        "verified    ok — every re-optimised allocation passed the verifier and sends nothing over failed elements"
    );
    o
}

fn classes_json(ctx: &Ctx, v: &[f64]) -> Value {
    Value::Object(
        ctx.tm
            .classes()
            .iter()
            .map(|(c, class)| (class.name.clone(), json!(v[c.index()])))
            .collect(),
    )
}

fn whatif_json(v: &View) -> Value {
    let (ctx, r) = (v.ctx, v.report);
    let t = ctx.topo;
    let carried = &r.carried_class;
    let scenarios: Vec<Value> = r
        .ranking
        .iter()
        .map(|&i| {
            let s = &r.scenarios[i];
            json!({
                "scenario": s.name,
                "probability": s.probability,
                "touches_traffic": s.touches_traffic,
                "local": {
                    "lost_bps": s.local_lost(carried),
                    "lost_unprotected_bps": classes_json(ctx, &s.local.lost_unprotected),
                    "lost_congestion_bps": classes_json(ctx, &s.local.lost_congestion),
                    "delivered_bps": classes_json(ctx, &s.local.delivered),
                    "moved_bps": s.local.moved,
                    "mlu": s.local.max_utilisation,
                    "mlu_link": s.local.max_link.map(|l| t.link(l).id.clone()),
                    "overloaded_links": s.local.overloaded_links,
                },
                "reopt": s.reopt.as_ref().map(|x| json!({
                    "lost_bps": s.reopt_lost(carried),
                    "delivered_bps": classes_json(ctx, &x.delivered),
                    "mlu": x.max_utilisation,
                    "mlu_link": x.max_link.map(|l| t.link(l).id.clone()),
                    "demands": x.demands,
                    "solver": x.solver,
                })),
            })
        })
        .collect();
    let worst: Vec<Value> = r
        .worst
        .iter()
        .map(|w| {
            let name = |i: Option<usize>| i.map(|i| r.scenarios[i].name.clone());
            json!({
                "link": t.link(w.link).id,
                "base": w.base,
                "local": w.local.0,
                "local_scenario": name(w.local.1),
                "reopt": w.reopt.map(|x| x.0),
                "reopt_scenario": w.reopt.and_then(|x| name(x.1)),
            })
        })
        .collect();
    let c = v.coverage;
    json!({
        "topology": { "name": t.name(), "source": ctx.source, "sites": t.site_count(),
                      "arcs": t.link_count(), "links": ctx.risk.link_count(), "srlgs": ctx.risk.srlg_names.len() },
        "base": { "solver": ctx.base_solver, "carried_bps": ctx.carried, "demand_bps": ctx.tm.total(),
                  "carried_per_class_bps": classes_json(ctx, carried) },
        "coverage": {
            "link": share(c.link_bps, c.total_bps),
            "node": share(c.node_bps, c.total_bps),
            "srlg": share(c.srlg_bps, c.total_bps),
            "unprotectable_paths": c.unprotected.len(),
        },
        "failures": {
            "set": v.set_name,
            "scenarios": v.set.scenarios.len(),
            "pruned": v.set.pruned,
            "pruned_probability": v.set.pruned_probability,
            "no_failure_probability": v.set.none_probability,
        },
        "reoptimise": match v.mode { Reoptimise::All => "all", Reoptimise::Affected => "affected", Reoptimise::None => "none" },
        "scenarios": scenarios,
        "worst_links": worst,
        "availability": r.availability.iter().map(|a| json!({
            "class": a.class,
            "local_lower": a.local_lower,
            "reopt_lower": a.reopt_lower,
            "upper": a.upper,
        })).collect::<Vec<_>>(),
        "covered_probability": r.covered_probability,
        "runtime_s": {
            "load": v.times.load.as_secs_f64(),
            "base": v.times.base.as_secs_f64(),
            "backups": v.times.backups.as_secs_f64(),
            "scenarios": v.times.scenarios.as_secs_f64(),
        },
        "verified": true,
    })
}
