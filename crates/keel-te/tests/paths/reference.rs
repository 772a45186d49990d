//! The path computation as it was before it was optimised, kept verbatim (bar
//! imports and visibility) as the oracle the fast implementation must match
//! path for path.
#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use keel_model::{LinkId, Path, SiteId, Topology, TrafficMatrix};
use keel_te::{CandidatePaths, PathKind, PathMetric, PathOptions, link_weights, path_cost};
use rayon::prelude::*;

/// With a latency bound and a metric other than latency, Yen's order says nothing
/// about latency, so at most this many times `k` paths are enumerated looking for
/// `k` that fit the bound.
const BOUNDED_SEARCH_FACTOR: usize = 8;

/// Slack on latency-bound comparisons (ms), so a path exactly at the bound is not
/// dropped by rounding in the sum.
const LATENCY_SLACK_MS: f64 = 1e-9;

/// A demand's path key: source, destination and latency bound (as f64 bits).
type PairKey = (SiteId, SiteId, Option<u64>);

/// Computes the candidate paths of every demand. Each distinct (source,
/// destination, latency bound) is computed once and shared; sources run in
/// parallel.
pub fn compute_paths(topo: &Topology, tm: &TrafficMatrix, opts: &PathOptions) -> CandidatePaths {
    let weights = link_weights(topo, opts.metric);
    let srlgs = SrlgIndex::new(topo);
    let classes = tm.classes();
    // The bound is keyed by its bit pattern: f64 is not Ord, and equal bounds come
    // from the same class definition, so bit equality is the right notion.
    let keys: Vec<PairKey> = tm
        .demands()
        .iter()
        .map(|d| {
            let bound = classes
                .get(d.class)
                .latency_bound
                .filter(|_| opts.latency_bounds)
                .map(|b| b.ms().to_bits());
            (d.src, d.dst, bound)
        })
        .collect();
    let mut by_src: BTreeMap<SiteId, BTreeSet<(SiteId, Option<u64>)>> = BTreeMap::new();
    for &(s, d, b) in &keys {
        by_src.entry(s).or_default().insert((d, b));
    }
    let jobs: Vec<(SiteId, Vec<_>)> = by_src
        .into_iter()
        .map(|(s, set)| (s, set.into_iter().collect()))
        .collect();
    let done: Vec<(PairKey, Vec<Path>)> = jobs
        .par_iter()
        .flat_map_iter(|(src, targets)| {
            targets.iter().map(|&(dst, bound)| {
                let paths = pair_paths(
                    topo,
                    &weights,
                    &srlgs,
                    *src,
                    dst,
                    bound.map(f64::from_bits),
                    opts,
                );
                ((*src, dst, bound), paths)
            })
        })
        .collect();
    let table: HashMap<_, _> = done.into_iter().collect();
    CandidatePaths {
        per_demand: keys
            .iter()
            .map(|k| table.get(k).cloned().unwrap_or_default())
            .collect(),
    }
}

fn pair_paths(
    topo: &Topology,
    weights: &[f64],
    srlgs: &SrlgIndex,
    src: SiteId,
    dst: SiteId,
    bound_ms: Option<f64>,
    opts: &PathOptions,
) -> Vec<Path> {
    let fits = |links: &[LinkId]| match bound_ms {
        Some(b) => {
            let lat: f64 = links.iter().map(|l| topo.link(*l).latency.ms()).sum();
            lat <= b + LATENCY_SLACK_MS
        }
        None => true,
    };
    let excluded = vec![false; topo.link_count()];
    let mut found: Vec<(f64, Vec<LinkId>)> = match opts.kind {
        PathKind::Shortest => {
            let mut out = Vec::new();
            if opts.k > 0 && valid_pair(topo, src, dst) {
                let limit = if bound_ms.is_some() {
                    opts.k.saturating_mul(BOUNDED_SEARCH_FACTOR)
                } else {
                    opts.k
                };
                for (cost, links) in Yen::new(topo, weights, src, dst, excluded).take(limit) {
                    if fits(&links) {
                        out.push((cost, links));
                        if out.len() == opts.k {
                            break;
                        }
                    } else if opts.metric == PathMetric::Latency {
                        // Yen yields paths in latency order here: none later fits.
                        break;
                    }
                }
            }
            out
        }
        // The disjoint kinds are greedy; with a bound they keep the members of the
        // greedy sequence that fit it.
        PathKind::EdgeDisjoint => successive(topo, weights, src, dst, opts.k, excluded, None),
        PathKind::SrlgDisjoint => {
            successive(topo, weights, src, dst, opts.k, excluded, Some(srlgs))
        }
    };
    found.retain(|(_, l)| fits(l));
    sort_paths(&mut found);
    found.into_iter().map(|(_, l)| Path::new(l)).collect()
}

fn sort_paths(paths: &mut [(f64, Vec<LinkId>)]) {
    paths.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
}

fn valid_pair(topo: &Topology, src: SiteId, dst: SiteId) -> bool {
    src != dst && src.index() < topo.site_count() && dst.index() < topo.site_count()
}

fn normalise_mask(topo: &Topology, excluded: Option<&[bool]>) -> Vec<bool> {
    (0..topo.link_count())
        .map(|i| excluded.and_then(|m| m.get(i).copied()).unwrap_or(false))
        .collect()
}

/// Up to `k` shortest loopless paths from `src` to `dst` under `metric` (Yen's
/// algorithm over link ids), cheapest first, ties by link ids. Links whose entry
/// in `excluded` is true are not used.
pub fn k_shortest(
    topo: &Topology,
    src: SiteId,
    dst: SiteId,
    k: usize,
    metric: PathMetric,
    excluded: Option<&[bool]>,
) -> Vec<Path> {
    if k == 0 || !valid_pair(topo, src, dst) {
        return Vec::new();
    }
    let weights = link_weights(topo, metric);
    let mask = normalise_mask(topo, excluded);
    Yen::new(topo, &weights, src, dst, mask)
        .take(k)
        .map(|(_, l)| Path::new(l))
        .collect()
}

/// Up to `k` pairwise link-disjoint paths: the shortest path, then the shortest
/// avoiding its links, and so on (greedy, so it can find fewer than the maximum
/// number of disjoint paths on trap topologies).
pub fn edge_disjoint(
    topo: &Topology,
    src: SiteId,
    dst: SiteId,
    k: usize,
    metric: PathMetric,
    excluded: Option<&[bool]>,
) -> Vec<Path> {
    let weights = link_weights(topo, metric);
    let mask = normalise_mask(topo, excluded);
    successive(topo, &weights, src, dst, k, mask, None)
        .into_iter()
        .map(|(_, l)| Path::new(l))
        .collect()
}

/// Up to `k` paths sharing no SRLG: like [`edge_disjoint`], but after each path
/// every link sharing an SRLG with it is removed too. Arcs are directed, so a
/// fibre's reverse arc is removed only if it carries the same SRLG (as it usually
/// does).
pub fn srlg_disjoint(
    topo: &Topology,
    src: SiteId,
    dst: SiteId,
    k: usize,
    metric: PathMetric,
    excluded: Option<&[bool]>,
) -> Vec<Path> {
    let weights = link_weights(topo, metric);
    let mask = normalise_mask(topo, excluded);
    let srlgs = SrlgIndex::new(topo);
    successive(topo, &weights, src, dst, k, mask, Some(&srlgs))
        .into_iter()
        .map(|(_, l)| Path::new(l))
        .collect()
}

/// Links by SRLG name.
struct SrlgIndex<'t> {
    members: HashMap<&'t str, Vec<LinkId>>,
}

impl<'t> SrlgIndex<'t> {
    fn new(topo: &'t Topology) -> Self {
        let mut members: HashMap<&str, Vec<LinkId>> = HashMap::new();
        for (i, l) in topo.links().iter().enumerate() {
            for g in &l.srlgs {
                members
                    .entry(g.as_str())
                    .or_default()
                    .push(LinkId(i as u32));
            }
        }
        SrlgIndex { members }
    }
}

fn successive(
    topo: &Topology,
    weights: &[f64],
    src: SiteId,
    dst: SiteId,
    k: usize,
    mut excluded: Vec<bool>,
    srlgs: Option<&SrlgIndex>,
) -> Vec<(f64, Vec<LinkId>)> {
    let mut out = Vec::new();
    if !valid_pair(topo, src, dst) {
        return out;
    }
    let no_sites = vec![false; topo.site_count()];
    while out.len() < k {
        let Some((cost, links)) = dijkstra(topo, weights, src, dst, &excluded, &no_sites) else {
            break;
        };
        for l in &links {
            excluded[l.index()] = true;
            if let Some(index) = srlgs {
                for g in &topo.link(*l).srlgs {
                    for m in index.members.get(g.as_str()).into_iter().flatten() {
                        excluded[m.index()] = true;
                    }
                }
            }
        }
        out.push((cost, links));
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
struct HeapItem {
    cost: f64,
    site: u32,
}
impl Eq for HeapItem {}
impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we pop the cheapest.
        other
            .cost
            .total_cmp(&self.cost)
            .then_with(|| other.site.cmp(&self.site))
    }
}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Shortest path by link weight avoiding banned links and sites; ties go to the
/// first relaxation found, which is deterministic (heap order, then adjacency order).
fn dijkstra(
    topo: &Topology,
    weights: &[f64],
    src: SiteId,
    dst: SiteId,
    banned_links: &[bool],
    banned_sites: &[bool],
) -> Option<(f64, Vec<LinkId>)> {
    let n = topo.site_count();
    let mut dist = vec![f64::INFINITY; n];
    let mut pred: Vec<Option<LinkId>> = vec![None; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    dist[src.index()] = 0.0;
    heap.push(HeapItem {
        cost: 0.0,
        site: src.0,
    });
    while let Some(HeapItem { cost, site }) = heap.pop() {
        let u = site as usize;
        if done[u] {
            continue;
        }
        done[u] = true;
        if u == dst.index() {
            break;
        }
        for &l in topo.out_links(SiteId(site)) {
            if banned_links[l.index()] {
                continue;
            }
            let v = topo.link(l).dst.index();
            if banned_sites[v] || done[v] {
                continue;
            }
            let nd = cost + weights[l.index()];
            if nd < dist[v] {
                dist[v] = nd;
                pred[v] = Some(l);
                heap.push(HeapItem {
                    cost: nd,
                    site: v as u32,
                });
            }
        }
    }
    if !done[dst.index()] {
        return None;
    }
    let mut links = Vec::new();
    let mut at = dst;
    while at != src {
        let l = pred[at.index()]?;
        links.push(l);
        at = topo.link(l).src;
    }
    links.reverse();
    Some((path_cost(weights, &links), links))
}

#[derive(Clone, PartialEq)]
struct Candidate {
    cost: f64,
    links: Vec<LinkId>,
    /// Index of the link where it left its parent: Lawler's refinement only spurs
    /// from here on, since earlier spurs were tried from the parent already.
    deviation: usize,
}
impl Eq for Candidate {}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cost
            .total_cmp(&other.cost)
            .then_with(|| self.links.cmp(&other.links))
            .then_with(|| self.deviation.cmp(&other.deviation))
    }
}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Yen's algorithm as a lazy iterator of (cost, links), cheapest first.
struct Yen<'a> {
    topo: &'a Topology,
    weights: &'a [f64],
    src: SiteId,
    dst: SiteId,
    excluded: Vec<bool>,
    accepted: Vec<Candidate>,
    pending: BTreeSet<Candidate>,
    seen: HashSet<Vec<LinkId>>,
    started: bool,
}

impl<'a> Yen<'a> {
    fn new(
        topo: &'a Topology,
        weights: &'a [f64],
        src: SiteId,
        dst: SiteId,
        excluded: Vec<bool>,
    ) -> Self {
        Yen {
            topo,
            weights,
            src,
            dst,
            excluded,
            accepted: Vec::new(),
            pending: BTreeSet::new(),
            seen: HashSet::new(),
            started: false,
        }
    }

    fn spur_from_last(&mut self) {
        let Some(last) = self.accepted.last() else {
            return;
        };
        let prev = last.links.clone();
        let topo = self.topo;
        let mut banned_links = self.excluded.clone();
        let mut banned_sites = vec![false; topo.site_count()];
        for i in last.deviation..prev.len() {
            let root = &prev[..i];
            let spur_site = match root.last() {
                Some(l) => topo.link(*l).dst,
                None => self.src,
            };
            // Paths already accepted with this root must not be found again.
            let mut newly_banned = Vec::new();
            for a in &self.accepted {
                if a.links.len() > i && a.links[..i] == *root && !banned_links[a.links[i].index()] {
                    banned_links[a.links[i].index()] = true;
                    newly_banned.push(a.links[i]);
                }
            }
            // Loopless: the spur may not revisit the root's sites.
            for l in root {
                banned_sites[topo.link(*l).src.index()] = true;
            }
            if let Some((_, spur)) = dijkstra(
                topo,
                self.weights,
                spur_site,
                self.dst,
                &banned_links,
                &banned_sites,
            ) {
                let mut links = root.to_vec();
                links.extend(spur);
                if self.seen.insert(links.clone()) {
                    let cost = path_cost(self.weights, &links);
                    self.pending.insert(Candidate {
                        cost,
                        links,
                        deviation: i,
                    });
                }
            }
            for l in newly_banned {
                banned_links[l.index()] = false;
            }
            for l in root {
                banned_sites[topo.link(*l).src.index()] = false;
            }
        }
    }
}

impl Iterator for Yen<'_> {
    type Item = (f64, Vec<LinkId>);

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            if !valid_pair(self.topo, self.src, self.dst) {
                return None;
            }
            let no_sites = vec![false; self.topo.site_count()];
            let (cost, links) = dijkstra(
                self.topo,
                self.weights,
                self.src,
                self.dst,
                &self.excluded,
                &no_sites,
            )?;
            self.seen.insert(links.clone());
            self.accepted.push(Candidate {
                cost,
                links: links.clone(),
                deviation: 0,
            });
            return Some((cost, links));
        }
        self.spur_from_last();
        let best = self.pending.pop_first()?;
        let out = (best.cost, best.links.clone());
        self.accepted.push(best);
        Some(out)
    }
}
