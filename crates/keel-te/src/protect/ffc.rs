//! k-failure-safe traffic engineering in the spirit of FFC (Liu et al.,
//! SIGCOMM'14), over the path model and any k physical-link failures.
//!
//! Every candidate path p of demand d gets a *reservation* a_dp and the demand a
//! *grant* b_d ≤ D_d. With no failure the ingress splits b_d over its paths in
//! proportion to a; after failures it rescales onto the surviving paths in the
//! same proportion, so path p carries b_d·a_dp / S_d where S_d is the surviving
//! reservation. If S_d ≥ b_d that is at most a_dp, and since Σ a over every
//! link is at most its capacity, no link is overloaded. The LP therefore
//! requires, for every demand, S_d ≥ b_d under every set of k link failures:
//!
//!   Σ_p a_dp − (largest reservation k failures can take away) ≥ b_d.
//!
//! **Compact form (no enumeration).** A failure of physical link e removes the
//! paths of d crossing e, a *group*. Groups that are subsets of another group are
//! dropped (a failure of the larger one is at least as bad). The loss of k
//! failures is at most the sum of the k largest group reservations, and "sum of
//! the k largest of y_g ≤ T" is linear through its LP dual: ∃ u ≥ 0, v_g ≥ 0 with
//! v_g ≥ y_g − u and k·u + Σ v_g ≤ T. This is exact when the surviving groups
//! are disjoint (edge-disjoint paths: one group per path) or nested, and
//! conservative (safe, possibly over-reserving) when they overlap partially. The
//! LP has one extra variable per demand and per group, so it stays linear in the
//! number of candidate paths whatever k is.
//!
//! Objective: maximise Σ b_d (max-flow); with class priority, one LP per
//! priority level, earlier levels kept at what they achieved. The interior-point
//! answer is repaired to exact safety: reservations are scaled down on
//! overloaded links, then each grant is recomputed from the repaired
//! reservations with the group bound above, so the reported allocation is safe
//! by construction, not by solver tolerance.

use std::time::Instant;

use keel_model::{Allocation, Path};

use super::RiskModel;
use crate::error::TeError;
use crate::greedy::empty_allocation;
use crate::lp::{Lp, LpSettings};
use crate::summary::{ClassFigures, class_figures};
use crate::{Problem, Timings};

/// Relaxation of kept levels between priority stages (as the exact solver).
const KEEP_RELAX: f64 = 1e-9;
const MAX_ITER: u32 = 500;
/// Paths per demand the group masks can hold.
const MAX_PATHS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FfcOptions {
    /// Simultaneous physical-link failures to survive.
    pub k: usize,
    pub class_priority: bool,
    pub tolerance: f64,
}

impl Default for FfcOptions {
    fn default() -> Self {
        FfcOptions {
            k: 1,
            class_priority: true,
            tolerance: 1e-8,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FfcSolution {
    /// Rates with no failure: b_d split over the paths in proportion to a_dp.
    pub allocation: Allocation,
    /// Reservation a_dp (bit/s), parallel to the candidate paths.
    pub reserved: Vec<Vec<f64>>,
    /// Grant b_d (bit/s) per demand: what it keeps under any k failures.
    pub granted: Vec<f64>,
    /// Σ b_d.
    pub value: f64,
    pub per_class: Vec<ClassFigures>,
    /// LPs solved.
    pub stages: usize,
    /// Interior-point relative gap of the last LP.
    pub solver_gap: f64,
    pub timings: Timings,
}

/// The maximal path groups (bit masks over the demand's paths) one physical
/// link failure removes; see the module docs.
pub fn ffc_groups(risk: &RiskModel, paths: &[Path]) -> Vec<u64> {
    let mut by_link: Vec<(u32, u64)> = Vec::new();
    for (i, p) in paths.iter().enumerate().take(MAX_PATHS) {
        for l in risk.path_links(p) {
            by_link.push((l, 1u64 << i));
        }
    }
    by_link.sort_unstable_by_key(|x| x.0);
    let mut masks: Vec<u64> = by_link
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| run.iter().fold(0, |m, x| m | x.1))
        .collect();
    masks.sort_unstable();
    masks.dedup();
    let all = masks.clone();
    masks.retain(|&m| !all.iter().any(|&o| o != m && o & m == m));
    masks
}

/// Sum of the k largest group reservations (an upper bound on what k failures
/// can take away), capped at the total.
fn worst_loss(a: &[f64], groups: &[u64], k: usize) -> f64 {
    let total: f64 = a.iter().sum();
    let mut sums: Vec<f64> = groups
        .iter()
        .map(|&m| {
            a.iter()
                .enumerate()
                .filter(|(i, _)| m >> i & 1 == 1)
                .map(|(_, v)| v)
                .sum()
        })
        .collect();
    sums.sort_by(|x, y| y.total_cmp(x));
    sums.iter().take(k).sum::<f64>().min(total)
}

/// Solves the k-failure-safe max-flow LP (see the module docs).
pub fn solve_ffc(
    problem: &Problem,
    opts: &FfcOptions,
    risk: &RiskModel,
) -> Result<FfcSolution, TeError> {
    let started = Instant::now();
    let (topo, tm) = (problem.topology, problem.traffic);
    if problem.paths.per_demand.len() != tm.len() {
        return Err(TeError::InvalidInput(format!(
            "{} candidate path lists for {} demands",
            problem.paths.per_demand.len(),
            tm.len()
        )));
    }
    if let Some((d, _)) = problem
        .paths
        .per_demand
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() > MAX_PATHS)
    {
        return Err(TeError::InvalidInput(format!(
            "demand #{d} has more than {MAX_PATHS} candidate paths; k-failure-safe TE takes at most {MAX_PATHS}"
        )));
    }
    let scale = topo
        .links()
        .iter()
        .map(|l| l.capacity.bps())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let rate: Vec<f64> = tm.demands().iter().map(|d| d.rate.bps() / scale).collect();
    let groups: Vec<Vec<u64>> = problem
        .paths
        .per_demand
        .iter()
        .map(|p| ffc_groups(risk, p))
        .collect();
    let routable: Vec<usize> = (0..tm.len())
        .filter(|&d| rate[d] > 0.0 && !problem.paths.per_demand[d].is_empty())
        .collect();
    let levels: Vec<Vec<usize>> = if opts.class_priority {
        crate::by_priority_level(tm, &routable)
    } else if routable.is_empty() {
        Vec::new()
    } else {
        vec![routable.clone()]
    };
    let settings = LpSettings {
        tolerance: opts.tolerance,
        max_iter: MAX_ITER,
    };
    let mut timings = Timings::default();
    let mut keeps: Vec<(Vec<usize>, f64)> = Vec::new();
    let mut active = Vec::new();
    let mut reserved: Vec<Vec<f64>> = problem
        .paths
        .per_demand
        .iter()
        .map(|p| vec![0.0; p.len()])
        .collect();
    let mut granted = vec![0.0; tm.len()];
    let mut stages = 0;
    let mut solver_gap = 0.0;
    for level in &levels {
        active.extend_from_slice(level);
        let stage_started = Instant::now();
        let mut lp = Lp::new();
        let mut a_cols: Vec<(usize, usize)> = Vec::new(); // (first column, count) per active demand
        let mut b_col = Vec::new();
        let mut by_arc: Vec<Vec<(usize, f64)>> = vec![Vec::new(); topo.link_count()];
        for &d in &active {
            let paths = &problem.paths.per_demand[d];
            let cols: Vec<usize> = paths.iter().map(|_| lp.var(0.0)).collect();
            for (p, path) in paths.iter().enumerate() {
                for l in path.links.iter() {
                    by_arc[l.index()].push((cols[p], 1.0));
                }
            }
            let in_goal = level.contains(&d);
            let b = lp.var(if in_goal { -1.0 } else { 0.0 });
            lp.add_le([(b, 1.0)], rate[d]);
            let minus_a = cols.iter().map(|&c| (c, -1.0));
            if opts.k == 0 {
                lp.add_le(minus_a.chain([(b, 1.0)]), 0.0);
            } else {
                let u = lp.var(0.0);
                let mut safety: Vec<(usize, f64)> = vec![(u, opts.k as f64), (b, 1.0)];
                safety.extend(minus_a);
                for &m in &groups[d] {
                    let v = lp.var(0.0);
                    let mut row: Vec<(usize, f64)> = cols
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| m >> i & 1 == 1)
                        .map(|(_, &c)| (c, 1.0))
                        .collect();
                    row.push((u, -1.0));
                    row.push((v, -1.0));
                    lp.add_le(row, 0.0);
                    safety.push((v, 1.0));
                }
                lp.add_le(safety, 0.0);
            }
            a_cols.push((cols[0], cols.len()));
            b_col.push(b);
        }
        let pos = |d: usize| active.iter().position(|&x| x == d);
        for (demands, min) in &keeps {
            let row: Vec<(usize, f64)> = demands
                .iter()
                .filter_map(|&d| pos(d).map(|i| (b_col[i], -1.0)))
                .collect();
            if !row.is_empty() && *min > 0.0 {
                lp.add_le(row, -min);
            }
        }
        for (e, row) in by_arc.into_iter().enumerate() {
            if !row.is_empty() {
                lp.add_le(row, topo.links()[e].capacity.bps() / scale);
            }
        }
        let built = stage_started.elapsed();
        let sol = lp.solve(settings);
        stages += 1;
        let sol = sol.map_err(|e| match e {
            TeError::Infeasible { .. } => TeError::Infeasible {
                stage: Some(stages),
            },
            e => e,
        })?;
        timings.build += built + sol.setup_time;
        timings.solve += sol.solve_time;
        solver_gap = sol.relative_gap();
        for (i, &d) in active.iter().enumerate() {
            let (first, n) = a_cols[i];
            for (r, x) in reserved[d].iter_mut().zip(&sol.x[first..first + n]) {
                *r = x.max(0.0) * scale;
            }
        }
        repair(problem, &groups, opts.k, &mut reserved, &mut granted);
        let achieved: f64 = level.iter().map(|&d| granted[d]).sum::<f64>() / scale;
        keeps.push((level.clone(), (achieved * (1.0 - KEEP_RELAX)).max(0.0)));
    }
    let mut allocation = empty_allocation(problem);
    for (d, da) in allocation.demands.iter_mut().enumerate() {
        let total: f64 = reserved[d].iter().sum();
        if total > 0.0 {
            for (pf, a) in da.paths.iter_mut().zip(&reserved[d]) {
                pf.rate = granted[d] * a / total;
            }
        }
    }
    let value = granted.iter().sum();
    timings.build = started.elapsed().saturating_sub(timings.solve);
    Ok(FfcSolution {
        per_class: class_figures(tm, &allocation),
        allocation,
        reserved,
        granted,
        value,
        stages,
        solver_gap,
        timings,
    })
}

/// Scales reservations down where they overload a link, then recomputes every
/// grant from the repaired reservations (see the module docs).
fn repair(
    problem: &Problem,
    groups: &[Vec<u64>],
    k: usize,
    reserved: &mut [Vec<f64>],
    granted: &mut [f64],
) {
    let topo = problem.topology;
    let paths = &problem.paths.per_demand;
    let mut load = vec![0.0; topo.link_count()];
    for (d, ps) in paths.iter().enumerate() {
        for (p, path) in ps.iter().enumerate() {
            for l in path.links.iter() {
                load[l.index()] += reserved[d][p];
            }
        }
    }
    let factor: Vec<f64> = topo
        .links()
        .iter()
        .zip(&load)
        .map(|(l, &x)| {
            let c = l.capacity.bps();
            if x > c { c / x * (1.0 - 1e-12) } else { 1.0 }
        })
        .collect();
    for (d, ps) in paths.iter().enumerate() {
        for (p, path) in ps.iter().enumerate() {
            let f = path
                .links
                .iter()
                .map(|l| factor[l.index()])
                .fold(1.0, f64::min);
            reserved[d][p] *= f;
        }
        let total: f64 = reserved[d].iter().sum();
        let safe = if k == 0 {
            total
        } else {
            total - worst_loss(&reserved[d], &groups[d], k)
        };
        let rate = problem.traffic.demands()[d].rate.bps();
        // The last 1e-12 keeps rounding in the proportional split on the safe side.
        granted[d] = (safe * (1.0 - 1e-12)).clamp(0.0, rate);
    }
}

/// The ingress rescaling after a failure: each demand's grant spread over its
/// surviving paths in proportion to their reservations. Paths crossing a failed
/// arc carry nothing; a demand with no surviving reservation carries nothing.
pub fn rescale_after_failure(
    problem: &Problem,
    solution: &FfcSolution,
    failed_arc: &[bool],
) -> Allocation {
    let mut alloc = empty_allocation(problem);
    for (d, da) in alloc.demands.iter_mut().enumerate() {
        let alive: Vec<bool> = da
            .paths
            .iter()
            .map(|pf| {
                !pf.path
                    .links
                    .iter()
                    .any(|l| failed_arc.get(l.index()).copied().unwrap_or(false))
            })
            .collect();
        let surviving: f64 = solution.reserved[d]
            .iter()
            .zip(&alive)
            .filter(|(_, ok)| **ok)
            .map(|(a, _)| a)
            .sum();
        if surviving <= 0.0 {
            continue;
        }
        for ((pf, a), ok) in da.paths.iter_mut().zip(&solution.reserved[d]).zip(&alive) {
            if *ok {
                pf.rate = solution.granted[d] * a / surviving;
            }
        }
    }
    alloc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_drop_subsets_and_bound_the_loss() {
        // Paths 0 and 1 share a link; path 2 is alone: groups {0,1} and {2}.
        let groups = vec![0b011u64, 0b001, 0b100];
        let mut g = groups.clone();
        let all = g.clone();
        g.retain(|&m| !all.iter().any(|&o| o != m && o & m == m));
        assert_eq!(g, vec![0b011, 0b100]);
        let a = [1.0, 2.0, 4.0];
        assert_eq!(worst_loss(&a, &g, 1), 4.0);
        assert_eq!(worst_loss(&a, &g, 2), 7.0);
        assert_eq!(worst_loss(&a, &g, 5), 7.0);
    }
}
