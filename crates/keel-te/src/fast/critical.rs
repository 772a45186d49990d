//! Min-MLU by row generation over the critical links: an exact LP, kept small.
//!
//! The min-MLU dual is max Σ_d D_d·min_p λ(p) / Σ_e c_e λ_e over λ ≥ 0, and an
//! optimal λ is zero off the links saturated at the optimum: a handful (7 to
//! 30 of 200 to 500 on UsCarrier, Cogentco and GtsCe). Keeping only the capacity
//! rows of a link set S relaxes the problem: a demand with a candidate path that
//! avoids S routes there for free and drops out, and the rest ("trapped"
//! demands) only differ by which links of S each of their paths crosses.
//! Demands that cross S the same way merge into one commodity, so the
//! relaxation has a few hundred to a few thousand columns and Clarabel solves it
//! exactly in milliseconds. Its optimum U_S is a lower bound on the MLU,
//! certified by its link duals (valid prices for the full problem whatever S
//! is). Its routing, spread evenly over each demand's paths of the chosen
//! signature (free demands: over their paths that avoid S), is a routing of all
//! demand that meets U_S on S; the links it overloads elsewhere join S, and the
//! next relaxation is solved. When no link outside S is overloaded the routing
//! is optimal. From the links loaded to 90% of the most loaded under an even
//! split, two to four rounds reached the optimum on those three networks.

use rustc_hash::FxHashMap;

use super::compact::Compact;
use crate::lp::{Lp, LpSettings};

/// The first S: links loaded to this fraction of the most loaded when every
/// demand splits evenly over its paths (0.9 took 2 to 4 rounds on UsCarrier,
/// Cogentco and GtsCe; 0.5 took as many rounds on larger relaxations).
const START_FRACTION: f64 = 0.9;

const SETTINGS: LpSettings = LpSettings {
    tolerance: 1e-9,
    max_iter: 200,
};

/// Links whose utilisation under `load` is at least `fraction` of the largest.
pub(crate) fn loaded_links(c: &Compact, load: &[f64], fraction: f64) -> Vec<usize> {
    let util: Vec<f64> = load
        .iter()
        .zip(&c.cap)
        .map(|(l, cap)| if *cap > 0.0 { l / cap } else { 0.0 })
        .collect();
    let top = util.iter().copied().fold(0.0, f64::max);
    (0..util.len())
        .filter(|&e| c.cap[e] > 0.0 && util[e] >= fraction * top && util[e] > 0.0)
        .collect()
}

/// Σ_d D_d·min_p λ(p) / Σ_e c_e λ_e on the compact problem (0 when λ prices no
/// capacity).
pub(crate) fn lower_bound(c: &Compact, lambda: &[f64]) -> f64 {
    let denom: f64 = lambda.iter().zip(&c.cap).map(|(l, c)| l * c).sum();
    if denom <= 0.0 {
        return 0.0;
    }
    let num: f64 = (0..c.demand_count())
        .map(|i| {
            let min = c
                .paths(i)
                .map(|p| {
                    c.path_links(p)
                        .iter()
                        .map(|&l| lambda[l as usize])
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            c.rate[i] * min
        })
        .sum();
    num / denom
}

/// A routing of all demand with its certificate, from `route`.
pub(crate) struct Routed {
    pub x: Vec<f64>,
    pub mlu: f64,
    /// Link prices (zero off the critical links) and the bound they certify.
    pub lambda: Vec<f64>,
    pub lower: f64,
    /// Relaxations solved.
    pub rounds: usize,
}

/// The relaxation over `critical` (see `prices`) with its routing mapped back
/// onto the demands' paths.
struct Relaxed {
    lambda: Vec<f64>,
    x: Vec<f64>,
}

fn relax(c: &Compact, critical: &[usize]) -> Option<Relaxed> {
    const FREE: u32 = u32::MAX;
    const UNUSED: u32 = u32::MAX - 1;
    let mut local = vec![FREE; c.link_count()];
    for (k, &e) in critical.iter().enumerate() {
        local[e] = k as u32;
    }
    let mut classes: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    let mut class_sigs: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut rate: Vec<f64> = Vec::new();
    let mut demand_class = vec![FREE; c.demand_count()];
    let mut path_sig = vec![FREE; c.path_count()];
    let mut sigs: Vec<Vec<u32>> = Vec::new();
    let mut key = Vec::new();
    for (i, class) in demand_class.iter_mut().enumerate() {
        // Most demands have a path that avoids S: no signatures for them.
        let avoids = |p: usize| c.path_links(p).iter().all(|&l| local[l as usize] == FREE);
        if c.paths(i).any(avoids) {
            for p in c.paths(i) {
                path_sig[p] = if avoids(p) { FREE } else { UNUSED };
            }
            continue;
        }
        sigs.clear();
        for p in c.paths(i) {
            let mut sig: Vec<u32> = c
                .path_links(p)
                .iter()
                .map(|&l| local[l as usize])
                .filter(|&k| k != FREE)
                .collect();
            sig.sort_unstable();
            sigs.push(sig);
        }
        let per_path = sigs.clone();
        sigs.sort();
        sigs.dedup();
        key.clear();
        for s in &sigs {
            key.extend_from_slice(s);
            key.push(FREE);
        }
        let next = rate.len() as u32;
        let k = *classes.entry(key.clone()).or_insert(next);
        if k == next {
            rate.push(0.0);
            class_sigs.push(sigs.clone());
        }
        rate[k as usize] += c.rate[i];
        *class = k;
        for (p, sig) in c.paths(i).zip(&per_path) {
            path_sig[p] = sigs.binary_search(sig).map_or(UNUSED, |j| j as u32);
        }
    }
    // min U s.t. each commodity routed in full, S-loads ≤ U·c_e.
    let mut lambda = vec![0.0; c.link_count()];
    let mut share: Vec<Vec<f64>> = Vec::new();
    if !rate.is_empty() {
        let mut lp = Lp::new();
        let u = lp.var(1.0);
        let mut on_link: Vec<Vec<(usize, f64)>> = vec![Vec::new(); critical.len()];
        let mut vars: Vec<Vec<usize>> = Vec::with_capacity(rate.len());
        for (k, sigs) in class_sigs.iter().enumerate() {
            let cols: Vec<usize> = sigs.iter().map(|_| lp.var(0.0)).collect();
            for (sig, &x) in sigs.iter().zip(&cols) {
                for &e in sig {
                    on_link[e as usize].push((x, 1.0));
                }
            }
            lp.add_eq(cols.iter().map(|&x| (x, 1.0)), rate[k]);
            vars.push(cols);
        }
        let rows: Vec<_> = on_link
            .into_iter()
            .enumerate()
            .filter(|(_, xs)| !xs.is_empty())
            .map(|(k, xs)| {
                let cap = c.cap[critical[k]];
                (k, lp.add_le(xs.into_iter().chain([(u, -cap)]), 0.0))
            })
            .collect();
        let sol = lp.solve(SETTINGS).ok()?;
        for (k, row) in rows {
            lambda[critical[k]] = sol.dual(row).max(0.0);
        }
        // Fraction of each commodity on each of its signatures.
        share = vars
            .iter()
            .zip(&rate)
            .map(|(cols, r)| {
                let f: Vec<f64> = cols.iter().map(|&x| sol.x[x].max(0.0)).collect();
                let t: f64 = f.iter().sum();
                if t > 0.0 && *r > 0.0 {
                    f.iter().map(|v| v / t).collect()
                } else {
                    vec![1.0 / cols.len() as f64; cols.len()]
                }
            })
            .collect();
    }
    // Each demand takes its commodity's split, even over its paths of the same
    // signature; free demands split evenly over their paths that avoid S.
    let mut x = vec![0.0; c.path_count()];
    let mut count = Vec::new();
    for (i, &k) in demand_class.iter().enumerate() {
        let paths = c.paths(i);
        if k == FREE {
            let n = paths.clone().filter(|&p| path_sig[p] == FREE).count() as f64;
            for p in paths {
                if path_sig[p] == FREE {
                    x[p] = c.rate[i] / n;
                }
            }
            continue;
        }
        let sh = &share[k as usize];
        count.clear();
        count.resize(sh.len(), 0usize);
        for p in paths.clone() {
            if path_sig[p] != UNUSED {
                count[path_sig[p] as usize] += 1;
            }
        }
        for p in paths {
            let j = path_sig[p];
            if j != UNUSED {
                x[p] = c.rate[i] * sh[j as usize] / count[j as usize] as f64;
            }
        }
    }
    Some(Relaxed { lambda, x })
}

/// Row generation: solve the relaxation over a growing set of links, route
/// everything by its solution, and add the links that routing overloads, until
/// `done(mlu, lower)` holds, nothing is overloaded off S, or after `rounds`
/// relaxations. The best routing and the best bound seen; None when the first
/// relaxation fails.
pub(crate) fn route(
    c: &Compact,
    target: f64,
    rounds: usize,
    mut done: impl FnMut(f64, f64) -> bool,
) -> Option<Routed> {
    let mut even = vec![0.0; c.path_count()];
    for i in 0..c.demand_count() {
        let paths = c.paths(i);
        let n = paths.len() as f64;
        even[paths].iter_mut().for_each(|v| *v = c.rate[i] / n);
    }
    let mut critical = loaded_links(c, &super::primal::loads(c, &even), START_FRACTION);
    let mut best = Routed {
        x: Vec::new(),
        mlu: f64::INFINITY,
        lambda: vec![0.0; c.link_count()],
        lower: 0.0,
        rounds: 0,
    };
    let mut in_set = vec![false; c.link_count()];
    critical.retain(|&e| c.cap[e] > 0.0);
    for &e in &critical {
        in_set[e] = true;
    }
    for round in 1..=rounds {
        let Some(r) = relax(c, &critical) else {
            break;
        };
        let lower = lower_bound(c, &r.lambda);
        let load = super::primal::loads(c, &r.x);
        let util: Vec<f64> = load
            .iter()
            .zip(&c.cap)
            .map(|(l, cap)| {
                if *cap > 0.0 {
                    l / cap
                } else if *l > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mlu = util.iter().copied().fold(0.0, f64::max);
        best.rounds = round;
        if lower > best.lower {
            best.lower = lower;
            best.lambda = r.lambda;
        }
        if mlu < best.mlu || best.x.is_empty() {
            best.mlu = mlu;
            best.x = r.x;
        }
        if done(best.mlu, best.lower) {
            break;
        }
        // Links over the bound by more than a quarter of the target, worst first.
        let limit = best.lower * (1.0 + 0.25 * target);
        let mut over: Vec<usize> = (0..util.len())
            .filter(|&e| !in_set[e] && c.cap[e] > 0.0 && util[e] > limit)
            .collect();
        if over.is_empty() {
            break;
        }
        over.sort_by(|a, b| util[*b].total_cmp(&util[*a]));
        // At most doubling S per round: adding every overloaded link at once
        // (148 and 211 links after the first round on Cogentco and GtsCe) made
        // relaxations of seconds instead of two more rounds of 30 to 90 ms.
        over.truncate(critical.len().max(8));
        for e in over {
            in_set[e] = true;
            critical.push(e);
        }
    }
    (best.rounds > 0).then_some(best)
}
