//! A CSPF-like baseline: what a router-based TE would do without global optimisation.

use keel_model::{Allocation, DemandAllocation, DemandId, PathFlow};
use rayon::prelude::*;

use crate::Problem;

/// Places demands one at a time — highest class priority first, then larger
/// demands first (ties by demand id) — each onto its candidate paths in order,
/// taking as much residual capacity as the path has. Always feasible.
pub fn greedy(problem: &Problem) -> Allocation {
    let topo = problem.topology;
    let tm = problem.traffic;
    let classes = tm.classes();
    let mut residual: Vec<f64> = topo.links().iter().map(|l| l.capacity.bps()).collect();
    let mut alloc = empty_allocation(problem);
    let mut order: Vec<usize> = (0..tm.len()).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (&tm.demands()[a], &tm.demands()[b]);
        classes
            .get(da.class)
            .priority
            .cmp(&classes.get(db.class).priority)
            .then_with(|| db.rate.bps().total_cmp(&da.rate.bps()))
            .then_with(|| a.cmp(&b))
    });
    for d in order {
        let mut left = tm.demands()[d].rate.bps();
        for pf in &mut alloc.demands[d].paths {
            if left <= 0.0 {
                break;
            }
            let room = pf
                .path
                .links
                .iter()
                .map(|l| residual.get(l.index()).copied().unwrap_or(0.0))
                .fold(f64::INFINITY, f64::min);
            let take = left.min(room).max(0.0);
            if take > 0.0 && take.is_finite() {
                for l in pf.path.links.iter() {
                    residual[l.index()] -= take;
                }
                pf.rate = take;
                left -= take;
            }
        }
    }
    alloc
}

/// Every candidate path of every demand at rate 0.
pub fn empty_allocation(problem: &Problem) -> Allocation {
    Allocation {
        // Millions of path copies on large networks: in parallel.
        demands: (0..problem.traffic.len())
            .into_par_iter()
            .map(|d| DemandAllocation {
                demand: DemandId(d as u32),
                paths: problem
                    .paths
                    .per_demand
                    .get(d)
                    .into_iter()
                    .flatten()
                    .map(|p| PathFlow {
                        path: p.clone(),
                        rate: 0.0,
                    })
                    .collect(),
            })
            .collect(),
    }
}
