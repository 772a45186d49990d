//! Where the solver gets each stage's packed problem from: built afresh for a
//! one-off solve, or kept between solves and patched where the problem changed
//! (see `crate::reopt`).

use std::ops::Range;

use super::compact::{self, Compact};
use crate::Problem;

/// Supplies the packed problem of a stage. `keep` selects the stage's demands;
/// `capacity` is what the stage may use, in bit/s per link.
pub(crate) trait Stages {
    fn stage(
        &mut self,
        problem: &Problem,
        capacity: &[f64],
        level: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> &Compact;
}

/// Builds every stage from scratch.
#[derive(Default)]
pub(crate) struct Fresh(Option<Compact>);

impl Stages for Fresh {
    fn stage(
        &mut self,
        problem: &Problem,
        capacity: &[f64],
        _level: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> &Compact {
        self.0.insert(Compact::new(problem, capacity, keep))
    }
}

/// The stages of the last solve, kept for the next one. The owner reports which
/// demands' candidate paths changed in between ([`Kept::paths_changed`]) and
/// how demands were renumbered by a new traffic matrix ([`Kept::renumber`]);
/// rates and capacities are re-read on every solve.
#[derive(Default)]
pub(crate) struct Kept {
    stages: Vec<Compact>,
    /// Per demand: its paths changed since the stages were packed.
    changed: Vec<bool>,
    /// Per demand, its index when the stages were packed (None: new); absent
    /// while demands keep their indices.
    was: Option<Vec<Option<usize>>>,
    /// Per stage, the segments and forest nodes it had when packed from scratch.
    packed: Vec<(usize, usize)>,
}

/// A patched problem keeps the segments and forest nodes of replaced paths
/// (priced every iteration, used by none); once it has this many times the
/// segments or nodes it was packed with, it is packed afresh.
const GROWTH: usize = 2;

impl Kept {
    pub fn paths_changed(&mut self, demand: usize) {
        if self.changed.len() <= demand {
            self.changed.resize(demand + 1, false);
        }
        self.changed[demand] = true;
    }

    /// Demands were renumbered: demand d is the one numbered `was[d]` before
    /// (None: a new demand).
    pub fn renumber(&mut self, was: Vec<Option<usize>>) {
        let changed = &self.changed;
        self.changed = was
            .iter()
            .map(|w| w.is_some_and(|i| changed.get(i).copied().unwrap_or(false)))
            .collect();
        self.was = Some(match &self.was {
            // Compose with the renumbering not yet packed.
            Some(before) => was
                .into_iter()
                .map(|w| w.and_then(|i| before.get(i).copied().flatten()))
                .collect(),
            None => was,
        });
    }

    /// Call after a solve: the stages now match the problem.
    pub fn settled(&mut self) {
        self.changed.clear();
        self.was = None;
    }
}

impl Stages for Kept {
    fn stage(
        &mut self,
        problem: &Problem,
        capacity: &[f64],
        level: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> &Compact {
        let fresh = self.stages.get(level).is_none_or(|c| {
            let packed = self.packed[level];
            c.link_count() != capacity.len()
                || c.segments.count() > GROWTH * packed.0
                || c.forest.node_count() > GROWTH * packed.1
        });
        if fresh {
            let c = Compact::new(problem, capacity, keep);
            if level >= self.stages.len() {
                self.stages.resize_with(level + 1, placeholder);
                self.packed.resize(level + 1, (0, 0));
            }
            self.packed[level] = (c.segments.count(), c.forest.node_count());
            self.stages[level] = c;
            return &self.stages[level];
        }
        let old = std::mem::replace(&mut self.stages[level], placeholder());
        let (flags, was) = (&self.changed, &self.was);
        // Where demand d was packed, if its packed paths still hold.
        let reusable = |d: usize| {
            if flags.get(d).copied().unwrap_or(false) {
                return None;
            }
            match was {
                Some(w) => w.get(d).copied().flatten(),
                None => Some(d),
            }
        };
        self.stages[level] = patch(old, problem, capacity, keep, &reusable);
        &self.stages[level]
    }
}

fn placeholder() -> Compact {
    Compact::empty(&[], 1.0)
}

/// `old` brought up to `problem`: new rates and capacities; demands whose
/// packed paths still hold (`reusable(d)`: the index d was packed under) keep
/// them (copied in blocks), the others are packed anew into the same segment
/// table. The result is what `Compact::new` would build, up to segment
/// numbering.
fn patch(
    mut old: Compact,
    problem: &Problem,
    capacity: &[f64],
    keep: &dyn Fn(usize) -> bool,
    reusable: &dyn Fn(usize) -> Option<usize>,
) -> Compact {
    let scale = compact::capacity_scale(problem);
    let demands = problem.traffic.demands();
    let wanted: Vec<usize> = (0..problem.traffic.len())
        .filter(|&d| compact::kept(problem, d) && keep(d))
        .collect();
    // Position in `old` of each wanted demand's packed paths.
    let from: Vec<Option<usize>> = wanted
        .iter()
        .map(|&d| reusable(d).and_then(|o| old.demand.binary_search(&o).ok()))
        .collect();
    old.scale = scale;
    old.cap = capacity.iter().map(|v| v.max(0.0) / scale).collect();
    if from.len() == old.demand.len() && from.iter().enumerate().all(|(i, f)| *f == Some(i)) {
        // Only volumes moved.
        old.demand = wanted;
        for (r, &d) in old.rate.iter_mut().zip(&old.demand) {
            *r = demands[d].rate.bps() / scale;
        }
        return old;
    }
    let mut c = Compact {
        demand: Vec::with_capacity(wanted.len()),
        rate: Vec::with_capacity(wanted.len()),
        path_start: Vec::with_capacity(wanted.len() + 1),
        link_start: Vec::with_capacity(old.link_start.len()),
        links: Vec::with_capacity(old.links.len()),
        seg_run_start: Vec::with_capacity(old.seg_run_start.len()),
        path_segs: Vec::with_capacity(old.path_segs.len()),
        segments: std::mem::replace(&mut old.segments, compact::Segments::with_links(0)),
        forest: compact::Forest::default(),
        cap: std::mem::take(&mut old.cap),
        scale,
    };
    c.path_start.push(0);
    c.link_start.push(0);
    c.seg_run_start.push(0);
    // The demands to pack anew, packed in parallel first, taken in order below.
    let fresh: Vec<usize> = wanted
        .iter()
        .zip(&from)
        .filter(|(_, f)| f.is_none())
        .map(|(d, _)| *d)
        .collect();
    let pieces = c.pack(problem, &fresh);
    let mut next_fresh = pieces
        .iter()
        .flat_map(|p| (0..p.compact.demand_count()).map(move |i| (p, i)));
    // Old demands kept as they were, as a run of old positions to copy in one go.
    let mut run: Option<Range<usize>> = None;
    for &f in &from {
        match (f, &mut run) {
            (Some(i), Some(r)) if r.end == i => r.end = i + 1,
            (Some(i), _) => {
                if let Some(r) = run.take() {
                    c.copy_demands(&old, r, None);
                }
                run = Some(i..i + 1);
            }
            (None, _) => {
                if let Some(r) = run.take() {
                    c.copy_demands(&old, r, None);
                }
                if let Some((p, i)) = next_fresh.next() {
                    c.copy_demands(&p.compact, i..i + 1, Some(&p.remap));
                }
            }
        }
    }
    if let Some(r) = run.take() {
        c.copy_demands(&old, r, None);
    }
    // Copied demands carry their old numbers and rates.
    c.demand = wanted;
    for (r, &d) in c.rate.iter_mut().zip(&c.demand) {
        *r = demands[d].rate.bps() / scale;
    }
    match patched_chunks(&old, &from) {
        Some(chunks) => {
            let mut was = Vec::with_capacity(c.path_count());
            for (i, f) in from.iter().enumerate() {
                match f {
                    Some(j) => was.extend(
                        (old.path_start[*j]..old.path_start[j + 1]).map(|p| Some(p as u32)),
                    ),
                    None => was.extend(c.paths(i).map(|_| None)),
                }
            }
            c.forest = compact::Forest::patched(&old.forest, &c, chunks, &was);
        }
        None => c.index(),
    }
    c
}

/// Chunks for a patched problem whose demand i was old demand `from[i]` (None:
/// packed anew) that keep each copied demand in its old chunk, so that the old
/// forests still hold their paths: chunk k runs from the first demand copied
/// from old chunk k or later, and new demands join the chunk before them. None
/// if the copied demands are out of their old order.
fn patched_chunks(old: &Compact, from: &[Option<usize>]) -> Option<Vec<Range<usize>>> {
    let old_chunks = old.chunks();
    if old_chunks.is_empty() {
        return None;
    }
    let mut starts = vec![0];
    let mut last = None;
    for (i, f) in from.iter().enumerate() {
        let Some(j) = *f else { continue };
        if last.is_some_and(|l| j <= l) {
            return None;
        }
        last = Some(j);
        while j >= old_chunks[starts.len() - 1].end {
            starts.push(i);
        }
    }
    starts.resize(old_chunks.len(), from.len());
    starts.push(from.len());
    Some(starts.windows(2).map(|w| w[0]..w[1]).collect())
}

#[cfg(test)]
mod tests {
    use keel_model::{ClassSet, TrafficMatrix};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::fast::primal::tests::assert_forests_agree;
    use crate::testing::random_instance;
    use crate::{CandidatePaths, PathKind, PathOptions, compute_paths};

    /// Patched stages (demands dropped, renumbered, some re-pathed) price and
    /// load their paths exactly as a fresh packing would, several patches in a
    /// row.
    #[test]
    fn patched_forests_still_hold_every_path() {
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (topo, tm) = random_instance(&mut rng, 6..=14, 40..=120);
            let capacity: Vec<f64> = topo.links().iter().map(|l| l.capacity.bps()).collect();
            let opts = |kind| PathOptions {
                k: 3,
                kind,
                ..PathOptions::default()
            };
            let mut paths = compute_paths(&topo, &tm, &opts(PathKind::Shortest));
            let mut tm = tm;
            let mut kept = Kept::default();
            let problem = Problem {
                topology: &topo,
                traffic: &tm,
                paths: &paths,
            };
            kept.stage(&problem, &capacity, 0, &|_| true);
            for round in 0..3 {
                // Drop every fourth demand (renumbering the rest), then give
                // every third survivor edge-disjoint paths instead.
                let was: Vec<Option<usize>> = (0..tm.len())
                    .filter(|d| (d + round) % 4 != 0)
                    .map(Some)
                    .collect();
                let demands = was.iter().flatten().map(|&d| tm.demands()[d]).collect();
                let next = TrafficMatrix::new(&topo, ClassSet::default(), demands).expect("tm");
                let disjoint = compute_paths(&topo, &next, &opts(PathKind::EdgeDisjoint));
                kept.renumber(was.clone());
                let per_demand = was
                    .iter()
                    .enumerate()
                    .map(|(d, w)| {
                        if d % 3 == round % 3 {
                            kept.paths_changed(d);
                            disjoint.per_demand[d].clone()
                        } else {
                            paths.per_demand[w.expect("kept")].clone()
                        }
                    })
                    .collect();
                (tm, paths) = (next, CandidatePaths { per_demand });
                let problem = Problem {
                    topology: &topo,
                    traffic: &tm,
                    paths: &paths,
                };
                let c = kept.stage(&problem, &capacity, 0, &|_| true);
                let fresh = Compact::new(&problem, &capacity, |_| true);
                assert_eq!(c.demand, fresh.demand, "seed {seed} round {round}");
                assert_eq!(c.links, fresh.links, "seed {seed} round {round}");
                assert_forests_agree(c, &mut rng, &format!("seed {seed} round {round}"));
                kept.settled();
            }
        }
    }
}
