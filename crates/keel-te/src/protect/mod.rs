//! Protection: which arcs fail together, a pre-computed backup for every
//! (demand, path), the coverage those backups give, and k-failure-safe TE (FFC).
//!
//! **Failure units.** A fibre cut takes both directions down, so a *link* here is
//! a physical link: an arc paired with one reverse arc between the same sites
//! (parallel links pair one to one, in id order, preferring the same SRLGs); an
//! arc with no reverse stays a link of its own. A *node* failure takes every arc
//! at the site down; an *SRLG* failure every arc that lists the group.
//!
//! **Backups** are end-to-end, installed at the ingress (an SR-TE policy's
//! backup candidate path), and computed the way TI-LFA computes repair paths:
//! the post-convergence shortest path, under the same metric, once the protected
//! element is gone. The protected element is the whole primary: its physical
//! links, every link sharing an SRLG with them, and its transit sites, so one
//! backup survives any single failure on the primary. Where the topology does
//! not allow that, the requirement is relaxed in order: keep SRLG-disjointness
//! and drop node-disjointness, then keep node- and drop SRLG-disjointness, then
//! link-disjoint only. What the backup found actually covers is checked, not
//! assumed from the step that found it.
//!
//! When no single path avoids all of the primary's links (short of a bridge,
//! typical of long paths in a ring-like backbone), the ingress keeps one backup
//! per physical link of the primary instead — exactly TI-LFA's per-element
//! post-convergence path, taken from the ingress — SRLG-disjoint from that
//! link where possible. A link whose removal disconnects the demand is a
//! bridge: that path cannot be protected against it.

mod ffc;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use keel_model::{Allocation, DemandId, LinkId, Path, SiteId, Topology, TrafficMatrix};
use rayon::prelude::*;
use serde::Serialize;

use crate::paths::{CandidatePaths, PathMetric, link_weights};

pub use ffc::{FfcOptions, FfcSolution, ffc_groups, rescale_after_failure, solve_ffc};

/// Which arcs fail together: physical links (arc pairs) and SRLGs.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskModel {
    /// Physical link of every arc, indexed by arc id.
    pub link_of_arc: Vec<u32>,
    /// Arcs of every physical link (one or two), first arc first.
    pub link_arcs: Vec<Vec<LinkId>>,
    /// SRLG names, in order of first appearance.
    pub srlg_names: Vec<String>,
    /// Arcs of every SRLG.
    pub srlg_arcs: Vec<Vec<LinkId>>,
    /// SRLGs of every arc.
    pub srlgs_of_arc: Vec<Vec<u32>>,
}

impl RiskModel {
    pub fn new(topo: &Topology) -> Self {
        let links = topo.links();
        let mut link_of_arc = vec![u32::MAX; links.len()];
        let mut link_arcs: Vec<Vec<LinkId>> = Vec::new();
        // Unpaired arcs by (src, dst), in id order.
        let mut open: HashMap<(SiteId, SiteId), Vec<usize>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            let waiting = open.get_mut(&(l.dst, l.src));
            let mate = waiting.and_then(|w| {
                let pos = w
                    .iter()
                    .position(|&j| links[j].srlgs == l.srlgs)
                    .or(if w.is_empty() { None } else { Some(0) })?;
                Some(w.remove(pos))
            });
            match mate {
                Some(j) => {
                    let p = link_of_arc[j];
                    link_of_arc[i] = p;
                    link_arcs[p as usize].push(LinkId(i as u32));
                }
                None => {
                    link_of_arc[i] = link_arcs.len() as u32;
                    link_arcs.push(vec![LinkId(i as u32)]);
                    open.entry((l.src, l.dst)).or_default().push(i);
                }
            }
        }
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut srlg_names = Vec::new();
        let mut srlg_arcs: Vec<Vec<LinkId>> = Vec::new();
        let mut srlgs_of_arc = Vec::with_capacity(links.len());
        for (i, l) in links.iter().enumerate() {
            let mut mine = Vec::new();
            for g in &l.srlgs {
                let id = *ids.entry(g.as_str()).or_insert_with(|| {
                    srlg_names.push(g.clone());
                    srlg_arcs.push(Vec::new());
                    (srlg_names.len() - 1) as u32
                });
                if !mine.contains(&id) {
                    mine.push(id);
                    srlg_arcs[id as usize].push(LinkId(i as u32));
                }
            }
            srlgs_of_arc.push(mine);
        }
        RiskModel {
            link_of_arc,
            link_arcs,
            srlg_names,
            srlg_arcs,
            srlgs_of_arc,
        }
    }

    pub fn link_count(&self) -> usize {
        self.link_arcs.len()
    }

    /// A physical link's name: its first arc's id.
    pub fn link_name<'t>(&self, topo: &'t Topology, link: u32) -> &'t str {
        &topo.link(self.link_arcs[link as usize][0]).id
    }

    /// The physical link an arc id names (either direction).
    pub fn link_by_name(&self, topo: &Topology, name: &str) -> Option<u32> {
        topo.links()
            .iter()
            .position(|l| l.id == name)
            .map(|i| self.link_of_arc[i])
    }

    pub fn srlg_by_name(&self, name: &str) -> Option<u32> {
        self.srlg_names
            .iter()
            .position(|g| g == name)
            .map(|i| i as u32)
    }

    /// Physical links of `path`, deduplicated.
    pub fn path_links(&self, path: &Path) -> Vec<u32> {
        let mut v: Vec<u32> = path
            .links
            .iter()
            .map(|l| self.link_of_arc[l.index()])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Which single failures on the primary a backup survives (vacuously true when
/// the primary has no element of that kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Covers {
    pub link: bool,
    /// Failures of the primary's transit sites (the ends cannot be protected).
    pub node: bool,
    pub srlg: bool,
}

/// Why a path has no backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Unprotectable {
    /// Every path from the source to the destination crosses this link.
    Bridge { link: LinkId },
}

/// The backup of one (demand, path).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    /// One path surviving any single failure on the primary, when one exists.
    pub path: Option<Path>,
    /// Otherwise, per physical link of the primary (in path order), the
    /// post-convergence path once that link is gone; `None` for a bridge.
    pub per_link: Vec<(u32, Option<Path>)>,
    pub covers: Covers,
    pub reason: Option<Unprotectable>,
}

impl Backup {
    /// The path the ingress moves to when `failed_arc` arcs are down: the
    /// single backup, else the per-link backup of the first failed link of
    /// the primary; only if it survives the failure itself.
    pub fn for_failure(
        &self,
        risk: &RiskModel,
        primary: &Path,
        failed_arc: impl Fn(LinkId) -> bool,
    ) -> Option<&Path> {
        let survives = |p: &&Path| !p.links.iter().any(|l| failed_arc(*l));
        if let Some(p) = self.path.as_ref() {
            return Some(p).filter(survives);
        }
        let first = primary.links.iter().find(|l| failed_arc(**l))?;
        let phys = risk.link_of_arc[first.index()];
        self.per_link
            .iter()
            .find(|(l, _)| *l == phys)
            .and_then(|(_, p)| p.as_ref())
            .filter(survives)
    }

    /// Every backup path, single or per link.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.path
            .iter()
            .chain(self.per_link.iter().filter_map(|(_, p)| p.as_ref()))
    }
}

/// Backups parallel to the candidate paths; `None` where none was asked for.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Backups {
    pub per_demand: Vec<Vec<Option<Backup>>>,
}

impl Backups {
    pub fn get(&self, demand: usize, path: usize) -> Option<&Backup> {
        self.per_demand.get(demand)?.get(path)?.as_ref()
    }
}

/// Computes the backup of every candidate path, or, given an allocation, of every
/// path it puts traffic on. Sources run in parallel; per source, the
/// post-convergence tree after each link failure is computed once and shared
/// by every destination and path that needs it.
pub fn backup_paths(
    topo: &Topology,
    tm: &TrafficMatrix,
    paths: &CandidatePaths,
    metric: PathMetric,
    risk: &RiskModel,
    only_used: Option<&Allocation>,
) -> Backups {
    let weights = link_weights(topo, metric);
    let mut order: Vec<usize> = (0..tm.len()).collect();
    order.sort_by_key(|&d| (tm.demands()[d].src, d));
    let groups: Vec<&[usize]> = order
        .chunk_by(|a, b| tm.demands()[*a].src == tm.demands()[*b].src)
        .collect();
    let done: Vec<Vec<(usize, Vec<Option<Backup>>)>> = groups
        .par_iter()
        .map_init(
            || Dijkstra::new(topo),
            |dj, group| {
                let mut trees = Trees::default();
                group
                    .iter()
                    .map(|&d| {
                        let demand = tm.demand(DemandId(d as u32));
                        let list = paths
                            .of(DemandId(d as u32))
                            .iter()
                            .enumerate()
                            .map(|(p, path)| {
                                let used = match only_used {
                                    None => true,
                                    Some(a) => a
                                        .demands
                                        .get(d)
                                        .and_then(|da| da.paths.get(p))
                                        .is_some_and(|pf| pf.rate > 0.0),
                                };
                                used.then(|| {
                                    let ends = (demand.src, demand.dst);
                                    backup_of(topo, &weights, risk, dj, &mut trees, ends, path)
                                })
                            })
                            .collect();
                        (d, list)
                    })
                    .collect()
            },
        )
        .collect();
    let mut per_demand = vec![Vec::new(); tm.len()];
    for (d, list) in done.into_iter().flatten() {
        per_demand[d] = list;
    }
    Backups { per_demand }
}

/// One source's post-convergence trees (predecessor arc per site), keyed by
/// (failed physical link, SRLG mates removed too).
#[derive(Default)]
struct Trees {
    by_link: HashMap<(u32, bool), Vec<u32>>,
}

/// The backup of one primary path (see the module docs for the order of
/// relaxations).
fn backup_of(
    topo: &Topology,
    weights: &[f64],
    risk: &RiskModel,
    dj: &mut Dijkstra,
    trees: &mut Trees,
    (src, dst): (SiteId, SiteId),
    primary: &Path,
) -> Backup {
    let phys = risk.path_links(primary);
    let transit: Vec<SiteId> = {
        let s = primary.sites(topo);
        if s.len() > 2 {
            s[1..s.len() - 1].to_vec()
        } else {
            Vec::new()
        }
    };
    let mut link_ban: Vec<LinkId> = phys
        .iter()
        .flat_map(|&p| risk.link_arcs[p as usize].iter().copied())
        .collect();
    let mut srlg_ban: Vec<LinkId> = Vec::new();
    for l in &primary.links {
        for &g in &risk.srlgs_of_arc[l.index()] {
            srlg_ban.extend(risk.srlg_arcs[g as usize].iter().copied());
        }
    }
    // Mates' reverse arcs go too: an SRLG is a conduit, both directions inside.
    let mates: Vec<LinkId> = srlg_ban
        .iter()
        .flat_map(|l| {
            risk.link_arcs[risk.link_of_arc[l.index()] as usize]
                .iter()
                .copied()
        })
        .collect();
    srlg_ban.extend(mates);
    link_ban.sort_unstable();
    link_ban.dedup();
    let mut attempt = |srlg: bool, node: bool| {
        let srlg_part = if srlg { &srlg_ban[..] } else { &srlg_ban[..0] };
        let banned_sites: &[SiteId] = if node { &transit } else { &[] };
        dj.shortest(
            topo,
            weights,
            src,
            dst,
            link_ban.iter().chain(srlg_part.iter()),
            banned_sites,
        )
    };
    // Strongest first; when it fails, the weakest tells whether any single
    // backup exists before the intermediate ones are tried. Without SRLGs or
    // transit sites some attempts coincide and are skipped.
    let (has_srlg, has_transit) = (!srlg_ban.is_empty(), !transit.is_empty());
    let found = attempt(true, true).or_else(|| {
        if !has_srlg && !has_transit {
            return None;
        }
        let weakest = attempt(false, false)?;
        let better = if has_srlg {
            attempt(true, false).or_else(|| {
                if has_transit {
                    attempt(false, true)
                } else {
                    None
                }
            })
        } else {
            None
        };
        Some(better.unwrap_or(weakest))
    });
    match found {
        Some(path) => {
            let covers = covers_of(topo, risk, primary, &phys, &transit, &path);
            Backup {
                path: Some(path),
                per_link: Vec::new(),
                covers,
                reason: None,
            }
        }
        None => {
            // Per-element backups (see the module docs), in path order.
            let mut per_link = Vec::with_capacity(phys.len());
            let mut srlg_ok = true;
            let mut seen = Vec::new();
            for l in &primary.links {
                let p = risk.link_of_arc[l.index()];
                if seen.contains(&p) {
                    continue;
                }
                seen.push(p);
                let arcs = &risk.link_arcs[p as usize];
                let mut mates: Vec<LinkId> = Vec::new();
                for a in arcs {
                    for &g in &risk.srlgs_of_arc[a.index()] {
                        for m in &risk.srlg_arcs[g as usize] {
                            mates.extend(
                                risk.link_arcs[risk.link_of_arc[m.index()] as usize].iter(),
                            );
                        }
                    }
                }
                let mut via = |with_mates: bool| {
                    let pred = trees.by_link.entry((p, with_mates)).or_insert_with(|| {
                        let banned = arcs.iter().chain(mates.iter().filter(|_| with_mates));
                        dj.tree(topo, weights, src, banned)
                    });
                    path_to(topo, pred, src, dst)
                };
                let with_srlg = if mates.is_empty() { None } else { via(true) };
                let found = with_srlg.or_else(|| {
                    srlg_ok &= mates.is_empty();
                    via(false)
                });
                per_link.push((p, found));
            }
            let bridge =
                per_link
                    .iter()
                    .find(|(_, b)| b.is_none())
                    .map(|(p, _)| Unprotectable::Bridge {
                        link: risk.link_arcs[*p as usize][0],
                    });
            let protected = bridge.is_none();
            Backup {
                path: None,
                per_link,
                covers: Covers {
                    link: protected,
                    node: transit.is_empty(),
                    srlg: protected && srlg_ok,
                },
                reason: bridge,
            }
        }
    }
}

/// The path to `dst` in a predecessor tree rooted at `src`.
fn path_to(topo: &Topology, pred: &[u32], src: SiteId, dst: SiteId) -> Option<Path> {
    let mut links = Vec::new();
    let mut at = dst;
    while at != src {
        let l = *pred.get(at.index())?;
        if l == u32::MAX || links.len() > pred.len() {
            return None;
        }
        links.push(LinkId(l));
        at = topo.link(LinkId(l)).src;
    }
    links.reverse();
    Some(Path::new(links))
}

fn covers_of(
    topo: &Topology,
    risk: &RiskModel,
    primary: &Path,
    phys: &[u32],
    transit: &[SiteId],
    backup: &Path,
) -> Covers {
    let bphys = risk.path_links(backup);
    let link = !bphys.iter().any(|b| phys.binary_search(b).is_ok());
    let bsites = backup.sites(topo);
    let node = link && !transit.iter().any(|t| bsites.contains(t));
    let mut groups: Vec<u32> = primary
        .links
        .iter()
        .flat_map(|l| risk.srlgs_of_arc[l.index()].iter().copied())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let srlg = link
        && !backup.links.iter().any(|l| {
            risk.srlgs_of_arc[l.index()]
                .iter()
                .any(|g| groups.binary_search(g).is_ok())
        });
    Covers { link, node, srlg }
}

/// Dijkstra with banned arcs and sites, reusing its buffers between searches.
pub struct Dijkstra {
    dist: Vec<f64>,
    pred: Vec<u32>,
    touched: Vec<u32>,
    banned_arc: Vec<bool>,
    banned_site: Vec<bool>,
}

impl Dijkstra {
    pub fn new(topo: &Topology) -> Self {
        Dijkstra {
            dist: vec![f64::INFINITY; topo.site_count()],
            pred: vec![u32::MAX; topo.site_count()],
            touched: Vec::new(),
            banned_arc: vec![false; topo.link_count()],
            banned_site: vec![false; topo.site_count()],
        }
    }

    /// Shortest `src`→`dst` path under `weights` avoiding the banned arcs and
    /// sites; ties by settling order (cost, then site index).
    pub fn shortest<'a>(
        &mut self,
        topo: &Topology,
        weights: &[f64],
        src: SiteId,
        dst: SiteId,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
        banned_sites: &[SiteId],
    ) -> Option<Path> {
        for l in banned_arcs.clone() {
            self.banned_arc[l.index()] = true;
        }
        for s in banned_sites {
            self.banned_site[s.index()] = true;
        }
        let found = self.run(topo, weights, src, Some(dst));
        self.reset(banned_arcs, banned_sites);
        found
    }

    /// The shortest-path tree from `src` avoiding the banned arcs: the
    /// predecessor arc of every site (`u32::MAX` where unreached).
    pub fn tree<'a>(
        &mut self,
        topo: &Topology,
        weights: &[f64],
        src: SiteId,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
    ) -> Vec<u32> {
        for l in banned_arcs.clone() {
            self.banned_arc[l.index()] = true;
        }
        self.run(topo, weights, src, None);
        let pred = self.pred.clone();
        self.reset(banned_arcs, &[]);
        pred
    }

    fn reset<'a>(
        &mut self,
        banned_arcs: impl Iterator<Item = &'a LinkId>,
        banned_sites: &[SiteId],
    ) {
        for l in banned_arcs {
            self.banned_arc[l.index()] = false;
        }
        for s in banned_sites {
            self.banned_site[s.index()] = false;
        }
        for &s in &self.touched {
            self.dist[s as usize] = f64::INFINITY;
            self.pred[s as usize] = u32::MAX;
        }
        self.touched.clear();
    }

    fn run(
        &mut self,
        topo: &Topology,
        weights: &[f64],
        src: SiteId,
        dst: Option<SiteId>,
    ) -> Option<Path> {
        let mut heap = BinaryHeap::new();
        self.dist[src.index()] = 0.0;
        self.touched.push(src.0);
        heap.push(Reverse((Cost(0.0), src.0)));
        while let Some(Reverse((Cost(c), s))) = heap.pop() {
            if c > self.dist[s as usize] {
                continue;
            }
            if dst.is_some_and(|d| d.0 == s) {
                let mut links = Vec::new();
                let mut at = s;
                while at != src.0 {
                    let l = self.pred[at as usize];
                    links.push(LinkId(l));
                    at = topo.link(LinkId(l)).src.0;
                }
                links.reverse();
                return Some(Path::new(links));
            }
            for &l in topo.out_links(SiteId(s)) {
                let link = topo.link(l);
                let w = weights[l.index()];
                if self.banned_arc[l.index()]
                    || self.banned_site[link.dst.index()]
                    || !w.is_finite()
                {
                    continue;
                }
                let nc = c + w;
                let t = link.dst.index();
                if nc < self.dist[t] {
                    if self.dist[t] == f64::INFINITY {
                        self.touched.push(t as u32);
                    }
                    self.dist[t] = nc;
                    self.pred[t] = l.0;
                    heap.push(Reverse((Cost(nc), t as u32)));
                }
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost(f64);
impl Eq for Cost {}
impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cost {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Share of traffic protected against each failure type, and the paths that
/// carry traffic without any backup.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Coverage {
    /// Traffic (bit/s) on paths with a backup computed.
    pub total_bps: f64,
    pub link_bps: f64,
    pub node_bps: f64,
    pub srlg_bps: f64,
    pub unprotected: Vec<UnprotectedPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnprotectedPath {
    pub demand: DemandId,
    /// Index among the demand's candidate paths.
    pub path: usize,
    pub rate_bps: f64,
    pub reason: Unprotectable,
}

/// Traffic-weighted coverage of `backups` for the rates in `alloc`; without an
/// allocation every candidate path weighs its demand's rate / path count.
pub fn coverage(tm: &TrafficMatrix, backups: &Backups, alloc: Option<&Allocation>) -> Coverage {
    let mut c = Coverage::default();
    for (d, list) in backups.per_demand.iter().enumerate() {
        let n = list.len().max(1) as f64;
        for (p, b) in list.iter().enumerate() {
            let Some(b) = b else { continue };
            let rate = match alloc {
                Some(a) => a
                    .demands
                    .get(d)
                    .and_then(|da| da.paths.get(p))
                    .map_or(0.0, |pf| pf.rate),
                None => tm.demand(DemandId(d as u32)).rate.bps() / n,
            };
            c.total_bps += rate;
            if b.covers.link {
                c.link_bps += rate;
            }
            if b.covers.node {
                c.node_bps += rate;
            }
            if b.covers.srlg {
                c.srlg_bps += rate;
            }
            if let Some(reason) = &b.reason {
                c.unprotected.push(UnprotectedPath {
                    demand: DemandId(d as u32),
                    path: p,
                    rate_bps: rate,
                    reason: reason.clone(),
                });
            }
        }
    }
    c.unprotected.sort_by(|a, b| {
        b.rate_bps
            .total_cmp(&a.rate_bps)
            .then(a.demand.cmp(&b.demand))
    });
    c
}

#[cfg(test)]
mod tests {
    use keel_model::{Bandwidth, NewLink, Site, TopologyBuilder};

    use super::*;

    /// A square a-b-c-d (both directions) with SRLG `x` on a-b and c-d, and a
    /// stub e hanging off a.
    fn square() -> Topology {
        let mut b = TopologyBuilder::new("sq");
        let s: Vec<SiteId> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| b.add_site(Site::new(*n)).expect("site"))
            .collect();
        for (x, y, g) in [
            (0, 1, true),
            (1, 2, false),
            (2, 3, true),
            (3, 0, false),
            (0, 4, false),
        ] {
            for (u, v) in [(x, y), (y, x)] {
                b.add_link(NewLink {
                    srlgs: if g { vec!["x".into()] } else { Vec::new() },
                    ..NewLink::new(s[u], s[v], Bandwidth::from_gbps(10.0))
                })
                .expect("link");
            }
        }
        b.build().expect("topology")
    }

    fn path(t: &Topology, arcs: &[&str]) -> Path {
        Path::new(
            arcs.iter()
                .map(|id| LinkId(t.links().iter().position(|l| l.id == *id).expect("arc") as u32))
                .collect(),
        )
    }

    #[test]
    fn pairs_arcs_into_physical_links_and_finds_backups() {
        let t = square();
        let risk = RiskModel::new(&t);
        assert_eq!(risk.link_count(), 5);
        assert_eq!(risk.link_by_name(&t, "a->b"), risk.link_by_name(&t, "b->a"));
        assert_eq!(risk.srlg_arcs[0].len(), 4);
        let w = link_weights(&t, PathMetric::Hops);
        let mut dj = Dijkstra::new(&t);
        let mut trees = Trees::default();
        let (a, c, e) = (SiteId(0), SiteId(2), SiteId(4));
        // a->b->c: the only other way, a-d-c, shares SRLG x through d-c.
        let b = backup_of(
            &t,
            &w,
            &risk,
            &mut dj,
            &mut trees,
            (a, c),
            &path(&t, &["a->b", "b->c"]),
        );
        assert_eq!(b.path, Some(path(&t, &["a->d", "d->c"])));
        assert!(
            b.covers.link && b.covers.node && !b.covers.srlg,
            "{:?}",
            b.covers
        );
        // c->...->e ends over the bridge a-e: per-link backups, one missing.
        let b = backup_of(
            &t,
            &w,
            &risk,
            &mut dj,
            &mut Trees::default(),
            (c, e),
            &path(&t, &["c->d", "d->a", "a->e"]),
        );
        assert!(b.path.is_none());
        assert_eq!(b.per_link.len(), 3);
        let bridge = risk.link_by_name(&t, "a->e").expect("link");
        assert_eq!(
            b.reason,
            Some(Unprotectable::Bridge {
                link: risk.link_arcs[bridge as usize][0]
            })
        );
        // The per-link backup for c-d avoids it and still reaches e.
        let cd = risk.link_by_name(&t, "c->d").expect("link");
        let alt = b
            .per_link
            .iter()
            .find(|(l, _)| *l == cd)
            .and_then(|(_, p)| p.clone());
        assert_eq!(alt, Some(path(&t, &["c->b", "b->a", "a->e"])));
        assert!(!b.covers.link);
    }
}
