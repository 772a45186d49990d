//! The exact solver: path-form LPs solved with Clarabel.
//!
//! Variables are x_{d,p} ≥ 0, the rate of demand d on its candidate path p, for
//! every demand with a positive rate and at least one path. Rates and capacities
//! are divided by the largest capacity before they reach the LP, so its numbers
//! are O(1) whatever the units, and multiplied back afterwards.
//!
//! * `MaxFlow`: max Σx s.t. Σ_p x_dp ≤ D_d, load_e ≤ c_e.
//! * `MaxConcurrent`: max t s.t. Σ_p x_dp ≥ t·D_d, Σ_p x_dp ≤ D_d, load_e ≤ c_e.
//! * `MinMlu`: min U s.t. Σ_p x_dp = D_d, load_e ≤ U·c_e.
//!
//! **Class priority** (max-flow and max-concurrent) solves one LP per priority
//! level, highest first. Stage k contains only the variables of levels 0..=k —
//! lower levels cannot take capacity yet — and keeps every earlier level at what
//! it achieved (its total for max-flow, its ratio per demand for max-concurrent),
//! relaxed by a few solver tolerances so IPM noise cannot make a stage infeasible.
//! Earlier levels may be rerouted to make room, never reduced. The last stage of
//! max-flow maximises the total carried, which under those constraints is the
//! same as maximising the lowest level. MinMlu routes everything, so priority does
//! not apply to it.
//!
//! **Max-min fairness** (per priority level, or over all demands without class
//! priority) is progressive filling: maximise a common level t with
//! carried_d ≥ t·w_d for the unfrozen demands (w_d = 1 for max-flow, D_d for
//! max-concurrent) and the frozen ones held at their level; then freeze every
//! demand that is satisfied, and every demand that cannot exceed t without another
//! dropping below it. The latter are the level rows tight in *every* optimal
//! solution; an interior-point method converges to a strictly complementary pair,
//! so they are the rows with a clearly positive dual that are also tight in the
//! primal. Only when that test freezes nobody (numerically ambiguous), a test LP
//! per candidate maximises its rate with the others held at t. Each round freezes
//! at least one demand, so a level with n demands needs at most n rounds.
//!
//! **Repair**: IPM output is slightly infeasible. Negative rates become 0, a
//! demand's rates are scaled down to its rate (for MinMlu: to exactly its rate),
//! then each path is scaled by the smallest cap/load over its overloaded links,
//! and rates below 1e-9 of the demand are dropped. The reported value is computed
//! from the repaired allocation.
//!
//! **Bounds**: single-LP solves report the weak-duality bounds of
//! [`crate::bound`] evaluated at the LP's capacity duals (certified); multi-stage
//! solves report the last LP's solver gap.

use std::time::Instant;

use keel_model::{Allocation, DemandId};

use crate::bound;
use crate::error::TeError;
use crate::greedy::empty_allocation;
use crate::lp::{Lp, LpSettings, Row};
use crate::summary::class_figures;
use crate::{Fairness, GapKind, Objective, Problem, Solution, SolveOptions, Timings};

/// Kept levels are taken from the *repaired* (exactly feasible) point of their
/// stage and then relaxed by this fraction, so a later stage is feasible even with
/// IPM noise, while lower levels gain almost nothing from the slack.
const KEEP_RELAX: f64 = 1e-9;
/// Rates below this fraction of their demand are dropped.
const DROP_FRACTION: f64 = 1e-9;
/// A demand is at the level when its rate is within this relative slack of it.
const TIGHT: f64 = 1e-6;
/// A bottleneck dual must carry at least this share of the total dual mass (1),
/// divided by the number of unfrozen demands.
const DUAL_SHARE: f64 = 1e-3;
/// Clarabel iteration cap; LPs here converge in well under 100.
const MAX_ITER: u32 = 500;
/// Smallest magnitude used as a denominator for relative gaps.
const TINY: f64 = 1e-12;

/// Solves the path-form LP of `problem` exactly (up to the IPM tolerance), repairs
/// the result into an exactly feasible allocation and bounds its optimality.
pub fn solve_exact(problem: &Problem, opts: &SolveOptions) -> Result<Solution, TeError> {
    let started = Instant::now();
    validate(problem, opts)?;
    let mut model = Model::new(problem, opts);
    let objective = opts.objective;
    let groups = model.groups(opts);
    let all: Vec<usize> = groups.iter().flatten().copied().collect();

    let outcome = if all.is_empty() {
        Outcome::Trivial
    } else if objective == Objective::MinMlu {
        let active = model.active_mask(&all);
        let out = model.stage(&active, &Goal::Mlu, &[])?;
        Outcome::Certified(out.x, out.lambda)
    } else if opts.fairness == Fairness::MaxMin {
        let (x, gap) = model.max_min(&groups, objective == Objective::MaxConcurrent)?;
        Outcome::Reported(x, gap)
    } else if groups.len() == 1 {
        let active = model.active_mask(&all);
        let out = match objective {
            Objective::MaxFlow => model.stage(&active, &Goal::Carried(&all), &[])?,
            _ => {
                let w = model.ratio_weights(&all);
                model.stage(&active, &Goal::Level(&w), &[])?
            }
        };
        Outcome::Certified(out.x, out.lambda)
    } else {
        let (x, gap) = model.lexicographic(&groups, objective)?;
        Outcome::Reported(x, gap)
    };

    let outcome =
        if opts.prefer_short && objective != Objective::MinMlu && opts.fairness == Fairness::None {
            model.shortest_among_optimal(outcome, &groups, objective)?
        } else {
            outcome
        };
    let x = match &outcome {
        Outcome::Trivial => vec![0.0; model.col_count()],
        Outcome::Certified(x, _) | Outcome::Reported(x, _) => x.clone(),
    };
    let allocation = model.repair(&x, objective);
    let value = objective_value(problem, &allocation, objective);
    let (bound, gap, gap_kind) = match outcome {
        Outcome::Trivial => (value, 0.0, GapKind::Certified),
        Outcome::Certified(_, lambda) => {
            let bound = match objective {
                Objective::MaxFlow => {
                    let routable: f64 = all.iter().map(|&d| model.rate_bps(d)).sum();
                    bound::max_flow_upper_bound(problem, &lambda).min(routable)
                }
                Objective::MaxConcurrent => bound::max_concurrent_upper_bound(problem, &lambda),
                Objective::MinMlu => bound::min_mlu_lower_bound(problem, &lambda).max(0.0),
            };
            let gap = (bound - value).abs() / bound.abs().max(TINY);
            (bound, gap, GapKind::Certified)
        }
        Outcome::Reported(_, gap) => (value * (1.0 + gap), gap, GapKind::SolverReported),
    };
    let mut timings = model.timings;
    // Whatever was not spent inside the IPM (validation, rows, repair, bounds) is
    // model building from the caller's point of view.
    timings.build = started.elapsed().saturating_sub(timings.solve);
    Ok(Solution {
        per_class: class_figures(problem.traffic, &allocation),
        allocation,
        objective,
        value,
        bound,
        gap,
        gap_kind,
        timings,
        stages: model.stages,
    })
}

enum Outcome {
    /// Nothing to route.
    Trivial,
    /// One LP: primal point and capacity duals.
    Certified(Vec<f64>, Vec<f64>),
    /// Several LPs: primal point of the last and its solver gap.
    Reported(Vec<f64>, f64),
}

/// The objective of `objective` evaluated on an allocation (see [`Solution::value`]).
fn objective_value(problem: &Problem, alloc: &Allocation, objective: Objective) -> f64 {
    match objective {
        Objective::MaxFlow => alloc.carried(),
        Objective::MaxConcurrent => problem
            .traffic
            .demands()
            .iter()
            .zip(&problem.paths.per_demand)
            .zip(&alloc.demands)
            .filter(|((d, p), _)| d.rate.bps() > 0.0 && !p.is_empty())
            .map(|((d, _), a)| a.carried() / d.rate.bps())
            .fold(1.0, f64::min),
        Objective::MinMlu => {
            let load = alloc.link_loads(problem.topology);
            problem
                .topology
                .links()
                .iter()
                .zip(load)
                .map(|(l, x)| x / l.capacity.bps())
                .fold(0.0, f64::max)
        }
    }
}

fn validate(problem: &Problem, opts: &SolveOptions) -> Result<(), TeError> {
    let (topo, tm) = (problem.topology, problem.traffic);
    if !(opts.tolerance.is_finite() && opts.tolerance > 0.0 && opts.tolerance < 1e-2) {
        return Err(TeError::InvalidInput(format!(
            "tolerance {} must be in (0, 0.01)",
            opts.tolerance
        )));
    }
    if problem.paths.per_demand.len() != tm.len() {
        return Err(TeError::InvalidInput(format!(
            "{} candidate path lists for {} demands",
            problem.paths.per_demand.len(),
            tm.len()
        )));
    }
    for (i, (d, paths)) in tm
        .demands()
        .iter()
        .zip(&problem.paths.per_demand)
        .enumerate()
    {
        if d.src.index() >= topo.site_count() || d.dst.index() >= topo.site_count() {
            return Err(TeError::InvalidInput(format!(
                "demand #{i} names a site the topology does not have"
            )));
        }
        for (j, p) in paths.iter().enumerate() {
            let bad = |why: &str| {
                TeError::InvalidInput(format!("demand #{i}, candidate path #{j}: {why}"))
            };
            if p.links.is_empty() {
                return Err(bad("empty path"));
            }
            if let Some(l) = p.links.iter().find(|l| l.index() >= topo.link_count()) {
                return Err(bad(&format!("link #{} does not exist", l.0)));
            }
            let mut at = d.src;
            for l in p.links.iter() {
                let link = topo.link(*l);
                if link.src != at {
                    return Err(bad(&format!(
                        "link `{}` does not continue the path",
                        link.id
                    )));
                }
                at = link.dst;
            }
            if at != d.dst {
                return Err(bad("does not end at the demand's destination"));
            }
        }
    }
    if opts.objective == Objective::MinMlu {
        for (i, (d, paths)) in tm
            .demands()
            .iter()
            .zip(&problem.paths.per_demand)
            .enumerate()
        {
            if d.rate.bps() > 0.0 && paths.is_empty() {
                return Err(TeError::NoCandidatePath {
                    demand: DemandId(i as u32),
                    src: topo.site(d.src).id.clone(),
                    dst: topo.site(d.dst).id.clone(),
                    rate: d.rate.bps(),
                });
            }
        }
    }
    Ok(())
}

/// What a stage optimises.
enum Goal<'g> {
    /// Maximise the total rate of these demands.
    Carried(&'g [usize]),
    /// Maximise t with carried_d ≥ t·w_d for these (demand, w_d).
    Level(&'g [(usize, f64)]),
    /// Minimise U with every active demand routed in full and load_e ≤ U·c_e.
    Mlu,
    /// Minimise Σ cost_c·x_c (cost by column, in the caller's units).
    Cost(&'g [f64]),
}

/// An LP point (scaled column values) and its solver-reported relative gap.
type StagePoint = (Vec<f64>, f64);

/// Σ carried over `demands` ≥ `min` (scaled units): an earlier stage's result.
#[derive(Debug, Clone)]
struct Keep {
    demands: Vec<usize>,
    min: f64,
}

struct StageOut {
    /// Rates by column (scaled), 0 for inactive demands.
    x: Vec<f64>,
    /// Capacity-row duals by link, clamped at 0.
    lambda: Vec<f64>,
    /// t or U.
    level: f64,
    /// Level-row duals, parallel to the `Goal::Level` list.
    level_duals: Vec<f64>,
    gap: f64,
}

struct Model<'p> {
    problem: &'p Problem<'p>,
    scale: f64,
    /// Demand rates, scaled.
    rate: Vec<f64>,
    /// Capacities, scaled.
    cap: Vec<f64>,
    /// Columns of demand d are first_col[d]..first_col[d + 1].
    first_col: Vec<usize>,
    settings: LpSettings,
    keep_relax: f64,
    timings: Timings,
    stages: usize,
}

impl<'p> Model<'p> {
    fn new(problem: &'p Problem<'p>, opts: &SolveOptions) -> Self {
        let topo = problem.topology;
        let scale = topo
            .links()
            .iter()
            .map(|l| l.capacity.bps())
            .fold(0.0_f64, f64::max);
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let rate: Vec<f64> = problem
            .traffic
            .demands()
            .iter()
            .map(|d| d.rate.bps() / scale)
            .collect();
        let mut first_col = Vec::with_capacity(rate.len() + 1);
        let mut next = 0;
        for (d, paths) in problem.paths.per_demand.iter().enumerate() {
            first_col.push(next);
            if rate[d] > 0.0 {
                next += paths.len();
            }
        }
        first_col.push(next);
        Model {
            problem,
            scale,
            cap: topo
                .links()
                .iter()
                .map(|l| l.capacity.bps() / scale)
                .collect(),
            rate,
            first_col,
            settings: LpSettings {
                tolerance: opts.tolerance,
                max_iter: MAX_ITER,
            },
            keep_relax: KEEP_RELAX,
            timings: Timings::default(),
            stages: 0,
        }
    }

    /// Column scale of demand `d` (see `stage_once`); capacities are scaled to a
    /// largest value of 1.
    fn col_scale(&self, d: usize) -> f64 {
        self.rate[d].min(1.0)
    }

    fn col_count(&self) -> usize {
        self.first_col.last().copied().unwrap_or(0)
    }

    fn cols(&self, d: usize) -> std::ops::Range<usize> {
        self.first_col[d]..self.first_col[d + 1]
    }

    fn rate_bps(&self, d: usize) -> f64 {
        self.problem.traffic.demands()[d].rate.bps()
    }

    /// Links of column `c` of demand `d`.
    fn col_links(&self, d: usize, c: usize) -> &'p [keel_model::LinkId] {
        &self.problem.paths.per_demand[d][c - self.first_col[d]].links
    }

    /// Routable demands (positive rate, some path) grouped by priority level,
    /// highest first; one group when priority is off or irrelevant.
    fn groups(&self, opts: &SolveOptions) -> Vec<Vec<usize>> {
        let tm = self.problem.traffic;
        let routable: Vec<usize> = (0..tm.len())
            .filter(|&d| !self.cols(d).is_empty())
            .collect();
        if !opts.class_priority || opts.objective == Objective::MinMlu {
            return if routable.is_empty() {
                Vec::new()
            } else {
                vec![routable]
            };
        }
        crate::by_priority_level(tm, &routable)
    }

    fn active_mask(&self, demands: &[usize]) -> Vec<bool> {
        let mut m = vec![false; self.rate.len()];
        for &d in demands {
            m[d] = true;
        }
        m
    }

    fn ratio_weights(&self, demands: &[usize]) -> Vec<(usize, f64)> {
        demands.iter().map(|&d| (d, self.rate[d])).collect()
    }

    /// Carried per demand (scaled) after repairing `x`: levels that are certainly
    /// achievable together.
    fn repaired_carried(&self, x: &[f64], objective: Objective) -> Vec<f64> {
        self.repair(x, objective)
            .demands
            .iter()
            .map(|d| d.carried() / self.scale)
            .collect()
    }

    fn carried(&self, x: &[f64], d: usize) -> f64 {
        self.cols(d).map(|c| x[c].max(0.0)).sum()
    }

    fn relax(&self, v: f64) -> f64 {
        (v * (1.0 - self.keep_relax)).max(0.0)
    }

    /// Builds and solves one LP; on infeasibility caused by kept levels (IPM noise
    /// in an earlier stage), retries once with the kept levels loosened.
    fn stage(&mut self, active: &[bool], goal: &Goal, keeps: &[Keep]) -> Result<StageOut, TeError> {
        match self.stage_once(active, goal, keeps) {
            Err(TeError::Infeasible { .. }) if !keeps.is_empty() => {
                let loose: Vec<Keep> = keeps
                    .iter()
                    .map(|k| Keep {
                        demands: k.demands.clone(),
                        min: k.min * (1.0 - 1e-5),
                    })
                    .collect();
                self.stage_once(active, goal, &loose)
            }
            other => other,
        }
        .map_err(|e| match e {
            TeError::Infeasible { .. } => TeError::Infeasible {
                stage: Some(self.stages),
            },
            TeError::Unbounded { .. } => TeError::Unbounded {
                stage: Some(self.stages),
            },
            e => e,
        })
    }

    fn stage_once(
        &mut self,
        active: &[bool],
        goal: &Goal,
        keeps: &[Keep],
    ) -> Result<StageOut, TeError> {
        let started = Instant::now();
        let n_cols = self.col_count();
        let mut lp = Lp::new();
        let mut local = vec![usize::MAX; n_cols];
        let mut globals = Vec::new();
        for d in (0..self.rate.len()).filter(|&d| active[d]) {
            for c in self.cols(d) {
                local[c] = lp.var(0.0);
                globals.push((c, d));
            }
        }
        // Columns are scaled per demand (x_dp = s_d·y_dp, s_d = min(D_d, largest
        // capacity)): a tiny demand's share is then as accurate as a large one's,
        // which matters for concurrent and fair levels.
        let demand_vars = |d: usize, coef: f64| -> Vec<(usize, f64)> {
            self.cols(d)
                .filter(|&c| local[c] != usize::MAX)
                .map(|c| (local[c], coef))
                .collect()
        };
        // The carried objective is normalised to a largest coefficient of 1; the
        // capacity duals are multiplied back below so they stay link prices.
        let mut cost_scale = 1.0;
        let extra = match goal {
            Goal::Carried(ds) => {
                cost_scale = ds.iter().map(|&d| self.col_scale(d)).fold(0.0, f64::max);
                if cost_scale <= 0.0 {
                    cost_scale = 1.0;
                }
                for &d in *ds {
                    for (v, _) in demand_vars(d, 1.0) {
                        lp.set_cost(v, -self.col_scale(d) / cost_scale);
                    }
                }
                None
            }
            Goal::Level(_) => Some(lp.var(-1.0)),
            Goal::Mlu => Some(lp.var(1.0)),
            Goal::Cost(costs) => {
                // Normalised like the carried objective: largest coefficient 1.
                let coef = |d: usize, c: usize| costs[c] * self.col_scale(d);
                let top = (0..self.rate.len())
                    .filter(|&d| active[d])
                    .flat_map(|d| self.cols(d).map(move |c| (d, c)))
                    .map(|(d, c)| coef(d, c))
                    .fold(0.0, f64::max);
                let top = if top > 0.0 { top } else { 1.0 };
                for d in (0..self.rate.len()).filter(|&d| active[d]) {
                    for c in self.cols(d) {
                        lp.set_cost(local[c], coef(d, c) / top);
                    }
                }
                None
            }
        };
        for d in (0..self.rate.len()).filter(|&d| active[d]) {
            let vars = demand_vars(d, 1.0);
            let bound = self.rate[d] / self.col_scale(d);
            if matches!(goal, Goal::Mlu) {
                lp.add_eq(vars, bound);
            } else {
                lp.add_le(vars, bound);
            }
        }
        let mut level_rows = Vec::new();
        if let (Goal::Level(list), Some(t)) = (goal, extra) {
            for &(d, w) in *list {
                let mut row = demand_vars(d, -1.0);
                row.push((t, w / self.col_scale(d)));
                level_rows.push(lp.add_le(row, 0.0));
            }
        }
        for k in keeps {
            let row: Vec<(usize, f64)> = k
                .demands
                .iter()
                .flat_map(|&d| demand_vars(d, -self.col_scale(d)))
                .collect();
            if !row.is_empty() && k.min > 0.0 {
                lp.add_le(row, -k.min);
            }
        }
        let mut by_link: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.cap.len()];
        for d in (0..self.rate.len()).filter(|&d| active[d]) {
            for c in self.cols(d) {
                for l in self.col_links(d, c) {
                    by_link[l.index()].push((local[c], self.col_scale(d)));
                }
            }
        }
        let mut cap_rows: Vec<Option<Row>> = vec![None; self.cap.len()];
        for (e, mut row) in by_link.into_iter().enumerate() {
            if row.is_empty() {
                continue;
            }
            cap_rows[e] = Some(match (goal, extra) {
                (Goal::Mlu, Some(u)) => {
                    row.push((u, -self.cap[e]));
                    lp.add_le(row, 0.0)
                }
                _ => lp.add_le(row, self.cap[e]),
            });
        }
        let built = started.elapsed();
        let sol = lp.solve(self.settings);
        self.stages += 1;
        let sol = sol?;
        self.timings.build += built + sol.setup_time;
        self.timings.solve += sol.solve_time;

        let mut x = vec![0.0; n_cols];
        for (v, &(c, d)) in globals.iter().enumerate() {
            x[c] = sol.x[v] * self.col_scale(d);
        }
        let lambda = cap_rows
            .iter()
            .map(|r| r.map(|r| sol.dual(r).max(0.0) * cost_scale).unwrap_or(0.0))
            .collect();
        Ok(StageOut {
            x,
            lambda,
            level: extra.map(|v| sol.x[v]).unwrap_or(0.0),
            level_duals: level_rows.iter().map(|r| sol.dual(*r).max(0.0)).collect(),
            gap: sol.relative_gap(),
        })
    }

    /// Strict priority between levels (see the module docs).
    fn lexicographic(
        &mut self,
        groups: &[Vec<usize>],
        objective: Objective,
    ) -> Result<(Vec<f64>, f64), TeError> {
        let mut active = vec![false; self.rate.len()];
        let mut keeps: Vec<Keep> = Vec::new();
        let mut so_far: Vec<usize> = Vec::new();
        let mut last = None;
        for (k, group) in groups.iter().enumerate() {
            for &d in group {
                active[d] = true;
            }
            so_far.extend_from_slice(group);
            let is_last = k + 1 == groups.len();
            let out = if objective == Objective::MaxFlow {
                let goal = if is_last { &so_far } else { group };
                self.stage(&active, &Goal::Carried(goal), &keeps)?
            } else {
                let w = self.ratio_weights(group);
                self.stage(&active, &Goal::Level(&w), &keeps)?
            };
            let achieved = self.repaired_carried(&out.x, objective);
            if objective == Objective::MaxFlow {
                keeps.push(Keep {
                    demands: group.clone(),
                    min: self.relax(group.iter().map(|&d| achieved[d]).sum()),
                });
            } else {
                let t = group
                    .iter()
                    .map(|&d| achieved[d] / self.rate[d])
                    .fold(f64::INFINITY, f64::min);
                for &d in group {
                    keeps.push(Keep {
                        demands: vec![d],
                        min: self.relax(t * self.rate[d]),
                    });
                }
            }
            last = Some((out.x, out.gap));
        }
        last.ok_or_else(|| TeError::InvalidInput("no demand to route".into()))
    }

    /// Re-solves for the shortest allocation among the optimal ones (see
    /// `SolveOptions::prefer_short`). The bound of the first solve stays valid: the
    /// kept levels only lose the `KEEP_RELAX` slack.
    fn shortest_among_optimal(
        &mut self,
        outcome: Outcome,
        groups: &[Vec<usize>],
        objective: Objective,
    ) -> Result<Outcome, TeError> {
        let x = match &outcome {
            Outcome::Trivial => return Ok(outcome),
            Outcome::Certified(x, _) | Outcome::Reported(x, _) => x,
        };
        let achieved = self.repaired_carried(x, objective);
        let keeps: Vec<Keep> = if objective == Objective::MaxFlow {
            groups
                .iter()
                .map(|g| Keep {
                    demands: g.clone(),
                    min: self.relax(g.iter().map(|&d| achieved[d]).sum()),
                })
                .collect()
        } else {
            groups
                .iter()
                .flatten()
                .map(|&d| Keep {
                    demands: vec![d],
                    min: self.relax(achieved[d]),
                })
                .collect()
        };
        let topo = self.problem.topology;
        let mut costs = vec![0.0; self.col_count()];
        for d in 0..self.rate.len() {
            for c in self.cols(d) {
                costs[c] = self
                    .col_links(d, c)
                    .iter()
                    .map(|&l| topo.link(l).metric)
                    .sum();
            }
        }
        let all: Vec<usize> = groups.iter().flatten().copied().collect();
        let active = self.active_mask(&all);
        let out = self.stage(&active, &Goal::Cost(&costs), &keeps)?;
        Ok(match outcome {
            Outcome::Certified(_, lambda) => Outcome::Certified(out.x, lambda),
            Outcome::Reported(_, gap) => Outcome::Reported(out.x, gap),
            Outcome::Trivial => Outcome::Trivial,
        })
    }

    /// Max-min fairness by progressive filling (see the module docs). `ratio`
    /// weighs each demand by its rate, making the filled quantity its carried
    /// fraction.
    fn max_min(&mut self, groups: &[Vec<usize>], ratio: bool) -> Result<(Vec<f64>, f64), TeError> {
        let mut active = vec![false; self.rate.len()];
        let mut keeps: Vec<Keep> = Vec::new();
        let mut last = None;
        for group in groups {
            for &d in group {
                active[d] = true;
            }
            let mut unfrozen: Vec<usize> = group.clone();
            while !unfrozen.is_empty() {
                // The level LP caps the level at the smallest demand, so without
                // this step every demand below the bottleneck would cost one LP.
                let (saturated, x) = self.saturate_smallest(&active, &unfrozen, &keeps, ratio)?;
                if x.is_some() {
                    last = x;
                }
                for &d in &saturated {
                    keeps.push(Keep {
                        demands: vec![d],
                        min: self.relax(self.rate[d]),
                    });
                }
                unfrozen.retain(|u| !saturated.contains(u));
                if unfrozen.is_empty() {
                    break;
                }
                let weights: Vec<(usize, f64)> = unfrozen
                    .iter()
                    .map(|&d| (d, self.weight(d, ratio)))
                    .collect();
                let out = self.stage(&active, &Goal::Level(&weights), &keeps)?;
                let t = out.level.max(0.0);
                let floor = DUAL_SHARE / unfrozen.len() as f64;
                let mut freeze: Vec<(usize, f64)> = Vec::new();
                let mut candidates: Vec<(usize, f64)> = Vec::new();
                for (i, &(d, w)) in weights.iter().enumerate() {
                    let target = t * w;
                    // A level row's dual times its weight is its share of the unit
                    // objective (the shares sum to 1); rows are divided by the
                    // demand's column scale, hence the division.
                    let share = out.level_duals[i] * w / self.col_scale(d);
                    if self.rate[d] <= target * (1.0 + TIGHT) {
                        freeze.push((d, self.rate[d]));
                    } else if self.carried(&out.x, d) <= target * (1.0 + TIGHT) + TINY {
                        if share >= floor {
                            freeze.push((d, target));
                        } else {
                            candidates.push((d, share));
                        }
                    }
                }
                if freeze.is_empty() {
                    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    for &(d, _) in &candidates {
                        let target = t * weights.iter().find(|w| w.0 == d).map_or(1.0, |w| w.1);
                        let mut held = keeps.clone();
                        held.extend(weights.iter().map(|&(u, w)| Keep {
                            demands: vec![u],
                            min: self.relax(t * w),
                        }));
                        let test = self.stage(&active, &Goal::Carried(&[d]), &held)?;
                        if self.carried(&test.x, d) <= target * (1.0 + TIGHT) + TINY {
                            freeze.push((d, target));
                            break;
                        }
                    }
                }
                if freeze.is_empty() {
                    // Numerically nothing is provably stuck; the largest dual share
                    // is the best evidence of a bottleneck, and freezing it
                    // guarantees progress.
                    let best = weights
                        .iter()
                        .zip(&out.level_duals)
                        .max_by(|a, b| {
                            let share = |(&(d, w), dual): (&(usize, f64), &f64)| {
                                dual * w / self.col_scale(d)
                            };
                            share(*a).total_cmp(&share(*b))
                        })
                        .map(|(w, _)| *w);
                    if let Some((d, w)) = best {
                        freeze.push((d, (t * w).min(self.rate[d])));
                    }
                }
                let achieved = self.repaired_carried(&out.x, Objective::MaxFlow);
                for &(d, level) in &freeze {
                    keeps.push(Keep {
                        demands: vec![d],
                        min: self.relax(level.min(achieved[d])),
                    });
                }
                unfrozen.retain(|u| !freeze.iter().any(|f| f.0 == *u));
                last = Some((out.x, out.gap));
            }
        }
        last.ok_or_else(|| TeError::InvalidInput("no demand to route".into()))
    }

    /// What max-min fairness levels: a demand's carried fraction (`ratio`) or rate.
    fn weight(&self, d: usize, ratio: bool) -> f64 {
        if ratio { self.rate[d] } else { 1.0 }
    }

    /// The demands that can all be carried in full while every other unfrozen
    /// demand gets at least the same level: binary search over the demands sorted
    /// by rate / weight, one feasibility LP per step (log2 n LPs instead of n).
    /// Returns them with the point and gap of the last feasible LP.
    fn saturate_smallest(
        &mut self,
        active: &[bool],
        unfrozen: &[usize],
        keeps: &[Keep],
        ratio: bool,
    ) -> Result<(Vec<usize>, Option<StagePoint>), TeError> {
        let mut order: Vec<(usize, f64)> = unfrozen
            .iter()
            .map(|&d| (d, self.rate[d] / self.weight(d, ratio)))
            .collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        // Feasible(k): demands order[..k] in full, the rest at level_of(order[k-1]).
        let (mut lo, mut hi) = (0, order.len());
        let mut best_x = None;
        while lo < hi {
            let k = (lo + hi).div_ceil(2);
            let level = order[k - 1].1;
            let mut held = keeps.to_vec();
            held.extend(order.iter().map(|&(d, _)| Keep {
                demands: vec![d],
                min: self.relax((level * self.weight(d, ratio)).min(self.rate[d])),
            }));
            match self.stage_once(active, &Goal::Carried(unfrozen), &held) {
                Ok(out) => {
                    lo = k;
                    best_x = Some((out.x, out.gap));
                }
                Err(TeError::Infeasible { .. }) => hi = k - 1,
                Err(e) => return Err(e),
            }
        }
        Ok((order[..lo].iter().map(|&(d, _)| d).collect(), best_x))
    }

    /// Turns a (scaled, slightly infeasible) LP point into an exactly feasible
    /// allocation in bit/s (see the module docs).
    fn repair(&self, x: &[f64], objective: Objective) -> Allocation {
        let problem = self.problem;
        let topo = problem.topology;
        let route_all = objective == Objective::MinMlu;
        let mut r: Vec<f64> = x
            .iter()
            .map(|v| {
                if v.is_finite() && *v > 0.0 {
                    v * self.scale
                } else {
                    0.0
                }
            })
            .collect();
        let fit_demand = |r: &mut [f64], d: usize, demand: f64| {
            let cols = self.cols(d);
            let sum: f64 = r[cols.clone()].iter().sum();
            if route_all {
                if sum > 0.0 {
                    r[cols].iter_mut().for_each(|v| *v *= demand / sum);
                } else if let Some(first) = r.get_mut(cols.start) {
                    *first = demand;
                }
            } else if sum > demand {
                r[cols].iter_mut().for_each(|v| *v *= demand / sum);
            }
        };
        for d in 0..self.rate.len() {
            if !self.cols(d).is_empty() {
                fit_demand(&mut r, d, self.rate_bps(d));
            }
        }
        if !route_all {
            let mut load = vec![0.0; topo.link_count()];
            for d in 0..self.rate.len() {
                for c in self.cols(d) {
                    for l in self.col_links(d, c) {
                        load[l.index()] += r[c];
                    }
                }
            }
            // Scaling a path by cap/load of its worst overloaded link can only
            // lower other links' loads; the 1e-12 absorbs rounding in the sums.
            let factor: Vec<f64> = topo
                .links()
                .iter()
                .zip(&load)
                .map(|(l, &x)| {
                    let c = l.capacity.bps();
                    if x > c { c / x * (1.0 - 1e-12) } else { 1.0 }
                })
                .collect();
            for d in 0..self.rate.len() {
                for c in self.cols(d) {
                    let f = self
                        .col_links(d, c)
                        .iter()
                        .map(|l| factor[l.index()])
                        .fold(1.0, f64::min);
                    r[c] *= f;
                }
            }
        }
        for d in 0..self.rate.len() {
            let demand = self.rate_bps(d);
            let cols = self.cols(d);
            for v in &mut r[cols] {
                if *v < DROP_FRACTION * demand {
                    *v = 0.0;
                }
            }
            if route_all && !self.cols(d).is_empty() {
                fit_demand(&mut r, d, demand);
            }
        }
        let mut alloc = empty_allocation(problem);
        for (d, da) in alloc.demands.iter_mut().enumerate() {
            if self.cols(d).is_empty() {
                continue;
            }
            for (pf, c) in da.paths.iter_mut().zip(self.cols(d)) {
                pf.rate = r[c];
            }
        }
        alloc
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::testing::random_instance;
    use crate::{PathOptions, compute_paths};

    /// Checks the definition of max-min fairness on the solver's own output, with
    /// LPs independent of progressive filling: no demand below its rate can gain
    /// while every demand at or below its level keeps what it has.
    #[test]
    fn progressive_filling_is_max_min_fair_by_definition() {
        let mut checked = 0;
        for seed in 0..25u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (topo, tm) = random_instance(&mut rng, 4..=7, 3..=8);
            let paths = compute_paths(&topo, &tm, &PathOptions::default());
            let problem = Problem {
                topology: &topo,
                traffic: &tm,
                paths: &paths,
            };
            for ratio in [false, true] {
                let opts = SolveOptions {
                    objective: if ratio {
                        Objective::MaxConcurrent
                    } else {
                        Objective::MaxFlow
                    },
                    fairness: Fairness::MaxMin,
                    class_priority: false,
                    ..SolveOptions::default()
                };
                let sol = solve_exact(&problem, &opts).expect("solves");
                let mut model = Model::new(&problem, &opts);
                let carried: Vec<f64> = sol
                    .allocation
                    .demands
                    .iter()
                    .map(|d| d.carried() / model.scale)
                    .collect();
                let rates = model.rate.clone();
                let level = |d: usize| {
                    if ratio {
                        carried[d] / rates[d]
                    } else {
                        carried[d]
                    }
                };
                let all: Vec<usize> = (0..tm.len()).collect();
                let active = model.active_mask(&all);
                for d in 0..tm.len() {
                    if carried[d] >= model.rate[d] * (1.0 - 1e-6) {
                        continue;
                    }
                    let keeps: Vec<Keep> = (0..tm.len())
                        .filter(|&u| u != d && level(u) <= level(d) * (1.0 + 1e-6))
                        .map(|u| Keep {
                            demands: vec![u],
                            min: carried[u] * (1.0 - 1e-7),
                        })
                        .collect();
                    let test = model
                        .stage(&active, &Goal::Carried(&[d]), &keeps)
                        .expect("test LP");
                    let best = model.carried(&test.x, d);
                    // The held demands are relaxed by 1e-7 and the LPs are solved to
                    // 1e-8, so a few parts per million of movement is noise.
                    assert!(
                        best <= carried[d] * (1.0 + 1e-5) + 1e-9,
                        "seed {seed}, ratio {ratio}: demand {d} could rise from {} to {best}",
                        carried[d]
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 40, "{checked} unsatisfied demands checked");
    }
}
