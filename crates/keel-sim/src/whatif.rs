//! The what-if runner: every scenario of a set, in parallel, and the summary an
//! operator reads — worst-case utilisation per link and the scenario causing
//! it, scenarios ranked by lost demand, expected availability per class.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_model::LinkId;
use keel_te::RiskModel;
use rayon::prelude::*;
use serde::Serialize;

use crate::SimError;
use crate::eval::{Base, LocalState, ReoptOptions, ReoptState, local_repair, reoptimise};
use crate::failure::{Scenario, ScenarioSet};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub index: usize,
    pub name: String,
    pub probability: f64,
    /// False when no failed arc carried traffic: nothing changes.
    pub touches_traffic: bool,
    pub local: LocalState,
    pub reopt: Option<ReoptState>,
}

impl ScenarioResult {
    /// Carried in the base state minus delivered here, over all classes.
    pub fn local_lost(&self, base: &[f64]) -> f64 {
        lost(base, &self.local.delivered)
    }
    pub fn reopt_lost(&self, base: &[f64]) -> Option<f64> {
        self.reopt.as_ref().map(|r| lost(base, &r.delivered))
    }
}

fn lost(base: &[f64], delivered: &[f64]) -> f64 {
    base.iter()
        .zip(delivered)
        .map(|(b, d)| (b - d).max(0.0))
        .sum()
}

/// The worst utilisation one link sees over the scenarios, and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstLink {
    pub link: LinkId,
    pub base: f64,
    /// (utilisation, scenario index); the base figure when no scenario raises it.
    pub local: (f64, Option<usize>),
    pub reopt: Option<(f64, Option<usize>)>,
}

/// Expected share of a class's base traffic delivered, bracketed: the lower
/// bound counts scenarios not evaluated (pruned, or more failures than the set
/// has) as total loss, the upper bound as no loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    pub class: String,
    pub local_lower: f64,
    pub reopt_lower: Option<f64>,
    pub upper: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfReport {
    pub scenarios: Vec<ScenarioResult>,
    pub carried_class: Vec<f64>,
    pub worst: Vec<WorstLink>,
    /// Scenario indices, most lost demand after re-optimisation first (local
    /// repair loss when there is no re-optimisation), ties by local loss.
    pub ranking: Vec<usize>,
    pub availability: Vec<Availability>,
    /// Probability mass of the states evaluated (no failure + scenarios).
    pub covered_probability: f64,
}

/// Runs every scenario in parallel; `progress` is called after each one.
pub fn run_whatif(
    base: &Base,
    risk: &RiskModel,
    set: &ScenarioSet,
    opts: &ReoptOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<WhatIfReport, SimError> {
    let topo = base.problem.topology;
    let done = AtomicUsize::new(0);
    let results: Vec<Result<ScenarioResult, SimError>> = set
        .scenarios
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let r = run_one(base, risk, s, i, set.probability[i], opts);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            r
        })
        .collect();
    let scenarios = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(summarise(base, topo, set, scenarios))
}

/// One scenario: local repair, then re-optimisation when it touches traffic
/// (otherwise the base state stands).
pub fn run_one(
    base: &Base,
    risk: &RiskModel,
    s: &Scenario,
    index: usize,
    probability: f64,
    opts: &ReoptOptions,
) -> Result<ScenarioResult, SimError> {
    let topo = base.problem.topology;
    let failed = s.failed(topo, risk);
    let touches = base.touches_traffic(&failed);
    let local = local_repair(base, &failed, false);
    let reopt = if touches {
        reoptimise(base, &failed, opts, false)
            .map_err(|e| SimError::InScenario(s.name(topo, risk), Box::new(e)))?
    } else if opts.mode == crate::eval::Reoptimise::None {
        None
    } else {
        Some(ReoptState {
            delivered: local.delivered.clone(),
            changed: Vec::new(),
            max_utilisation: local.max_utilisation,
            max_link: local.max_link,
            demands: 0,
            solver: "none",
            gap: 0.0,
            solve_time: Duration::ZERO,
            allocation: None,
        })
    };
    Ok(ScenarioResult {
        index,
        name: s.name(topo, risk),
        probability,
        touches_traffic: touches,
        local,
        reopt,
    })
}

fn summarise(
    base: &Base,
    topo: &keel_model::Topology,
    set: &ScenarioSet,
    scenarios: Vec<ScenarioResult>,
) -> WhatIfReport {
    let has_reopt = scenarios.iter().any(|s| s.reopt.is_some());
    let mut worst: Vec<WorstLink> = topo
        .links()
        .iter()
        .enumerate()
        .map(|(e, l)| {
            let u = base.load[e] / l.capacity.bps();
            WorstLink {
                link: LinkId(e as u32),
                base: u,
                local: (u, None),
                reopt: has_reopt.then_some((u, None)),
            }
        })
        .collect();
    for s in &scenarios {
        for c in &s.local.changed {
            let w = &mut worst[c.link.index()];
            if c.utilisation > w.local.0 {
                w.local = (c.utilisation, Some(s.index));
            }
        }
        if let Some(r) = &s.reopt {
            for c in &r.changed {
                if let Some(w) = worst[c.link.index()].reopt.as_mut() {
                    if c.utilisation > w.0 {
                        *w = (c.utilisation, Some(s.index));
                    }
                }
            }
        }
    }
    let carried = &base.carried_class;
    let mut ranking: Vec<usize> = (0..scenarios.len()).collect();
    let key = |i: usize| {
        let s = &scenarios[i];
        (
            s.reopt_lost(carried).unwrap_or(s.local_lost(carried)),
            s.local_lost(carried),
        )
    };
    ranking.sort_by(|&a, &b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(a.cmp(&b))
    });
    let covered = set.none_probability + set.probability.iter().sum::<f64>();
    let availability = base
        .problem
        .traffic
        .classes()
        .iter()
        .filter(|(c, _)| carried[c.index()] > 0.0)
        .map(|(c, class)| {
            let ci = c.index();
            let frac = |d: &[f64]| (d[ci] / carried[ci]).clamp(0.0, 1.0);
            let local: f64 = scenarios
                .iter()
                .map(|s| s.probability * frac(&s.local.delivered))
                .sum();
            let reopt: Option<f64> = has_reopt.then(|| {
                scenarios
                    .iter()
                    .map(|s| s.probability * s.reopt.as_ref().map_or(0.0, |r| frac(&r.delivered)))
                    .sum()
            });
            Availability {
                class: class.name.clone(),
                local_lower: set.none_probability + local,
                reopt_lower: reopt.map(|r| set.none_probability + r),
                upper: (set.none_probability + reopt.unwrap_or(local) + (1.0 - covered)).min(1.0),
            }
        })
        .collect();
    WhatIfReport {
        scenarios,
        carried_class: carried.clone(),
        worst,
        ranking,
        availability,
        covered_probability: covered,
    }
}
