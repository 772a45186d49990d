//! Candidate paths: Yen's k-shortest loopless paths and greedy disjoint sets.
//!
//! Everything works on directed link ids, so parallel links are distinct arcs and
//! a path is exactly the `Path` the allocation stores.
//!
//! The paths are those of plain per-pair searches (one Dijkstra per greedy
//! step, Yen with Lawler's refinement), but computed per source so searches
//! are shared: the first path to every destination comes from one shortest
//! path tree, the second disjoint paths of many destinations from one search
//! (see `disjoint`), and Yen's spur searches are batched across destinations
//! that need the same one (see `yen`). Ties resolve exactly as in the per-pair
//! searches, so the output does not depend on the sharing.

mod cut;
mod disjoint;
mod dynamic;
mod graph;
mod yen;

use keel_model::{DemandId, LinkId, Path, SiteId, Topology, TrafficMatrix};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::named_enum;

/// How the candidate paths of a demand are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// Yen's k shortest loopless paths.
    #[default]
    Shortest,
    /// Successive shortest paths, each sharing no link with the earlier ones.
    EdgeDisjoint,
    /// Successive shortest paths, each sharing no SRLG (nor link) with the earlier ones.
    SrlgDisjoint,
}

named_enum!(PathKind, "path kind", {
    Shortest => "shortest",
    EdgeDisjoint => "edge-disjoint",
    SrlgDisjoint => "srlg-disjoint",
});

/// The link weight paths are shortest under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathMetric {
    /// The link's IGP/TE metric.
    #[default]
    Igp,
    /// Propagation latency in ms.
    Latency,
    /// 1 per link.
    Hops,
    /// Largest capacity in the topology divided by the link's capacity (the OSPF
    /// reference-bandwidth rule, with the fattest link costing 1).
    #[serde(rename = "inv-cap")]
    InvCapacity,
}

named_enum!(PathMetric, "path metric", {
    Igp => "igp",
    Latency => "latency",
    Hops => "hops",
    InvCapacity => "inv-cap",
});

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PathOptions {
    /// Paths per demand (at most).
    pub k: usize,
    pub kind: PathKind,
    pub metric: PathMetric,
    /// Drop paths whose latency exceeds the demand class's latency bound.
    pub latency_bounds: bool,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            k: 4,
            kind: PathKind::Shortest,
            metric: PathMetric::Igp,
            latency_bounds: true,
        }
    }
}

/// Candidate paths per demand, indexed by [`DemandId`], each list ordered by
/// cost under the metric and then by link ids.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CandidatePaths {
    pub per_demand: Vec<Vec<Path>>,
}

impl CandidatePaths {
    pub fn of(&self, demand: DemandId) -> &[Path] {
        self.per_demand
            .get(demand.index())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of candidate paths over all demands.
    pub fn total(&self) -> usize {
        self.per_demand.iter().map(Vec::len).sum()
    }
}

/// With a latency bound and a metric other than latency, Yen's order says nothing
/// about latency, so at most this many times `k` paths are enumerated looking for
/// `k` that fit the bound.
const BOUNDED_SEARCH_FACTOR: usize = 8;

/// Slack on latency-bound comparisons (ms), so a path exactly at the bound is not
/// dropped by rounding in the sum.
const LATENCY_SLACK_MS: f64 = 1e-9;

/// A demand's path key: source, destination and latency bound (as f64 bits).
pub(crate) type PairKey = (SiteId, SiteId, Option<u64>);

/// The weight of every link under `metric`, indexed by link id.
pub fn link_weights(topo: &Topology, metric: PathMetric) -> Vec<f64> {
    let max_cap = topo
        .links()
        .iter()
        .map(|l| l.capacity.bps())
        .fold(0.0_f64, f64::max);
    topo.links()
        .iter()
        .map(|l| match metric {
            PathMetric::Igp => l.metric,
            PathMetric::Latency => l.latency.ms(),
            PathMetric::Hops => 1.0,
            PathMetric::InvCapacity => max_cap / l.capacity.bps(),
        })
        .collect()
}

/// Sum of `weights` along `links`, in path order (so equal paths get bit-equal
/// costs); infinite if a link has no weight.
pub fn path_cost(weights: &[f64], links: &[LinkId]) -> f64 {
    links
        .iter()
        .map(|l| weights.get(l.index()).copied().unwrap_or(f64::INFINITY))
        .sum()
}

/// Computes the candidate paths of every demand. Each distinct (source,
/// destination, latency bound) is computed once and shared; sources run in
/// parallel.
pub fn compute_paths(topo: &Topology, tm: &TrafficMatrix, opts: &PathOptions) -> CandidatePaths {
    let all: Vec<usize> = (0..tm.len()).collect();
    CandidatePaths {
        per_demand: paths_of(topo, tm, opts, None, &all),
    }
}

/// The candidate paths of the demands `which` (indices into `tm`, in that
/// order), as [`compute_paths`] finds them on the topology without the links
/// `excluded` marks. Weights come from `topo` as given, so excluding a link
/// changes no other link's weight.
pub(crate) fn paths_of(
    topo: &Topology,
    tm: &TrafficMatrix,
    opts: &PathOptions,
    excluded: Option<&[bool]>,
    which: &[usize],
) -> Vec<Vec<Path>> {
    let weights = link_weights(topo, opts.metric);
    let classes = tm.classes();
    // The bound is keyed by its bit pattern: f64 is not Ord, and equal bounds come
    // from the same class definition, so bit equality is the right notion.
    let keys: Vec<PairKey> = which
        .iter()
        .map(|&d| pair_key(tm, classes, d, opts))
        .collect();
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Sorted keys put each source's destinations in one run.
    let mut runs: Vec<&[PairKey]> = distinct.chunk_by(|a, b| a.0 == b.0).collect();
    // Sources with the most destinations first, so the last parallel jobs are short.
    runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    // The all-pairs cuts pay off over many sources only (the paths do not
    // depend on them).
    let with_cuts = runs.len() * 4 >= topo.site_count();
    let ctx = Context::new(topo, &weights, opts, excluded, with_cuts);
    let mut done: Vec<(&[PairKey], Vec<Vec<Path>>)> = runs
        .par_iter()
        .map_init(
            || Work::new(&ctx),
            |work, run| (*run, source_paths(&ctx, work, run, opts)),
        )
        .collect();
    done.sort_unstable_by_key(|(run, _)| run.first().map(|k| k.0));
    let mut table: Vec<Vec<Path>> = done.into_iter().flat_map(|(_, paths)| paths).collect();
    // Demands sharing a key share its paths: the last one takes them, the
    // others get copies.
    let mut uses = vec![0usize; distinct.len()];
    let slots: Vec<Option<usize>> = keys
        .iter()
        .map(|k| {
            let slot = distinct.binary_search(k).ok();
            if let Some(i) = slot {
                uses[i] += 1;
            }
            slot
        })
        .collect();
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(i) if i < table.len() => {
                uses[i] -= 1;
                if uses[i] == 0 {
                    std::mem::take(&mut table[i])
                } else {
                    table[i].clone()
                }
            }
            _ => Vec::new(),
        })
        .collect()
}

/// What a demand's candidate paths depend on: its endpoints and, when bounds
/// are honoured, its class's latency bound.
pub(crate) fn pair_key(
    tm: &TrafficMatrix,
    classes: &keel_model::ClassSet,
    d: usize,
    opts: &PathOptions,
) -> PairKey {
    let demand = &tm.demands()[d];
    let bound = classes
        .get(demand.class)
        .latency_bound
        .filter(|_| opts.latency_bounds)
        .map(|b| b.ms().to_bits());
    (demand.src, demand.dst, bound)
}

/// Everything the searches share, read-only across threads.
pub(crate) struct Context<'a> {
    topo: &'a Topology,
    weights: &'a [f64],
    graph: graph::Graph,
    /// Links no search may use (the caller's exclusions).
    excluded: Vec<bool>,
    /// Links sharing an SRLG with each link, when disjointness is by SRLG.
    srlg: Option<SrlgIndex>,
    /// Min cuts between all pairs, when the disjoint kinds can use them.
    cuts: Option<(cut::CutTree, cut::TreeAdj)>,
    k: usize,
    metric: PathMetric,
    /// Every link a search can use costs enough that adding it to any path
    /// strictly increases the (floating-point) cost: then searches settle
    /// sites in (cost, site) order and results can be reasoned about by keys
    /// alone, which the disjoint kinds use to share more work.
    strict: bool,
    /// No usable weight is negative, so search costs never decrease.
    nonnegative: bool,
}

impl<'a> Context<'a> {
    fn new(
        topo: &'a Topology,
        weights: &'a [f64],
        opts: &PathOptions,
        excluded: Option<&[bool]>,
        with_cuts: bool,
    ) -> Self {
        let graph = graph::Graph::new(topo, weights);
        let excluded = normalise_mask(topo, excluded);
        let disjoint = opts.kind != PathKind::Shortest;
        let cuts = (with_cuts && disjoint && opts.k >= 2).then(|| {
            let tree = cut::CutTree::new(&graph, &excluded);
            let adj = tree.adjacency();
            (tree, adj)
        });
        Context {
            topo,
            weights,
            graph,
            excluded,
            srlg: (opts.kind == PathKind::SrlgDisjoint).then(|| SrlgIndex::new(topo)),
            cuts,
            k: opts.k,
            metric: opts.metric,
            strict: strictly_increasing(weights),
            nonnegative: weights.iter().all(|w| w.is_nan() || *w >= 0.0),
        }
    }

    fn valid_pair(&self, src: u32, dst: u32) -> bool {
        valid_pair(self.topo, SiteId(src), SiteId(dst))
    }

    /// Path latency within `bound_ms` (summed in path order, as `Path` does).
    fn fits(&self, links: &[LinkId], bound_ms: Option<f64>) -> bool {
        match bound_ms {
            Some(b) => {
                let lat: f64 = links.iter().map(|l| self.topo.link(*l).latency.ms()).sum();
                lat <= b + LATENCY_SLACK_MS
            }
            None => true,
        }
    }

    fn cost(&self, links: &[LinkId]) -> f64 {
        path_cost(self.weights, links)
    }
}

/// Whether every usable weight (not NaN, not +inf; others are never relaxed)
/// is positive and large enough that no path cost absorbs it: costs are
/// left-to-right sums along simple paths, so at most the total of all
/// weights, and a weight of at least 2^-50 of that total is at least one unit
/// in the last place of any of them.
fn strictly_increasing(weights: &[f64]) -> bool {
    let (mut total, mut least) = (0.0_f64, f64::INFINITY);
    for &w in weights {
        if w.is_nan() || w == f64::INFINITY {
            continue;
        }
        if w <= 0.0 {
            return false;
        }
        total += w;
        least = least.min(w);
    }
    total.is_finite() && least >= total * f64::powi(2.0, -50)
}

/// Per-thread scratch space.
pub(crate) struct Work {
    search: graph::Search,
    /// Per site, `graph::NONE` between uses (see `graph::AllOf`).
    flags: Vec<u32>,
    disjoint: disjoint::Scratch,
    dynamic: dynamic::Dynamic,
}

impl Work {
    fn new(ctx: &Context) -> Self {
        let mut search = graph::Search::new(&ctx.graph);
        for (l, &x) in ctx.excluded.iter().enumerate() {
            if x {
                search.ban_link(l as u32);
            }
        }
        Work {
            search,
            flags: vec![graph::NONE; ctx.graph.site_count()],
            disjoint: disjoint::Scratch::new(&ctx.graph),
            dynamic: dynamic::Dynamic::new(&ctx.graph, &ctx.excluded),
        }
    }
}

/// The paths of one source's keys, in key order.
fn source_paths(
    ctx: &Context,
    work: &mut Work,
    keys: &[PairKey],
    opts: &PathOptions,
) -> Vec<Vec<Path>> {
    let Some(&(src, _, _)) = keys.first() else {
        return Vec::new();
    };
    let targets: Vec<(u32, Option<f64>)> = keys
        .iter()
        .map(|&(_, d, b)| (d.0, b.map(f64::from_bits)))
        .collect();
    let mut found: Vec<Vec<(f64, Vec<LinkId>)>> = match opts.kind {
        PathKind::Shortest => yen::source(ctx, work, src.0, &targets),
        PathKind::EdgeDisjoint | PathKind::SrlgDisjoint => {
            let mut dsts: Vec<u32> = targets.iter().map(|t| t.0).collect();
            dsts.dedup();
            let mut per_dst = disjoint::source(ctx, work, src.0, &dsts);
            // The disjoint kinds are greedy; with a bound they keep the members of
            // the greedy sequence that fit it (below). Keys are sorted, so a
            // destination's last key takes its paths and earlier ones copy them.
            (0..targets.len())
                .map(|t| {
                    let d = targets[t].0;
                    let last = targets.get(t + 1).is_none_or(|next| next.0 != d);
                    match dsts.binary_search(&d) {
                        Ok(i) if last => std::mem::take(&mut per_dst[i]),
                        Ok(i) => per_dst[i].clone(),
                        Err(_) => Vec::new(),
                    }
                })
                .collect()
        }
    };
    found
        .iter_mut()
        .zip(&targets)
        .map(|(paths, &(_, bound))| {
            paths.retain(|(_, l)| ctx.fits(l, bound));
            sort_paths(paths);
            std::mem::take(paths)
                .into_iter()
                .map(|(_, l)| Path::new(l))
                .collect()
        })
        .collect()
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

/// One pair through the per-source machinery.
fn single_pair(
    topo: &Topology,
    src: SiteId,
    dst: SiteId,
    opts: &PathOptions,
    excluded: Option<&[bool]>,
) -> Vec<Path> {
    if opts.k == 0 || !valid_pair(topo, src, dst) {
        return Vec::new();
    }
    let weights = link_weights(topo, opts.metric);
    let ctx = Context::new(topo, &weights, opts, excluded, false);
    let mut work = Work::new(&ctx);
    let found = match opts.kind {
        PathKind::Shortest => yen::source(&ctx, &mut work, src.0, &[(dst.0, None)]),
        _ => disjoint::source(&ctx, &mut work, src.0, &[dst.0]),
    };
    found
        .into_iter()
        .flatten()
        .map(|(_, l)| Path::new(l))
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
    let opts = PathOptions {
        k,
        kind: PathKind::Shortest,
        metric,
        latency_bounds: false,
    };
    single_pair(topo, src, dst, &opts, excluded)
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
    let opts = PathOptions {
        k,
        kind: PathKind::EdgeDisjoint,
        metric,
        latency_bounds: false,
    };
    single_pair(topo, src, dst, &opts, excluded)
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
    let opts = PathOptions {
        k,
        kind: PathKind::SrlgDisjoint,
        metric,
        latency_bounds: false,
    };
    single_pair(topo, src, dst, &opts, excluded)
}

/// Links by SRLG, as group ids per link and member links per group.
struct SrlgIndex {
    groups_of: Vec<Vec<u32>>,
    members: Vec<Vec<u32>>,
}

impl SrlgIndex {
    fn new(topo: &Topology) -> Self {
        let mut ids: rustc_hash::FxHashMap<&str, u32> = Default::default();
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut groups_of = Vec::with_capacity(topo.link_count());
        for (i, l) in topo.links().iter().enumerate() {
            let mut mine = Vec::new();
            for g in &l.srlgs {
                let next = members.len() as u32;
                let id = *ids.entry(g.as_str()).or_insert(next);
                if id == next {
                    members.push(Vec::new());
                }
                members[id as usize].push(i as u32);
                mine.push(id);
            }
            groups_of.push(mine);
        }
        SrlgIndex { groups_of, members }
    }

    /// Calls `f` on every link sharing an SRLG with `link` (repeats possible).
    fn for_each_mate(&self, link: u32, mut f: impl FnMut(u32)) {
        for &g in self.groups_of.get(link as usize).into_iter().flatten() {
            for &m in &self.members[g as usize] {
                f(m);
            }
        }
    }
}
