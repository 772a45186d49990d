//! Greedy disjoint paths from one source to many destinations.
//!
//! Per destination the result is the plain greedy sequence: the shortest path,
//! then the shortest avoiding the links (or SRLGs) of the paths so far, until
//! k paths or a search fails. Four things make it cheap without changing it:
//!
//! - The first path to every destination is read off one shortest-path tree:
//!   a per-pair search stopping at the destination is a prefix of the full
//!   search, so it settles the destination with the same predecessors.
//! - Searches that must fail are skipped: when the min cut between the pair is
//!   used up, or the source has no free out-link or the destination no free
//!   in-link.
//! - Second paths are shared. Let s = v0 → v1 → … → vm be a first path, whose
//!   prefixes are the first paths to every vj. The search for vj's second path
//!   avoids the links of the prefix up to vj; the search for vm's avoids more.
//!   Both are the same deterministic procedure on the same input until the
//!   latter skips a link the former would have used to improve a distance, so
//!   one search avoiding all of vm's path, watching the extra links, yields
//!   the second path of every vj settled before such a divergence. Deepest
//!   destinations go first; those a divergence spoils are redone later.
//! - With strictly increasing costs (`Context::strict`), removing links only
//!   changes the sites below them in a complete shortest-path tree, so trees
//!   are kept up to date as links go and come back (`Dynamic`) instead of
//!   searched again: second paths by walking the first tree depth first,
//!   later ones from a tree shared by destinations whose earlier paths leave
//!   the source the same way. The plain searches above remain for other
//!   weights (zero latencies, say).

use keel_model::LinkId;

use super::Context;
use super::Work;
use super::graph::{AllOf, Base, Graph, NONE, ToSite, Visitor};

/// Per-thread arrays, kept all-`NONE` / false / empty between uses.
pub(super) struct Scratch {
    base: Base,
    /// Per site: its position on the current first path (pending sites only).
    position: Vec<u32>,
    /// Per site: its index among the destinations needing a second path.
    need_index: Vec<u32>,
    cuts: Vec<u32>,
    cut_stack: Vec<(u32, u32)>,
    banned: Vec<u32>,
}

impl Scratch {
    pub fn new(g: &Graph) -> Self {
        let n = g.site_count();
        Scratch {
            base: Base::default(),
            position: vec![NONE; n],
            need_index: vec![NONE; n],
            cuts: Vec::new(),
            cut_stack: Vec::new(),
            banned: Vec::new(),
        }
    }
}

type Found = Vec<(f64, Vec<LinkId>)>;

/// The greedy disjoint sequence from `src` to each of `dsts` (sorted, distinct).
pub(super) fn source(ctx: &Context, work: &mut Work, src: u32, dsts: &[u32]) -> Vec<Found> {
    let g = &ctx.graph;
    let mut out: Vec<Found> = vec![Vec::new(); dsts.len()];
    if ctx.k == 0 || src as usize >= g.site_count() {
        return out;
    }
    let valid: Vec<usize> = (0..dsts.len())
        .filter(|&i| ctx.valid_pair(src, dsts[i]))
        .collect();
    if valid.is_empty() {
        return out;
    }

    // First paths: one tree, complete when later searches will build on it.
    let incremental = ctx.strict && ctx.k >= 2;
    if incremental {
        work.search.run_base(g, src, &mut work.disjoint.base);
    } else {
        let mut all = AllOf::new(&mut work.flags, valid.iter().map(|&i| dsts[i]));
        work.search.run(g, src, &mut all);
    }
    for &i in &valid {
        if work.search.is_settled(dsts[i]) {
            let mut links = Vec::new();
            work.search.path_into(g, dsts[i], &mut links);
            out[i].push((ctx.cost(&links), links));
        }
    }
    if ctx.k == 1 {
        return out;
    }

    // How many disjoint paths each pair can have at most.
    let sc = &mut work.disjoint;
    let caps: Vec<usize> = match &ctx.cuts {
        Some((tree, adj)) => {
            tree.cuts_from(src, adj, &mut sc.cuts, &mut sc.cut_stack);
            dsts.iter()
                .map(|&d| ctx.k.min(sc.cuts[d as usize] as usize))
                .collect()
        }
        None => vec![ctx.k; dsts.len()],
    };
    let mut active: Vec<usize> = valid
        .iter()
        .copied()
        .filter(|&i| out[i].len() == 1 && caps[i] >= 2)
        .filter(|&i| may_continue(ctx, work, src, dsts[i], &out[i]))
        .collect();
    if incremental {
        dynamic_paths(ctx, work, src, dsts, &active, &mut out);
        later_paths(ctx, work, src, dsts, active, &caps, &mut out);
        return out;
    }
    second_paths(ctx, work, src, dsts, &active, &mut out);
    // Third and later paths: a search each, few of them.
    for round in 3..=ctx.k {
        active.retain(|&i| {
            out[i].len() == round - 1
                && round - 1 < caps[i]
                && may_continue(ctx, work, src, dsts[i], &out[i])
        });
        for &i in &active {
            let dst = dsts[i];
            ban_all(ctx, work, &out[i]);
            work.search.run(g, src, &mut ToSite(dst));
            unban_all(work);
            if work.search.is_settled(dst) {
                out[i].push(found_path(ctx, work, dst));
            }
        }
    }
    out
}

/// Second paths under `Context::strict`: walk the first tree depth first,
/// keeping a tree of the graph without the links (and SRLG mates) of the
/// path walked so far (see `Dynamic`); at each destination that tree holds
/// its second path.
fn dynamic_paths(
    ctx: &Context,
    work: &mut Work,
    src: u32,
    dsts: &[u32],
    need: &[usize],
    out: &mut [Found],
) {
    let g = &ctx.graph;
    let n = g.site_count();
    let base = &work.disjoint.base;
    // Which sites are destinations needing more paths, and which have one
    // below them in the first tree (children settle after parents).
    let mut need_at = vec![NONE; n];
    let mut below = vec![false; n];
    for &i in need {
        need_at[dsts[i] as usize] = i as u32;
        below[dsts[i] as usize] = true;
    }
    for &v in base.order.iter().rev() {
        let l = base.pred[v as usize];
        if l != NONE && below[v as usize] {
            below[g.tail(l) as usize] = true;
        }
    }
    let dynamic = &mut work.dynamic;
    dynamic.start(base);
    // Depth first over tree links into sites with something below.
    let mut stack: Vec<(u32, usize, super::dynamic::Undo)> = vec![(src, 0, dynamic.undo_point())];
    let mut closure: Vec<u32> = Vec::new();
    while let Some(top) = stack.last_mut() {
        let (v, cursor, undo) = *top;
        let out_arcs = g.out(v);
        if cursor >= out_arcs.len() {
            work.dynamic.rollback(undo);
            stack.pop();
            continue;
        }
        top.1 += 1;
        let arc = out_arcs[cursor];
        let c = arc.head;
        if work.disjoint.base.pred[c as usize] != arc.link || !below[c as usize] {
            continue;
        }
        let undo = work.dynamic.undo_point();
        with_mates(ctx, arc.link, &mut closure);
        work.dynamic.remove(g, closure.drain(..), None);
        let i = need_at[c as usize];
        if i != NONE && work.dynamic.reached(c) {
            let mut links = Vec::new();
            work.dynamic.path_into(g, c, &mut links);
            out[i as usize].push((ctx.cost(&links), links));
        }
        stack.push((c, 0, undo));
    }
}

/// Third and later paths under `Context::strict`. Destinations whose earlier
/// paths leave the source by the same links share one tree of the graph
/// without those links (with SRLG mates); where its path to a destination
/// avoids the rest of the earlier paths' links too, that path is the answer
/// (the links it avoids change nothing for it, see `Dynamic`), and where it
/// reaches no path at all, neither does the smaller graph. Otherwise the
/// rest of the links come out of that tree too, updated only as far as the
/// destination, and go back in after.
fn later_paths(
    ctx: &Context,
    work: &mut Work,
    src: u32,
    dsts: &[u32],
    mut active: Vec<usize>,
    caps: &[usize],
    out: &mut [Found],
) {
    let g = &ctx.graph;
    let mut closure: Vec<u32> = Vec::new();
    for round in 3..=ctx.k {
        active.retain(|&i| {
            out[i].len() == round - 1
                && round - 1 < caps[i]
                && may_continue(ctx, work, src, dsts[i], &out[i])
        });
        if active.is_empty() {
            break;
        }
        let mut keyed: Vec<(Vec<u32>, usize)> = active
            .iter()
            .map(|&i| {
                let mut firsts: Vec<u32> = out[i]
                    .iter()
                    .filter_map(|(_, l)| l.first())
                    .map(|l| l.0)
                    .collect();
                firsts.sort_unstable();
                (firsts, i)
            })
            .collect();
        keyed.sort_unstable();
        work.dynamic.start(&work.disjoint.base);
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            let undo = work.dynamic.undo_point();
            for &l in &group[0].0 {
                with_mates(ctx, l, &mut closure);
            }
            work.dynamic.remove(g, closure.drain(..), None);
            for &(_, i) in group {
                let dst = dsts[i];
                if !work.dynamic.reached(dst) {
                    continue;
                }
                let mut links = Vec::new();
                work.dynamic.path_into(g, dst, &mut links);
                ban_all(ctx, work, &out[i]);
                let clean = links.iter().all(|l| !work.search.is_banned(l.0));
                unban_all(work);
                if !clean {
                    // Remove the rest of the earlier paths too, as far as
                    // this destination.
                    let here = work.dynamic.undo_point();
                    for (_, prev) in &out[i] {
                        for l in prev {
                            with_mates(ctx, l.0, &mut closure);
                        }
                    }
                    work.dynamic.remove(g, closure.drain(..), Some(dst));
                    links.clear();
                    if work.dynamic.reached(dst) {
                        work.dynamic.path_into(g, dst, &mut links);
                    }
                    work.dynamic.rollback(here);
                }
                if !links.is_empty() {
                    out[i].push((ctx.cost(&links), links));
                }
            }
            work.dynamic.rollback(undo);
        }
    }
}

/// `link` and its SRLG mates, appended to `out`.
fn with_mates(ctx: &Context, link: u32, out: &mut Vec<u32>) {
    out.push(link);
    if let Some(srlg) = &ctx.srlg {
        srlg.for_each_mate(link, |m| out.push(m));
    }
}

/// The path to settled `site` from the last search, with its cost.
fn found_path(ctx: &Context, work: &Work, site: u32) -> (f64, Vec<LinkId>) {
    let mut links = Vec::new();
    work.search.path_into(&ctx.graph, site, &mut links);
    (ctx.cost(&links), links)
}

/// The second paths of destinations `need` (indices into `dsts`), by shared
/// searches, deepest first paths first.
fn second_paths(
    ctx: &Context,
    work: &mut Work,
    src: u32,
    dsts: &[u32],
    need: &[usize],
    out: &mut [Found],
) {
    let g = &ctx.graph;
    let mut order = need.to_vec();
    order.sort_by_key(|&i| std::cmp::Reverse(out[i][0].1.len()));
    for (n, &i) in need.iter().enumerate() {
        work.disjoint.need_index[dsts[i] as usize] = n as u32;
    }
    let mut resolved = vec![false; need.len()];
    let mut pending: Vec<bool> = Vec::new();
    let mut settled: Vec<u32> = Vec::new();
    let mut watched: Vec<u32> = Vec::new();
    for &i in &order {
        let n = work.disjoint.need_index[dsts[i] as usize] as usize;
        if resolved[n] {
            continue;
        }
        let first = out[i][0].1.clone();
        // Levels: link j of the path, and (for SRLGs) everything sharing a
        // group with it, is removed from position j + 1 on. Set in path
        // order, so a link keeps the lowest level.
        let search = &mut work.search;
        for (j, l) in first.iter().enumerate() {
            search.watch_link(l.0, j as u32);
            watched.push(l.0);
            if let Some(srlg) = &ctx.srlg {
                srlg.for_each_mate(l.0, |m| {
                    search.watch_link(m, j as u32);
                    watched.push(m);
                });
            }
        }
        let sc = &mut work.disjoint;
        pending.clear();
        pending.resize(first.len() + 1, false);
        let mut remaining = 0;
        for (j, l) in first.iter().enumerate() {
            let site = g.out_head(l.0);
            let m = sc.need_index[site as usize];
            if m != NONE && !resolved[m as usize] {
                pending[j + 1] = true;
                sc.position[site as usize] = (j + 1) as u32;
                remaining += 1;
            }
        }
        settled.clear();
        let mut visitor = Shared {
            position: &sc.position,
            pending: &mut pending,
            diverged: 0,
            remaining,
            settled: &mut settled,
        };
        work.search.run(g, src, &mut visitor);
        for &site in settled.iter() {
            let m = work.disjoint.need_index[site as usize] as usize;
            resolved[m] = true;
            out[need[m]].push(found_path(ctx, work, site));
        }
        // Still pending after the search ran dry: no second path exists.
        let sc = &mut work.disjoint;
        for (j, l) in first.iter().enumerate() {
            let site = g.out_head(l.0);
            if pending[j + 1] {
                resolved[sc.need_index[site as usize] as usize] = true;
            }
            sc.position[site as usize] = NONE;
        }
        for l in watched.drain(..) {
            work.search.unwatch_link(l);
        }
    }
    for &i in need {
        work.disjoint.need_index[dsts[i] as usize] = NONE;
    }
}

/// The shared second-path search: skips the removed links, watches those a
/// shallower destination would still have, and collects the destinations on
/// the path settled before a divergence.
struct Shared<'a> {
    position: &'a [u32],
    /// Per path position: a destination still waiting for its second path.
    pending: &'a mut [bool],
    /// Positions below this are spoilt (position 0 is the source).
    diverged: usize,
    remaining: usize,
    settled: &'a mut Vec<u32>,
}

impl Visitor for Shared<'_> {
    fn diverged(&mut self, level: u32) {
        // The search for position j avoids only levels below j: using a link
        // of level L it would diverge, for every j <= L.
        let upto = level as usize + 1;
        while self.diverged < upto {
            if let Some(p) = self.pending.get_mut(self.diverged) {
                if *p {
                    *p = false;
                    self.remaining -= 1;
                }
            }
            self.diverged += 1;
        }
    }

    fn settled(&mut self, site: u32, _cost: f64) -> bool {
        let j = self.position[site as usize];
        if j != NONE && self.pending[j as usize] {
            self.pending[j as usize] = false;
            self.settled.push(site);
            self.remaining -= 1;
        }
        self.remaining == 0
    }
}

/// Bans every link of `paths` (with SRLG mates), recording what it set for
/// `unban_all`.
fn ban_all(ctx: &Context, work: &mut Work, paths: &Found) {
    let search = &mut work.search;
    let set = &mut work.disjoint.banned;
    let mut ban = |l: u32| {
        if search.ban_link(l) {
            set.push(l);
        }
    };
    for (_, links) in paths {
        for l in links {
            ban(l.0);
            if let Some(srlg) = &ctx.srlg {
                srlg.for_each_mate(l.0, &mut ban);
            }
        }
    }
}

fn unban_all(work: &mut Work) {
    for l in work.disjoint.banned.drain(..) {
        work.search.unban_link(l);
    }
}

/// False when a search avoiding `paths` must fail: no free, usable out-link
/// at the source or in-link at the destination.
fn may_continue(ctx: &Context, work: &mut Work, src: u32, dst: u32, paths: &Found) -> bool {
    let g = &ctx.graph;
    ban_all(ctx, work, paths);
    let search = &work.search;
    let free = |l: u32| !search.is_banned(l) && g.usable(l);
    let ok = g.out(src).iter().any(|a| free(a.link)) && g.in_links(dst).iter().any(|&l| free(l));
    unban_all(work);
    ok
}
