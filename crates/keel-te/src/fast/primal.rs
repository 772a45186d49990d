//! Turning soft flows into an exactly feasible allocation.

use rayon::prelude::*;

use super::compact::Compact;

/// Link loads of path flows `x`: summed per shared segment (fewer entries than
/// links) in parallel over demand chunks, then spread onto the links.
pub(crate) fn loads(c: &Compact, x: &[f64]) -> Vec<f64> {
    let n_segs = c.segments.count();
    let seg_flow = c
        .chunks()
        .into_par_iter()
        .map(|range| {
            let mut seg_flow = vec![0.0; n_segs];
            let first = c.path_start[range.start];
            let flows = &x[first..c.path_start[range.end]];
            for (p, &v) in (first..).zip(flows) {
                if v > 0.0 {
                    for &s in c.path_segments(p) {
                        seg_flow[s as usize] += v;
                    }
                }
            }
            seg_flow
        })
        .reduce(
            || vec![0.0; n_segs],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut load = vec![0.0; c.link_count()];
    for (s, &f) in seg_flow.iter().enumerate() {
        if f != 0.0 {
            for &l in c.segments.links_of(s) {
                load[l as usize] += f;
            }
        }
    }
    load
}

/// Scales every path down by the worst overload factor on it, so that no link
/// exceeds its capacity. Scaling can only lower other links' loads.
pub(crate) fn fit_capacity(c: &Compact, x: &mut [f64]) {
    fit_within(c, x, &c.cap);
}

/// `fit_capacity` against capacities `cap` instead of the links' own.
pub(crate) fn fit_within(c: &Compact, x: &mut [f64], cap: &[f64]) {
    let load = loads(c, x);
    let factor: Vec<f64> = cap
        .iter()
        .zip(&load)
        .map(|(&cap, &l)| {
            if l > cap {
                // The margin absorbs rounding in the load sums.
                (cap / l * (1.0 - 1e-12)).max(0.0)
            } else {
                1.0
            }
        })
        .collect();
    for (p, v) in x.iter_mut().enumerate() {
        let f = c
            .path_links(p)
            .iter()
            .map(|&l| factor[l as usize])
            .fold(1.0, f64::min);
        *v *= f;
    }
}

/// Greedily adds each demand's unserved traffic onto its paths, cheapest first
/// under `price`, as far as residual capacity allows. Keeps feasibility.
pub(crate) fn fill(c: &Compact, x: &mut [f64], price: &[f64]) {
    fill_within(c, x, price, &c.cap);
}

/// `fill` against capacities `cap` instead of the links' own.
pub(crate) fn fill_within(c: &Compact, x: &mut [f64], price: &[f64], cap: &[f64]) {
    let mut residual: Vec<f64> = cap
        .iter()
        .zip(loads(c, x))
        .map(|(cap, l)| (cap - l).max(0.0))
        .collect();
    let mut order = Vec::new();
    for i in 0..c.demand_count() {
        let paths = c.paths(i);
        let mut missing = c.rate[i] - x[paths.clone()].iter().sum::<f64>();
        if missing <= 0.0 {
            continue;
        }
        order.clear();
        order.extend(paths.map(|p| {
            let cost: f64 = c.path_links(p).iter().map(|&l| price[l as usize]).sum();
            (cost, p)
        }));
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, p) in &order {
            let links = c.path_links(p);
            let room = links
                .iter()
                .map(|&l| residual[l as usize])
                .fold(f64::INFINITY, f64::min);
            let add = missing.min(room) * (1.0 - 1e-12);
            if add <= 0.0 {
                continue;
            }
            x[p] += add;
            missing -= add;
            for &l in links {
                residual[l as usize] = (residual[l as usize] - add).max(0.0);
            }
            if missing <= 0.0 {
                break;
            }
        }
    }
}

/// Tops every demand up to its full rate: in proportion to its current split,
/// or on its cheapest path under `price` when it carries nothing.
pub(crate) fn complete(c: &Compact, x: &mut [f64], price: &[f64]) {
    for i in 0..c.demand_count() {
        let paths = c.paths(i);
        let carried: f64 = x[paths.clone()].iter().sum();
        if carried >= c.rate[i] {
            continue;
        }
        if carried > 0.0 {
            let f = c.rate[i] / carried;
            x[paths].iter_mut().for_each(|v| *v *= f);
        } else {
            let cheapest = paths.clone().min_by(|a, b| {
                let cost =
                    |p: usize| -> f64 { c.path_links(p).iter().map(|&l| price[l as usize]).sum() };
                cost(*a).total_cmp(&cost(*b))
            });
            if let Some(p) = cheapest {
                x[p] = c.rate[i];
            }
        }
    }
}

/// A routing of all demand from `x` with utilisation near `target`: fitted
/// into target·capacity, topped up greedily there, and whatever still does not
/// fit added where the demand already goes.
pub(crate) fn rebalance(c: &Compact, x: &[f64], price: &[f64], target: f64) -> Vec<f64> {
    let cap: Vec<f64> = c.cap.iter().map(|v| v * target).collect();
    let mut y = x.to_vec();
    fit_within(c, &mut y, &cap);
    fill_within(c, &mut y, price, &cap);
    complete(c, &mut y, price);
    y
}

/// Largest load / capacity.
pub(crate) fn max_utilisation(c: &Compact, x: &[f64]) -> f64 {
    loads(c, x)
        .iter()
        .zip(&c.cap)
        .map(|(l, cap)| if *l > 0.0 { l / cap } else { 0.0 })
        .fold(0.0, f64::max)
}
