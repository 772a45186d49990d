mod common;
/// The path computation as it was before it was made fast: the oracle.
#[path = "paths/reference.rs"]
mod reference;

use std::collections::HashSet;

use common::*;
use keel_model::{
    Bandwidth, ClassId, ClassSet, Demand, Latency, LinkId, NewLink, Site, SiteId, Topology,
    TopologyBuilder, TrafficMatrix,
};
use keel_te::{
    CandidatePaths, PathKind, PathMetric, PathOptions, compute_paths, edge_disjoint, k_shortest,
    link_weights, path_cost, srlg_disjoint,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A random directed graph without parallel links and integer metrics.
fn random_digraph(seed: u64) -> Topology {
    let mut r = rng(seed);
    let n = r.random_range(4..=10);
    let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut arcs = Vec::new();
    for a in 0..n {
        for z in 0..n {
            if a != z && r.random_bool(0.35) {
                arcs.push((a, z, r.random_range(1..=5) as f64));
            }
        }
    }
    let arcs: Vec<Arc> = arcs
        .iter()
        .map(|&(a, z, m)| Arc {
            metric: m,
            ..arc(refs[a], refs[z], 10.0)
        })
        .collect();
    topology(&refs, &arcs)
}

fn assert_simple_path(topo: &Topology, src: SiteId, dst: SiteId, links: &[LinkId]) {
    assert!(!links.is_empty());
    assert_eq!(topo.link(links[0]).src, src);
    assert_eq!(topo.link(links[links.len() - 1]).dst, dst);
    let mut seen = HashSet::from([src]);
    for w in links.windows(2) {
        assert_eq!(topo.link(w[0]).dst, topo.link(w[1]).src, "contiguous");
    }
    for l in links {
        assert!(seen.insert(topo.link(*l).dst), "loop in {links:?}");
    }
}

/// Every simple path's cost, sorted: the ground truth on small graphs.
fn all_simple_path_costs(topo: &Topology, src: SiteId, dst: SiteId) -> Vec<u64> {
    fn walk(
        topo: &Topology,
        at: SiteId,
        dst: SiteId,
        seen: &mut Vec<SiteId>,
        cost: u64,
        out: &mut Vec<u64>,
    ) {
        if at == dst {
            out.push(cost);
            return;
        }
        for &l in topo.out_links(at) {
            let next = topo.link(l).dst;
            if !seen.contains(&next) {
                seen.push(next);
                walk(
                    topo,
                    next,
                    dst,
                    seen,
                    cost + topo.link(l).metric as u64,
                    out,
                );
                seen.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(topo, src, dst, &mut vec![src], 0, &mut out);
    out.sort_unstable();
    out
}

/// Yen's costs must be the k smallest simple-path costs. `pathfinding::yen` is a
/// second oracle, but only where its costs are strictly increasing: on cost ties
/// it accepts several routes at once and pops the next before spurring them all,
/// so it can skip a cheaper path (seed 4, 0 -> 9 shows it: it misses a cost-12
/// path that brute force finds).
#[test]
fn yen_matches_oracles_on_random_graphs() {
    let (mut compared, mut with_pathfinding) = (0, 0);
    for seed in 0..40 {
        let topo = random_digraph(seed);
        let n = topo.site_count() as u32;
        let weights = link_weights(&topo, PathMetric::Igp);
        for (s, t) in [(0, n - 1), (1, 0), (n / 2, 1)] {
            let (src, dst) = (SiteId(s), SiteId(t));
            if src == dst {
                continue;
            }
            let k = 7;
            let ours = k_shortest(&topo, src, dst, k, PathMetric::Igp, None);
            let our_costs: Vec<u64> = ours
                .iter()
                .map(|p| path_cost(&weights, &p.links) as u64)
                .collect();
            let mut truth = all_simple_path_costs(&topo, src, dst);
            truth.truncate(k);
            assert_eq!(our_costs, truth, "seed {seed}, {s} -> {t}");

            let oracle = pathfinding::directed::yen::yen(
                &src,
                |v: &SiteId| {
                    topo.out_links(*v)
                        .iter()
                        .map(|l| (topo.link(*l).dst, topo.link(*l).metric as u64))
                        .collect::<Vec<_>>()
                },
                |v| *v == dst,
                k,
            );
            let oracle_costs: Vec<u64> = oracle.iter().map(|(_, c)| *c).collect();
            if oracle_costs.windows(2).all(|c| c[0] < c[1]) {
                assert_eq!(our_costs, oracle_costs, "seed {seed}, {s} -> {t}");
                with_pathfinding += 1;
            }
            let distinct: HashSet<_> = ours.iter().map(|p| p.links.clone()).collect();
            assert_eq!(distinct.len(), ours.len(), "paths are distinct");
            for p in &ours {
                assert_simple_path(&topo, src, dst, &p.links);
            }
            compared += ours.len();
        }
    }
    assert!(compared > 200, "the random graphs should have many paths");
    assert!(with_pathfinding > 10, "{with_pathfinding}");
}

#[test]
fn parallel_links_are_distinct_paths() {
    let topo = topology(
        &["a", "b", "c"],
        &[
            Arc {
                metric: 1.0,
                ..arc("a", "b", 10.0)
            },
            Arc {
                metric: 2.0,
                ..arc("a", "b", 10.0)
            },
            arc("b", "c", 10.0),
        ],
    );
    let (a, c) = (SiteId(0), SiteId(2));
    let paths = k_shortest(&topo, a, c, 5, PathMetric::Igp, None);
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0].links[..], [LinkId(0), LinkId(2)]);
    assert_eq!(paths[1].links[..], [LinkId(1), LinkId(2)]);
    // Hops tie: ordered by link ids.
    let hops = k_shortest(&topo, a, c, 5, PathMetric::Hops, None);
    assert_eq!(hops, paths);
    // Excluding the cheap parallel link leaves the other.
    let mut excluded = vec![false; topo.link_count()];
    excluded[0] = true;
    let rest = k_shortest(&topo, a, c, 5, PathMetric::Igp, Some(&excluded));
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].links[..], [LinkId(1), LinkId(2)]);
    assert!(k_shortest(&topo, c, a, 3, PathMetric::Igp, None).is_empty());
    assert!(k_shortest(&topo, a, a, 3, PathMetric::Igp, None).is_empty());
}

#[test]
fn disjoint_paths_share_no_link_or_srlg() {
    let mut checked = 0;
    for seed in 0..30 {
        let mut r = rng(seed);
        let n = r.random_range(5..=12);
        let topo = random_topology(&mut r, n, 2 * n);
        let (src, dst) = (SiteId(0), SiteId(n as u32 - 1));
        let ed = edge_disjoint(&topo, src, dst, 5, PathMetric::Igp, None);
        assert!(!ed.is_empty());
        let mut used = HashSet::new();
        for p in &ed {
            assert_simple_path(&topo, src, dst, &p.links);
            for l in p.links.iter() {
                assert!(used.insert(*l), "seed {seed}: link {l:?} shared");
            }
        }
        let sd = srlg_disjoint(&topo, src, dst, 5, PathMetric::Latency, None);
        assert!(!sd.is_empty());
        let mut groups: HashSet<&str> = HashSet::new();
        for p in &sd {
            assert_simple_path(&topo, src, dst, &p.links);
            let mine: HashSet<&str> = p
                .links
                .iter()
                .flat_map(|l| topo.link(*l).srlgs.iter().map(String::as_str))
                .collect();
            for g in &mine {
                assert!(groups.insert(g), "seed {seed}: SRLG {g} shared");
            }
        }
        checked += sd.len();
    }
    assert!(checked > 30);
}

#[test]
fn disjoint_costs_do_not_decrease() {
    let mut r = rng(7);
    let topo = random_topology(&mut r, 10, 25);
    let w = link_weights(&topo, PathMetric::Igp);
    let ed = edge_disjoint(&topo, SiteId(0), SiteId(9), 6, PathMetric::Igp, None);
    let costs: Vec<f64> = ed.iter().map(|p| path_cost(&w, &p.links)).collect();
    assert!(costs.windows(2).all(|c| c[0] <= c[1]), "{costs:?}");
}

#[test]
fn latency_bounds_drop_long_paths() {
    // a→c direct is cheap by IGP but slow; a→b→c is fast.
    let topo = topology(
        &["a", "b", "c"],
        &[
            Arc {
                metric: 1.0,
                latency_ms: 30.0,
                ..arc("a", "c", 10.0)
            },
            Arc {
                metric: 5.0,
                latency_ms: 4.0,
                ..arc("a", "b", 10.0)
            },
            Arc {
                metric: 5.0,
                latency_ms: 4.0,
                ..arc("b", "c", 10.0)
            },
        ],
    );
    let classes = ClassSet::new(vec![
        class("gold", 0, Some(10.0)),
        class("tight", 1, Some(1.0)),
        class("bulk", 2, None),
    ])
    .expect("classes");
    let tm = traffic_with(
        &topo,
        classes,
        &[
            ("a", "c", "gold", 1.0),
            ("a", "c", "tight", 1.0),
            ("a", "c", "bulk", 1.0),
        ],
    );
    for &kind in PathKind::ALL {
        for &metric in PathMetric::ALL {
            let opts = PathOptions {
                k: 3,
                kind,
                metric,
                latency_bounds: true,
            };
            let paths = compute_paths(&topo, &tm, &opts);
            let gold = &paths.per_demand[0];
            assert!(!gold.is_empty(), "{kind} {metric}");
            for p in gold {
                assert!(p.latency_ms(&topo) <= 10.0, "{kind} {metric}");
            }
            assert!(paths.per_demand[1].is_empty(), "nothing fits 1 ms");
            let bulk = &paths.per_demand[2];
            assert!(bulk.iter().any(|p| p.latency_ms(&topo) > 10.0));
            let ignoring = compute_paths(
                &topo,
                &tm,
                &PathOptions {
                    latency_bounds: false,
                    ..opts
                },
            );
            assert_eq!(ignoring.per_demand[1], ignoring.per_demand[2]);
        }
    }
}

#[test]
fn latency_bounded_paths_respect_bounds_on_random_topologies() {
    for seed in 0..10 {
        let mut r = rng(100 + seed);
        let topo = random_topology(&mut r, 9, 14);
        let classes = ClassSet::new(vec![class("fast", 0, Some(25.0)), class("any", 1, None)])
            .expect("classes");
        let mut demands = Vec::new();
        for s in 0..9u32 {
            for d in 0..9u32 {
                if s != d {
                    let c = if (s + d) % 2 == 0 { "fast" } else { "any" };
                    demands.push((format!("n{s}"), format!("n{d}"), c));
                }
            }
        }
        let list: Vec<(&str, &str, &str, f64)> = demands
            .iter()
            .map(|(s, d, c)| (s.as_str(), d.as_str(), *c, 1.0))
            .collect();
        let tm = traffic_with(&topo, classes, &list);
        let paths = compute_paths(&topo, &tm, &PathOptions::default());
        for (d, ps) in tm.demands().iter().zip(&paths.per_demand) {
            if tm.classes().get(d.class).name == "fast" {
                assert!(ps.iter().all(|p| p.latency_ms(&topo) <= 25.0 + 1e-9));
            } else {
                assert!(!ps.is_empty());
            }
        }
    }
}

#[test]
fn compute_paths_is_deterministic_shared_and_sorted() {
    let mut r = rng(42);
    let topo = random_topology(&mut r, 12, 20);
    let tm = random_traffic(&mut r, &topo, 120, 3);
    for &kind in PathKind::ALL {
        for &metric in PathMetric::ALL {
            let opts = PathOptions {
                k: 4,
                kind,
                metric,
                latency_bounds: true,
            };
            let a: CandidatePaths = compute_paths(&topo, &tm, &opts);
            let b = compute_paths(&topo, &tm, &opts);
            assert_eq!(a, b, "{kind} {metric}");
            assert_eq!(a.per_demand.len(), tm.len());
            let w = link_weights(&topo, metric);
            for (d, ps) in tm.demands().iter().zip(&a.per_demand) {
                assert!(!ps.is_empty() && ps.len() <= 4);
                for p in ps {
                    assert_simple_path(&topo, d.src, d.dst, &p.links);
                }
                let keys: Vec<(f64, &[LinkId])> = ps
                    .iter()
                    .map(|p| (path_cost(&w, &p.links), &p.links[..]))
                    .collect();
                assert!(
                    keys.windows(2)
                        .all(|k| k[0].0 < k[1].0 || (k[0].0 == k[1].0 && k[0].1 < k[1].1)),
                    "{kind} {metric}: order"
                );
            }
            // Same pair, same paths.
            for (i, x) in tm.demands().iter().enumerate() {
                for (j, y) in tm.demands().iter().enumerate().skip(i + 1) {
                    if (x.src, x.dst) == (y.src, y.dst) {
                        assert_eq!(a.per_demand[i], a.per_demand[j]);
                    }
                }
            }
        }
    }
}

#[test]
fn names_round_trip() {
    for &k in PathKind::ALL {
        assert_eq!(k.to_string().parse::<PathKind>(), Ok(k));
    }
    for &m in PathMetric::ALL {
        assert_eq!(m.to_string().parse::<PathMetric>(), Ok(m));
    }
    assert_eq!("inv-cap".parse::<PathMetric>(), Ok(PathMetric::InvCapacity));
    assert!("widest".parse::<PathKind>().is_err());
    assert_eq!(PathOptions::default().k, 4);
}

/// A random directed multigraph meant to stress the fast paths against the
/// reference: parallel links, one-way links, links without latency (zero-cost
/// links under the latency metric, where ties no longer follow distances),
/// SRLGs shared by unrelated links, capacities over several orders of
/// magnitude, and sometimes sites nothing reaches.
fn rough_topology(r: &mut ChaCha8Rng) -> Topology {
    let n = r.random_range(3..=12);
    let mut b = TopologyBuilder::new("rough");
    let ids: Vec<SiteId> = (0..n)
        .map(|i| b.add_site(Site::new(format!("n{i}"))).expect("site"))
        .collect();
    let links = r.random_range(n..=4 * n);
    let zero_latency = r.random_bool(0.3);
    for _ in 0..links {
        let a = r.random_range(0..n);
        let z = r.random_range(0..n);
        if a == z {
            continue;
        }
        let mut srlgs = Vec::new();
        if r.random_bool(0.4) {
            srlgs.push(format!("g{}", r.random_range(0..4)));
        }
        let cap = Bandwidth::from_gbps([1.0, 10.0, 40.0, 100.0, 400.0][r.random_range(0..5)]);
        let latency = if zero_latency && r.random_bool(0.5) {
            0.0
        } else {
            r.random_range(1..=9) as f64
        };
        let both = r.random_bool(0.7);
        for (s, d) in [(a, z), (z, a)].into_iter().take(if both { 2 } else { 1 }) {
            b.add_link(NewLink {
                metric: Some(r.random_range(1..=4) as f64),
                latency: Some(Latency::from_ms(latency)),
                srlgs: srlgs.clone(),
                ..NewLink::new(ids[s], ids[d], cap)
            })
            .expect("link");
        }
    }
    b.build().expect("topology")
}

/// Classes with and without latency bounds.
fn bounded_classes() -> ClassSet {
    ClassSet::new(vec![
        class("tight", 0, Some(6.0)),
        class("loose", 1, Some(18.0)),
        class("any", 2, None),
    ])
    .expect("classes")
}

/// Demands between many ordered pairs, some pairs in several classes.
fn pair_traffic(r: &mut ChaCha8Rng, topo: &Topology, classes: ClassSet) -> TrafficMatrix {
    let n = topo.site_count() as u32;
    let mut demands = Vec::new();
    for s in 0..n {
        for d in 0..n {
            if s == d || r.random_bool(0.2) {
                continue;
            }
            for _ in 0..r.random_range(1..=2) {
                demands.push(Demand {
                    src: SiteId(s),
                    dst: SiteId(d),
                    class: ClassId(r.random_range(0..classes.len() as u16)),
                    rate: Bandwidth::from_gbps(1.0),
                });
            }
        }
    }
    TrafficMatrix::new_allow_unreachable(topo, classes, demands).expect("traffic matrix")
}

fn assert_same_as_reference(topo: &Topology, tm: &TrafficMatrix, opts: &PathOptions, what: &str) {
    let fast = compute_paths(topo, tm, opts);
    let slow = reference::compute_paths(topo, tm, opts);
    assert_eq!(fast.per_demand.len(), slow.per_demand.len(), "{what}");
    for (i, (a, b)) in fast.per_demand.iter().zip(&slow.per_demand).enumerate() {
        let d = &tm.demands()[i];
        assert_eq!(
            a, b,
            "{what}: {:?} demand {i} ({} -> {}, class {})",
            opts, d.src.0, d.dst.0, d.class.0
        );
    }
}

#[test]
fn compute_paths_matches_the_reference_on_random_graphs() {
    let mut compared = 0;
    for seed in 0..60 {
        let mut r = rng(1000 + seed);
        let topo = if seed % 3 == 0 {
            let n = r.random_range(4..=11);
            let extra = r.random_range(0..=2 * n);
            random_topology(&mut r, n, extra)
        } else {
            rough_topology(&mut r)
        };
        let tm = pair_traffic(&mut r, &topo, bounded_classes());
        for &kind in PathKind::ALL {
            for &metric in PathMetric::ALL {
                for k in [1, 2, 3, 4, 6] {
                    for latency_bounds in [true, false] {
                        let opts = PathOptions {
                            k,
                            kind,
                            metric,
                            latency_bounds,
                        };
                        assert_same_as_reference(&topo, &tm, &opts, &format!("seed {seed}"));
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 1000);
}

#[test]
fn k_is_zero_gives_no_paths() {
    let mut r = rng(5);
    let topo = random_topology(&mut r, 6, 4);
    let tm = pair_traffic(&mut r, &topo, bounded_classes());
    for &kind in PathKind::ALL {
        let opts = PathOptions {
            k: 0,
            kind,
            metric: PathMetric::Igp,
            latency_bounds: true,
        };
        let paths = compute_paths(&topo, &tm, &opts);
        assert_eq!(paths.total(), 0);
        assert_eq!(paths, reference::compute_paths(&topo, &tm, &opts));
    }
}

#[test]
fn single_pair_functions_match_the_reference() {
    for seed in 0..40 {
        let mut r = rng(2000 + seed);
        let topo = rough_topology(&mut r);
        let n = topo.site_count() as u32;
        // Sometimes a mask shorter than the link list: missing entries are false.
        let len = if r.random_bool(0.2) {
            topo.link_count() / 2
        } else {
            topo.link_count()
        };
        let mask: Vec<bool> = (0..len).map(|_| r.random_bool(0.15)).collect();
        for _ in 0..6 {
            // Out-of-range and equal endpoints included: both give nothing.
            let src = SiteId(r.random_range(0..=n));
            let dst = SiteId(r.random_range(0..=n));
            let k = r.random_range(0..=5);
            let metric = PathMetric::ALL[r.random_range(0..PathMetric::ALL.len())];
            for excluded in [None, Some(mask.as_slice())] {
                let what = format!("seed {seed} {} -> {} k {k} {metric}", src.0, dst.0);
                assert_eq!(
                    k_shortest(&topo, src, dst, k, metric, excluded),
                    reference::k_shortest(&topo, src, dst, k, metric, excluded),
                    "{what}"
                );
                assert_eq!(
                    edge_disjoint(&topo, src, dst, k, metric, excluded),
                    reference::edge_disjoint(&topo, src, dst, k, metric, excluded),
                    "{what}"
                );
                assert_eq!(
                    srlg_disjoint(&topo, src, dst, k, metric, excluded),
                    reference::srlg_disjoint(&topo, src, dst, k, metric, excluded),
                    "{what}"
                );
            }
        }
    }
}

/// A topology of the shared data set beside the repository, if present.
fn shared_topology(relative: &str) -> Option<Topology> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/topologies")
        .join(relative);
    if !path.exists() {
        println!("skipped: {} is not there", path.display());
        return None;
    }
    let opts = keel_formats::ReadOptions {
        default_capacity: Some(Bandwidth::from_gbps(1.0)),
        ..Default::default()
    };
    Some(keel_formats::read_topology(&path, None, &opts).expect("shared topology"))
}

/// Every ordered pair whose source passes `take`, alternating a bounded and
/// an unbounded class.
fn all_pairs(topo: &Topology, take: impl Fn(u32) -> bool) -> TrafficMatrix {
    let classes = ClassSet::new(vec![class("bounded", 0, Some(12.0)), class("any", 1, None)])
        .expect("classes");
    let n = topo.site_count() as u32;
    let demands = (0..n)
        .filter(|&s| take(s))
        .flat_map(|s| (0..n).filter(move |&d| d != s).map(move |d| (s, d)))
        .map(|(s, d)| Demand {
            src: SiteId(s),
            dst: SiteId(d),
            class: ClassId(((s + d) % 2) as u16),
            rate: Bandwidth::from_gbps(1.0),
        })
        .collect();
    TrafficMatrix::new_allow_unreachable(topo, classes, demands).expect("traffic matrix")
}

#[test]
fn compute_paths_matches_the_reference_on_shared_topologies() {
    for file in [
        "repetita/Abilene.graph",
        "sndlib-xml/abilene.xml",
        "teal-json/B4.json",
        "teal-json/UsCarrier.json",
    ] {
        let Some(topo) = shared_topology(file) else {
            continue;
        };
        // The reference is slow in a debug build: on the larger ones, a
        // sample of sources, fewer for Yen.
        let big = topo.site_count() > 40;
        let some = all_pairs(&topo, |s| !big || s % 4 == 0);
        let few = all_pairs(&topo, |s| !big || s % 16 == 0);
        for &kind in PathKind::ALL {
            for &metric in PathMetric::ALL {
                let tm = if kind == PathKind::Shortest {
                    &few
                } else {
                    &some
                };
                for latency_bounds in [true, false] {
                    let opts = PathOptions {
                        k: 4,
                        kind,
                        metric,
                        latency_bounds,
                    };
                    assert_same_as_reference(&topo, tm, &opts, file);
                }
            }
        }
    }
}
