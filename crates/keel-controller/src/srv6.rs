//! The SRv6 addressing plan and segment-list compression.
//!
//! Plan (docs/architecture.md): site n (its index + 1) owns the locator
//! `fc00:0:n::/48`; its End SID is `fc00:0:n::1`; its End.X SID for its k-th
//! outgoing link is `fc00:0:n::2:k`; End.DT6 into the main table is
//! `fc00:0:n::100`; End.DT6 into tenant t's table is `fc00:0:n:t::`.
//!
//! A path is pinned by the fewest segments: from each segment start the longest
//! stretch that is the *unique* IGP shortest path is covered by one End SID; where
//! even the next link is not the unique shortest way, an End.X SID pins it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv6Addr;

use keel_model::{LinkId, Path, SiteId, Topology};

pub(crate) fn site_group(site: SiteId) -> u16 {
    // Site indices are dense from 0; the plan numbers sites from 1 so that no
    // locator is fc00:0:0::. Topologies beyond 65,534 sites are out of scope.
    u16::try_from(site.index() + 1).unwrap_or(u16::MAX)
}

pub fn locator(site: SiteId) -> String {
    format!("fc00:0:{:x}::/48", site_group(site))
}

pub fn end_sid(site: SiteId) -> Ipv6Addr {
    Ipv6Addr::new(0xfc00, 0, site_group(site), 0, 0, 0, 0, 1)
}

pub fn end_x_sid(site: SiteId, nth_out_link: usize) -> Ipv6Addr {
    let k = u16::try_from(nth_out_link).unwrap_or(u16::MAX);
    Ipv6Addr::new(0xfc00, 0, site_group(site), 0, 0, 0, 2, k)
}

/// The decapsulating SID at the egress: the main table, or a tenant's table.
pub fn dt6_sid(site: SiteId, tenant: Option<u16>) -> Ipv6Addr {
    match tenant {
        Some(t) => Ipv6Addr::new(0xfc00, 0, site_group(site), t, 0, 0, 0, 0),
        None => Ipv6Addr::new(0xfc00, 0, site_group(site), 0, 0, 0, 0, 0x100),
    }
}

/// A heap entry ordered for a min-heap on distance.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Entry(pub f64, pub SiteId);
impl Eq for Entry {}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Relative tolerance for equal-cost comparisons of summed metrics.
const EPS: f64 = 1e-9;

pub(crate) fn same(a: f64, b: f64) -> bool {
    a.is_finite() && b.is_finite() && (a - b).abs() <= EPS * a.abs().max(b.abs()).max(1.0)
}

/// Shortest distances and the number of shortest paths (capped at 2) from a source.
struct Spf {
    dist: Vec<f64>,
    count: Vec<u8>,
}

fn spf(topo: &Topology, from: SiteId, weight: impl Fn(LinkId) -> f64) -> Spf {
    let n = topo.site_count();
    let mut dist = vec![f64::INFINITY; n];
    let mut count = vec![0u8; n];
    let mut done = vec![false; n];
    dist[from.index()] = 0.0;
    count[from.index()] = 1;
    let mut heap = BinaryHeap::from([Entry(0.0, from)]);
    while let Some(Entry(d, u)) = heap.pop() {
        if done[u.index()] {
            continue;
        }
        done[u.index()] = true;
        for &l in topo.out_links(u) {
            let v = topo.link(l).dst;
            let nd = d + weight(l);
            let cur = dist[v.index()];
            if same(nd, cur) {
                count[v.index()] = (count[v.index()] + count[u.index()]).min(2);
            } else if nd < cur {
                dist[v.index()] = nd;
                count[v.index()] = count[u.index()];
                heap.push(Entry(nd, v));
            }
        }
    }
    Spf { dist, count }
}

/// Shortest distances from `from` under `weight` (infinite when unreachable).
pub fn distances(topo: &Topology, from: SiteId, weight: impl Fn(LinkId) -> f64) -> Vec<f64> {
    spf(topo, from, weight).dist
}

/// The k of each link's End.X SID: its position among its source's outgoing
/// links in `base`.
pub fn end_x_numbers(base: &Topology) -> HashMap<&str, usize> {
    base.site_ids()
        .flat_map(|s| {
            base.out_links(s)
                .iter()
                .enumerate()
                .map(|(k, &l)| (base.link(l).id.as_str(), k))
        })
        .collect()
}

/// Compresses paths into segment lists over one topology's IGP (link metrics),
/// caching one shortest-path tree per segment start.
pub struct Compressor<'a> {
    topo: &'a Topology,
    /// End.X numbering by the full topology (same sites as `topo`).
    end_x: HashMap<&'a str, usize>,
    trees: HashMap<SiteId, Spf>,
}

impl<'a> Compressor<'a> {
    pub fn new(topo: &'a Topology) -> Self {
        Self::numbered_by(topo, topo)
    }

    /// Compresses over `topo` (the IGP as it is now) but numbers End.X SIDs by
    /// `base`, the full topology, so that a SID keeps its meaning while other
    /// links fail.
    pub fn numbered_by(topo: &'a Topology, base: &'a Topology) -> Self {
        Compressor {
            topo,
            end_x: end_x_numbers(base),
            trees: HashMap::new(),
        }
    }

    /// The segments that steer a packet along `path`, ending with `last` (the
    /// egress's decapsulating SID).
    pub fn segments(&mut self, path: &Path, last: Ipv6Addr) -> Vec<Ipv6Addr> {
        let topo = self.topo;
        let links = &path.links;
        let mut segs = Vec::new();
        let mut i = 0;
        while i < links.len() {
            let start = topo.link(links[i]).src;
            let tree = self
                .trees
                .entry(start)
                .or_insert_with(|| spf(topo, start, |l| topo.link(l).metric));
            // The longest prefix from `start` that is the unique shortest path.
            let mut reach = None;
            let mut acc = 0.0;
            for (j, &l) in links.iter().enumerate().skip(i) {
                acc += topo.link(l).metric;
                let v = topo.link(l).dst.index();
                // A sub-path of a shortest path is shortest; once this prefix is
                // not uniquely shortest, no longer one is.
                if !same(tree.dist[v], acc) || tree.count[v] != 1 {
                    break;
                }
                reach = Some(j + 1);
            }
            match reach {
                Some(end) => {
                    if end < links.len() {
                        segs.push(end_sid(topo.link(links[end - 1]).dst));
                    }
                    i = end;
                }
                None => {
                    let k = self.end_x.get(topo.link(links[i]).id.as_str());
                    segs.push(end_x_sid(start, k.copied().unwrap_or(0)));
                    i += 1;
                }
            }
        }
        segs.push(last);
        segs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_model::{Bandwidth, NewLink, Site, TopologyBuilder};

    /// A square A-B-C-D-A plus a long diagonal A-C, metrics given.
    fn square(diag: f64) -> Topology {
        let mut b = TopologyBuilder::new("sq");
        let ids: Vec<_> = ["A", "B", "C", "D"]
            .iter()
            .map(|s| b.add_site(Site::new(*s)).expect("site"))
            .collect();
        let mut link = |x: usize, y: usize, m: f64| {
            for (s, d) in [(x, y), (y, x)] {
                let mut l = NewLink::new(ids[s], ids[d], Bandwidth::from_gbps(10.0));
                l.metric = Some(m);
                b.add_link(l).expect("link");
            }
        };
        link(0, 1, 1.0);
        link(1, 2, 1.0);
        link(2, 3, 1.0);
        link(3, 0, 2.0);
        link(0, 2, diag);
        b.build().expect("topology")
    }

    fn path(t: &Topology, hops: &[&str]) -> Path {
        let sites: Vec<_> = hops
            .iter()
            .map(|h| t.site_by_id(h).expect("site"))
            .collect();
        let links = sites
            .windows(2)
            .map(|w| {
                *t.out_links(w[0])
                    .iter()
                    .find(|&&l| t.link(l).dst == w[1])
                    .expect("link")
            })
            .collect();
        Path::new(links)
    }

    #[test]
    fn the_unique_shortest_path_needs_only_the_egress_sid() {
        let t = square(5.0);
        let c = t.site_by_id("C").expect("C");
        let last = dt6_sid(c, None);
        let mut comp = Compressor::new(&t);
        assert_eq!(comp.segments(&path(&t, &["A", "B", "C"]), last), vec![last]);
    }

    #[test]
    fn a_detour_is_pinned_by_an_end_sid_at_its_turn() {
        let t = square(5.0);
        let (c, d) = (t.site_by_id("C").expect("C"), t.site_by_id("D").expect("D"));
        let last = dt6_sid(c, Some(7));
        let mut comp = Compressor::new(&t);
        // A->D->C costs 3 against A->B->C at 2: go to D first, then C.
        assert_eq!(
            comp.segments(&path(&t, &["A", "D", "C"]), last),
            vec![end_sid(d), last]
        );
    }

    #[test]
    fn a_link_that_is_not_the_shortest_way_needs_an_end_x_sid() {
        let t = square(5.0);
        let (a, c) = (t.site_by_id("A").expect("A"), t.site_by_id("C").expect("C"));
        let diag = path(&t, &["A", "C"]);
        let nth = t
            .out_links(a)
            .iter()
            .position(|&l| l == diag.links[0])
            .expect("out link");
        let last = dt6_sid(c, None);
        let mut comp = Compressor::new(&t);
        assert_eq!(comp.segments(&diag, last), vec![end_x_sid(a, nth), last]);
    }

    #[test]
    fn equal_cost_paths_are_pinned_explicitly() {
        // With the diagonal at 2, A->C has two shortest ways (A-B-C and A-C):
        // neither is unique, so A-B-C needs B's End SID.
        let t = square(2.0);
        let (b, c) = (t.site_by_id("B").expect("B"), t.site_by_id("C").expect("C"));
        let last = dt6_sid(c, None);
        let mut comp = Compressor::new(&t);
        assert_eq!(
            comp.segments(&path(&t, &["A", "B", "C"]), last),
            vec![end_sid(b), last]
        );
    }

    #[test]
    fn addresses_follow_the_plan() {
        let s = SiteId(4);
        assert_eq!(locator(s), "fc00:0:5::/48");
        assert_eq!(end_sid(s).to_string(), "fc00:0:5::1");
        assert_eq!(end_x_sid(s, 3).to_string(), "fc00:0:5::2:3");
        assert_eq!(dt6_sid(s, None).to_string(), "fc00:0:5::100");
        assert_eq!(dt6_sid(s, Some(12)).to_string(), "fc00:0:5:c::");
    }
}
