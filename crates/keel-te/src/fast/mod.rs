//! The fast solver: smoothed dual descent over link prices, with a certified gap.
//!
//! # Method
//!
//! Path-form TE LPs have one coupling constraint per *link* but one variable per
//! *path*; a continental network has thousands of links and millions of paths. So
//! the solver works in the dual, over link prices λ (one number per link):
//!
//! * **max-flow**: minimise g(λ) = Σ_e c_e λ_e + Σ_d D_d·max(0, 1 − min_p λ(p)) over
//!   λ ≥ 0. Any λ gives an upper bound on the optimum (weak duality).
//! * **min-MLU / max-concurrent**: maximise h(λ) = Σ_d D_d·min_p λ(p) over prices
//!   with Σ_e c_e λ_e = 1; any such λ bounds the optimal utilisation from below.
//!
//! Both are non-smooth; replacing each demand's minimum over paths by a soft
//! minimum of temperature μ makes them smooth, with a gradient equal to capacity
//! minus the load of "soft" flows that split each demand over its paths by price.
//! Projected L-BFGS (max-flow, prices ≥ 0) or spectral projected gradient
//! (routing, prices on a simplex) minimises the smoothed dual; μ shrinks in phases
//! (continuation). After each phase the soft flows are made exactly feasible
//! (scaled down where links overflow, then topped up greedily) and the exact dual
//! at the best prices certifies the gap. It stops at the requested gap, the time
//! limit, or on cancellation, always with the best feasible allocation so far.
//!
//! Each iteration is one pass over all paths (parallel over demands with rayon);
//! memory is the packed path list plus a few vectors per path.
//!
//! Strict class priority (max-flow only) runs one such solve per priority level
//! on the capacity the higher levels left, the B4 way; each stage's bound is
//! certified for its own residual problem.

mod compact;
mod lbfgs;
mod oracle;
mod primal;
mod spg;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{
    GapKind, Objective, Problem, Solution, TeError, Timings, bound, empty_allocation,
    summary::class_figures,
};
use compact::Compact;
use oracle::Kind;
use spg::Spg;

/// Iterations per smoothing phase before the primal is rebuilt and the gap checked.
const PHASE_ITERATIONS: usize = 25;
/// A solve gives up (returning its best) after this many iterations per stage.
const MAX_ITERATIONS: usize = 4000;
/// Starting temperature, relative to the unit value of carried traffic (max-flow)
/// or to the mean cheapest path price (routing).
const MU_START: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FastOptions {
    pub objective: Objective,
    /// Serve priority levels in order on residual capacity (max-flow only).
    pub class_priority: bool,
    /// Stop once the certified relative gap is at most this.
    pub gap: f64,
    /// Stop after this long with the best allocation so far.
    pub time_limit: Option<Duration>,
}

impl Default for FastOptions {
    fn default() -> Self {
        FastOptions {
            objective: Objective::MaxFlow,
            class_priority: true,
            gap: 1e-3,
            time_limit: None,
        }
    }
}

/// Link prices from a previous solve, to start the next one from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WarmStart {
    pub objective: Option<Objective>,
    /// Per stage, one price per link (for routing objectives, the normalised
    /// capacity share c_e·λ_e).
    pub prices: Vec<Vec<f64>>,
}

/// Reported after every phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub stage: usize,
    pub stages: usize,
    pub iterations: usize,
    pub elapsed: Duration,
    /// Certified relative gap of the current stage.
    pub gap: f64,
}

/// Optional observers: a progress callback and a cancellation flag (set it from
/// a Ctrl-C handler to get the best allocation so far).
#[derive(Default, Clone, Copy)]
pub struct Hooks<'a> {
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    GapReached,
    TimeLimit,
    Cancelled,
    IterationLimit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FastOutcome {
    pub solution: Solution,
    pub warm: WarmStart,
    pub iterations: usize,
    pub stop: StopReason,
}

/// Solves `problem` to the requested certified gap (see the module docs).
pub fn solve_fast(
    problem: &Problem,
    opts: &FastOptions,
    warm: Option<&WarmStart>,
    hooks: Hooks,
) -> Result<FastOutcome, TeError> {
    let started = Instant::now();
    if !(opts.gap.is_finite() && opts.gap >= 0.0) {
        return Err(TeError::InvalidInput(format!(
            "gap {} must be finite and >= 0",
            opts.gap
        )));
    }
    let warm_prices = warm
        .filter(|w| w.objective == Some(opts.objective))
        .map(|w| w.prices.as_slice())
        .unwrap_or(&[]);
    let mut run = Run {
        deadline: opts.time_limit.map(|t| started + t),
        started,
        hooks,
        target: opts.gap,
        iterations: 0,
        stop: StopReason::GapReached,
        build: Duration::ZERO,
    };
    let capacity: Vec<f64> = problem
        .topology
        .links()
        .iter()
        .map(|l| l.capacity.bps())
        .collect();
    let mut allocation = empty_allocation(problem);
    let mut prices_out = Vec::new();
    let (value, bound_value, gap_kind);
    match opts.objective {
        Objective::MaxFlow => {
            let levels = priority_groups(problem, opts.class_priority);
            let mut residual = capacity.clone();
            let mut stage_bounds = 0.0;
            let mut last_lambda = Vec::new();
            for (k, level) in levels.iter().enumerate() {
                let t = Instant::now();
                let c = Compact::new(problem, &residual, |d| level[d]);
                run.build += t.elapsed();
                let lambda0 = warm_prices
                    .get(k)
                    .filter(|p| p.len() == c.link_count())
                    .cloned()
                    .unwrap_or_else(|| vec![0.0; c.link_count()]);
                let stage = run.max_flow(&c, lambda0, (k, levels.len()));
                stage_bounds += stage.bound * c.scale;
                write_stage(&c, &stage.x, &mut allocation);
                for (e, l) in primal::loads(&c, &stage.x).iter().enumerate() {
                    residual[e] = (residual[e] - l * c.scale).max(0.0);
                }
                last_lambda = stage.prices.clone();
                prices_out.push(stage.prices);
            }
            value = allocation.carried();
            if levels.len() == 1 {
                // Re-derived independently of the solver's own arithmetic.
                bound_value = bound::max_flow_upper_bound(problem, &last_lambda).min(stage_bounds);
                gap_kind = GapKind::Certified;
            } else {
                bound_value = stage_bounds;
                gap_kind = GapKind::PerStage;
            }
        }
        Objective::MinMlu | Objective::MaxConcurrent => {
            if let Some((d, demand)) = problem
                .traffic
                .demands()
                .iter()
                .enumerate()
                .find(|(d, dem)| dem.rate.bps() > 0.0 && problem.paths.per_demand[*d].is_empty())
                .filter(|_| opts.objective == Objective::MinMlu)
            {
                return Err(TeError::NoCandidatePath {
                    demand: keel_model::DemandId(d as u32),
                    src: problem.topology.site(demand.src).id.clone(),
                    dst: problem.topology.site(demand.dst).id.clone(),
                    rate: demand.rate.bps(),
                });
            }
            let t = Instant::now();
            let c = Compact::new(problem, &capacity, |_| true);
            run.build += t.elapsed();
            let w0 = warm_prices
                .first()
                .filter(|p| p.len() == c.link_count())
                .cloned();
            let stage = run.routing(&c, w0, opts.objective, (0, 1));
            let lambda: Vec<f64> = stage
                .prices
                .iter()
                .zip(&c.cap)
                .map(|(w, cap)| if *cap > 0.0 { w / cap } else { 0.0 })
                .collect();
            let mut x = stage.x;
            let mlu = primal::max_utilisation(&c, &x);
            // Re-derived independently of the solver's own arithmetic.
            let lower = bound::min_mlu_lower_bound(problem, &lambda).max(0.0);
            (value, bound_value) = routing_figures(opts.objective, mlu, lower);
            if opts.objective == Objective::MaxConcurrent {
                // Every demand at the same fraction: all of it scaled by 1/MLU.
                x.iter_mut().for_each(|v| *v *= value);
            }
            write_stage(&c, &x, &mut allocation);
            prices_out.push(stage.prices);
            gap_kind = GapKind::Certified;
        }
    }
    let gap = relative_gap(value, bound_value);
    let total = started.elapsed();
    let solution = Solution {
        per_class: class_figures(problem.traffic, &allocation),
        allocation,
        objective: opts.objective,
        value,
        bound: bound_value,
        gap,
        gap_kind,
        timings: Timings {
            paths: Duration::ZERO,
            build: run.build,
            solve: total.saturating_sub(run.build),
        },
        stages: prices_out.len(),
    };
    Ok(FastOutcome {
        solution,
        warm: WarmStart {
            objective: Some(opts.objective),
            prices: prices_out,
        },
        iterations: run.iterations,
        stop: run.stop,
    })
}

fn relative_gap(value: f64, bound: f64) -> f64 {
    if bound.abs() <= f64::MIN_POSITIVE {
        if value.abs() <= f64::MIN_POSITIVE {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        ((bound - value) / bound).abs()
    }
}

/// (value, bound) of a routing with utilisation `mlu` whose optimum is at least
/// `lower`: the utilisation itself, or for max-concurrent the fraction of every
/// demand that fits, min(1, 1/mlu).
fn routing_figures(objective: Objective, mlu: f64, lower: f64) -> (f64, f64) {
    let fraction = |u: f64| if u > 1.0 { 1.0 / u } else { 1.0 };
    match objective {
        Objective::MaxConcurrent => (fraction(mlu), fraction(lower)),
        _ => (mlu, lower),
    }
}

/// Demand masks per priority level (highest first), or one mask for all.
fn priority_groups(problem: &Problem, by_priority: bool) -> Vec<Vec<bool>> {
    let tm = problem.traffic;
    if !by_priority {
        return vec![vec![true; tm.len()]];
    }
    let classes = tm.classes();
    let levels: Vec<Vec<bool>> = classes
        .priority_levels()
        .into_iter()
        .map(|level| {
            tm.demands()
                .iter()
                .map(|d| classes.get(d.class).priority == level)
                .collect()
        })
        .filter(|m: &Vec<bool>| m.iter().any(|b| *b))
        .collect();
    if levels.is_empty() {
        vec![vec![true; tm.len()]]
    } else {
        levels
    }
}

/// Writes a stage's path flows (scaled) into the allocation in bit/s.
fn write_stage(c: &Compact, x: &[f64], alloc: &mut keel_model::Allocation) {
    for (i, &d) in c.demand.iter().enumerate() {
        for (pf, p) in alloc.demands[d].paths.iter_mut().zip(c.paths(i)) {
            pf.rate = x[p] * c.scale;
        }
    }
}

struct StageResult {
    x: Vec<f64>,
    /// Scaled bound of this stage.
    bound: f64,
    prices: Vec<f64>,
}

struct Run<'h> {
    started: Instant,
    deadline: Option<Instant>,
    hooks: Hooks<'h>,
    target: f64,
    iterations: usize,
    /// GapReached unless some stage stopped for another reason.
    stop: StopReason,
    build: Duration,
}

impl Run<'_> {
    /// Why to stop now, if at all (the gap is checked by the caller).
    fn interrupted(&self) -> Option<StopReason> {
        if self.hooks.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Some(StopReason::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(StopReason::TimeLimit);
        }
        None
    }

    fn report(&self, stage: (usize, usize), gap: f64) {
        if let Some(f) = self.hooks.progress {
            f(&Progress {
                stage: stage.0,
                stages: stage.1,
                iterations: self.iterations,
                elapsed: self.started.elapsed(),
                gap,
            });
        }
    }

    fn max_flow(&mut self, c: &Compact, lambda0: Vec<f64>, stage: (usize, usize)) -> StageResult {
        let n = c.link_count();
        if c.demand_count() == 0 {
            return StageResult {
                x: Vec::new(),
                bound: 0.0,
                prices: vec![0.0; n],
            };
        }
        let total = c.total_rate();
        let max_paths = (0..c.demand_count())
            .map(|i| c.paths(i).len())
            .max()
            .unwrap_or(1);
        let mut mu = MU_START;
        let mut best_bound = f64::INFINITY;
        let mut best_prices = lambda0.clone();
        let mut xbuf = vec![0.0; c.path_count()];
        let eval = |lambda: &[f64],
                    mu: f64,
                    best_bound: &mut f64,
                    best_prices: &mut Vec<f64>,
                    x: &mut [f64]| {
            let e = oracle::evaluate(c, Kind::MaxFlow, lambda, mu, x);
            if e.exact < *best_bound {
                *best_bound = e.exact;
                best_prices.clear();
                best_prices.extend_from_slice(lambda);
            }
            let grad: Vec<f64> = c.cap.iter().zip(&e.load).map(|(c, l)| c - l).collect();
            (e.smooth, grad)
        };
        let (f0, g0) = eval(&lambda0, mu, &mut best_bound, &mut best_prices, &mut xbuf);
        // Projected L-BFGS: on Cogentco it reached a 0.5% gap in 100 iterations
        // where spectral projected gradient needed 2,300.
        let mut spg = lbfgs::Lbfgs::new(lambda0, f0, g0);
        let mut best_x: Vec<f64> = vec![0.0; c.path_count()];
        let mut best_value = 0.0;
        let mut iterations = 0;
        loop {
            for _ in 0..PHASE_ITERATIONS {
                iterations += 1;
                self.iterations += 1;
                let moved = spg.step(|z| eval(z, mu, &mut best_bound, &mut best_prices, &mut xbuf));
                if !moved {
                    break;
                }
            }
            // The last evaluation was at the accepted point: its flows are in xbuf.
            let mut x = xbuf.clone();
            primal::fit_capacity(c, &mut x);
            primal::fill(c, &mut x, &spg.z);
            let value: f64 = x.iter().sum();
            if value > best_value {
                best_value = value;
                best_x = x;
            }
            let gap = relative_gap(best_value, best_bound);
            self.report(stage, gap);
            if gap <= self.target {
                break;
            }
            if let Some(reason) = self.interrupted() {
                self.stop = reason;
                break;
            }
            if iterations >= MAX_ITERATIONS {
                self.stop = StopReason::IterationLimit;
                break;
            }
            // Smoothing costs at most μ·Σ D·ln(1 + paths); keep it a fraction of
            // the gap still to close.
            let floor = 0.25 * self.target * best_bound / (total * (1.0 + max_paths as f64).ln());
            let next = (mu * 0.5).max(floor.max(1e-9));
            if next < mu {
                mu = next;
                let (f, g) = eval(
                    &spg.z.clone(),
                    mu,
                    &mut best_bound,
                    &mut best_prices,
                    &mut xbuf,
                );
                spg.reset(f, g);
            }
        }
        StageResult {
            x: best_x,
            bound: best_bound,
            prices: best_prices,
        }
    }

    /// Min-MLU over the capacity-share simplex w (λ_e = w_e / c_e).
    fn routing(
        &mut self,
        c: &Compact,
        w0: Option<Vec<f64>>,
        objective: Objective,
        stage: (usize, usize),
    ) -> StageResult {
        let n = c.link_count();
        if c.demand_count() == 0 {
            return StageResult {
                x: Vec::new(),
                bound: 0.0,
                prices: vec![0.0; n],
            };
        }
        let total = c.total_rate();
        let max_paths = (0..c.demand_count())
            .map(|i| c.paths(i).len())
            .max()
            .unwrap_or(1);
        let usable: Vec<bool> = c.cap.iter().map(|v| *v > 0.0).collect();
        let to_lambda = |w: &[f64]| -> Vec<f64> {
            w.iter()
                .zip(&c.cap)
                .map(|(w, cap)| if *cap > 0.0 { w / cap } else { 0.0 })
                .collect()
        };
        let w_start = w0.unwrap_or_else(|| {
            let sum: f64 = c.cap.iter().sum();
            c.cap.iter().map(|v| v / sum).collect()
        });
        let mut best_lower = 0.0_f64;
        let mut best_w = w_start.clone();
        // μ is relative to the mean cheapest path price, which the first
        // evaluation measures.
        let mut xbuf = vec![0.0; c.path_count()];
        let first = oracle::evaluate(c, Kind::Routing, &to_lambda(&w_start), 1e-12, &mut xbuf);
        let mean_price = (first.exact / total).max(f64::MIN_POSITIVE);
        let mut mu = MU_START * mean_price;
        let eval =
            |w: &[f64], mu: f64, best_lower: &mut f64, best_w: &mut Vec<f64>, x: &mut [f64]| {
                let e = oracle::evaluate(c, Kind::Routing, &to_lambda(w), mu, x);
                let norm: f64 = w
                    .iter()
                    .zip(&usable)
                    .filter(|(_, u)| **u)
                    .map(|(w, _)| w)
                    .sum();
                let lower = if norm > 0.0 { e.exact / norm } else { 0.0 };
                if lower > *best_lower {
                    *best_lower = lower;
                    best_w.clear();
                    best_w.extend_from_slice(w);
                }
                // Minimise −h_μ: its gradient in w is −utilisation.
                let grad: Vec<f64> = e
                    .load
                    .iter()
                    .zip(&c.cap)
                    .map(|(l, cap)| if *cap > 0.0 { -l / cap } else { 0.0 })
                    .collect();
                (-e.smooth, grad)
            };
        let (f0, g0) = eval(&w_start, mu, &mut best_lower, &mut best_w, &mut xbuf);
        let mut spg = Spg::new(w_start, f0, g0);
        let mut best_x = Vec::new();
        let mut best_mlu = f64::INFINITY;
        let mut iterations = 0;
        // Flows at single dual iterates oscillate; their running average over a
        // phase converges to a good routing (and by convexity its MLU is at most
        // the average of theirs).
        let mut average = vec![0.0; c.path_count()];
        loop {
            average.iter_mut().for_each(|v| *v = 0.0);
            let mut averaged = 0;
            for _ in 0..PHASE_ITERATIONS {
                iterations += 1;
                self.iterations += 1;
                if !spg.step(
                    |z| eval(z, mu, &mut best_lower, &mut best_w, &mut xbuf),
                    spg::project_simplex,
                ) {
                    break;
                }
                // The last evaluation is the accepted point.
                average.iter_mut().zip(&xbuf).for_each(|(a, x)| *a += x);
                averaged += 1;
            }
            let mut candidates = vec![oracle::flows(c, Kind::Routing, &to_lambda(&spg.z), mu)];
            if averaged > 0 {
                candidates.push(average.iter().map(|v| v / averaged as f64).collect());
            }
            for x in candidates {
                let mlu = primal::max_utilisation(c, &x);
                if mlu < best_mlu {
                    best_mlu = mlu;
                    best_x = x;
                }
            }
            let (value, bound) = routing_figures(objective, best_mlu, best_lower);
            let gap = relative_gap(value, bound);
            self.report(stage, gap);
            if gap <= self.target {
                break;
            }
            if let Some(reason) = self.interrupted() {
                self.stop = reason;
                break;
            }
            if iterations >= MAX_ITERATIONS {
                self.stop = StopReason::IterationLimit;
                break;
            }
            let floor = 0.25 * self.target * best_lower / (total * (1.0 + max_paths as f64).ln());
            let next = (mu * 0.5).max(floor.max(f64::MIN_POSITIVE));
            if next < mu {
                mu = next;
                let (f, g) = eval(&spg.z.clone(), mu, &mut best_lower, &mut best_w, &mut xbuf);
                spg.reset(f, g);
            }
        }
        StageResult {
            x: best_x,
            bound: best_lower,
            prices: best_w,
        }
    }
}
