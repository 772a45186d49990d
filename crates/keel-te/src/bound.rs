//! Dual bounds by weak duality from link prices.
//!
//! Each function takes a price λ_e per link (indexed by link id; negative, NaN or
//! missing entries count as 0) and returns a bound that is valid for *any* such
//! prices, because it evaluates a dual-feasible point built from them. The prices
//! only decide how tight the bound is, so an inexact solver (or a heuristic) can
//! supply them and the bound stays a certificate.
//!
//! Only demands with a positive rate count; "routable" means at least one
//! candidate path.

use keel_model::Path;
use rayon::prelude::*;

use crate::Problem;

fn price(lambda: &[f64], link: usize) -> f64 {
    let v = lambda.get(link).copied().unwrap_or(0.0);
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

/// Σ_{e∈p} λ_e with λ clamped at 0.
pub fn path_price(lambda: &[f64], path: &Path) -> f64 {
    path.links.iter().map(|l| price(lambda, l.index())).sum()
}

/// Σ_e c_e λ_e with λ clamped at 0.
pub fn capacity_value(problem: &Problem, lambda: &[f64]) -> f64 {
    problem
        .topology
        .links()
        .iter()
        .enumerate()
        .map(|(i, l)| l.capacity.bps() * price(lambda, i))
        .sum()
}

/// Demands per parallel piece of [`demand_sum`]: fixed, so that the sum does
/// not depend on the number of threads.
const PIECE: usize = 4096;

/// Σ f(rate, cheapest candidate path price) over the demands with a positive
/// rate and a path; in parallel over fixed pieces, added up in order.
fn demand_sum(problem: &Problem, lambda: &[f64], f: impl Fn(f64, f64) -> f64 + Sync) -> f64 {
    let demands = problem.traffic.demands();
    let paths = &problem.paths.per_demand;
    let n = demands.len().min(paths.len());
    let pieces: Vec<f64> = (0..n.div_ceil(PIECE))
        .into_par_iter()
        .map(|k| {
            (k * PIECE..((k + 1) * PIECE).min(n))
                .filter(|&d| demands[d].rate.bps() > 0.0 && !paths[d].is_empty())
                .map(|d| {
                    let min = paths[d]
                        .iter()
                        .map(|p| path_price(lambda, p))
                        .fold(f64::INFINITY, f64::min);
                    f(demands[d].rate.bps(), min)
                })
                .sum()
        })
        .collect();
    pieces.iter().sum()
}

/// Upper bound on the total carried rate (bit/s) of the max-flow LP
/// max Σx s.t. Σ_p x_dp ≤ D_d, loads ≤ c_e.
///
/// Dual: min Σ c_e λ_e + Σ D_d μ_d with μ_d + λ(p) ≥ 1 for every candidate p of d;
/// μ_d = max(0, 1 − min_p λ(p)) is the cheapest feasible choice for given λ.
pub fn max_flow_upper_bound(problem: &Problem, lambda: &[f64]) -> f64 {
    let demand_part = demand_sum(problem, lambda, |rate, min| rate * (1.0 - min).max(0.0));
    capacity_value(problem, lambda) + demand_part
}

/// Upper bound on the concurrent ratio t of the LP
/// max t s.t. Σ_p x_dp ≥ t·D_d, Σ_p x_dp ≤ D_d, loads ≤ c_e, over the routable
/// demands (which is at most 1 by the demand rows alone).
///
/// Dual point: μ_d = α·min_p λ(p) on the ratio rows, λ scaled by α so that
/// Σ D_d μ_d = 1, which gives t ≤ Σ c_e λ_e / Σ_d D_d min_p λ(p).
pub fn max_concurrent_upper_bound(problem: &Problem, lambda: &[f64]) -> f64 {
    let weighted = demand_sum(problem, lambda, |rate, min| rate * min);
    if weighted <= 0.0 {
        return 1.0;
    }
    (capacity_value(problem, lambda) / weighted).min(1.0)
}

/// Lower bound on the maximum link utilisation of the LP
/// min U s.t. Σ_p x_dp = D_d, loads ≤ U·c_e.
///
/// Dual: max Σ D_d μ_d with μ_d ≤ λ(p) and Σ c_e λ_e ≤ 1; normalising any λ ≥ 0
/// gives U ≥ Σ_d D_d min_p λ(p) / Σ_e c_e λ_e. Demands without a path are skipped
/// (the MLU problem has no solution with them anyway). 0 when λ is all zero.
pub fn min_mlu_lower_bound(problem: &Problem, lambda: &[f64]) -> f64 {
    let denom = capacity_value(problem, lambda);
    if denom <= 0.0 {
        return 0.0;
    }
    let num = demand_sum(problem, lambda, |rate, min| rate * min);
    num / denom
}
