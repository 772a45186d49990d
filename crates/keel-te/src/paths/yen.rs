//! Yen's k shortest loopless paths, with Lawler's refinement, from one source
//! to many destinations at once.
//!
//! Each destination runs its own Yen state (accepted paths, candidates, the
//! set of paths seen), exactly as a per-pair run would. What is shared is the
//! searches: a spur search is fixed by its root (the path prefix before the
//! spur site, whose sites it may not visit) and the links it may not take
//! next, and a search stopping at one destination is a prefix of the same
//! search run on, so every destination that asks for the same (root, banned
//! links) in a round is served by one search. In the first round that is
//! every destination below the same tree link, since all first paths come
//! from one shortest-path tree.
//!
//! Paths live in one arena per source, as ranges, to keep allocation out of
//! the inner loops.

use std::cmp::{Ordering, Reverse};
use std::hash::{Hash, Hasher};

use keel_model::LinkId;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::graph::{AllOf, NONE};
use super::{BOUNDED_SEARCH_FACTOR, Context, PathMetric, Work};

/// Relative slack on cost cut-offs. A candidate's cost is summed along its
/// links, while the cut-off test adds its root's cost to the spur's distance;
/// both are within n·2^-53 (relative) of the exact sum for weights not
/// negative, so pruning only beyond this margin never drops a candidate that
/// could be taken.
const CUTOFF_SLACK: f64 = 1e-9;

/// A path in the arena, with Yen's bookkeeping.
#[derive(Clone, Copy)]
struct Candidate {
    cost: f64,
    start: u32,
    len: u32,
    /// Index of the link where it left its parent: Lawler's refinement only spurs
    /// from here on, since earlier spurs were tried from the parent already.
    deviation: u32,
}

/// Paths of one source's destinations.
#[derive(Default)]
struct Arena {
    links: Vec<LinkId>,
}

impl Arena {
    fn of(&self, c: &Candidate) -> &[LinkId] {
        &self.links[c.start as usize..(c.start + c.len) as usize]
    }

    /// The order Yen pops candidates in: cost, then links, then deviation.
    fn cmp(&self, a: &Candidate, b: &Candidate) -> Ordering {
        a.cost
            .total_cmp(&b.cost)
            .then_with(|| self.of(a).cmp(self.of(b)))
            .then_with(|| a.deviation.cmp(&b.deviation))
    }
}

fn hash_links(links: &[LinkId]) -> u64 {
    let mut h = FxHasher::default();
    links.hash(&mut h);
    h.finish()
}

/// Path prefixes from the source, interned so equal roots compare as ids.
/// Id 0 is the empty prefix.
struct Prefixes {
    ids: FxHashMap<(u32, u32), u32>,
    parent: Vec<u32>,
    last: Vec<u32>,
}

impl Prefixes {
    fn new() -> Self {
        Prefixes {
            ids: FxHashMap::default(),
            parent: vec![NONE],
            last: vec![NONE],
        }
    }

    /// Appends the ids of `links[..i]` for i in 0..links.len() to `out`.
    fn roots(&mut self, links: &[LinkId], out: &mut Vec<u32>) {
        let mut at = 0;
        for (i, l) in links.iter().enumerate() {
            out.push(at);
            if i + 1 < links.len() {
                let next = self.parent.len() as u32;
                let parent = at;
                at = *self.ids.entry((parent, l.0)).or_insert(next);
                if at == next {
                    self.parent.push(parent);
                    self.last.push(l.0);
                }
            }
        }
    }
}

/// An accepted path: its candidate and where its prefix ids start.
struct Accepted {
    path: Candidate,
    roots: u32,
}

/// One destination's Yen run and what its caller keeps of it.
struct Target {
    dst: u32,
    bound: Option<f64>,
    /// Paths Yen may yield before giving up.
    limit: usize,
    taken: usize,
    out: Vec<(f64, Vec<LinkId>)>,
    accepted: Vec<Accepted>,
    pending: Vec<Candidate>,
    /// Hashes of every path accepted or pending; a repeat hash is checked
    /// against those paths before a candidate is dropped as seen.
    seen: FxHashSet<u64>,
    active: bool,
    /// How many further paths Yen may yield this round (0: no pruning), and
    /// the cheapest that many candidate costs.
    track: usize,
    cheapest: Vec<f64>,
}

/// Per-source state shared by the destinations.
struct Shared {
    arena: Arena,
    prefixes: Prefixes,
    /// Prefix ids of accepted paths, ranges given by `Accepted::roots`.
    roots: Vec<u32>,
}

impl Target {
    /// Takes Yen's next path: keeps it if it fits the bound, and decides
    /// whether to ask for another (the per-pair loop over `Yen::take(limit)`).
    fn accept(&mut self, ctx: &Context, shared: &mut Shared, best: Candidate) {
        self.taken += 1;
        let links = shared.arena.of(&best);
        if ctx.fits(links, self.bound) {
            self.out.push((best.cost, links.to_vec()));
            if self.out.len() == ctx.k {
                self.active = false;
            }
        } else if ctx.metric == PathMetric::Latency {
            // Yen yields paths in latency order here: none later fits.
            self.active = false;
        }
        if self.taken >= self.limit {
            self.active = false;
        }
        if self.active {
            let roots = shared.roots.len() as u32;
            let Shared {
                arena,
                prefixes,
                roots: all,
            } = shared;
            prefixes.roots(arena.of(&best), all);
            self.accepted.push(Accepted { path: best, roots });
        }
    }

    /// Offers a candidate; dropped if the path was seen before. Candidates of
    /// one round all differ (each leaves the last accepted path at its own
    /// link), so only earlier rounds can hold a repeat, and the order in
    /// which a round's candidates arrive does not matter.
    fn offer(&mut self, arena: &Arena, c: Candidate) {
        let links = arena.of(&c);
        if !self.seen.insert(hash_links(links)) {
            let same = |o: &Candidate| arena.of(o) == links;
            if self.accepted.iter().any(|a| same(&a.path)) || self.pending.iter().any(same) {
                return;
            }
        }
        self.pending.push(c);
        self.note_cost(c.cost);
    }

    /// Starts tracking the cheapest candidate costs for `cutoff`.
    fn start_round(&mut self) {
        self.cheapest.clear();
        self.track = self.limit.saturating_sub(self.taken);
        for i in 0..self.pending.len() {
            let cost = self.pending[i].cost;
            self.note_cost(cost);
        }
    }

    fn note_cost(&mut self, cost: f64) {
        if self.track == 0 || cost.is_nan() {
            return;
        }
        let at = self
            .cheapest
            .partition_point(|c| c.total_cmp(&cost).is_le());
        if at < self.track {
            if self.cheapest.len() == self.track {
                self.cheapest.pop();
            }
            self.cheapest.insert(at, cost);
        }
    }

    /// A cost no candidate found from now on may exceed and still be taken:
    /// with `track` (Yen's remaining pops) candidates pending, those pops all
    /// come from candidates no costlier than the track-th cheapest of them.
    fn cutoff(&self) -> f64 {
        if self.track > 0 && self.cheapest.len() == self.track {
            self.cheapest[self.track - 1]
        } else {
            f64::INFINITY
        }
    }

    fn pop_best(&mut self, arena: &Arena) -> Option<Candidate> {
        let mut best = 0;
        for i in 1..self.pending.len() {
            if arena.cmp(&self.pending[i], &self.pending[best]) == Ordering::Less {
                best = i;
            }
        }
        (best < self.pending.len()).then(|| self.pending.swap_remove(best))
    }
}

/// One spur search wanted by one destination.
struct Request {
    target: u32,
    index: u32,
    root: u32,
    /// Range in the round's banned-link arena.
    banned: (u32, u32),
}

/// Up to k paths from `src` to each target (destination, latency bound), as
/// the per-pair Yen loop would keep them (unsorted).
pub(super) fn source(
    ctx: &Context,
    work: &mut Work,
    src: u32,
    targets: &[(u32, Option<f64>)],
) -> Vec<Vec<(f64, Vec<LinkId>)>> {
    let g = &ctx.graph;
    let mut states: Vec<Target> = targets
        .iter()
        .map(|&(dst, bound)| Target {
            dst,
            bound,
            limit: if bound.is_some() {
                ctx.k.saturating_mul(BOUNDED_SEARCH_FACTOR)
            } else {
                ctx.k
            },
            taken: 0,
            out: Vec::new(),
            accepted: Vec::new(),
            pending: Vec::new(),
            seen: FxHashSet::default(),
            active: ctx.k > 0 && ctx.valid_pair(src, dst),
            track: 0,
            cheapest: Vec::new(),
        })
        .collect();
    if !states.iter().any(|t| t.active) {
        return states.into_iter().map(|t| t.out).collect();
    }
    let mut shared = Shared {
        arena: Arena::default(),
        prefixes: Prefixes::new(),
        roots: Vec::new(),
    };

    // First paths from one tree.
    let all = AllOf::new(
        &mut work.flags,
        states.iter().filter(|t| t.active).map(|t| t.dst),
    );
    let mut all = all;
    work.search.run(g, src, &mut all);
    drop(all);
    for t in states.iter_mut().filter(|t| t.active) {
        if !work.search.is_settled(t.dst) {
            t.active = false;
            continue;
        }
        let start = shared.arena.links.len();
        work.search.path_into(g, t.dst, &mut shared.arena.links);
        let links = &shared.arena.links[start..];
        t.seen.insert(hash_links(links));
        let first = Candidate {
            cost: ctx.cost(links),
            start: start as u32,
            len: links.len() as u32,
            deviation: 0,
        };
        t.accept(ctx, &mut shared, first);
    }

    let mut requests: Vec<Request> = Vec::new();
    let mut banned_arena: Vec<u32> = Vec::new();
    let mut order: Vec<u32> = Vec::new();
    let mut groups: Vec<(u32, u32, u32)> = Vec::new();
    let mut banned_sites: Vec<u32> = Vec::new();
    let mut banned_links: Vec<u32> = Vec::new();
    loop {
        // Every active destination spurs from its last accepted path.
        requests.clear();
        banned_arena.clear();
        for (ti, t) in states.iter_mut().enumerate().filter(|(_, t)| t.active) {
            if ctx.nonnegative {
                t.start_round();
            }
            let Some(last) = t.accepted.last() else {
                continue;
            };
            for i in last.path.deviation..last.path.len {
                let root = shared.roots[(last.roots + i) as usize];
                // Paths already accepted with this root must not be found again.
                let from = banned_arena.len();
                for a in &t.accepted {
                    if a.path.len > i && shared.roots[(a.roots + i) as usize] == root {
                        banned_arena.push(shared.arena.of(&a.path)[i as usize].0);
                    }
                }
                banned_arena[from..].sort_unstable();
                let mut kept = from;
                for j in from..banned_arena.len() {
                    if j == from || banned_arena[j] != banned_arena[kept - 1] {
                        banned_arena[kept] = banned_arena[j];
                        kept += 1;
                    }
                }
                banned_arena.truncate(kept);
                requests.push(Request {
                    target: ti as u32,
                    index: i,
                    root,
                    banned: (from as u32, kept as u32),
                });
            }
        }
        if requests.is_empty() {
            break;
        }

        // Requests with equal (root, banned links) share a search.
        let banned_of = |r: &Request| &banned_arena[r.banned.0 as usize..r.banned.1 as usize];
        order.clear();
        order.extend(0..requests.len() as u32);
        order.sort_unstable_by(|&a, &b| {
            let (x, y) = (&requests[a as usize], &requests[b as usize]);
            x.root
                .cmp(&y.root)
                .then_with(|| banned_of(x).cmp(banned_of(y)))
        });
        groups.clear();
        let mut g_start = 0;
        while g_start < order.len() {
            let head = &requests[order[g_start] as usize];
            let mut g_end = g_start + 1;
            while g_end < order.len() {
                let r = &requests[order[g_end] as usize];
                if r.root != head.root || banned_of(r) != banned_of(head) {
                    break;
                }
                g_end += 1;
            }
            groups.push((head.index, g_start as u32, g_end as u32));
            g_start = g_end;
        }
        // Deep spurs first: they tend to give the cheap candidates that set
        // the cut-offs the other searches stop at.
        groups.sort_unstable_by_key(|&(depth, start, _)| (Reverse(depth), start));

        for &(_, g_start, g_end) in &groups {
            let group = &order[g_start as usize..g_end as usize];
            let head = &requests[group[0] as usize];
            // Loopless: the spur may not revisit the root's sites.
            let root = head.root;
            let mut at = root;
            while at != 0 {
                let l = shared.prefixes.last[at as usize];
                banned_sites.push(g.tail(l));
                at = shared.prefixes.parent[at as usize];
            }
            let spur_site = match root {
                0 => src,
                r => g.out_head(shared.prefixes.last[r as usize]),
            };
            for &s in &banned_sites {
                work.search.ban_site(s);
            }
            for &l in banned_of(head) {
                if work.search.ban_link(l) {
                    banned_links.push(l);
                }
            }
            let mut all = AllOf::new(
                &mut work.flags,
                group
                    .iter()
                    .map(|&r| states[requests[r as usize].target as usize].dst),
            );
            let cutoff = group
                .iter()
                .map(|&r| states[requests[r as usize].target as usize].cutoff())
                .fold(0.0, f64::max);
            if cutoff < f64::INFINITY {
                let t = &states[head.target as usize];
                if let Some(last) = t.accepted.last() {
                    let root_links = &shared.arena.of(&last.path)[..head.index as usize];
                    all.offset = ctx.cost(root_links);
                    all.cutoff = cutoff * (1.0 + CUTOFF_SLACK);
                }
            }
            work.search.run(g, spur_site, &mut all);
            drop(all);
            for &r in group {
                let req = &requests[r as usize];
                let t = &mut states[req.target as usize];
                if !work.search.is_settled(t.dst) {
                    continue;
                }
                let Some(last) = t.accepted.last() else {
                    continue;
                };
                let links = &mut shared.arena.links;
                let start = links.len();
                let root_at = last.path.start as usize;
                links.extend_from_within(root_at..root_at + req.index as usize);
                work.search.path_into(g, t.dst, links);
                let found = Candidate {
                    cost: ctx.cost(&links[start..]),
                    start: start as u32,
                    len: (links.len() - start) as u32,
                    deviation: req.index,
                };
                t.offer(&shared.arena, found);
            }
            for s in banned_sites.drain(..) {
                work.search.unban_site(s);
            }
            for l in banned_links.drain(..) {
                work.search.unban_link(l);
            }
        }

        for t in states.iter_mut().filter(|t| t.active) {
            match t.pop_best(&shared.arena) {
                Some(best) => t.accept(ctx, &mut shared, best),
                None => t.active = false,
            }
        }
    }
    states.into_iter().map(|t| t.out).collect()
}
