//! A complete shortest-path tree from one source, kept exact while links are
//! removed, with an undo log to put them back.
//!
//! Only valid under `Context::strict`, where a search settles sites in
//! (distance, site) order and gives each site, as predecessor, the link from
//! the smallest-keyed neighbour offering its distance (then the earliest in
//! that neighbour's out-list). Removing a link the tree does not use then
//! changes nothing, and removing a tree link changes only the sites below it:
//! every other site keeps its distance (its tree path survives and nothing got
//! shorter) and its predecessor (a rival can only have become costlier). The
//! sites below are searched again, with the relaxations into them from the
//! other sites replayed in those sites' key order, exactly as a full search
//! would make them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use keel_model::LinkId;

use super::graph::{Base, Graph, HeapItem, NONE, append_path};

pub(super) struct Dynamic {
    dist: Vec<f64>,
    pred: Vec<u32>,
    removed: Vec<bool>,
    /// `epoch`: in the part being searched again; `epoch + 1`: settled there.
    mark: Vec<u32>,
    epoch: u32,
    heap: BinaryHeap<Reverse<HeapItem>>,
    undo_sites: Vec<(u32, f64, u32)>,
    undo_links: Vec<u32>,
    part: Vec<u32>,
    tails: Vec<HeapItem>,
}

/// A point to roll back to.
#[derive(Clone, Copy)]
pub(super) struct Undo(usize, usize);

impl Dynamic {
    pub fn new(g: &Graph, excluded: &[bool]) -> Self {
        let n = g.site_count();
        Dynamic {
            dist: vec![f64::INFINITY; n],
            pred: vec![NONE; n],
            removed: excluded.to_vec(),
            mark: vec![0; n],
            epoch: 0,
            heap: BinaryHeap::new(),
            undo_sites: Vec::new(),
            undo_links: Vec::new(),
            part: Vec::new(),
            tails: Vec::new(),
        }
    }

    /// Starts from a complete tree.
    pub fn start(&mut self, base: &Base) {
        self.dist.clone_from(&base.dist);
        self.pred.clone_from(&base.pred);
        self.undo_sites.clear();
        self.rollback(Undo(0, 0));
    }

    pub fn undo_point(&self) -> Undo {
        Undo(self.undo_sites.len(), self.undo_links.len())
    }

    pub fn rollback(&mut self, to: Undo) {
        while self.undo_sites.len() > to.0 {
            if let Some((v, d, p)) = self.undo_sites.pop() {
                self.dist[v as usize] = d;
                self.pred[v as usize] = p;
            }
        }
        while self.undo_links.len() > to.1 {
            if let Some(l) = self.undo_links.pop() {
                self.removed[l as usize] = false;
            }
        }
    }

    /// Whether `site` (not the source) is reachable.
    pub fn reached(&self, site: u32) -> bool {
        self.pred[site as usize] != NONE
    }

    /// The tree path to `site`, appended to `out`.
    pub fn path_into(&self, g: &Graph, site: u32, out: &mut Vec<LinkId>) {
        append_path(g, site, out, |v| self.pred[v]);
    }

    fn next_epoch(&mut self) {
        if self.epoch >= u32::MAX - 3 {
            self.mark.fill(0);
            self.epoch = 0;
        }
        self.epoch += 2;
    }

    /// Removes `links` and brings the tree up to date; with `stop_at`, only
    /// until that site is settled (the tree is then fit only for reading its
    /// path and rolling back).
    pub fn remove(
        &mut self,
        g: &Graph,
        links: impl IntoIterator<Item = u32>,
        stop_at: Option<u32>,
    ) {
        self.next_epoch();
        let epoch = self.epoch;
        self.part.clear();
        for l in links {
            if self.removed[l as usize] {
                continue;
            }
            self.removed[l as usize] = true;
            self.undo_links.push(l);
            let head = g.out_head(l);
            if self.pred[head as usize] == l && self.mark[head as usize] != epoch {
                self.mark[head as usize] = epoch;
                self.part.push(head);
            }
        }
        if self.part.is_empty() {
            return;
        }
        // Everything below the cut links, found through tree links.
        let mut i = 0;
        while let Some(&y) = self.part.get(i) {
            i += 1;
            for arc in g.out(y) {
                let x = arc.head as usize;
                if self.pred[x] == arc.link && self.mark[x] != epoch {
                    self.mark[x] = epoch;
                    self.part.push(arc.head);
                }
            }
        }
        for &x in &self.part {
            let v = x as usize;
            self.undo_sites.push((x, self.dist[v], self.pred[v]));
            self.dist[v] = f64::INFINITY;
            self.pred[v] = NONE;
        }
        // The sites outside with links in, in the order they settled.
        self.tails.clear();
        for &x in &self.part {
            for &l in g.in_links(x) {
                let u = g.tail(l);
                let d = self.dist[u as usize];
                if self.mark[u as usize] != epoch && !self.removed[l as usize] && d < f64::INFINITY
                {
                    self.tails.push(HeapItem::new(d, u));
                }
            }
        }
        self.tails.sort_unstable();
        self.tails.dedup();
        self.heap.clear();
        let mut next = 0;
        loop {
            let outside = self.tails.get(next).copied();
            let inside = self.heap.peek().map(|r| r.0);
            let item = match (outside, inside) {
                (None, None) => break,
                (Some(o), i) if i.is_none_or(|i| o < i) => {
                    next += 1;
                    o
                }
                _ => match self.heap.pop() {
                    Some(Reverse(i)) => {
                        let v = i.site() as usize;
                        if self.mark[v] != epoch {
                            continue;
                        }
                        self.mark[v] = epoch + 1;
                        if stop_at == Some(i.site()) {
                            break;
                        }
                        i
                    }
                    None => break,
                },
            };
            let cost = item.cost();
            for arc in g.out(item.site()) {
                let h = arc.head as usize;
                if self.mark[h] != epoch || self.removed[arc.link as usize] {
                    continue;
                }
                let nd = cost + arc.weight;
                if nd < self.dist[h] {
                    self.dist[h] = nd;
                    self.pred[h] = arc.link;
                    self.heap.push(Reverse(HeapItem::new(nd, arc.head)));
                }
            }
        }
    }
}
