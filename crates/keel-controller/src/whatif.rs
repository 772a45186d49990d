//! What-if questions about the installed plan, answered by `keel-sim` from the
//! snapshot (never by the event loop): for each failure scenario, the state after
//! local repair onto the ingresses' backups and after re-optimisation.

use keel_sim::{Probabilities, ReoptOptions, Reoptimise, ScenarioKind, Solver};
use keel_te::{PathMetric, Problem, RiskModel};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, Code, field};
use crate::plan::PlanModel;

/// Scenario sets larger than this are refused: the API answers while a client
/// waits; the `keel whatif` command is for exhaustive studies.
const MAX_SCENARIOS: usize = 2_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// A named set: single-link, single-srlg, single-node or double-link.
    #[serde(default)]
    pub set: Option<String>,
    /// Or explicit scenarios, each a list of elements: "link:A->B site:C srlg:x".
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// What re-optimisation may move: affected (default), all, or none.
    #[serde(default)]
    pub reoptimise: Option<String>,
    /// Scenarios returned, worst first.
    #[serde(default = "default_top")]
    pub top: usize,
}

fn default_top() -> usize {
    20
}

pub fn run(model: &PlanModel, req: &WhatIfRequest) -> Result<Value, ApiError> {
    let topo = &model.topology;
    let risk = RiskModel::new(topo);
    let probs = Probabilities::defaults(topo, &risk);
    let set = match (&req.set, req.scenarios.is_empty()) {
        (Some(name), true) => {
            let kind: ScenarioKind = name.parse().map_err(|e: String| field("set", e))?;
            keel_sim::scenario_set(kind, topo, &risk, &probs, MAX_SCENARIOS)
        }
        (None, false) => {
            let text = req.scenarios.join("\n");
            let scenarios = keel_sim::parse_scenarios(&text, topo, &risk)
                .map_err(|e| field("scenarios", e.to_string()))?;
            let universe = keel_sim::universe_of(&scenarios);
            keel_sim::with_probabilities(scenarios, universe, &probs, (0, 0.0))
        }
        _ => return Err(field("set", "give either `set` or `scenarios`")),
    };
    if set.scenarios.len() > MAX_SCENARIOS {
        return Err(field(
            "set",
            format!(
                "{} scenarios; at most {MAX_SCENARIOS} here (use `keel whatif`)",
                set.scenarios.len()
            ),
        ));
    }
    let mode = match req.reoptimise.as_deref() {
        None => Reoptimise::Affected,
        Some(m) => m.parse().map_err(|e: String| field("reoptimise", e))?,
    };
    let problem = Problem {
        topology: topo,
        traffic: &model.traffic,
        paths: &model.paths,
    };
    let backups = keel_te::backup_paths(
        topo,
        &model.traffic,
        &model.paths,
        PathMetric::Igp,
        &risk,
        Some(&model.allocation),
    );
    let base = keel_sim::Base::new(problem, &model.allocation, &backups, &risk, None);
    let opts = ReoptOptions {
        mode,
        solver: Solver::Auto,
        gap: 0.01,
        ..ReoptOptions::default()
    };
    let report = keel_sim::run_whatif(&base, &risk, &set, &opts, &|_| {})
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;

    let link_name = |l: keel_model::LinkId| topo.link(l).id.clone();
    let classes = model.traffic.classes();
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let base_carried = sum(&report.carried_class);
    let scenarios: Vec<Value> = report
        .ranking
        .iter()
        .take(req.top)
        .map(|&i| {
            let r = &report.scenarios[i];
            let l = &r.local;
            json!({
                "name": r.name,
                "probability": r.probability,
                "local": {
                    "lost_bps": r.local_lost(&report.carried_class),
                    "unprotected_bps": sum(&l.lost_unprotected),
                    "congestion_bps": sum(&l.lost_congestion),
                    "moved_bps": l.moved,
                    "max_utilisation": l.max_utilisation,
                    "max_link": l.max_link.map(link_name),
                    "overloaded_links": l.overloaded_links,
                },
                "reoptimised": r.reopt.as_ref().map(|o| json!({
                    "lost_bps": r.reopt_lost(&report.carried_class),
                    "max_utilisation": o.max_utilisation,
                    "max_link": o.max_link.map(link_name),
                    "demands_moved": o.demands,
                    "solver": o.solver,
                    "gap": o.gap,
                })),
            })
        })
        .collect();
    let mut worst: Vec<&keel_sim::WorstLink> = report.worst.iter().collect();
    worst.sort_by(|a, b| b.local.0.total_cmp(&a.local.0));
    let scenario_name = |i: Option<usize>| i.map(|i| report.scenarios[i].name.clone());
    let worst: Vec<Value> = worst
        .into_iter()
        .take(req.top)
        .map(|w| {
            json!({
                "link": link_name(w.link),
                "base": w.base,
                "local": w.local.0,
                "local_scenario": scenario_name(w.local.1),
                "reoptimised": w.reopt.map(|r| r.0),
                "reoptimised_scenario": w.reopt.and_then(|r| scenario_name(r.1)),
            })
        })
        .collect();
    let availability: Vec<Value> = report
        .availability
        .iter()
        .map(|a| {
            json!({ "class": a.class, "local_lower": a.local_lower,
                    "reoptimised_lower": a.reopt_lower, "upper": a.upper })
        })
        .collect();
    Ok(json!({
        "scenarios_evaluated": report.scenarios.len(),
        "pruned": set.pruned,
        "covered_probability": report.covered_probability,
        "base_carried_bps": base_carried,
        "classes": classes.iter().map(|(_, c)| c.name.clone()).collect::<Vec<_>>(),
        "ranking": scenarios,
        "worst_links": worst,
        "availability": availability,
    }))
}
