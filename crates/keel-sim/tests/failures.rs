//! Every post-failure allocation is checked by the independent verifier:
//! nothing crosses a failed element, and re-optimised allocations respect
//! capacities and demand bounds. FFC allocations are checked under every
//! k-failure by enumeration.

use std::path::Path;

use keel_formats::ReadOptions;
use keel_model::{
    Bandwidth, ClassSet, Demand, NewLink, Site, Topology, TopologyBuilder, TrafficMatrix,
};
use keel_sim::{
    Base, Element, Failed, Probabilities, ReoptOptions, Reoptimise, Scenario, ScenarioKind, Solver,
    local_repair, reoptimise,
};
use keel_te::{
    FfcOptions, Objective, PathMetric, PathOptions, Problem, RiskModel, SolveOptions, Tolerance,
};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn abilene() -> (Topology, TrafficMatrix) {
    let opts = ReadOptions::default();
    let t = keel_formats::read_topology(&root().join("data/abilene.toml"), None, &opts)
        .expect("topology");
    let tm = keel_formats::read_traffic(
        &root().join("data/abilene-demo-traffic.toml"),
        &t,
        None,
        &opts,
    )
    .expect("traffic");
    (t, tm)
}

/// A ring a-b-c-d-e with a chord b-d, an SRLG over a-b and d-e, and a stub f
/// hanging off e by a bridge.
fn ring() -> (Topology, TrafficMatrix) {
    let mut b = TopologyBuilder::new("ring");
    let s: Vec<_> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|n| b.add_site(Site::new(*n)).expect("site"))
        .collect();
    let mut link = |x: usize, y: usize, gbps: f64, srlg: &[&str]| {
        for (u, v) in [(x, y), (y, x)] {
            b.add_link(NewLink {
                srlgs: srlg.iter().map(|g| g.to_string()).collect(),
                ..NewLink::new(s[u], s[v], Bandwidth::from_gbps(gbps))
            })
            .expect("link");
        }
    };
    link(0, 1, 10.0, &["duct"]);
    link(1, 2, 10.0, &[]);
    link(2, 3, 10.0, &[]);
    link(3, 4, 10.0, &["duct"]);
    link(4, 0, 10.0, &[]);
    link(1, 3, 5.0, &[]);
    link(4, 5, 10.0, &[]);
    let t = b.build().expect("topology");
    let classes = ClassSet::default();
    let mut demands = Vec::new();
    for (i, &x) in s.iter().enumerate() {
        for (j, &y) in s.iter().enumerate() {
            if i != j {
                demands.push(Demand {
                    src: x,
                    dst: y,
                    class: classes.default_class(),
                    rate: Bandwidth::from_gbps(0.4 + 0.1 * ((i * 7 + j * 3) % 5) as f64),
                });
            }
        }
    }
    let tm = TrafficMatrix::new(&t, classes, demands).expect("tm");
    (t, tm)
}

fn no_traffic_on_failed(alloc: &keel_model::Allocation, failed: &Failed, what: &str) {
    for (d, da) in alloc.demands.iter().enumerate() {
        for pf in da.paths.iter().filter(|pf| pf.rate > 0.0) {
            assert!(
                !pf.path.links.iter().any(|l| failed.arc(*l)),
                "{what}: demand #{d} still sends {} over a failed link",
                pf.rate
            );
        }
    }
}

fn check_all_scenarios(t: &Topology, tm: &TrafficMatrix, kinds: &[ScenarioKind]) -> usize {
    let paths = keel_te::compute_paths(t, tm, &PathOptions::default());
    let problem = Problem {
        topology: t,
        traffic: tm,
        paths: &paths,
    };
    let sol = keel_te::solve_exact(&problem, &SolveOptions::default()).expect("base");
    let risk = RiskModel::new(t);
    let backups =
        keel_te::backup_paths(t, tm, &paths, PathMetric::Igp, &risk, Some(&sol.allocation));
    let base = Base::new(problem, &sol.allocation, &backups, &risk, None);
    let probs = Probabilities::defaults(t, &risk);
    let mut checked = 0;
    for &kind in kinds {
        let set = keel_sim::scenario_set(kind, t, &risk, &probs, 40);
        for s in &set.scenarios {
            let failed = s.failed(t, &risk);
            let name = s.name(t, &risk);
            let local = local_repair(&base, &failed, true);
            let la = local.allocation.as_ref().expect("kept");
            no_traffic_on_failed(la, &failed, &name);
            for c in 0..local.delivered.len() {
                assert!(local.delivered[c] <= base.carried_class[c] * (1.0 + 1e-9) + 1e-6);
            }
            for mode in [Reoptimise::All, Reoptimise::Affected] {
                let opts = ReoptOptions {
                    mode,
                    solver: Solver::Exact,
                    ..ReoptOptions::default()
                };
                let r = reoptimise(&base, &failed, &opts, true)
                    .expect("re-optimises")
                    .expect("a state");
                let a = r.allocation.as_ref().expect("kept");
                no_traffic_on_failed(a, &failed, &name);
                let report = keel_te::verify(t, tm, None, a, Tolerance::default())
                    .unwrap_or_else(|v| panic!("{name} ({mode:?}): {v:?}"));
                assert!(report.mlu <= 1.0 + 1e-6, "{name}: MLU {}", report.mlu);
                // The state's figures are those of the allocation it kept.
                let delivered: f64 = r.delivered.iter().sum();
                assert!(
                    (delivered - a.carried()).abs() <= 1e-9 * a.carried() + 1e-6,
                    "{name} ({mode:?}): delivered {delivered} vs carried {}",
                    a.carried()
                );
                assert!(
                    (r.max_utilisation - report.mlu).abs() <= 1e-9,
                    "{name} ({mode:?}): MLU {} vs verifier {}",
                    r.max_utilisation,
                    report.mlu
                );
                // Re-optimising never delivers less than local repair minus
                // what congestion dropped: it can at least keep the survivors.
                let local_total: f64 = local.delivered.iter().sum();
                let re_total: f64 = r.delivered.iter().sum();
                assert!(
                    re_total >= local_total * (1.0 - 1e-6) - 1.0,
                    "{name} ({mode:?}): re-optimised {re_total} < local {local_total}"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn ring_every_scenario_verifies() {
    let (t, tm) = ring();
    let n = check_all_scenarios(
        &t,
        &tm,
        &[
            ScenarioKind::SingleLink,
            ScenarioKind::SingleNode,
            ScenarioKind::SingleSrlg,
            ScenarioKind::DoubleLink,
        ],
    );
    // 7 links + 6 sites + 1 SRLG + min(21, 40) pairs, two modes each.
    assert_eq!(n, 2 * (7 + 6 + 1 + 21));
}

#[test]
fn abilene_single_links_verify() {
    let (t, tm) = abilene();
    assert_eq!(
        check_all_scenarios(&t, &tm, &[ScenarioKind::SingleLink]),
        28
    );
}

#[test]
fn bridge_traffic_is_lost_and_named() {
    let (t, tm) = ring();
    let paths = keel_te::compute_paths(&t, &tm, &PathOptions::default());
    let problem = Problem {
        topology: &t,
        traffic: &tm,
        paths: &paths,
    };
    let sol = keel_te::solve_exact(&problem, &SolveOptions::default()).expect("base");
    let risk = RiskModel::new(&t);
    let backups = keel_te::backup_paths(
        &t,
        &tm,
        &paths,
        PathMetric::Igp,
        &risk,
        Some(&sol.allocation),
    );
    let cov = keel_te::coverage(&tm, &backups, Some(&sol.allocation));
    // Everything to or from f crosses the bridge e-f.
    assert!(!cov.unprotected.is_empty());
    for u in &cov.unprotected {
        let keel_te::Unprotectable::Bridge { link } = u.reason;
        let l = t.link(link);
        let ends = [t.site(l.src).id.as_str(), t.site(l.dst).id.as_str()];
        assert!(ends.contains(&"e") && ends.contains(&"f"), "{ends:?}");
    }
    assert!(cov.link_bps < cov.total_bps);
    let base = Base::new(problem, &sol.allocation, &backups, &risk, None);
    let bridge = risk.link_by_name(&t, "e->f").expect("bridge");
    let s = Scenario {
        elements: vec![Element::Link(bridge)],
    };
    let local = local_repair(&base, &s.failed(&t, &risk), false);
    let lost: f64 = local.lost_unprotected.iter().sum();
    let to_f: f64 = tm
        .demands()
        .iter()
        .zip(&sol.allocation.demands)
        .filter(|(d, _)| t.site(d.src).id == "f" || t.site(d.dst).id == "f")
        .map(|(_, a)| a.carried())
        .sum();
    assert!(to_f > 0.0);
    assert!((lost - to_f).abs() <= 1e-6 * to_f, "{lost} vs {to_f}");
    // The SRLG takes a-b and d-e down together: both arcs of both links.
    let duct = risk.srlg_by_name("duct").expect("srlg");
    let f = Scenario {
        elements: vec![Element::Srlg(duct)],
    }
    .failed(&t, &risk);
    assert_eq!(f.arcs.iter().filter(|x| **x).count(), 4);
}

/// All combinations of `k` out of `n`.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for first in 0..n {
        for mut rest in combinations(n, k - 1) {
            if rest.first().is_none_or(|&r| r > first) {
                rest.insert(0, first);
                out.push(rest);
            }
        }
    }
    out
}

fn ffc_survives_every_k_failure(
    t: &Topology,
    tm: &TrafficMatrix,
    opts: PathOptions,
    k: usize,
) -> f64 {
    let paths = keel_te::compute_paths(t, tm, &opts);
    let problem = Problem {
        topology: t,
        traffic: tm,
        paths: &paths,
    };
    let risk = RiskModel::new(t);
    let sol = keel_te::solve_ffc(
        &problem,
        &FfcOptions {
            k,
            ..FfcOptions::default()
        },
        &risk,
    )
    .expect("ffc");
    keel_te::verify(t, tm, Some(&paths), &sol.allocation, Tolerance::default())
        .expect("no-failure state verifies");
    let combos = combinations(risk.link_count(), k);
    for combo in &combos {
        let s = Scenario {
            elements: combo.iter().map(|&l| Element::Link(l as u32)).collect(),
        };
        let failed = s.failed(t, &risk);
        let after = keel_te::rescale_after_failure(&problem, &sol, &failed.arcs);
        no_traffic_on_failed(&after, &failed, &s.name(t, &risk));
        let r = keel_te::verify(t, tm, Some(&paths), &after, Tolerance::default())
            .unwrap_or_else(|v| panic!("k={k}, {}: {v:?}", s.name(t, &risk)));
        assert!(r.mlu <= 1.0 + 1e-7);
        // Every demand keeps its grant unless the failure cut it off entirely.
        for (d, da) in after.demands.iter().enumerate() {
            let cut = paths.per_demand[d]
                .iter()
                .all(|p| p.links.iter().any(|l| failed.arc(*l)));
            if !cut {
                assert!(
                    da.carried() >= sol.granted[d] * (1.0 - 1e-9) - 1e-6,
                    "k={k}: demand #{d} kept {} of its grant {}",
                    da.carried(),
                    sol.granted[d]
                );
            }
        }
    }
    sol.value
}

#[test]
fn ffc_abilene_survives_every_one_and_two_link_failure() {
    let (t, tm) = abilene();
    let opts = PathOptions::default();
    let v0 = ffc_survives_every_k_failure(&t, &tm, opts, 0);
    let v1 = ffc_survives_every_k_failure(&t, &tm, opts, 1);
    let v2 = ffc_survives_every_k_failure(&t, &tm, opts, 2);
    assert!(v0 >= v1 && v1 >= v2, "{v0} {v1} {v2}");
    assert!(v1 > 0.0 && v1 < v0, "protection has a price: {v0} {v1}");
    // k = 0 is plain max-flow on the same paths.
    let paths = keel_te::compute_paths(&t, &tm, &opts);
    let problem = Problem {
        topology: &t,
        traffic: &tm,
        paths: &paths,
    };
    let plain = keel_te::solve_exact(
        &problem,
        &SolveOptions {
            objective: Objective::MaxFlow,
            ..SolveOptions::default()
        },
    )
    .expect("exact");
    assert!(
        (plain.value - v0).abs() <= 1e-5 * plain.value,
        "{} vs {v0}",
        plain.value
    );
}

#[test]
fn ffc_ring_edge_disjoint_survives_every_failure() {
    let (t, tm) = ring();
    let opts = PathOptions {
        k: 3,
        kind: keel_te::PathKind::EdgeDisjoint,
        ..PathOptions::default()
    };
    let v1 = ffc_survives_every_k_failure(&t, &tm, opts, 1);
    assert!(v1 > 0.0);
    let v2 = ffc_survives_every_k_failure(&t, &tm, opts, 2);
    assert!(v2 <= v1);
}
