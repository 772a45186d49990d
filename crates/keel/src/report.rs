//! Readable and JSON renderings of results.

use std::fmt::Write;
use std::time::Duration;

use keel_model::{Bandwidth, Topology, TrafficMatrix};
use keel_te::{CandidatePaths, PathOptions, Solution, SolveOptions, Summary};
use serde_json::{Value, json};

pub struct SolveReport<'a> {
    pub source: &'a str,
    pub topology: &'a Topology,
    pub traffic: &'a TrafficMatrix,
    pub paths: &'a CandidatePaths,
    pub path_opts: &'a PathOptions,
    pub opts: &'a SolveOptions,
    pub solution: &'a Solution,
    pub summary: &'a Summary,
    pub violations: usize,
    /// Set when the fast solver produced the result.
    pub fast: Option<FastInfo>,
    /// Set for `--protect`.
    pub protect: Option<ProtectInfo>,
}

/// `keel solve --protect K`: throughput by k and the enumeration check.
pub struct ProtectInfo {
    pub k: usize,
    /// (k, carried bit/s) for k = 0, 1, 2 and the requested k.
    pub price: Vec<(usize, f64)>,
    /// Failure sets checked after rescaling, of up to `checked_depth` links.
    pub checked: usize,
    pub checked_depth: usize,
    /// Failure sets after which a link was overloaded or a failed link carried
    /// traffic (0 unless Keel has a bug).
    pub failed_checks: usize,
}

pub struct FastInfo {
    pub iterations: usize,
    pub stop: keel_te::StopReason,
}

fn rate(bps: f64) -> String {
    Bandwidth::from_bps(bps).to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn candidate_count(paths: &CandidatePaths) -> usize {
    paths.per_demand.iter().map(Vec::len).sum()
}

pub fn solve_text(r: &SolveReport) -> String {
    let (t, s, sol) = (r.topology, r.summary, r.solution);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "network     {} — {} sites, {} links  ({})",
        t.name(),
        t.site_count(),
        t.link_count(),
        r.source
    );
    let _ = writeln!(
        o,
        "traffic     {} demands in {} classes, {} in total",
        r.traffic.len(),
        s.per_class.iter().filter(|c| c.demand > 0.0).count(),
        rate(s.total_demand)
    );
    let no_path = r.paths.per_demand.iter().filter(|p| p.is_empty()).count();
    let _ = writeln!(
        o,
        "paths       up to {} {} paths by {} per demand: {} candidates{}",
        r.path_opts.k,
        r.path_opts.kind,
        r.path_opts.metric,
        candidate_count(r.paths),
        if no_path > 0 {
            format!(", {no_path} demands without any path")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "objective   {}{}",
        r.opts.objective,
        if r.opts.class_priority {
            ", classes in strict priority order"
        } else {
            ""
        }
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "carried     {} of {}  ({})",
        rate(s.carried),
        rate(s.total_demand),
        pct(s.fraction)
    );
    let mlu_link = s
        .max_load_link
        .map(|l| format!(" on {}", t.link(l).id))
        .unwrap_or_default();
    let _ = writeln!(o, "MLU         {}{mlu_link}", pct(s.mlu));
    let _ = writeln!(
        o,
        "concurrent  every demand gets at least {} of its rate",
        pct(s.concurrent)
    );
    if let Some(p) = &r.protect {
        let _ = write!(o, "{}", protect_text(p));
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<14} {:>8} {:>16} {:>16} {:>9}",
        "class", "priority", "demand", "carried", "fraction"
    );
    for c in s.per_class.iter().filter(|c| c.demand > 0.0) {
        let prio = r.traffic.classes().get(c.class).priority;
        let _ = writeln!(
            o,
            "{:<14} {:>8} {:>16} {:>16} {:>9}",
            c.name,
            prio,
            rate(c.demand),
            rate(c.carried),
            pct(if c.demand > 0.0 {
                c.carried / c.demand
            } else {
                1.0
            })
        );
    }
    let _ = writeln!(o);
    let tm = &sol.timings;
    let how = match &r.fast {
        None => format!(
            "exact solver, {} LP stage{}",
            sol.stages,
            if sol.stages == 1 { "" } else { "s" }
        ),
        Some(f) => format!(
            "fast solver, {} iterations, stopped: {}",
            f.iterations,
            stop_text(f.stop)
        ),
    };
    let _ = writeln!(
        o,
        "runtime     paths {} · build {} · solve {} · total {}  ({how})",
        ms(tm.paths),
        ms(tm.build),
        ms(tm.solve),
        ms(tm.paths + tm.build + tm.solve),
    );
    let _ = writeln!(
        o,
        "optimality  value {:.9e}, bound {:.9e}, gap {:.4}% ({})",
        sol.value,
        sol.bound,
        sol.gap * 100.0,
        gap_kind(sol)
    );
    let _ = writeln!(
        o,
        "verified    {}",
        if r.violations == 0 {
            "ok — capacities, demand bounds and path validity hold".to_string()
        } else {
            format!("FAILED — {} violations", r.violations)
        }
    );
    o
}

fn protect_text(p: &ProtectInfo) -> String {
    let base = p.price.first().map_or(0.0, |x| x.1);
    let price: Vec<String> = p
        .price
        .iter()
        .map(|&(k, v)| {
            if k == 0 || base <= 0.0 {
                format!("k={k} {}", rate(v))
            } else {
                format!("k={k} {} ({:+.2}%)", rate(v), (v / base - 1.0) * 100.0)
            }
        })
        .collect();
    format!(
        "protection  survives any {} link failure{} (ingresses rescale onto surviving paths, FFC LP); \
         {} failure sets of up to {} links checked: {}\nprice       {}\n",
        p.k,
        if p.k == 1 { "" } else { "s" },
        p.checked,
        p.checked_depth,
        if p.failed_checks == 0 {
            "no link overloaded".to_string()
        } else {
            format!("{} FAILED", p.failed_checks)
        },
        price.join(" · ")
    )
}

fn gap_kind(sol: &Solution) -> &'static str {
    match sol.gap_kind {
        keel_te::GapKind::Certified => "certified by a dual bound",
        keel_te::GapKind::SolverReported => "as reported by the solver per stage",
        keel_te::GapKind::PerStage => "certified per priority stage on residual capacity",
    }
}

fn stop_text(stop: keel_te::StopReason) -> &'static str {
    match stop {
        keel_te::StopReason::GapReached => "gap reached",
        keel_te::StopReason::TimeLimit => "time limit",
        keel_te::StopReason::Cancelled => "interrupted",
        keel_te::StopReason::IterationLimit => "iteration limit",
    }
}

pub fn solve_json(r: &SolveReport) -> Value {
    let (t, s, sol) = (r.topology, r.summary, r.solution);
    let per_class: Vec<Value> = s
        .per_class
        .iter()
        .map(|c| {
            json!({
                "class": c.name,
                "priority": r.traffic.classes().get(c.class).priority,
                "demand_bps": c.demand,
                "carried_bps": c.carried,
            })
        })
        .collect();
    let tm = &sol.timings;
    let mut doc = json!({
        "topology": { "name": t.name(), "source": r.source, "sites": t.site_count(), "links": t.link_count() },
        "traffic": { "demands": r.traffic.len(), "total_bps": s.total_demand },
        "paths": {
            "k": r.path_opts.k,
            "kind": r.path_opts.kind.to_string(),
            "metric": r.path_opts.metric.to_string(),
            "candidates": candidate_count(r.paths),
        },
        "objective": {
            "kind": r.opts.objective.to_string(),
            "class_priority": r.opts.class_priority,
            "value": sol.value,
            "bound": sol.bound,
            "gap": sol.gap,
            "gap_kind": match sol.gap_kind {
                keel_te::GapKind::Certified => "certified",
                keel_te::GapKind::SolverReported => "solver-reported",
                keel_te::GapKind::PerStage => "per-stage",
            },
        },
        "carried_bps": s.carried,
        "fraction": s.fraction,
        "mlu": s.mlu,
        "mlu_link": s.max_load_link.map(|l| t.link(l).id.clone()),
        "concurrent": s.concurrent,
        "per_class": per_class,
        "runtime_s": {
            "paths": tm.paths.as_secs_f64(),
            "build": tm.build.as_secs_f64(),
            "solve": tm.solve.as_secs_f64(),
            "total": (tm.paths + tm.build + tm.solve).as_secs_f64(),
        },
        "solver": if r.fast.is_some() { "fast" } else { "exact" },
        "stages": sol.stages,
        "fast": r.fast.as_ref().map(|f| json!({ "iterations": f.iterations, "stop": stop_text(f.stop) })),
        "verified": r.violations == 0,
    });
    if let (Some(p), Some(map)) = (&r.protect, doc.as_object_mut()) {
        map.insert(
            "protect".into(),
            json!({
                "k": p.k,
                "throughput_bps": p.price.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "checked_failure_sets": p.checked,
                "checked_depth": p.checked_depth,
                "failed_checks": p.failed_checks,
            }),
        );
    }
    doc
}
