//! Traffic-matrix estimation from link counters ("demand deduction").
//!
//! What an operator measures is the load of every link (SNMP/streaming
//! counters) and the traffic entering and leaving at each site (edge-link
//! counters). Those are too few numbers to determine the n(n−1) demands, so
//! a prior fills the gap:
//!
//! 1. **Gravity**: x_ij = in_i · out_j / Σ out — traffic from i spreads over
//!    destinations in proportion to what they receive (Zhang et al.'s "simple
//!    gravity").
//! 2. **Tomogravity** (Zhang, Roughan, Duffield, Greenberg, SIGMETRICS 2003):
//!    the matrix closest to the gravity prior, in the weighted norm
//!    Σ (x − g)² / g (relative changes, so small demands are not moved as much
//!    as big ones), among those that reproduce the counters, x ≥ 0.
//!
//! Solved as one convex QP with Clarabel (already the LP solver of keel-te, so
//! no new dependency): minimise ½‖A x − b‖² + ½ μ Σ (x − g)²/g over x ≥ 0,
//! written with residual variables r = A x − b so that every matrix stays as
//! sparse as the routing. With a small μ the counters dominate and the prior
//! only picks among the matrices that fit them equally well. An interior-point
//! QP rather than projected gradient because the prior term is tiny next to the
//! data term: the problem is ill-conditioned by design, which slows first-order
//! methods to a crawl but costs an interior-point method nothing.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use serde::Serialize;

use crate::ForecastError;
use crate::series::{Routing, margins};

/// What the network measures: the load of every link and the traffic entering
/// and leaving at every site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counters {
    pub link_loads: Vec<f64>,
    pub ingress: Vec<f64>,
    pub egress: Vec<f64>,
}

impl Counters {
    /// The counters a matrix (one value per pair) produces under `routing`.
    pub fn of(routing: &Routing, pairs: &[(usize, usize)], sites: usize, x: &[f64]) -> Self {
        let (ingress, egress) = margins(pairs, sites, x);
        Counters {
            link_loads: routing.loads(x),
            ingress,
            egress,
        }
    }
}

/// Gravity prior from ingress and egress totals, one value per pair.
pub fn gravity(pairs: &[(usize, usize)], ingress: &[f64], egress: &[f64]) -> Vec<f64> {
    let total: f64 = egress.iter().sum();
    if total <= 0.0 {
        return vec![0.0; pairs.len()];
    }
    pairs
        .iter()
        .map(|&(s, d)| ingress[s] * egress[d] / total)
        .collect()
}

/// Relative L2 error ‖estimate − truth‖ / ‖truth‖.
pub fn relative_l2(estimate: &[f64], truth: &[f64]) -> f64 {
    let num: f64 = estimate
        .iter()
        .zip(truth)
        .map(|(e, t)| (e - t) * (e - t))
        .sum();
    let den: f64 = truth.iter().map(|t| t * t).sum();
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TomoOptions {
    /// Weight of the prior against the counters (in units where the mean prior
    /// entry is 1). Small: the counters decide what they can.
    pub prior_weight: f64,
}

impl Default for TomoOptions {
    fn default() -> Self {
        TomoOptions { prior_weight: 1e-6 }
    }
}

/// Tomogravity: the estimate closest to `prior` that reproduces the link loads
/// and the ingress/egress totals under `routing`, never negative. Pairs whose
/// prior is 0 (no traffic enters at the source or leaves at the destination)
/// stay 0.
pub fn tomogravity(
    routing: &Routing,
    pairs: &[(usize, usize)],
    counters: &Counters,
    prior: &[f64],
    opts: &TomoOptions,
) -> Result<Vec<f64>, ForecastError> {
    let Counters {
        link_loads,
        ingress,
        egress,
    } = counters;
    let sites = ingress.len();
    let np = pairs.len();
    if routing.paths.len() != np || prior.len() != np {
        return Err(ForecastError::Invalid(format!(
            "{np} pairs but {} routed paths and {} prior values",
            routing.paths.len(),
            prior.len()
        )));
    }
    if link_loads.len() != routing.links || egress.len() != sites {
        return Err(ForecastError::Invalid(format!(
            "{} link loads for {} links, {} ingress and {} egress totals",
            link_loads.len(),
            routing.links,
            ingress.len(),
            egress.len()
        )));
    }
    if let Some(&(s, d)) = pairs.iter().find(|(s, d)| *s >= sites || *d >= sites) {
        return Err(ForecastError::Invalid(format!(
            "pair ({s}, {d}) names a site beyond the {sites} totals"
        )));
    }
    let all = link_loads.iter().chain(ingress).chain(egress).chain(prior);
    if let Some(v) = all.clone().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(ForecastError::Invalid(format!(
            "counters and prior must be finite and >= 0, got {v}"
        )));
    }
    let free: Vec<usize> = (0..np).filter(|&j| prior[j] > 0.0).collect();
    let mut out = vec![0.0; np];
    if free.is_empty() {
        return Ok(out);
    }
    // Work in units of the mean prior entry so the solver's tolerances mean the
    // same on every network and at every hour.
    let scale = free.iter().map(|&j| prior[j]).sum::<f64>() / free.len() as f64;
    let nf = free.len();
    let m = routing.links + 2 * sites;
    let b: Vec<f64> = link_loads
        .iter()
        .chain(ingress)
        .chain(egress)
        .map(|v| v / scale)
        .collect();

    // Columns: x (nf) then r (m). Rows: m equalities A x − r = b, then nf rows
    // −x + s = 0 with s >= 0.
    let (mut colptr, mut rowval, mut nzval) = (vec![0], Vec::new(), Vec::new());
    for (k, &j) in free.iter().enumerate() {
        let (s, d) = pairs[j];
        let mut rows: Vec<usize> = routing.paths[j].clone();
        rows.push(routing.links + s);
        rows.push(routing.links + sites + d);
        rows.sort_unstable();
        for r in rows {
            // A path crosses a link at most once, but be safe with duplicates.
            if rowval.last() == Some(&r) && rowval.len() > colptr[colptr.len() - 1] {
                if let Some(v) = nzval.last_mut() {
                    *v += 1.0;
                }
                continue;
            }
            rowval.push(r);
            nzval.push(1.0);
        }
        rowval.push(m + k);
        nzval.push(-1.0);
        colptr.push(rowval.len());
    }
    for k in 0..m {
        rowval.push(k);
        nzval.push(-1.0);
        colptr.push(rowval.len());
    }
    let a = CscMatrix::new(m + nf, nf + m, colptr, rowval, nzval);
    let mu = opts.prior_weight;
    let p_diag: Vec<f64> = free
        .iter()
        .map(|&j| mu * scale / prior[j])
        .chain(std::iter::repeat_n(1.0, m))
        .collect();
    let p = CscMatrix::new(
        nf + m,
        nf + m,
        (0..=nf + m).collect(),
        (0..nf + m).collect(),
        p_diag,
    );
    // ½ μ (x − g)²/g = ½ (μ/g) x² − μ x + const (in scaled units).
    let q: Vec<f64> = std::iter::repeat_n(-mu, nf)
        .chain(std::iter::repeat_n(0.0, m))
        .collect();
    let mut rhs = b;
    rhs.extend(std::iter::repeat_n(0.0, nf));
    let cones = [
        SupportedConeT::ZeroConeT(m),
        SupportedConeT::NonnegativeConeT(nf),
    ];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(200)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .build()
        .map_err(|e| ForecastError::Solver(format!("bad settings: {e}")))?;
    let mut solver = DefaultSolver::new(&p, &q, &a, &rhs, &cones, settings)
        .map_err(|e| ForecastError::Solver(format!("setup: {e}")))?;
    solver.solve();
    let sol = &solver.solution;
    match sol.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved | SolverStatus::MaxIterations => {}
        other => return Err(ForecastError::Solver(format!("{other:?}"))),
    }
    if sol.x.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::Solver("non-finite solution".into()));
    }
    for (k, &j) in free.iter().enumerate() {
        // Interior points sit a hair inside the cone; the clamp only removes
        // round-off, so the estimate is never negative.
        out[j] = sol.x[k].max(0.0) * scale;
    }
    Ok(out)
}

/// Gravity and tomogravity estimates of one true matrix from the counters it
/// would produce under `routing`, with their relative L2 errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub gravity: Vec<f64>,
    pub tomogravity: Vec<f64>,
    pub gravity_error: f64,
    pub tomogravity_error: f64,
}

/// Derives counters (link loads, ingress, egress) from `truth`, estimates the
/// matrix back from them and scores both estimates.
pub fn estimate_from_truth(
    routing: &Routing,
    pairs: &[(usize, usize)],
    sites: usize,
    truth: &[f64],
    opts: &TomoOptions,
) -> Result<Estimate, ForecastError> {
    let counters = Counters::of(routing, pairs, sites, truth);
    let g = gravity(pairs, &counters.ingress, &counters.egress);
    let t = tomogravity(routing, pairs, &counters, &g, opts)?;
    Ok(Estimate {
        gravity_error: relative_l2(&g, truth),
        tomogravity_error: relative_l2(&t, truth),
        gravity: g,
        tomogravity: t,
    })
}

/// Errors of both estimates at every observed time of a matrix series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepError {
    pub time: usize,
    pub gravity: f64,
    pub tomogravity: f64,
}

/// Runs [`estimate_from_truth`] at every observed time of `tms` (in parallel),
/// skipping times with no traffic at all.
pub fn estimate_series(
    routing: &Routing,
    tms: &crate::TmSeries,
    sites: usize,
    opts: &TomoOptions,
) -> Result<Vec<StepError>, ForecastError> {
    use rayon::prelude::*;
    (0..tms.len())
        .into_par_iter()
        .filter(|&t| tms.observed[t])
        .filter_map(|t| {
            let truth = tms.at(t);
            if truth.iter().all(|v| *v == 0.0) {
                return None;
            }
            Some(
                estimate_from_truth(routing, &tms.pairs, sites, &truth, opts).map(|e| StepError {
                    time: t,
                    gravity: e.gravity_error,
                    tomogravity: e.tomogravity_error,
                }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_pairs(n: usize) -> Vec<(usize, usize)> {
        (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .collect()
    }

    #[test]
    fn gravity_keeps_the_ingress_totals_of_a_rank_one_matrix() {
        // With self traffic allowed a gravity matrix is exactly its own prior;
        // without the diagonal it keeps the proportions.
        let pairs = all_pairs(3);
        let g = gravity(&pairs, &[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]);
        assert!((g[0] - 1.0 * 2.0 / 6.0).abs() < 1e-12); // 0->1
        assert!((g[1] - 1.0 * 1.0 / 6.0).abs() < 1e-12); // 0->2
        assert_eq!(gravity(&pairs, &[0.0; 3], &[0.0; 3]), vec![0.0; 6]);
    }

    #[test]
    fn recovers_the_matrix_when_the_counters_identify_it() {
        // Every pair has its own direct link: the link loads are the matrix.
        let n = 4;
        let pairs = all_pairs(n);
        let routing = Routing {
            links: pairs.len(),
            paths: (0..pairs.len()).map(|k| vec![k]).collect(),
        };
        let truth: Vec<f64> = (0..pairs.len())
            .map(|k| 1.0 + ((k * 37) % 11) as f64)
            .collect();
        let est = estimate_from_truth(&routing, &pairs, n, &truth, &TomoOptions::default())
            .expect("solves");
        assert!(
            est.gravity_error > 0.05,
            "gravity alone is off: {}",
            est.gravity_error
        );
        assert!(
            est.tomogravity_error < 1e-5,
            "error {}",
            est.tomogravity_error
        );
    }

    #[test]
    fn never_returns_negative_demand_and_fits_the_counters() {
        // A line a - b - c: pairs over shared links, gravity far from the truth.
        let pairs = all_pairs(3);
        // links: 0 a->b, 1 b->c, 2 b->a, 3 c->b
        let paths = vec![
            vec![0],    // a->b
            vec![0, 1], // a->c
            vec![2],    // b->a
            vec![1],    // b->c
            vec![3, 2], // c->a
            vec![3],    // c->b
        ];
        let routing = Routing { links: 4, paths };
        for truth in [
            vec![0.0, 10.0, 0.0, 0.0, 10.0, 0.0],
            vec![5.0, 0.0, 0.0, 7.0, 0.0, 1.0],
            vec![1e-3, 100.0, 3.0, 0.0, 0.5, 0.0],
        ] {
            let est = estimate_from_truth(&routing, &pairs, 3, &truth, &TomoOptions::default())
                .expect("solves");
            assert!(
                est.tomogravity.iter().all(|v| *v >= 0.0),
                "{:?}",
                est.tomogravity
            );
            let loads = routing.loads(&truth);
            let fitted = routing.loads(&est.tomogravity);
            for (f, l) in fitted.iter().zip(&loads) {
                assert!((f - l).abs() < 1e-3 * (1.0 + l), "{fitted:?} vs {loads:?}");
            }
            assert!(est.tomogravity_error <= est.gravity_error + 1e-9);
        }
    }

    #[test]
    fn refuses_mismatched_inputs() {
        let pairs = all_pairs(2);
        let routing = Routing {
            links: 2,
            paths: vec![vec![0], vec![1]],
        };
        let counters = |loads: Vec<f64>| Counters {
            link_loads: loads,
            ingress: vec![1.0, 1.0],
            egress: vec![1.0, 1.0],
        };
        let opts = TomoOptions::default();
        let r = tomogravity(&routing, &pairs, &counters(vec![1.0]), &[1.0, 1.0], &opts);
        assert!(matches!(r, Err(ForecastError::Invalid(_))));
        let r = tomogravity(
            &routing,
            &pairs,
            &counters(vec![1.0, -1.0]),
            &[1.0, 1.0],
            &opts,
        );
        assert!(matches!(r, Err(ForecastError::Invalid(_))));
        let r = tomogravity(
            &routing,
            &pairs,
            &counters(vec![1.0, 1.0]),
            &[1.0, 1.0],
            &opts,
        );
        assert!(r.is_ok());
    }
}
