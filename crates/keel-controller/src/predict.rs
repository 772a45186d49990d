//! Predicted congestion: the measured demand level is forecast (Holt–Winters
//! with a daily season once two days are seen, persistence before), each
//! forecast step's traffic matrix is handed to the TE engine (min-MLU over the
//! installed candidate paths: the best any re-routing could do), and every link
//! the best routing would still load to the threshold raises an alert carrying
//! its lead time: "link X reaches 97% in ~90 min".
//!
//! Runs beside the event loop on the snapshot's plan model, never inside it.

use keel_forecast::HoltWinters;
use keel_te::{Objective, Problem, SolveOptions, Tolerance, solve_exact, verify_routing};
use serde::Serialize;

use crate::error::ApiError;
use crate::plan::PlanModel;

/// How far ahead, in demand-level samples, and how many of those steps are
/// planned (evenly spaced; each is one LP).
pub const HORIZON: usize = 8;
const PLANNED_STEPS: usize = 4;
/// Predictions solve min-MLU exactly; beyond this many candidate paths they
/// would hold a core for too long on every demand sample.
const MAX_PATHS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The forecaster that made it (`holt-winters` or `persistence`).
    pub method: &'static str,
    pub threshold: f64,
    /// Per planned step: lead in samples and minutes, the forecast demand
    /// level relative to now, and the best achievable maximum utilisation.
    pub steps: Vec<PredictedStep>,
    /// Links reaching the threshold, each at its earliest step.
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictedStep {
    pub lead_samples: usize,
    pub lead_minutes: f64,
    pub demand_factor: f64,
    pub min_max_utilisation: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub link: String,
    pub utilisation: f64,
    pub lead_minutes: f64,
    pub message: String,
}

/// `history`: demand levels, oldest first, one per `minutes_per_sample`;
/// `planned`: the level `model` was planned for; `per_day`: samples per day.
pub fn predict(
    model: &PlanModel,
    history: &[f64],
    planned: f64,
    per_day: usize,
    minutes_per_sample: f64,
    threshold: f64,
) -> Result<Prediction, ApiError> {
    if history.is_empty() || planned <= 0.0 {
        return Err(ApiError::internal(
            "no demand level measured yet: nothing to forecast from",
        ));
    }
    let now = planned;
    let (method, forecast) = if history.len() >= 2 * per_day && per_day >= 2 {
        let hw = HoltWinters::fit(history, per_day, HORIZON).map_err(ApiError::internal)?;
        ("holt-winters", hw.forecast(HORIZON).point)
    } else {
        // Too short for a season: the last level persists.
        let last = history[history.len() - 1];
        ("persistence", vec![last; HORIZON])
    };
    if model.paths.total() > MAX_PATHS {
        return Err(ApiError::internal(format!(
            "{} candidate paths: predictions use the exact LP, up to {MAX_PATHS}",
            model.paths.total()
        )));
    }
    let topo = &model.topology;
    let mut steps = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for k in 1..=PLANNED_STEPS {
        let h = k * HORIZON / PLANNED_STEPS;
        let factor = (forecast[h - 1] / now).max(0.0);
        let tm = model.traffic.scaled(factor).map_err(ApiError::internal)?;
        let problem = Problem {
            topology: topo,
            traffic: &tm,
            paths: &model.paths,
        };
        let opts = SolveOptions {
            objective: Objective::MinMlu,
            ..SolveOptions::default()
        };
        let sol = solve_exact(&problem, &opts).map_err(ApiError::internal)?;
        // The routing must carry every demand within the reported utilisation.
        verify_routing(
            topo,
            &tm,
            Some(&model.paths),
            &sol.allocation,
            sol.value,
            Tolerance::default(),
        )
        .map_err(|v| ApiError::internal(format!("predicted routing failed verification: {v:?}")))?;
        let lead_minutes = h as f64 * minutes_per_sample;
        let loads = sol.allocation.link_loads(topo);
        for l in topo.link_ids() {
            let link = topo.link(l);
            let u = loads[l.index()] / link.capacity.bps().max(1.0);
            if u >= threshold && !alerts.iter().any(|a| a.link == link.id) {
                alerts.push(Alert {
                    link: link.id.clone(),
                    utilisation: u,
                    lead_minutes,
                    message: format!(
                        "link {} reaches {:.0}% in ~{:.0} min",
                        link.id,
                        100.0 * u,
                        lead_minutes
                    ),
                });
            }
        }
        steps.push(PredictedStep {
            lead_samples: h,
            lead_minutes,
            demand_factor: factor,
            min_max_utilisation: sol.value,
        });
    }
    Ok(Prediction {
        method,
        threshold,
        steps,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use keel_formats::{ReadOptions, TopologyFormat, parse_topology};
    use keel_model::{ClassSet, Topology};

    use super::*;
    use crate::plan::{BackgroundDemand, Network, plan};

    fn model() -> PlanModel {
        let topo: Topology = parse_topology(
            include_str!("../../../data/abilene.toml"),
            "abilene.toml",
            Some(TopologyFormat::NativeToml),
            &ReadOptions::default(),
        )
        .expect("abilene");
        let background: Vec<BackgroundDemand> = topo
            .site_ids()
            .flat_map(|s| {
                topo.site_ids()
                    .filter(move |&d| d != s)
                    .map(move |d| (s, d))
            })
            .map(|(src, dst)| BackgroundDemand {
                src,
                dst,
                class: "best-effort".into(),
                rate: 1e8,
            })
            .collect();
        let classes = ClassSet::default();
        let net = Network {
            topo: &topo,
            base: &topo,
            exits: &[],
            classes: &classes,
            tenant_number: &|_| 0,
        };
        let p = plan(&net, &[], &background).expect("plan");
        (*p.model).clone()
    }

    #[test]
    fn rising_demand_raises_alerts_with_their_lead_time() {
        let m = model();
        let flat = predict(&m, &[1.0, 1.0], 1.0, 48, 30.0, 2.0).expect("flat");
        assert_eq!(flat.method, "persistence");
        let u0 = flat.steps[0].min_max_utilisation;
        assert!(u0 > 0.0);
        let threshold = 1.5 * u0;
        let flat = predict(&m, &[1.0, 1.0], 1.0, 48, 30.0, threshold).expect("flat");
        assert!(flat.alerts.is_empty(), "{:?}", flat.alerts);
        // Persistence from a doubled level: every step plans twice the traffic,
        // and min-MLU scales with the traffic.
        let up = predict(&m, &[1.0, 2.0], 1.0, 48, 30.0, threshold).expect("up");
        for s in &up.steps {
            assert!((s.demand_factor - 2.0).abs() < 1e-9);
            assert!(
                (s.min_max_utilisation - 2.0 * u0).abs() < 1e-4 * u0,
                "{s:?}"
            );
        }
        assert!(!up.alerts.is_empty());
        for a in &up.alerts {
            assert!(a.utilisation >= threshold);
            assert_eq!(a.lead_minutes, up.steps[0].lead_minutes);
            assert!(a.message.contains(&a.link));
        }
    }

    #[test]
    fn two_days_of_history_use_the_daily_season() {
        let m = model();
        let day = 48;
        let history: Vec<f64> = (0..3 * day)
            .map(|k| {
                let phase = (k % day) as f64 / day as f64;
                1.0 + 0.5 * (2.0 * std::f64::consts::PI * phase).sin()
            })
            .collect();
        let p = predict(&m, &history, 1.0, day, 30.0, 10.0).expect("predict");
        assert_eq!(p.method, "holt-winters");
        // The next quarter day climbs towards the daily peak.
        let f: Vec<f64> = p.steps.iter().map(|s| s.demand_factor).collect();
        assert!(f.windows(2).all(|w| w[1] > w[0]), "{f:?}");
    }
}
