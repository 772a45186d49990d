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

/// Cheapest candidate path price of every demand with a positive rate and a path.
fn cheapest<'p>(problem: &'p Problem, lambda: &'p [f64]) -> impl Iterator<Item = (f64, f64)> + 'p {
    problem
        .traffic
        .demands()
        .iter()
        .zip(&problem.paths.per_demand)
        .filter(|(d, p)| d.rate.bps() > 0.0 && !p.is_empty())
        .map(move |(d, p)| {
            let min = p
                .iter()
                .map(|p| path_price(lambda, p))
                .fold(f64::INFINITY, f64::min);
            (d.rate.bps(), min)
        })
}

/// Upper bound on the total carried rate (bit/s) of the max-flow LP
/// max Σx s.t. Σ_p x_dp ≤ D_d, loads ≤ c_e.
///
/// Dual: min Σ c_e λ_e + Σ D_d μ_d with μ_d + λ(p) ≥ 1 for every candidate p of d;
/// μ_d = max(0, 1 − min_p λ(p)) is the cheapest feasible choice for given λ.
pub fn max_flow_upper_bound(problem: &Problem, lambda: &[f64]) -> f64 {
    let demand_part: f64 = cheapest(problem, lambda)
        .map(|(rate, min)| rate * (1.0 - min).max(0.0))
        .sum();
    capacity_value(problem, lambda) + demand_part
}

/// Upper bound on the concurrent ratio t of the LP
/// max t s.t. Σ_p x_dp ≥ t·D_d, Σ_p x_dp ≤ D_d, loads ≤ c_e, over the routable
/// demands (which is at most 1 by the demand rows alone).
///
/// Dual point: μ_d = α·min_p λ(p) on the ratio rows, λ scaled by α so that
/// Σ D_d μ_d = 1, which gives t ≤ Σ c_e λ_e / Σ_d D_d min_p λ(p).
pub fn max_concurrent_upper_bound(problem: &Problem, lambda: &[f64]) -> f64 {
    let weighted: f64 = cheapest(problem, lambda)
        .map(|(rate, min)| rate * min)
        .sum();
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
    let num: f64 = cheapest(problem, lambda)
        .map(|(rate, min)| rate * min)
        .sum();
    num / denom
}
