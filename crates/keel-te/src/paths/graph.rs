//! A compact adjacency and a reusable Dijkstra workspace.
//!
//! The search is the exact procedure the path computation has always used:
//! a binary heap keyed by (cost, site), lazy deletion, out-links relaxed in
//! `Topology::out_links` order, a strict `<` so the first relaxation wins
//! ties. Everything built on it (shared trees, batched searches) relies on the
//! run being a deterministic function of the graph and bans, so it must stay
//! that way.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use keel_model::{LinkId, Topology};

/// "No site / no link / no level".
pub(super) const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(super) struct OutArc {
    pub link: u32,
    pub head: u32,
    pub weight: f64,
}

/// Out-arcs per site in one flat array (CSR), with each link's tail and weight
/// by link id for walking paths back.
pub(super) struct Graph {
    first: Vec<u32>,
    arcs: Vec<OutArc>,
    /// In-links per site, CSR like the out-arcs.
    in_first: Vec<u32>,
    in_links: Vec<u32>,
    tail: Vec<u32>,
    head: Vec<u32>,
    weight: Vec<f64>,
}

impl Graph {
    pub fn new(topo: &Topology, weights: &[f64]) -> Self {
        let n = topo.site_count();
        let mut first = Vec::with_capacity(n + 1);
        let mut arcs = Vec::with_capacity(topo.link_count());
        first.push(0);
        for s in topo.site_ids() {
            for &l in topo.out_links(s) {
                arcs.push(OutArc {
                    link: l.0,
                    head: topo.link(l).dst.0,
                    weight: weight_of(weights, l),
                });
            }
            first.push(arcs.len() as u32);
        }
        let mut in_first = Vec::with_capacity(n + 1);
        let mut in_links = Vec::with_capacity(topo.link_count());
        in_first.push(0);
        for s in topo.site_ids() {
            in_links.extend(topo.in_links(s).iter().map(|l| l.0));
            in_first.push(in_links.len() as u32);
        }
        Graph {
            first,
            arcs,
            in_first,
            in_links,
            tail: topo.links().iter().map(|l| l.src.0).collect(),
            head: topo.links().iter().map(|l| l.dst.0).collect(),
            weight: topo.link_ids().map(|l| weight_of(weights, l)).collect(),
        }
    }

    pub fn site_count(&self) -> usize {
        self.first.len() - 1
    }

    pub fn link_count(&self) -> usize {
        self.tail.len()
    }

    pub fn out(&self, site: u32) -> &[OutArc] {
        let s = site as usize;
        &self.arcs[self.first[s] as usize..self.first[s + 1] as usize]
    }

    pub fn in_links(&self, site: u32) -> &[u32] {
        let s = site as usize;
        &self.in_links[self.in_first[s] as usize..self.in_first[s + 1] as usize]
    }

    pub fn tail(&self, link: u32) -> u32 {
        self.tail[link as usize]
    }

    pub fn out_head(&self, link: u32) -> u32 {
        self.head[link as usize]
    }

    /// Whether a search could ever relax `link`: its weight is neither NaN nor
    /// +inf (such a relaxation never beats the initial infinite distance).
    pub fn usable(&self, link: u32) -> bool {
        let w = self.weight[link as usize];
        !w.is_nan() && w != f64::INFINITY
    }
}

fn weight_of(weights: &[f64], l: LinkId) -> f64 {
    weights.get(l.index()).copied().unwrap_or(f64::INFINITY)
}

/// A heap entry: (cost, site) packed so that one integer comparison orders
/// entries exactly as (cost by `f64::total_cmp`, then site) would.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct HeapItem(u128);

impl HeapItem {
    pub fn new(cost: f64, site: u32) -> Self {
        let bits = cost.to_bits() as i64;
        // `total_cmp`'s key as a signed integer, shifted into unsigned order.
        let ordered = (bits ^ ((((bits >> 63) as u64) >> 1) as i64)) as u64 ^ (1 << 63);
        HeapItem(((ordered as u128) << 32) | site as u128)
    }

    pub fn cost(self) -> f64 {
        let key = ((self.0 >> 32) as u64 ^ (1 << 63)) as i64;
        f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
    }

    pub fn site(self) -> u32 {
        self.0 as u32
    }
}

/// What a search reports to, and asks of, its caller.
pub(super) trait Visitor {
    /// The same search with the watched links of this level and above present
    /// would now stop matching this one (see `Search::run`).
    fn diverged(&mut self, _level: u32) {}
    /// `site` was just settled at `cost`; true stops the search.
    fn settled(&mut self, site: u32, cost: f64) -> bool;
}

/// A site's search state, together so a relaxation touches one cache line.
#[derive(Clone, Copy)]
struct Node {
    dist: f64,
    pred: u32,
    /// `epoch`: reached this search; `epoch + 1`: settled; `BANNED`: barred.
    mark: u32,
}

/// Gate and mark value of a barred link or site.
const BANNED: u32 = u32::MAX;
/// Gate of an ordinary link; a watched link's gate is its level + 1.
const OPEN: u32 = 0;

/// Per-thread search state, reused across searches: distances and marks are
/// invalidated by bumping an epoch rather than by clearing.
pub(super) struct Search {
    nodes: Vec<Node>,
    epoch: u32,
    heap: BinaryHeap<Reverse<HeapItem>>,
    /// Watched relaxations not yet known to be harmless, as (cost, head)
    /// with their level.
    watch: BinaryHeap<Reverse<(HeapItem, u32)>>,
    /// Per link: `OPEN`, `BANNED` or watched (level + 1).
    gate: Vec<u32>,
}

impl Search {
    pub fn new(g: &Graph) -> Self {
        let node = Node {
            dist: f64::INFINITY,
            pred: NONE,
            mark: 0,
        };
        Search {
            nodes: vec![node; g.site_count()],
            epoch: 0,
            heap: BinaryHeap::new(),
            watch: BinaryHeap::new(),
            gate: vec![OPEN; g.link_count()],
        }
    }

    /// Bars `link` from later searches; false if it already was.
    pub fn ban_link(&mut self, link: u32) -> bool {
        let gate = &mut self.gate[link as usize];
        let was = *gate == BANNED;
        *gate = BANNED;
        !was
    }

    pub fn unban_link(&mut self, link: u32) {
        self.gate[link as usize] = OPEN;
    }

    pub fn is_banned(&self, link: u32) -> bool {
        self.gate[link as usize] == BANNED
    }

    /// Makes an open `link` watched at `level` (see `run`); a banned or
    /// already watched link keeps its state.
    pub fn watch_link(&mut self, link: u32, level: u32) {
        let gate = &mut self.gate[link as usize];
        if *gate == OPEN {
            *gate = level.saturating_add(1).min(BANNED - 1);
        }
    }

    /// Reopens a watched `link` (a banned one stays banned).
    pub fn unwatch_link(&mut self, link: u32) {
        let gate = &mut self.gate[link as usize];
        if *gate != BANNED {
            *gate = OPEN;
        }
    }

    pub fn ban_site(&mut self, site: u32) {
        self.nodes[site as usize].mark = BANNED;
    }

    pub fn unban_site(&mut self, site: u32) {
        self.nodes[site as usize].mark = 0;
    }

    fn begin(&mut self) {
        if self.epoch >= BANNED - 3 {
            for node in &mut self.nodes {
                if node.mark != BANNED {
                    node.mark = 0;
                }
            }
            self.epoch = 0;
        }
        self.epoch += 2;
        self.heap.clear();
        self.watch.clear();
    }

    pub fn is_settled(&self, site: u32) -> bool {
        self.nodes[site as usize].mark == self.epoch + 1
    }

    fn distance(&self, site: usize) -> f64 {
        let node = &self.nodes[site];
        if node.mark == self.epoch || node.mark == self.epoch + 1 {
            node.dist
        } else {
            f64::INFINITY
        }
    }

    /// Dijkstra from `src` until the visitor stops it or the heap runs dry.
    ///
    /// Watched links are skipped, but when one would have improved its head
    /// (to cost c), the search that has the link differs from this one only
    /// in that head, and only while this one has not brought the head below
    /// c: the two keep popping the same sites until the other would pop the
    /// head at (c, head). The visitor hears of such a divergence just before
    /// this search pops a key at or above it (or runs dry), and only then.
    pub fn run<V: Visitor>(&mut self, g: &Graph, src: u32, visitor: &mut V) {
        self.begin();
        self.nodes[src as usize] = Node {
            dist: 0.0,
            pred: NONE,
            mark: self.epoch,
        };
        self.heap.push(Reverse(HeapItem::new(0.0, src)));
        while let Some(Reverse(item)) = self.heap.pop() {
            let site = item.site();
            if self.nodes[site as usize].mark == self.epoch + 1 {
                continue;
            }
            self.fire_watches_upto(item, visitor);
            self.nodes[site as usize].mark = self.epoch + 1;
            let cost = item.cost();
            if visitor.settled(site, cost) {
                return;
            }
            for arc in g.out(site) {
                self.relax(arc, cost);
            }
        }
        self.fire_watches_upto(HeapItem(u128::MAX), visitor);
    }

    /// Relaxes `arc` out of a site settled at `cost`: exactly the per-pair
    /// search's rule (strict improvement, so the first relaxation wins ties).
    #[inline(always)]
    fn relax(&mut self, arc: &OutArc, cost: f64) {
        let (reached, settled) = (self.epoch, self.epoch + 1);
        let gate = self.gate[arc.link as usize];
        if gate == BANNED {
            return;
        }
        let node = &mut self.nodes[arc.head as usize];
        // Settled this search, or a banned site.
        if node.mark >= settled {
            return;
        }
        let nd = cost + arc.weight;
        // An unreached head is at +inf.
        let better = if node.mark == reached {
            nd < node.dist
        } else {
            nd < f64::INFINITY
        };
        if gate != OPEN {
            if better {
                let at = HeapItem::new(nd, arc.head);
                self.watch.push(Reverse((at, gate - 1)));
            }
            return;
        }
        if better {
            *node = Node {
                dist: nd,
                pred: arc.link,
                mark: reached,
            };
            self.heap.push(Reverse(HeapItem::new(nd, arc.head)));
        }
    }

    /// Reports the watched relaxations the other search would have acted on
    /// before this one settles `item`.
    fn fire_watches_upto<V: Visitor>(&mut self, item: HeapItem, visitor: &mut V) {
        while self.watch.peek().is_some_and(|Reverse((w, _))| *w <= item) {
            self.fire_watch(visitor);
        }
    }

    /// Takes the earliest watched relaxation: it diverges unless this search
    /// has since reached its head more cheaply (then both agree on the head).
    fn fire_watch<V: Visitor>(&mut self, visitor: &mut V) {
        if let Some(Reverse((at, level))) = self.watch.pop() {
            // Neither is NaN: NaN costs are never pushed.
            if self.distance(at.site() as usize) >= at.cost() {
                visitor.diverged(level);
            }
        }
    }

    /// The links from the search's source to settled `site`, appended to
    /// `out` in path order.
    pub fn path_into(&self, g: &Graph, site: u32, out: &mut Vec<LinkId>) {
        append_path(g, site, out, |v| self.nodes[v].pred);
    }

    /// Runs a complete search from `src` and keeps it in `base`.
    pub fn run_base(&mut self, g: &Graph, src: u32, base: &mut Base) {
        base.order.clear();
        self.run(g, src, &mut Record(&mut base.order));
        base.dist.clear();
        base.pred.clear();
        for (v, node) in self.nodes.iter().enumerate() {
            let settled = self.is_settled(v as u32);
            base.dist
                .push(if settled { node.dist } else { f64::INFINITY });
            base.pred.push(if settled { node.pred } else { NONE });
        }
    }
}

/// Stops when the one target is settled.
pub(super) struct ToSite(pub u32);

impl Visitor for ToSite {
    fn settled(&mut self, site: u32, _cost: f64) -> bool {
        site == self.0
    }
}

/// Stops once every listed site is settled, using `flags` (all `NONE`
/// outside, and again once it is dropped) to mark them.
pub(super) struct AllOf<'a> {
    flags: &'a mut [u32],
    sites: Vec<u32>,
    remaining: usize,
    /// Also stop once `offset` plus the cost of the site settled exceeds
    /// `cutoff`: with weights not negative, every later site costs as much.
    pub offset: f64,
    pub cutoff: f64,
}

impl<'a> AllOf<'a> {
    pub fn new(flags: &'a mut [u32], sites: impl Iterator<Item = u32>) -> Self {
        let sites: Vec<u32> = sites.collect();
        let mut remaining = 0;
        for &s in &sites {
            if flags[s as usize] == NONE {
                flags[s as usize] = 0;
                remaining += 1;
            }
        }
        AllOf {
            flags,
            sites,
            remaining,
            offset: 0.0,
            cutoff: f64::INFINITY,
        }
    }
}

impl Drop for AllOf<'_> {
    fn drop(&mut self) {
        for &s in &self.sites {
            self.flags[s as usize] = NONE;
        }
    }
}

impl Visitor for AllOf<'_> {
    fn settled(&mut self, site: u32, cost: f64) -> bool {
        if self.offset + cost > self.cutoff {
            return true;
        }
        if self.flags[site as usize] == 0 {
            self.flags[site as usize] = 1;
            self.remaining -= 1;
        }
        self.remaining == 0
    }
}

/// A complete search from one source.
#[derive(Default)]
pub(super) struct Base {
    pub dist: Vec<f64>,
    pub pred: Vec<u32>,
    /// Sites in settling order (parents before children).
    pub order: Vec<u32>,
}

/// Settles everything, recording the order.
struct Record<'a>(&'a mut Vec<u32>);

impl Visitor for Record<'_> {
    fn settled(&mut self, site: u32, _cost: f64) -> bool {
        self.0.push(site);
        false
    }
}

/// Appends the links of the tree path to `site`, given each site's
/// predecessor link (`NONE` at the root): measured first, so the vector is
/// sized once and filled back to front.
pub(super) fn append_path(
    g: &Graph,
    site: u32,
    out: &mut Vec<LinkId>,
    pred: impl Fn(usize) -> u32,
) {
    let mut len = 0;
    let mut at = site as usize;
    while pred(at) != NONE {
        len += 1;
        at = g.tail(pred(at)) as usize;
    }
    let start = out.len();
    out.resize(start + len, LinkId(NONE));
    let mut at = site as usize;
    for slot in out[start..].iter_mut().rev() {
        let l = pred(at);
        *slot = LinkId(l);
        at = g.tail(l) as usize;
    }
}
