//! Small random instances for the crate's unit tests.

use std::ops::RangeInclusive;

use keel_model::{
    Bandwidth, ClassId, ClassSet, Demand, NewLink, Site, SiteId, Topology, TopologyBuilder,
    TrafficMatrix,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A connected topology of `sites` sites (each joined to an earlier one and to
/// one more at random, both directions, 1 to 20 Gbit/s) and `demands` demands of
/// 1 to 15 Gbit/s between distinct sites, all in class 0.
pub(crate) fn random_instance(
    rng: &mut ChaCha8Rng,
    sites: RangeInclusive<usize>,
    demands: RangeInclusive<usize>,
) -> (Topology, TrafficMatrix) {
    let n = rng.random_range(sites);
    let mut b = TopologyBuilder::new("t");
    let ids: Vec<SiteId> = (0..n)
        .map(|i| b.add_site(Site::new(format!("v{i}"))).expect("site"))
        .collect();
    for i in 1..n {
        let j = rng.random_range(0..i);
        let extra = rng.random_range(0..n);
        for (x, y) in [(i, j), (i, extra)] {
            if x == y {
                continue;
            }
            let cap = Bandwidth::from_gbps(rng.random_range(1..=20) as f64);
            b.add_link(NewLink::new(ids[x], ids[y], cap)).expect("link");
            b.add_link(NewLink::new(ids[y], ids[x], cap)).expect("link");
        }
    }
    let topo = b.build().expect("topology");
    let demands: Vec<Demand> = (0..rng.random_range(demands))
        .map(|_| {
            let s = rng.random_range(0..n);
            let d = (s + rng.random_range(1..n)) % n;
            Demand {
                src: ids[s],
                dst: ids[d],
                class: ClassId(0),
                rate: Bandwidth::from_gbps(rng.random_range(1..=15) as f64),
            }
        })
        .collect();
    let tm = TrafficMatrix::new(&topo, ClassSet::default(), demands).expect("tm");
    (topo, tm)
}
