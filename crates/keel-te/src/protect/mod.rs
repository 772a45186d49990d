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

use keel_model::{Allocation, DemandId, Link, LinkId, Path, SiteId, Topology, TrafficMatrix};
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
    /// Physical links every path between their two sides must cross.
    pub bridge: Vec<bool>,
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
        let mut risk = RiskModel {
            link_of_arc,
            link_arcs,
            srlg_names,
            srlg_arcs,
            srlgs_of_arc,
            bridge: Vec::new(),
        };
        risk.bridge = risk.bridges(topo);
        risk
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

    /// Whether each physical link is a bridge of the topology taken as
    /// undirected: every path between its two sides crosses it. Iterative
    /// Tarjan low-link over the physical links (parallel links are no bridges).
    fn bridges(&self, topo: &Topology) -> Vec<bool> {
        let n = topo.site_count();
        let mut adj: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        for (p, arcs) in self.link_arcs.iter().enumerate() {
            let l = topo.link(arcs[0]);
            if l.src != l.dst {
                adj[l.src.index()].push((l.dst.0, p as u32));
                adj[l.dst.index()].push((l.src.0, p as u32));
            }
        }
        let mut bridge = vec![false; self.link_arcs.len()];
        let (mut order, mut low) = (vec![u32::MAX; n], vec![0u32; n]);
        let mut next = 0u32;
        // (site, link it was entered by, next neighbour to look at)
        let mut stack: Vec<(usize, u32, usize)> = Vec::new();
        for root in 0..n {
            if order[root] != u32::MAX {
                continue;
            }
            order[root] = next;
            low[root] = next;
            next += 1;
            stack.push((root, u32::MAX, 0));
            while let Some(&mut (v, via, ref mut i)) = stack.last_mut() {
                if let Some(&(w, p)) = adj[v].get(*i) {
                    *i += 1;
                    if p == via {
                        continue;
                    }
                    let w = w as usize;
                    if order[w] == u32::MAX {
                        order[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push((w, p, 0));
                    } else {
                        low[v] = low[v].min(order[w]);
                    }
                } else {
                    stack.pop();
                    if let Some(&(u, _, _)) = stack.last() {
                        low[u] = low[u].min(low[v]);
                        if low[v] > order[u] {
                            bridge[via as usize] = true;
                        }
                    }
                }
            }
        }
        bridge
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

/// One source's shortest-path trees (predecessor arc per site): with nothing
/// failed, and post-convergence keyed by (failed physical link, SRLG mates
/// removed too).
#[derive(Default)]
struct Trees {
    intact: Option<Intact>,
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
    for l in primary.links.iter() {
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
    let intact = trees.intact.get_or_insert_with(|| dj.intact(weights, src));
    let mut attempt = |srlg: bool, node: bool| {
        let srlg_part = if srlg { &srlg_ban[..] } else { &srlg_ban[..0] };
        let banned_sites: &[SiteId] = if node { &transit } else { &[] };
        dj.shortest_after(
            weights,
            intact,
            dst,
            link_ban.iter().chain(srlg_part.iter()),
            banned_sites,
        )
    };
    // Strongest first; when it fails, the weakest tells whether any single
    // backup exists before the intermediate ones are tried. Without SRLGs or
    // transit sites some attempts coincide and are skipped.
    let (has_srlg, has_transit) = (!srlg_ban.is_empty(), !transit.is_empty());
    // A primary over a bridge has no single backup: no search needed.
    let over_bridge = phys.iter().any(|&p| risk.bridge[p as usize]);
    let found = (!over_bridge)
        .then(|| attempt(true, true))
        .flatten()
        .or_else(|| {
            if over_bridge || (!has_srlg && !has_transit) {
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
            for l in primary.links.iter() {
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
                    if risk.bridge[p as usize] {
                        return None;
                    }
                    let Trees { intact, by_link } = &mut *trees;
                    let intact = intact.as_ref()?;
                    let pred = by_link.entry((p, with_mates)).or_insert_with(|| {
                        let banned = arcs.iter().chain(mates.iter().filter(|_| with_mates));
                        dj.tree_after(weights, intact, banned)
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
/// It keeps its own flat adjacency: walking `Topology`'s link records costs a
/// cache miss per arc, and backups run one search per active path.
pub struct Dijkstra {
    /// Out-arcs per site (CSR): `first[s]..first[s + 1]` index `arcs`.
    first: Vec<u32>,
    /// (arc, head site).
    arcs: Vec<(u32, u32)>,
    tail: Vec<u32>,
    head: Vec<u32>,
    dist: Vec<f64>,
    pred: Vec<u32>,
    touched: Vec<u32>,
    banned_arc: Vec<bool>,
    banned_site: Vec<bool>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// In-arcs per site (CSR): (arc, tail site).
    in_first: Vec<u32>,
    in_arcs: Vec<(u32, u32)>,
    /// Sites whose intact shortest path crosses something banned.
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
}

/// The shortest-path tree from one source with nothing failed, kept so that
/// searches after a failure redo only the part of the tree below it.
pub struct Intact {
    src: SiteId,
    pred: Vec<u32>,
    dist: Vec<f64>,
    /// Children per site (CSR).
    child_first: Vec<u32>,
    children: Vec<u32>,
}

impl Dijkstra {
    pub fn new(topo: &Topology) -> Self {
        let (first, arcs) = csr(topo, |s| topo.out_links(s), |l| l.dst);
        let (in_first, in_arcs) = csr(topo, |s| topo.in_links(s), |l| l.src);
        Dijkstra {
            first,
            arcs,
            tail: topo.links().iter().map(|l| l.src.0).collect(),
            head: topo.links().iter().map(|l| l.dst.0).collect(),
            dist: vec![f64::INFINITY; topo.site_count()],
            pred: vec![u32::MAX; topo.site_count()],
            touched: Vec::new(),
            banned_arc: vec![false; topo.link_count()],
            banned_site: vec![false; topo.site_count()],
            heap: BinaryHeap::new(),
            in_first,
            in_arcs,
            dirty: vec![false; topo.site_count()],
            dirty_list: Vec::new(),
        }
    }

    /// The intact shortest-path tree from `src`.
    pub fn intact(&mut self, weights: &[f64], src: SiteId) -> Intact {
        self.run(weights, src, None);
        let (pred, dist) = (self.pred.clone(), self.dist.clone());
        self.reset(std::iter::empty(), &[]);
        let n = pred.len();
        let mut child_first = vec![0u32; n + 1];
        for &l in pred.iter().filter(|l| **l != u32::MAX) {
            child_first[self.tail[l as usize] as usize + 1] += 1;
        }
        for i in 0..n {
            child_first[i + 1] += child_first[i];
        }
        let mut fill = child_first.clone();
        let mut children = vec![0u32; child_first[n] as usize];
        for (v, &l) in pred.iter().enumerate() {
            if l != u32::MAX {
                let u = self.tail[l as usize] as usize;
                children[fill[u] as usize] = v as u32;
                fill[u] += 1;
            }
        }
        Intact {
            src,
            pred,
            dist,
            child_first,
            children,
        }
    }

    /// `shortest` from the intact tree's source, searching only the sites
    /// whose intact path crosses a banned arc or site: the others keep their
    /// distance (bans only lengthen paths), so they seed the search. Same
    /// costs as a full search; among equal-cost paths it may pick another.
    pub fn shortest_after<'a>(
        &mut self,
        weights: &[f64],
        intact: &Intact,
        dst: SiteId,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
        banned_sites: &[SiteId],
    ) -> Option<Path> {
        self.ban(banned_arcs.clone(), banned_sites);
        self.mark_dirty(intact, banned_arcs.clone(), banned_sites);
        let found = if self.dirty[dst.index()] {
            self.repair(weights, intact, Some(dst))
        } else {
            self.path_after(intact, dst)
        };
        self.clear_dirty();
        self.reset(banned_arcs, banned_sites);
        found
    }

    /// `tree` from the intact tree's source, as `shortest_after` does.
    pub fn tree_after<'a>(
        &mut self,
        weights: &[f64],
        intact: &Intact,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
    ) -> Vec<u32> {
        self.ban(banned_arcs.clone(), &[]);
        self.mark_dirty(intact, banned_arcs.clone(), &[]);
        self.repair(weights, intact, None);
        let mut pred = intact.pred.clone();
        for &v in &self.dirty_list {
            pred[v as usize] = self.pred[v as usize];
        }
        self.clear_dirty();
        self.reset(banned_arcs, &[]);
        pred
    }

    fn ban<'a>(&mut self, arcs: impl Iterator<Item = &'a LinkId>, sites: &[SiteId]) {
        for l in arcs {
            self.banned_arc[l.index()] = true;
        }
        for s in sites {
            self.banned_site[s.index()] = true;
        }
    }

    /// Marks every site below a banned tree arc or a banned site.
    fn mark_dirty<'a>(
        &mut self,
        t: &Intact,
        arcs: impl Iterator<Item = &'a LinkId>,
        sites: &[SiteId],
    ) {
        let tree_heads = arcs.filter_map(|l| {
            let head = self.head[l.index()];
            (t.pred[head as usize] == l.0).then_some(head)
        });
        let roots: Vec<u32> = tree_heads
            .chain(sites.iter().map(|s| s.0).filter(|&s| s != t.src.0))
            .collect();
        let mut stack = roots;
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut self.dirty[v as usize], true) {
                continue;
            }
            self.dirty_list.push(v);
            let (a, b) = (t.child_first[v as usize], t.child_first[v as usize + 1]);
            stack.extend_from_slice(&t.children[a as usize..b as usize]);
        }
    }

    fn clear_dirty(&mut self) {
        for &v in &self.dirty_list {
            self.dirty[v as usize] = false;
        }
        self.dirty_list.clear();
    }

    /// The path to `dst` through the repaired part of the tree (this search's
    /// predecessors) and the intact rest.
    fn path_after(&self, t: &Intact, dst: SiteId) -> Option<Path> {
        let mut links = Vec::new();
        let mut at = dst.0;
        while at != t.src.0 {
            let l = if self.dirty[at as usize] {
                self.pred[at as usize]
            } else {
                t.pred[at as usize]
            };
            if l == u32::MAX {
                return None;
            }
            links.push(LinkId(l));
            at = self.tail[l as usize];
        }
        links.reverse();
        Some(Path::new(links))
    }

    /// Dijkstra over the dirty sites, seeded from their clean in-neighbours;
    /// stops at `dst` when given.
    fn repair(&mut self, weights: &[f64], t: &Intact, dst: Option<SiteId>) -> Option<Path> {
        self.heap.clear();
        for i in 0..self.dirty_list.len() {
            let v = self.dirty_list[i] as usize;
            if self.banned_site[v] {
                continue;
            }
            let (a, b) = (self.in_first[v], self.in_first[v + 1]);
            let mut best = (f64::INFINITY, u32::MAX);
            for &(l, u) in &self.in_arcs[a as usize..b as usize] {
                let w = weights[l as usize];
                if self.dirty[u as usize] || self.banned_arc[l as usize] || !w.is_finite() {
                    continue;
                }
                let c = t.dist[u as usize] + w;
                if c < best.0 {
                    best = (c, l);
                }
            }
            if best.0.is_finite() {
                self.dist[v] = best.0;
                self.pred[v] = best.1;
                self.touched.push(v as u32);
                self.heap.push(Reverse((best.0.to_bits(), v as u32)));
            }
        }
        while let Some(Reverse((bits, s))) = self.heap.pop() {
            let c = f64::from_bits(bits);
            if c > self.dist[s as usize] {
                continue;
            }
            if dst.is_some_and(|d| d.0 == s) {
                return self.path_after(t, SiteId(s));
            }
            let (a, b) = (self.first[s as usize], self.first[s as usize + 1]);
            for &(l, h) in &self.arcs[a as usize..b as usize] {
                let w = weights[l as usize];
                let h = h as usize;
                if !self.dirty[h] || self.banned_arc[l as usize] || self.banned_site[h] {
                    continue;
                }
                let nc = c + w;
                if w.is_finite() && nc < self.dist[h] {
                    if self.dist[h] == f64::INFINITY {
                        self.touched.push(h as u32);
                    }
                    self.dist[h] = nc;
                    self.pred[h] = l;
                    self.heap.push(Reverse((nc.to_bits(), h as u32)));
                }
            }
        }
        None
    }

    /// Shortest `src`→`dst` path under `weights` (finite ones ≥ 0) avoiding
    /// the banned arcs and sites: the full search the `_after` searches are
    /// tested against.
    #[cfg(test)]
    pub(crate) fn shortest<'a>(
        &mut self,
        weights: &[f64],
        src: SiteId,
        dst: SiteId,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
        banned_sites: &[SiteId],
    ) -> Option<Path> {
        self.ban(banned_arcs.clone(), banned_sites);
        let found = self.run(weights, src, Some(dst));
        self.reset(banned_arcs, banned_sites);
        found
    }

    /// The shortest-path tree from `src` avoiding the banned arcs: the
    /// predecessor arc of every site (`u32::MAX` where unreached).
    #[cfg(test)]
    pub(crate) fn tree<'a>(
        &mut self,
        weights: &[f64],
        src: SiteId,
        banned_arcs: impl Iterator<Item = &'a LinkId> + Clone,
    ) -> Vec<u32> {
        self.ban(banned_arcs.clone(), &[]);
        self.run(weights, src, None);
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

    fn run(&mut self, weights: &[f64], src: SiteId, dst: Option<SiteId>) -> Option<Path> {
        // Costs are ≥ 0, so their bit patterns order like the numbers: the
        // heap compares integers.
        let heap = &mut self.heap;
        heap.clear();
        self.dist[src.index()] = 0.0;
        self.touched.push(src.0);
        heap.push(Reverse((0f64.to_bits(), src.0)));
        while let Some(Reverse((bits, s))) = heap.pop() {
            let c = f64::from_bits(bits);
            if c > self.dist[s as usize] {
                continue;
            }
            if dst.is_some_and(|d| d.0 == s) {
                let mut links = Vec::new();
                let mut at = s;
                while at != src.0 {
                    let l = self.pred[at as usize];
                    links.push(LinkId(l));
                    at = self.tail[l as usize];
                }
                links.reverse();
                return Some(Path::new(links));
            }
            let (a, b) = (self.first[s as usize], self.first[s as usize + 1]);
            for &(l, t) in &self.arcs[a as usize..b as usize] {
                let w = weights[l as usize];
                if self.banned_arc[l as usize] || self.banned_site[t as usize] || !w.is_finite() {
                    continue;
                }
                let nc = c + w;
                let t = t as usize;
                if nc < self.dist[t] {
                    if self.dist[t] == f64::INFINITY {
                        self.touched.push(t as u32);
                    }
                    self.dist[t] = nc;
                    self.pred[t] = l;
                    heap.push(Reverse((nc.to_bits(), t as u32)));
                }
            }
        }
        None
    }
}

/// (arc, site at its other end) of every site's arcs, in CSR form: the arcs of
/// site `s` are `arcs[first[s]..first[s + 1]]`.
fn csr<'t>(
    topo: &'t Topology,
    arcs_at: impl Fn(SiteId) -> &'t [LinkId],
    far: fn(&Link) -> SiteId,
) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut first = Vec::with_capacity(topo.site_count() + 1);
    let mut arcs = Vec::with_capacity(topo.link_count());
    first.push(0);
    for s in topo.site_ids() {
        arcs.extend(arcs_at(s).iter().map(|l| (l.0, far(topo.link(*l)).0)));
        first.push(arcs.len() as u32);
    }
    (first, arcs)
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
    fn bridges_are_the_links_whose_cut_disconnects() {
        let t = square();
        let risk = RiskModel::new(&t);
        let named: Vec<&str> = (0..risk.link_count() as u32)
            .filter(|&p| risk.bridge[p as usize])
            .map(|p| risk.link_name(&t, p))
            .collect();
        assert_eq!(named, vec!["a->e"]);
    }

    /// A ring of `n` sites with pseudo-random chords and weights, both ways.
    fn ring(n: usize, seed: u64) -> (Topology, Vec<f64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut b = TopologyBuilder::new("ring");
        let s: Vec<SiteId> = (0..n)
            .map(|i| b.add_site(Site::new(format!("s{i}"))).expect("site"))
            .collect();
        let mut pairs: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        pairs.extend((0..n / 3).map(|_| (rng.random_range(0..n), rng.random_range(0..n))));
        let mut pairs: Vec<(usize, usize)> = pairs
            .into_iter()
            .filter(|(x, y)| x != y)
            .map(|(x, y)| (x.min(y), x.max(y)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (x, y) in pairs {
            for (u, v) in [(x, y), (y, x)] {
                b.add_link(NewLink::new(s[u], s[v], Bandwidth::from_gbps(10.0)))
                    .expect("link");
            }
        }
        let t = b.build().expect("topology");
        let w = (0..t.link_count())
            .map(|_| rng.random_range(1..20) as f64)
            .collect();
        (t, w)
    }

    #[test]
    fn searches_after_a_failure_match_full_searches() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let cost = |w: &[f64], p: &Option<Path>| {
            p.as_ref()
                .map(|p| p.links.iter().map(|l| w[l.index()]).sum::<f64>())
        };
        for seed in 0..4 {
            let (t, w) = ring(40, seed);
            let mut dj = Dijkstra::new(&t);
            for _ in 0..200 {
                let src = SiteId(rng.random_range(0..40));
                let dst = SiteId((src.0 + rng.random_range(1..40)) % 40);
                let intact = dj.intact(&w, src);
                let arcs: Vec<LinkId> = (0..rng.random_range(0..6))
                    .map(|_| LinkId(rng.random_range(0..t.link_count() as u32)))
                    .collect();
                let sites: Vec<SiteId> = (0..rng.random_range(0..3))
                    .map(|_| SiteId(rng.random_range(0..40)))
                    .filter(|s| *s != src)
                    .collect();
                let full = dj.shortest(&w, src, dst, arcs.iter(), &sites);
                let after = dj.shortest_after(&w, &intact, dst, arcs.iter(), &sites);
                assert_eq!(
                    cost(&w, &full),
                    cost(&w, &after),
                    "{src:?}->{dst:?} {arcs:?} {sites:?}"
                );
                if let Some(p) = &after {
                    let walk = p.sites(&t);
                    assert_eq!((walk.first(), walk.last()), (Some(&src), Some(&dst)));
                    for pair in p.links.windows(2) {
                        assert_eq!(t.link(pair[0]).dst, t.link(pair[1]).src);
                    }
                    assert!(!p.links.iter().any(|l| arcs.contains(l)));
                    let banned_site = |l: &LinkId| sites.contains(&t.link(*l).dst);
                    assert!(!p.links.iter().any(banned_site));
                }
                // Trees: the same cost to every site.
                let full = dj.tree(&w, src, arcs.iter());
                let after = dj.tree_after(&w, &intact, arcs.iter());
                for v in t.site_ids().filter(|v| *v != src) {
                    let (a, b) = (path_to(&t, &full, src, v), path_to(&t, &after, src, v));
                    assert_eq!(cost(&w, &a), cost(&w, &b), "tree {src:?}->{v:?} {arcs:?}");
                }
            }
        }
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
