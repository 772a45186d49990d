//! Upper bounds on the number of link-disjoint paths between every pair of
//! sites, so the greedy disjoint search can stop as soon as no further path
//! can exist instead of running a full search that fails.
//!
//! Every cut separating `s` from `t` in the underlying undirected graph, with
//! edge {u, v} weighted by max(links u→v, links v→u), is crossed by every s→t
//! path along a link in the s→t direction, so its weight bounds the number of
//! link-disjoint s→t paths (exactly, when the topology is symmetric). The
//! minimum such cut for all pairs comes from Gusfield's flow-equivalent tree:
//! n − 1 max-flow computations, each tiny here because the flows are small.

use std::collections::VecDeque;

use super::graph::{Graph, NONE};

/// A flow-equivalent tree: the min cut between s and t is the lightest edge
/// on the tree path between them.
pub(super) struct CutTree {
    parent: Vec<u32>,
    value: Vec<u32>,
}

/// The undirected graph as adjacency lists of (neighbour, edge index), each
/// undirected edge with a capacity.
struct Undirected {
    first: Vec<usize>,
    adj: Vec<(u32, u32)>,
    cap: Vec<i64>,
    /// Endpoints of each edge; flow is positive from `ends.0` to `ends.1`.
    ends: Vec<(u32, u32)>,
}

impl Undirected {
    fn new(g: &Graph, excluded: &[bool]) -> Self {
        let n = g.site_count();
        // Links per ordered pair, counting only links a search could use.
        let mut count: rustc_hash::FxHashMap<(u32, u32), i64> = Default::default();
        for u in 0..n as u32 {
            for a in g.out(u) {
                if a.head != u && !excluded[a.link as usize] && g.usable(a.link) {
                    *count.entry((u, a.head)).or_default() += 1;
                }
            }
        }
        let mut edges: Vec<((u32, u32), i64)> = Vec::new();
        for (&(u, v), &c) in &count {
            let back = count.get(&(v, u)).copied().unwrap_or(0);
            // Each unordered pair once, from its smaller end (or from the only
            // direction present).
            if u < v || back == 0 {
                edges.push(((u.min(v), u.max(v)), c.max(back)));
            }
        }
        edges.sort_unstable();
        let mut deg = vec![0usize; n + 1];
        for &((u, v), _) in &edges {
            deg[u as usize + 1] += 1;
            deg[v as usize + 1] += 1;
        }
        for i in 0..n {
            deg[i + 1] += deg[i];
        }
        let first = deg.clone();
        let mut fill = deg;
        let mut adj = vec![(0, 0); 2 * edges.len()];
        for (e, &((u, v), _)) in edges.iter().enumerate() {
            adj[fill[u as usize]] = (v, e as u32);
            fill[u as usize] += 1;
            adj[fill[v as usize]] = (u, e as u32);
            fill[v as usize] += 1;
        }
        Undirected {
            first,
            adj,
            cap: edges.iter().map(|e| e.1).collect(),
            ends: edges.iter().map(|e| e.0).collect(),
        }
    }

    fn neighbours(&self, u: usize) -> &[(u32, u32)] {
        &self.adj[self.first[u]..self.first[u + 1]]
    }

    /// Residual capacity from `u` across edge `e`.
    fn residual(&self, flow: &[i64], e: usize, u: u32) -> i64 {
        if self.ends[e].0 == u {
            self.cap[e] - flow[e]
        } else {
            self.cap[e] + flow[e]
        }
    }
}

impl CutTree {
    pub fn new(g: &Graph, excluded: &[bool]) -> Self {
        let n = g.site_count();
        let und = Undirected::new(g, excluded);
        let mut parent = vec![0u32; n];
        let mut value = vec![0u32; n];
        let mut flow = vec![0i64; und.cap.len()];
        let mut via = vec![NONE; n];
        let mut seen = vec![false; n];
        let mut queue = VecDeque::new();
        for s in 1..n {
            let t = parent[s] as usize;
            flow.fill(0);
            let mut total = 0i64;
            // Augmenting paths by BFS until none is left; `seen` then marks
            // the source side of a minimum cut.
            loop {
                seen.fill(false);
                queue.clear();
                seen[s] = true;
                queue.push_back(s as u32);
                while let Some(u) = queue.pop_front() {
                    if u as usize == t {
                        break;
                    }
                    for &(v, e) in und.neighbours(u as usize) {
                        if !seen[v as usize] && und.residual(&flow, e as usize, u) > 0 {
                            seen[v as usize] = true;
                            via[v as usize] = e;
                            queue.push_back(v);
                        }
                    }
                }
                if !seen[t] {
                    break;
                }
                let mut push = i64::MAX;
                let mut at = t as u32;
                while at as usize != s {
                    let e = via[at as usize] as usize;
                    let from = other_end(&und, e, at);
                    push = push.min(und.residual(&flow, e, from));
                    at = from;
                }
                let mut at = t as u32;
                while at as usize != s {
                    let e = via[at as usize] as usize;
                    let from = other_end(&und, e, at);
                    flow[e] += if und.ends[e].0 == from { push } else { -push };
                    at = from;
                }
                total += push;
            }
            value[s] = u32::try_from(total).unwrap_or(u32::MAX);
            for j in s + 1..n {
                if seen[j] && parent[j] as usize == t {
                    parent[j] = s as u32;
                }
            }
        }
        CutTree { parent, value }
    }

    /// The min cut from `src` to every site (`u32::MAX` for `src` itself),
    /// into `out`.
    pub fn cuts_from(
        &self,
        src: u32,
        adj: &TreeAdj,
        out: &mut Vec<u32>,
        stack: &mut Vec<(u32, u32)>,
    ) {
        out.clear();
        out.resize(self.parent.len(), 0);
        out[src as usize] = u32::MAX;
        stack.clear();
        stack.push((src, NONE));
        // A tree: every neighbour but the one we came from is new.
        while let Some((u, from)) = stack.pop() {
            let here = out[u as usize];
            for &(v, w) in adj.of(u) {
                if v != from {
                    out[v as usize] = here.min(w);
                    stack.push((v, u));
                }
            }
        }
    }

    /// The tree as adjacency lists, for [`CutTree::cuts_from`].
    pub fn adjacency(&self) -> TreeAdj {
        let n = self.parent.len();
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        for s in 1..n {
            let p = self.parent[s] as usize;
            lists[s].push((p as u32, self.value[s]));
            lists[p].push((s as u32, self.value[s]));
        }
        TreeAdj { lists }
    }
}

fn other_end(und: &Undirected, e: usize, at: u32) -> u32 {
    let (a, b) = und.ends[e];
    if a == at { b } else { a }
}

pub(super) struct TreeAdj {
    lists: Vec<Vec<(u32, u32)>>,
}

impl TreeAdj {
    fn of(&self, u: u32) -> &[(u32, u32)] {
        &self.lists[u as usize]
    }
}
