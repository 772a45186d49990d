//! Turning soft flows into an exactly feasible allocation.

use rayon::prelude::*;

use super::compact::Compact;
use super::oracle::split_by_chunks;

/// Link loads of path flows `x`: pushed up each chunk's prefix forest, summed
/// per segment in parallel over chunks, then spread onto the links.
pub(crate) fn loads(c: &Compact, x: &[f64]) -> Vec<f64> {
    let n_segs = c.segments.count();
    let seg_flow = c
        .chunks()
        .par_iter()
        .enumerate()
        .map(|(k, range)| {
            let nodes = c.forest.nodes(k);
            let mut node_flow = vec![0.0; nodes.len()];
            let paths = c.path_start[range.start]..c.path_start[range.end];
            for (&n, &v) in c.forest.tip[paths.clone()].iter().zip(&x[paths]) {
                node_flow[n as usize] += v;
            }
            let mut seg_flow = vec![0.0; n_segs];
            nodes.flows_up(&mut node_flow, &mut seg_flow);
            seg_flow
        })
        .reduce(
            || vec![0.0; n_segs],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    c.segments.spread(&seg_flow, c.link_count())
}

/// Per path, the sum of `weight` over its links (a price), from the forests.
pub(crate) fn path_sums(c: &Compact, weight: &[f64]) -> Vec<f64> {
    let seg_weight = c.segments.per_segment(weight, |a, b| a + b, 0.0);
    per_path(c, |nodes, out| nodes.sums_down(&seg_weight, out))
}

/// Per path, what `down` computes at the node where the path ends.
fn per_path(c: &Compact, down: impl Fn(&super::compact::Nodes, &mut Vec<f64>) + Sync) -> Vec<f64> {
    let mut out = vec![0.0; c.path_count()];
    split_by_chunks(c, &mut out)
        .into_par_iter()
        .enumerate()
        .for_each(|(k, (range, out))| {
            let mut node_value = Vec::new();
            down(&c.forest.nodes(k), &mut node_value);
            let paths = c.path_start[range.start]..c.path_start[range.end];
            for (o, &n) in out.iter_mut().zip(&c.forest.tip[paths]) {
                *o = node_value[n as usize];
            }
        });
    out
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
    let seg_factor = c.segments.per_segment(&factor, f64::min, 1.0);
    let path_factor = per_path(c, |nodes, out| nodes.mins_down(&seg_factor, out));
    x.par_iter_mut()
        .zip(&path_factor)
        .for_each(|(v, f)| *v *= f.min(1.0));
}

/// Greedily adds each demand's unserved traffic onto its paths, cheapest first
/// by `cost` (per path, see [`path_sums`]), as far as residual capacity allows.
/// Keeps feasibility.
pub(crate) fn fill(c: &Compact, x: &mut [f64], cost: &[f64]) {
    fill_within(c, x, cost, &c.cap);
}

/// `fill` against capacities `cap` instead of the links' own.
pub(crate) fn fill_within(c: &Compact, x: &mut [f64], cost: &[f64], cap: &[f64]) {
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
        order.extend(paths.map(|p| (cost[p], p)));
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
/// or on its cheapest path by `cost` (per path) when it carries nothing.
pub(crate) fn complete(c: &Compact, x: &mut [f64], cost: &[f64]) {
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
            let cheapest = paths.clone().min_by(|a, b| cost[*a].total_cmp(&cost[*b]));
            if let Some(p) = cheapest {
                x[p] = c.rate[i];
            }
        }
    }
}

/// A routing of all demand from `x` with utilisation near `target`: fitted
/// into target·capacity, topped up greedily there, and whatever still does not
/// fit added where the demand already goes.
pub(crate) fn rebalance(c: &Compact, x: &[f64], cost: &[f64], target: f64) -> Vec<f64> {
    let cap: Vec<f64> = c.cap.iter().map(|v| v * target).collect();
    let mut y = x.to_vec();
    fit_within(c, &mut y, &cap);
    fill_within(c, &mut y, cost, &cap);
    complete(c, &mut y, cost);
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

#[cfg(test)]
pub(crate) mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::testing::random_instance;
    use crate::{PathKind, PathOptions, Problem, compute_paths};

    /// The forest-based sums, loads and fits of `c` against the same figures
    /// taken link by link along each path.
    pub(crate) fn assert_forests_agree(c: &Compact, rng: &mut ChaCha8Rng, what: &str) {
        let price: Vec<f64> = (0..c.link_count()).map(|_| rng.random::<f64>()).collect();
        let x: Vec<f64> = (0..c.path_count()).map(|_| rng.random::<f64>()).collect();
        let sums = path_sums(c, &price);
        let mut load = vec![0.0; c.link_count()];
        for p in 0..c.path_count() {
            let links = c.path_links(p);
            let direct: f64 = links.iter().map(|&l| price[l as usize]).sum();
            assert!(
                (sums[p] - direct).abs() <= 1e-12 * links.len() as f64,
                "{what}"
            );
            links.iter().for_each(|&l| load[l as usize] += x[p]);
        }
        for (a, b) in loads(c, &x).iter().zip(&load) {
            assert!((a - b).abs() <= 1e-9 * b.max(1.0), "{what}: {a} vs {b}");
        }
        // Half the capacity: fitting must scale every path by its worst link.
        let half: Vec<f64> = c.cap.iter().map(|v| v * 0.5).collect();
        let mut fitted = x.clone();
        fit_within(c, &mut fitted, &half);
        for (e, l) in loads(c, &fitted).iter().enumerate() {
            assert!(
                *l <= half[e] * (1.0 + 1e-9),
                "{what}: link {e} {l} > {}",
                half[e]
            );
        }
        let factor: Vec<f64> = half
            .iter()
            .zip(&load)
            .map(|(c, l)| if l > c { c / l } else { 1.0 })
            .collect();
        for p in 0..c.path_count() {
            let f = c
                .path_links(p)
                .iter()
                .map(|&l| factor[l as usize])
                .fold(1.0, f64::min);
            assert!((fitted[p] - x[p] * f).abs() <= 1e-9 * x[p], "{what}");
        }
    }

    #[test]
    fn prefix_forests_agree_with_paths_link_by_link() {
        for seed in 0..30 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (topo, tm) = random_instance(&mut rng, 5..=14, 20..=120);
            let opts = PathOptions {
                k: 4,
                kind: if seed % 2 == 0 {
                    PathKind::EdgeDisjoint
                } else {
                    PathKind::Shortest
                },
                ..PathOptions::default()
            };
            let paths = compute_paths(&topo, &tm, &opts);
            let problem = Problem {
                topology: &topo,
                traffic: &tm,
                paths: &paths,
            };
            let capacity: Vec<f64> = topo.links().iter().map(|l| l.capacity.bps()).collect();
            let c = Compact::new(&problem, &capacity, |d| d % 5 != 3);
            assert_forests_agree(&c, &mut rng, &format!("seed {seed}"));
        }
    }
}
