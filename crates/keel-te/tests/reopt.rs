//! The incremental re-optimiser against from-scratch work: after a link failure,
//! a restore, a new traffic matrix or a capacity change, its candidate paths are
//! those computed from scratch on the changed network, its allocation passes the
//! verifier (and carries nothing over failed links), and its value lies within
//! its certified gap of the exact optimum of the changed problem.

mod common;

use common::*;
use keel_model::spec::TopologySpec;
use keel_model::{Bandwidth, ClassId, Demand, LinkId, SiteId, Topology, TrafficMatrix};
use keel_te::{
    CandidatePaths, FastOptions, GapKind, Hooks, Objective, PathKind, PathMetric, PathOptions,
    Problem, Reoptimiser, Reroute, Solution, SolveOptions, Tolerance, compute_paths, solve_exact,
    solve_fast, verify,
};
use rand::Rng;

const TIGHT: Tolerance = Tolerance {
    relative: 1e-7,
    absolute: 1e-6,
};

const GAP: f64 = 1e-3;

fn fast_opts() -> FastOptions {
    FastOptions {
        objective: Objective::MaxFlow,
        class_priority: false,
        gap: GAP,
        time_limit: None,
    }
}

fn path_opts(kind: PathKind) -> PathOptions {
    PathOptions {
        k: 3,
        kind,
        metric: PathMetric::Igp,
        latency_bounds: false,
    }
}

/// Candidate paths as link-id names, comparable across topologies whose link
/// indices differ.
fn named(topo: &Topology, paths: &CandidatePaths) -> Vec<Vec<Vec<String>>> {
    paths
        .per_demand
        .iter()
        .map(|ps| {
            ps.iter()
                .map(|p| p.links.iter().map(|l| topo.link(*l).id.clone()).collect())
                .collect()
        })
        .collect()
}

/// `topo` without the links `gone`, and `tm` on it.
fn without(topo: &Topology, tm: &TrafficMatrix, gone: &[LinkId]) -> (Topology, TrafficMatrix) {
    let ids: Vec<&str> = gone.iter().map(|l| topo.link(*l).id.as_str()).collect();
    let mut spec = TopologySpec::from_topology(topo);
    spec.links
        .retain(|l| l.id.as_deref().is_none_or(|id| !ids.contains(&id)));
    let reduced = spec.into_topology().expect("reduced topology");
    let tm =
        TrafficMatrix::new_allow_unreachable(&reduced, tm.classes().clone(), tm.demands().to_vec())
            .expect("traffic on the reduced topology");
    (reduced, tm)
}

/// The re-optimiser's current result: verified on its topology, nothing on
/// down links, and within its certified gap of the exact optimum of the same
/// problem built from scratch on `scratch_topo` (which has no down links).
fn check_against_scratch(
    reopt: &mut Reoptimiser,
    scratch_topo: &Topology,
    scratch_tm: &TrafficMatrix,
    kind: PathKind,
) -> Solution {
    let scratch_paths = compute_paths(scratch_topo, scratch_tm, &path_opts(kind));
    assert_eq!(
        named(reopt.topology(), reopt.paths()),
        named(scratch_topo, &scratch_paths),
        "incremental paths differ from paths computed from scratch"
    );
    let out = reopt.solve(Hooks::default()).expect("incremental solve");
    let sol = out.solution;
    let p = reopt.problem();
    let verified = verify(p.topology, p.traffic, Some(p.paths), &sol.allocation, TIGHT);
    assert!(verified.is_ok(), "verifier: {:?}", verified.err());
    for pf in sol.allocation.demands.iter().flat_map(|d| &d.paths) {
        if pf.path.links.iter().any(|l| reopt.is_down(*l)) {
            assert_eq!(pf.rate, 0.0, "traffic on a down link");
        }
    }
    assert_eq!(sol.gap_kind, GapKind::Certified);
    assert!(sol.gap <= GAP + 1e-12, "gap {}", sol.gap);
    let exact = solve_exact(
        &Problem {
            topology: scratch_topo,
            traffic: scratch_tm,
            paths: &scratch_paths,
        },
        &SolveOptions {
            objective: Objective::MaxFlow,
            class_priority: false,
            ..SolveOptions::default()
        },
    )
    .expect("exact solve from scratch");
    let opt = exact.value;
    let slack = 1e-6 * opt.abs().max(1.0);
    assert!(
        sol.value <= opt + slack,
        "value {} above optimum {opt}",
        sol.value
    );
    assert!(
        sol.bound >= opt - slack,
        "bound {} below optimum {opt}",
        sol.bound
    );
    assert!(
        sol.value >= opt * (1.0 - sol.gap) - slack,
        "value {} not within gap {} of optimum {opt}",
        sol.value,
        sol.gap
    );
    sol
}

fn failures_match_scratch(seed: u64, kind: PathKind) {
    let mut r = rng(seed);
    let n = r.random_range(6..11);
    let topo = random_topology(&mut r, n, 10);
    let tm = random_traffic(&mut r, &topo, 30, 1);
    let mut reopt = Reoptimiser::new(topo.clone(), tm.clone(), path_opts(kind), fast_opts())
        .expect("reoptimiser");
    check_against_scratch(&mut reopt, &topo, &tm, kind);
    let mut rerouted = 0;
    // Both arcs of a few fibres, one failure at a time, then two at once.
    for fibre in 0..topo.link_count() / 2 {
        let arcs = [LinkId(2 * fibre as u32), LinkId(2 * fibre as u32 + 1)];
        for &l in &arcs {
            rerouted += reopt.fail_link(l).expect("fail");
        }
        let (reduced, reduced_tm) = without(&topo, &tm, &arcs);
        check_against_scratch(&mut reopt, &reduced, &reduced_tm, kind);
        for &l in &arcs {
            reopt.restore_link(l).expect("restore");
        }
        check_against_scratch(&mut reopt, &topo, &tm, kind);
    }
    assert!(rerouted > 0, "no failure touched a candidate path");
    let two = [LinkId(0), LinkId(3)];
    for &l in &two {
        reopt.fail_link(l).expect("fail");
    }
    let (reduced, reduced_tm) = without(&topo, &tm, &two);
    check_against_scratch(&mut reopt, &reduced, &reduced_tm, kind);
    reopt.restore_link(two[0]).expect("restore");
    let (reduced, reduced_tm) = without(&topo, &tm, &two[1..]);
    check_against_scratch(&mut reopt, &reduced, &reduced_tm, kind);
}

#[test]
fn failures_and_restores_match_scratch_shortest() {
    for seed in 0..6 {
        failures_match_scratch(seed, PathKind::Shortest);
    }
}

#[test]
fn failures_and_restores_match_scratch_disjoint() {
    for seed in 10..16 {
        failures_match_scratch(seed, PathKind::EdgeDisjoint);
    }
}

/// `tm`'s demands with new random rates (some zero).
fn new_rates(
    r: &mut rand_chacha::ChaCha8Rng,
    topo: &Topology,
    tm: &TrafficMatrix,
) -> TrafficMatrix {
    let demands = tm
        .demands()
        .iter()
        .map(|d| Demand {
            rate: Bandwidth::from_gbps(if r.random_bool(0.1) {
                0.0
            } else {
                r.random_range(1..=60) as f64
            }),
            ..*d
        })
        .collect();
    TrafficMatrix::new(topo, tm.classes().clone(), demands).expect("traffic")
}

/// `tm` without its first five demands and with `added` demands between sites
/// s and n-1-s (new pairs unless `tm` has them).
fn renumbered(topo: &Topology, tm: &TrafficMatrix, added: u32) -> TrafficMatrix {
    let n = topo.site_count() as u32;
    let mut demands: Vec<Demand> = tm.demands()[5..].to_vec();
    for s in 0..added {
        demands.push(Demand {
            src: SiteId(s),
            dst: SiteId(n - 1 - s),
            class: ClassId(0),
            rate: Bandwidth::from_gbps(20.0),
        });
    }
    TrafficMatrix::new(topo, tm.classes().clone(), demands).expect("traffic")
}

#[test]
fn new_traffic_matches_scratch() {
    for seed in 20..26 {
        let mut r = rng(seed);
        let topo = random_topology(&mut r, 9, 10);
        let tm = random_traffic(&mut r, &topo, 30, 1);
        let kind = PathKind::EdgeDisjoint;
        let mut reopt = Reoptimiser::new(topo.clone(), tm.clone(), path_opts(kind), fast_opts())
            .expect("reoptimiser");
        check_against_scratch(&mut reopt, &topo, &tm, kind);
        // Same pairs, new volumes: no path work.
        let next = new_rates(&mut r, &topo, &tm);
        assert_eq!(reopt.set_traffic(next.clone()).expect("traffic"), 0);
        check_against_scratch(&mut reopt, &topo, &next, kind);
        // Some new pairs, some dropped, with a link down.
        reopt.fail_link(LinkId(1)).expect("fail");
        let other = renumbered(&topo, &next, 3);
        let fresh_pairs = reopt.set_traffic(other.clone()).expect("traffic");
        assert!(fresh_pairs <= 3);
        let (reduced, reduced_tm) = without(&topo, &other, &[LinkId(1)]);
        check_against_scratch(&mut reopt, &reduced, &reduced_tm, kind);
        reopt.restore_link(LinkId(1)).expect("restore");
        check_against_scratch(&mut reopt, &topo, &other, kind);
    }
}

#[test]
fn capacity_changes_match_scratch() {
    let mut r = rng(40);
    let topo = random_topology(&mut r, 8, 8);
    let tm = random_traffic(&mut r, &topo, 25, 1);
    let kind = PathKind::Shortest;
    let mut reopt = Reoptimiser::new(topo.clone(), tm.clone(), path_opts(kind), fast_opts())
        .expect("reoptimiser");
    check_against_scratch(&mut reopt, &topo, &tm, kind);
    let mut capacity: Vec<f64> = topo.links().iter().map(|l| l.capacity.bps()).collect();
    for (l, c) in capacity.iter_mut().enumerate().step_by(3) {
        *c *= 0.25;
        reopt.set_capacity(LinkId(l as u32), *c).expect("capacity");
    }
    let changed = topo.with_capacities(&capacity).expect("capacities");
    check_against_scratch(&mut reopt, &changed, &tm, kind);
}

/// A patched packed problem is solved as a freshly packed one: its forests
/// hold old and new paths in another order, so sums round differently, but
/// value and bound agree to rounding and the allocation is verified.
#[test]
fn incremental_solve_equals_a_fresh_solve_of_the_same_problem() {
    let mut r = rng(50);
    let topo = random_topology(&mut r, 10, 12);
    let tm = random_traffic(&mut r, &topo, 40, 1);
    let mut reopt = Reoptimiser::new(
        topo.clone(),
        tm.clone(),
        path_opts(PathKind::Shortest),
        fast_opts(),
    )
    .expect("reoptimiser");
    reopt.solve(Hooks::default()).expect("first solve");
    let next = new_rates(&mut r, &topo, &tm);
    reopt.set_traffic(next).expect("traffic");
    reopt.fail_link(LinkId(4)).expect("fail");
    same_as_fresh(&mut reopt);
    // Demands renumbered: five dropped, two new pairs.
    let other = renumbered(&topo, reopt.traffic(), 2);
    reopt.set_traffic(other).expect("traffic");
    same_as_fresh(&mut reopt);
    reopt.restore_link(LinkId(4)).expect("restore");
    same_as_fresh(&mut reopt);
}

fn same_as_fresh(reopt: &mut Reoptimiser) {
    let warm = reopt.warm_start().cloned();
    assert!(warm.is_some());
    let fresh = solve_fast(
        &reopt.problem(),
        &fast_opts(),
        warm.as_ref(),
        Hooks::default(),
    )
    .expect("fresh solve");
    let inc = reopt.solve(Hooks::default()).expect("incremental solve");
    let (inc, fresh) = (inc.solution, fresh.solution);
    assert!(
        close(inc.value, fresh.value, 1e-5),
        "{} vs {}",
        inc.value,
        fresh.value
    );
    assert!(close(inc.bound, fresh.bound, 1e-5));
    assert!(inc.gap <= GAP + 1e-12, "gap {}", inc.gap);
    let p = reopt.problem();
    let verified = verify(p.topology, p.traffic, Some(p.paths), &inc.allocation, TIGHT);
    assert!(verified.is_ok(), "verifier: {:?}", verified.err());
}

#[test]
fn rejects_unknown_links_and_bad_capacities() {
    let topo = diamond();
    let tm = traffic(&topo, &[("s", "t", "best-effort", 10.0)]);
    let mut reopt = Reoptimiser::new(topo.clone(), tm, path_opts(PathKind::Shortest), fast_opts())
        .expect("reoptimiser");
    let beyond = LinkId(topo.link_count() as u32);
    assert!(reopt.fail_link(beyond).is_err());
    assert!(reopt.restore_link(beyond).is_err());
    assert!(reopt.set_capacity(LinkId(0), -1.0).is_err());
    assert!(reopt.set_capacity(LinkId(0), f64::NAN).is_err());
    assert_eq!(
        reopt
            .restore_link(LinkId(0))
            .expect("restore of an up link"),
        0
    );
}

/// All-pairs traffic in (source, destination) order, as generators write it,
/// with a random quarter of the pairs left out.
fn sorted_traffic(r: &mut rand_chacha::ChaCha8Rng, topo: &Topology) -> TrafficMatrix {
    let n = topo.site_count() as u32;
    let mut demands = Vec::new();
    for s in 0..n {
        for d in 0..n {
            if s != d && !r.random_bool(0.25) {
                demands.push(Demand {
                    src: SiteId(s),
                    dst: SiteId(d),
                    class: ClassId(0),
                    rate: Bandwidth::from_gbps(r.random_range(1..=30) as f64),
                });
            }
        }
    }
    TrafficMatrix::new(topo, keel_model::ClassSet::default(), demands).expect("traffic")
}

#[test]
fn ordered_traffic_sequences_match_scratch() {
    let mut r = rng(60);
    let topo = random_topology(&mut r, 8, 9);
    let tm = sorted_traffic(&mut r, &topo);
    let kind = PathKind::EdgeDisjoint;
    let mut reopt = Reoptimiser::new(topo.clone(), tm.clone(), path_opts(kind), fast_opts())
        .expect("reoptimiser");
    check_against_scratch(&mut reopt, &topo, &tm, kind);
    let mut new_pairs = 0;
    for _ in 0..4 {
        let next = sorted_traffic(&mut r, &topo);
        new_pairs += reopt.set_traffic(next.clone()).expect("traffic");
        check_against_scratch(&mut reopt, &topo, &next, kind);
    }
    assert!(new_pairs > 0);
}

/// Dropping dead paths: every demand keeps its surviving candidates (new paths
/// only when none survive), nothing crosses a down link, the result is within
/// its gap of the exact optimum over those paths, and a restore brings back the
/// paths computed with every link up.
#[test]
fn dropping_dead_paths_keeps_the_survivors() {
    let mut r = rng(70);
    let topo = random_topology(&mut r, 9, 10);
    let tm = random_traffic(&mut r, &topo, 30, 1);
    let kind = PathKind::EdgeDisjoint;
    let mut reopt = Reoptimiser::new(topo.clone(), tm.clone(), path_opts(kind), fast_opts())
        .expect("reoptimiser");
    reopt.set_reroute(Reroute::DropDead);
    check_against_scratch(&mut reopt, &topo, &tm, kind);
    let before = reopt.paths().clone();
    let mut kept_some = false;
    for fibre in 0..topo.link_count() / 2 {
        let arcs = [LinkId(2 * fibre as u32), LinkId(2 * fibre as u32 + 1)];
        reopt.fail_links(&arcs).expect("fail");
        for (d, paths) in reopt.paths().per_demand.iter().enumerate() {
            let survivors: Vec<_> = before.per_demand[d]
                .iter()
                .filter(|p| !p.links.iter().any(|l| arcs.contains(l)))
                .cloned()
                .collect();
            if !survivors.is_empty() {
                assert_eq!(paths, &survivors, "demand {d} lost a surviving path");
                kept_some |= survivors.len() < before.per_demand[d].len();
            }
            assert!(
                paths
                    .iter()
                    .all(|p| !p.links.iter().any(|l| arcs.contains(l)))
            );
        }
        let out = reopt.solve(Hooks::default()).expect("solve");
        let p = reopt.problem();
        let verified = verify(
            p.topology,
            p.traffic,
            Some(p.paths),
            &out.solution.allocation,
            TIGHT,
        );
        assert!(verified.is_ok(), "verifier: {:?}", verified.err());
        let exact = solve_exact(
            &p,
            &SolveOptions {
                objective: Objective::MaxFlow,
                class_priority: false,
                ..SolveOptions::default()
            },
        )
        .expect("exact");
        let slack = 1e-6 * exact.value.max(1.0);
        assert!(out.solution.value <= exact.value + slack);
        assert!(out.solution.value >= exact.value * (1.0 - out.solution.gap) - slack);
        reopt.restore_links(&arcs).expect("restore");
        check_against_scratch(&mut reopt, &topo, &tm, kind);
    }
    assert!(kept_some, "no failure left a demand with surviving paths");
}
