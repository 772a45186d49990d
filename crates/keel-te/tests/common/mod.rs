//! Test fixtures: small hand-made topologies and seeded random ones.
#![allow(dead_code)]

use keel_model::{
    Bandwidth, ClassId, ClassOfService, ClassSet, Demand, Latency, LinkId, NewLink, Site, SiteId,
    Topology, TopologyBuilder, TrafficMatrix,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const G: f64 = 1e9;

/// One directed link: (src, dst, capacity in Gbit/s, metric, latency ms, SRLGs).
pub struct Arc<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub gbps: f64,
    pub metric: f64,
    pub latency_ms: f64,
    pub srlgs: &'a [&'a str],
}

pub fn arc<'a>(src: &'a str, dst: &'a str, gbps: f64) -> Arc<'a> {
    Arc {
        src,
        dst,
        gbps,
        metric: 1.0,
        latency_ms: 1.0,
        srlgs: &[],
    }
}

pub fn topology(sites: &[&str], arcs: &[Arc]) -> Topology {
    let mut b = TopologyBuilder::new("test");
    for s in sites {
        b.add_site(Site::new(*s)).expect("site");
    }
    for a in arcs {
        let src = b.site_id(a.src).expect("src");
        let dst = b.site_id(a.dst).expect("dst");
        b.add_link(NewLink {
            metric: Some(a.metric),
            latency: Some(Latency::from_ms(a.latency_ms)),
            srlgs: a.srlgs.iter().map(|s| s.to_string()).collect(),
            ..NewLink::new(src, dst, Bandwidth::from_gbps(a.gbps))
        })
        .expect("link");
    }
    b.build().expect("topology")
}

/// A traffic matrix over the default classes from (src, dst, class name, Gbit/s).
pub fn traffic(topo: &Topology, demands: &[(&str, &str, &str, f64)]) -> TrafficMatrix {
    traffic_with(topo, ClassSet::default(), demands)
}

pub fn traffic_with(
    topo: &Topology,
    classes: ClassSet,
    demands: &[(&str, &str, &str, f64)],
) -> TrafficMatrix {
    let list = demands
        .iter()
        .map(|(s, d, c, g)| Demand {
            src: topo.site_by_id(s).expect("src"),
            dst: topo.site_by_id(d).expect("dst"),
            class: classes.by_name(c).expect("class"),
            rate: Bandwidth::from_gbps(*g),
        })
        .collect();
    TrafficMatrix::new(topo, classes, list).expect("traffic matrix")
}

pub fn class(name: &str, priority: u8, latency_bound_ms: Option<f64>) -> ClassOfService {
    ClassOfService {
        name: name.to_string(),
        priority,
        latency_bound: latency_bound_ms.map(Latency::from_ms),
        dscp: None,
    }
}

pub fn link(topo: &Topology, id: &str) -> LinkId {
    topo.link_ids()
        .find(|l| topo.link(*l).id == id)
        .expect("link id")
}

/// s→a→t and s→b→t, the wide branch through a:
/// s→a 10G, a→t 10G, s→b 5G, b→t 5G.
pub fn diamond() -> Topology {
    topology(
        &["s", "a", "b", "t"],
        &[
            arc("s", "a", 10.0),
            arc("a", "t", 10.0),
            arc("s", "b", 5.0),
            arc("b", "t", 5.0),
        ],
    )
}

/// A connected random topology: a random spanning tree plus extra fibres, each
/// fibre two arcs sharing its own SRLG and sometimes a second, shared one.
/// Integer metrics 1..=9, capacities 1..=100 Gbit/s (same both ways), latencies
/// 1..=20 ms.
pub fn random_topology(rng: &mut ChaCha8Rng, n: usize, extra: usize) -> Topology {
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let mut b = TopologyBuilder::new("random");
    let ids: Vec<SiteId> = names
        .iter()
        .map(|s| b.add_site(Site::new(s.clone())).expect("site"))
        .collect();
    let mut fibres: Vec<(usize, usize)> = Vec::new();
    for i in 1..n {
        fibres.push((rng.random_range(0..i), i));
    }
    for _ in 0..extra {
        let a = rng.random_range(0..n);
        let z = rng.random_range(0..n);
        if a != z && !fibres.contains(&(a, z)) && !fibres.contains(&(z, a)) {
            fibres.push((a, z));
        }
    }
    for (f, &(a, z)) in fibres.iter().enumerate() {
        let cap = Bandwidth::from_gbps(rng.random_range(1..=100) as f64);
        let metric = rng.random_range(1..=9) as f64;
        let latency = Latency::from_ms(rng.random_range(1..=20) as f64);
        let mut srlgs = vec![format!("fibre{f}")];
        if rng.random_bool(0.3) {
            srlgs.push(format!("duct{}", rng.random_range(0..3)));
        }
        for (s, d) in [(a, z), (z, a)] {
            b.add_link(NewLink {
                metric: Some(metric),
                latency: Some(latency),
                srlgs: srlgs.clone(),
                ..NewLink::new(ids[s], ids[d], cap)
            })
            .expect("link");
        }
    }
    b.build().expect("topology")
}

/// Random demands between distinct sites over classes 0..classes of the default
/// set, rates 0..=60 Gbit/s with some zero-rate demands.
pub fn random_traffic(
    rng: &mut ChaCha8Rng,
    topo: &Topology,
    count: usize,
    classes: u16,
) -> TrafficMatrix {
    let n = topo.site_count() as u32;
    let set = ClassSet::default();
    let mut demands = Vec::new();
    while demands.len() < count {
        let s = rng.random_range(0..n);
        let d = rng.random_range(0..n);
        if s == d {
            continue;
        }
        let gbps = if rng.random_bool(0.1) {
            0.0
        } else {
            rng.random_range(1..=60) as f64
        };
        demands.push(Demand {
            src: SiteId(s),
            dst: SiteId(d),
            class: ClassId(rng.random_range(0..classes)),
            rate: Bandwidth::from_gbps(gbps),
        });
    }
    TrafficMatrix::new(topo, set, demands).expect("traffic matrix")
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}
