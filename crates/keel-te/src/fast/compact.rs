//! Candidate paths packed into flat arrays, in capacity-scaled units.

use std::ops::Range;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::Problem;

/// Link runs shared by many paths. Long-haul networks are full of chains of
/// sites with exactly two neighbours; every simple path through such a site
/// enters from one neighbour and leaves to the other, so paths split at the other
/// sites into runs that recur across demands. Pricing a run once per iteration and
/// paths by runs cuts the work per iteration by the mean run length.
pub(crate) struct Segments {
    /// Segment s covers `links[start[s]..start[s + 1]]`.
    pub start: Vec<usize>,
    pub links: Vec<u32>,
    /// Fx hashing: the keys are short integer runs, millions of lookups.
    index: FxHashMap<Vec<u32>, u32>,
}

impl Segments {
    /// Segments 0..links are the single links themselves, so that most runs
    /// (at sites with more than two neighbours every run is one link) need no
    /// hashing.
    pub(super) fn with_links(links: usize) -> Segments {
        Segments {
            start: (0..=links).collect(),
            links: (0..links as u32).collect(),
            index: FxHashMap::default(),
        }
    }

    pub(super) fn intern(&mut self, run: &[u32]) -> u32 {
        if let [single] = run {
            return *single;
        }
        if let Some(&s) = self.index.get(run) {
            return s;
        }
        if self.start.is_empty() {
            self.start.push(0);
        }
        let id = (self.start.len() - 1) as u32;
        self.links.extend_from_slice(run);
        self.start.push(self.links.len());
        self.index.insert(run.to_vec(), id);
        id
    }

    pub fn count(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    /// Per segment, `op` folded over its links' `weight`s from `init`.
    pub fn per_segment(&self, weight: &[f64], op: impl Fn(f64, f64) -> f64, init: f64) -> Vec<f64> {
        (0..self.count())
            .map(|s| {
                self.links_of(s)
                    .iter()
                    .fold(init, |a, &l| op(a, weight[l as usize]))
            })
            .collect()
    }

    /// Ids in this table of each of `other`'s segments, added as needed.
    pub(super) fn adopt(&mut self, other: &Segments) -> Vec<u32> {
        (0..other.count())
            .map(|s| self.intern(other.links_of(s)))
            .collect()
    }

    /// Per-link totals of per-segment amounts.
    pub fn spread(&self, seg_amount: &[f64], links: usize) -> Vec<f64> {
        let mut load = vec![0.0; links];
        for (s, &f) in seg_amount.iter().enumerate() {
            if f != 0.0 {
                for &l in self.links_of(s) {
                    load[l as usize] += f;
                }
            }
        }
        load
    }

    pub fn links_of(&self, s: usize) -> &[u32] {
        &self.links[self.start[s]..self.start[s + 1]]
    }
}

/// The candidate paths of each chunk of demands (see [`Compact::chunks`]) as a
/// prefix forest over segments: paths from one source mostly leave along the
/// same few runs, so a path is the node where its run sequence ends, and a
/// node's price is its parent's plus its segment's. On Kdl (4 paths per
/// demand) 16.9M path-segment entries collapse into 1.3M nodes, so an
/// evaluation prices and loads nodes once each instead of paths run by run.
#[derive(Default)]
pub(crate) struct Forest {
    /// Demand ranges, one forest each (units of parallel work).
    pub chunks: Vec<Range<usize>>,
    /// Chunk k's nodes are `node_start[k]..node_start[k + 1]`; its node 0 is
    /// the root (no segment), every other node comes after its parent.
    node_start: Vec<usize>,
    /// Per node, its parent's index within the chunk.
    parent: Vec<u32>,
    /// Per node, its segment (unused at roots).
    seg: Vec<u32>,
    /// Per path, the chunk-local node where it ends.
    pub tip: Vec<u32>,
}

/// No node (end of a sibling list).
const NONE: u32 = u32::MAX;

/// One chunk's forest while paths are added. Children are kept as sibling
/// lists, not a hash table: past the root a node has a handful of children,
/// and a short scan of nearby memory beats hashing every step (Kdl: 17M steps).
struct Grower {
    parent: Vec<u32>,
    seg: Vec<u32>,
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
}

impl Default for Grower {
    /// Just the root.
    fn default() -> Grower {
        Grower {
            parent: vec![0],
            seg: vec![NONE],
            first_child: vec![NONE],
            next_sibling: vec![NONE],
        }
    }
}

impl Grower {
    fn from_nodes(nodes: &Nodes) -> Grower {
        let n = nodes.len();
        let mut g = Grower {
            parent: nodes.parent.to_vec(),
            seg: nodes.seg.to_vec(),
            first_child: vec![NONE; n],
            next_sibling: vec![NONE; n],
        };
        for k in 1..n {
            let p = g.parent[k] as usize;
            g.next_sibling[k] = g.first_child[p];
            g.first_child[p] = k as u32;
        }
        g
    }

    /// The node where the run sequence `segs` ends, added as needed.
    fn insert(&mut self, segs: &[u32]) -> u32 {
        let mut node = 0u32;
        for &s in segs {
            let mut k = self.first_child[node as usize];
            while k != NONE && self.seg[k as usize] != s {
                k = self.next_sibling[k as usize];
            }
            if k == NONE {
                k = self.parent.len() as u32;
                self.parent.push(node);
                self.seg.push(s);
                self.first_child.push(NONE);
                self.next_sibling.push(self.first_child[node as usize]);
                self.first_child[node as usize] = k;
            }
            node = k;
        }
        node
    }
}

/// One chunk's nodes: parents and segments, root first.
pub(crate) struct Nodes<'f> {
    pub parent: &'f [u32],
    pub seg: &'f [u32],
}

impl Nodes<'_> {
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Per node, the sum of `weight` over its segment and all above it (root: 0).
    pub fn sums_down(&self, weight: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.len(), 0.0);
        for n in 1..self.len() {
            out[n] = out[self.parent[n] as usize] + weight[self.seg[n] as usize];
        }
    }

    /// Per node, the minimum of `weight` over its segment and all above it
    /// (root: +inf).
    pub fn mins_down(&self, weight: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.len(), f64::INFINITY);
        for n in 1..self.len() {
            out[n] = out[self.parent[n] as usize].min(weight[self.seg[n] as usize]);
        }
    }

    /// Pushes the flow ending at each node up to the root, adding what passes
    /// through each node to its segment in `seg_flow`; `flow` is consumed.
    pub fn flows_up(&self, flow: &mut [f64], seg_flow: &mut [f64]) {
        for n in (1..self.len()).rev() {
            let f = flow[n];
            if f != 0.0 {
                seg_flow[self.seg[n] as usize] += f;
                flow[self.parent[n] as usize] += f;
            }
        }
    }
}

impl Forest {
    /// The forests of `c`'s paths, from scratch.
    pub(super) fn build(c: &Compact) -> Forest {
        Forest::assemble(c, c.chunk_ranges(), |_| Grower::default(), |_| None)
    }

    /// The forests of a patched problem `c` whose chunk k (`chunks[k]`) holds
    /// some of `old`'s chunk k demands plus new ones; `was[p]` is the old index
    /// of path p if it was copied. Old nodes stay (those of dropped paths
    /// unused), copied paths keep their tips, new paths are inserted: the cost
    /// is the old node count plus the new paths' lengths, not a rebuild.
    pub(super) fn patched(
        old: &Forest,
        c: &Compact,
        chunks: Vec<Range<usize>>,
        was: &[Option<u32>],
    ) -> Forest {
        Forest::assemble(
            c,
            chunks,
            |k| Grower::from_nodes(&old.nodes(k)),
            |p| was[p].map(|q| old.tip[q as usize]),
        )
    }

    fn assemble(
        c: &Compact,
        chunks: Vec<Range<usize>>,
        start: impl Fn(usize) -> Grower + Sync,
        kept_tip: impl Fn(usize) -> Option<u32> + Sync,
    ) -> Forest {
        let pieces: Vec<(Grower, Vec<u32>)> = chunks
            .par_iter()
            .enumerate()
            .map(|(k, range)| {
                let mut g = start(k);
                let tips = (c.path_start[range.start]..c.path_start[range.end])
                    .map(|p| kept_tip(p).unwrap_or_else(|| g.insert(c.path_segments(p))))
                    .collect();
                (g, tips)
            })
            .collect();
        let mut f = Forest {
            chunks,
            node_start: vec![0],
            ..Forest::default()
        };
        for (g, tips) in pieces {
            f.parent.extend(g.parent);
            f.seg.extend(g.seg);
            f.tip.extend(tips);
            f.node_start.push(f.parent.len());
        }
        f
    }

    pub fn node_count(&self) -> usize {
        self.parent.len()
    }

    pub fn nodes(&self, chunk: usize) -> Nodes<'_> {
        let r = self.node_start[chunk]..self.node_start[chunk + 1];
        Nodes {
            parent: &self.parent[r.clone()],
            seg: &self.seg[r],
        }
    }
}

/// Demands per piece of a parallel packing: enough pieces to keep two to a
/// few dozen threads busy on Kdl, few enough that merging their run tables
/// stays cheap. Tiny in unit tests, so that their instances merge many pieces.
const PACK_PIECE: usize = if cfg!(test) { 7 } else { 8192 };

/// Demands packed on their own (see [`Compact::pack`]): `remap` takes the
/// piece's run ids to those of the problem it was packed for.
pub(super) struct Piece {
    pub compact: Compact,
    pub remap: Vec<u32>,
}

/// bit/s per scaled unit: the largest link capacity.
pub(super) fn capacity_scale(problem: &Problem) -> f64 {
    problem
        .topology
        .links()
        .iter()
        .map(|l| l.capacity.bps())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
}

/// Whether the solver iterates over demand `d` at all: it has traffic and a path.
pub(super) fn kept(problem: &Problem, d: usize) -> bool {
    problem.traffic.demands()[d].rate.bps() > 0.0
        && problem
            .paths
            .per_demand
            .get(d)
            .is_some_and(|p| !p.is_empty())
}

/// Sites with exactly two distinct neighbours (either direction).
fn pass_through(problem: &Problem) -> Vec<bool> {
    let topo = problem.topology;
    topo.site_ids()
        .map(|v| {
            let mut n: Vec<usize> = topo
                .out_links(v)
                .iter()
                .map(|l| topo.link(*l).dst.index())
                .chain(topo.in_links(v).iter().map(|l| topo.link(*l).src.index()))
                .collect();
            n.sort_unstable();
            n.dedup();
            n.len() == 2
        })
        .collect()
}

/// The part of a problem the fast solver iterates over: demands with traffic and
/// at least one candidate path, their paths as link-index runs, all rates and
/// capacities divided by the largest capacity.
pub(crate) struct Compact {
    /// Index of each kept demand in the traffic matrix.
    pub demand: Vec<usize>,
    /// Scaled rate of each kept demand.
    pub rate: Vec<f64>,
    /// Paths of kept demand i are `path_start[i]..path_start[i + 1]`.
    pub path_start: Vec<usize>,
    /// Links of path p are `links[link_start[p]..link_start[p + 1]]`.
    pub link_start: Vec<usize>,
    pub links: Vec<u32>,
    /// The same paths as runs of shared segments (see `Segments`): path p is
    /// `path_segs[seg_run_start[p]..seg_run_start[p + 1]]`.
    pub seg_run_start: Vec<usize>,
    pub path_segs: Vec<u32>,
    pub segments: Segments,
    /// The same paths again as prefix forests, per chunk of demands: built by
    /// [`Compact::index`], or patched along with the paths (`stages`).
    pub forest: Forest,
    /// Scaled capacity of each link (the residual one in later priority stages).
    pub cap: Vec<f64>,
    /// bit/s per scaled unit.
    pub scale: f64,
}

impl Compact {
    /// Packs the demands `keep` selects; `capacity` in bit/s per link.
    pub fn new(problem: &Problem, capacity: &[f64], keep: impl Fn(usize) -> bool) -> Compact {
        let mut c = Compact::empty(capacity, capacity_scale(problem));
        let wanted: Vec<usize> = (0..problem.traffic.len())
            .filter(|&d| kept(problem, d) && keep(d))
            .collect();
        for piece in c.pack(problem, &wanted) {
            c.copy_demands(
                &piece.compact,
                0..piece.compact.demand_count(),
                Some(&piece.remap),
            );
        }
        c.index();
        c
    }

    /// Demands `ds` packed in parallel pieces, each with its own table of runs;
    /// their runs are then taken into this problem's table (in order, so run
    /// ids come out as a one-by-one packing numbers them).
    pub(super) fn pack(&mut self, problem: &Problem, ds: &[usize]) -> Vec<Piece> {
        let pass_through = pass_through(problem);
        let links = self.link_count();
        let pieces: Vec<Compact> = ds
            .par_chunks(PACK_PIECE)
            .map(|part| {
                let mut p = Compact::with_links(links, Vec::new(), self.scale);
                for &d in part {
                    p.push_demand(problem, &pass_through, d);
                }
                p
            })
            .collect();
        pieces
            .into_iter()
            .map(|compact| Piece {
                remap: self.segments.adopt(&compact.segments),
                compact,
            })
            .collect()
    }

    /// Appends demands `range` of `from` with their packed paths; `remap` maps
    /// `from`'s run ids to this problem's (None: they share the table).
    pub(super) fn copy_demands(
        &mut self,
        from: &Compact,
        range: Range<usize>,
        remap: Option<&[u32]>,
    ) {
        let (p0, p1) = (from.path_start[range.start], from.path_start[range.end]);
        let (l0, l1) = (from.link_start[p0], from.link_start[p1]);
        let (s0, s1) = (from.seg_run_start[p0], from.seg_run_start[p1]);
        let path_shift = self.path_count();
        let link_shift = self.links.len();
        let seg_shift = self.path_segs.len();
        self.demand.extend_from_slice(&from.demand[range.clone()]);
        self.rate.extend_from_slice(&from.rate[range.clone()]);
        self.path_start.extend(
            from.path_start[range.start + 1..=range.end]
                .iter()
                .map(|p| p - p0 + path_shift),
        );
        self.links.extend_from_slice(&from.links[l0..l1]);
        self.link_start.extend(
            from.link_start[p0 + 1..=p1]
                .iter()
                .map(|l| l - l0 + link_shift),
        );
        match remap {
            None => self.path_segs.extend_from_slice(&from.path_segs[s0..s1]),
            Some(m) => self
                .path_segs
                .extend(from.path_segs[s0..s1].iter().map(|&s| m[s as usize])),
        }
        self.seg_run_start.extend(
            from.seg_run_start[p0 + 1..=p1]
                .iter()
                .map(|s| s - s0 + seg_shift),
        );
    }

    /// Builds the prefix forests of the packed paths.
    pub(super) fn index(&mut self) {
        self.forest = Forest::build(self);
    }

    /// No demands; `capacity` in bit/s per link, `scale` bit/s per unit.
    pub(super) fn empty(capacity: &[f64], scale: f64) -> Compact {
        let cap = capacity.iter().map(|v| v.max(0.0) / scale).collect();
        Compact::with_links(capacity.len(), cap, scale)
    }

    fn with_links(links: usize, cap: Vec<f64>, scale: f64) -> Compact {
        Compact {
            demand: Vec::new(),
            rate: Vec::new(),
            path_start: vec![0],
            link_start: vec![0],
            links: Vec::new(),
            seg_run_start: vec![0],
            path_segs: Vec::new(),
            segments: Segments::with_links(links),
            forest: Forest::default(),
            cap,
            scale,
        }
    }

    /// Appends demand `d` with its candidate paths, split into segments.
    fn push_demand(&mut self, problem: &Problem, pass_through: &[bool], d: usize) {
        let topo = problem.topology;
        self.demand.push(d);
        self.rate
            .push(problem.traffic.demands()[d].rate.bps() / self.scale);
        for p in &problem.paths.per_demand[d] {
            let first = self.links.len();
            self.links.extend(p.links.iter().map(|l| l.0));
            self.link_start.push(self.links.len());
            let mut run_start = first;
            for (i, l) in p.links.iter().enumerate() {
                let last = i + 1 == p.links.len();
                if last || !pass_through[topo.link(*l).dst.index()] {
                    let end = first + i + 1;
                    let seg = self.segments.intern(&self.links[run_start..end]);
                    self.path_segs.push(seg);
                    run_start = end;
                }
            }
            self.seg_run_start.push(self.path_segs.len());
        }
        self.path_start.push(self.link_start.len() - 1);
    }

    pub fn demand_count(&self) -> usize {
        self.rate.len()
    }

    pub fn path_count(&self) -> usize {
        self.link_start.len() - 1
    }

    pub fn link_count(&self) -> usize {
        self.cap.len()
    }

    pub fn paths(&self, i: usize) -> std::ops::Range<usize> {
        self.path_start[i]..self.path_start[i + 1]
    }

    pub fn path_segments(&self, p: usize) -> &[u32] {
        &self.path_segs[self.seg_run_start[p]..self.seg_run_start[p + 1]]
    }

    pub fn path_links(&self, p: usize) -> &[u32] {
        &self.links[self.link_start[p]..self.link_start[p + 1]]
    }

    pub fn total_rate(&self) -> f64 {
        self.rate.iter().sum()
    }

    /// The demand ranges of the forests: the units of parallel work.
    pub fn chunks(&self) -> &[Range<usize>] {
        &self.forest.chunks
    }

    /// Contiguous demand ranges for parallel work: enough pieces to balance two
    /// to a few dozen threads, few enough that per-piece load vectors stay cheap.
    fn chunk_ranges(&self) -> Vec<Range<usize>> {
        let n = self.demand_count();
        let pieces = (rayon::current_num_threads() * 8).clamp(1, n.max(1));
        let size = n.div_ceil(pieces).max(1);
        (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect()
    }
}
