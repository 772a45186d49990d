//! Incremental re-optimisation: what a running controller keeps between solves.
//!
//! A one-off solve computes every candidate path, packs the solver's problem and
//! then solves it. After a new traffic matrix or a link failure most of that is
//! unchanged, so a [`Reoptimiser`] keeps the candidate paths, the packed problem
//! and the last link prices, and each change redoes only what it touches:
//!
//! * **New traffic** ([`Reoptimiser::set_traffic`]): demands with the same
//!   endpoints (and latency bound) keep their paths; paths are computed only for
//!   pairs the previous matrix did not have. If every demand keeps its pair, the
//!   packed problem only takes the new volumes.
//! * **Link failure** ([`Reoptimiser::fail_link`]): the link stays in the
//!   topology with capacity 0, so link ids (and the link prices of the warm
//!   start) keep their meaning. Demands with a candidate path over it get their
//!   paths recomputed on the surviving topology, and only they are re-packed.
//!   The others keep theirs, which is what a from-scratch computation on the
//!   surviving topology finds too: the best paths of a demand that avoid a link
//!   are still the best once the link is gone, for k-shortest and greedy
//!   disjoint paths alike (up to ties in cost; with latency bounds, a bounded
//!   demand whose search passed over the link may differ).
//!   With [`Reroute::DropDead`] the other candidates of those demands are kept
//!   and only demands left without any get new paths: the fastest reaction
//!   (FRR-like), optimal over fewer candidates, for a later re-plan.
//! * **Link restore** ([`Reoptimiser::restore_link`]): demands rerouted around
//!   failures get back the paths they had before when those avoid every link
//!   still down, and are recomputed otherwise.
//! * **Capacity change** ([`Reoptimiser::set_capacity`]): new capacities only;
//!   the candidate paths stay (with the inv-cap metric a from-scratch
//!   computation would weigh links by the new capacities, a re-plan left to the
//!   caller: build a new `Reoptimiser`).
//!
//! Path weights always come from the topology given to [`Reoptimiser::new`].
//! [`Reoptimiser::solve`] warm-starts from the last solve's prices and reports
//! in `Solution::timings` the path work done since the last solve (`paths`),
//! the packing (`build`) and the descent (`solve`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keel_model::{LinkId, Path, Topology, TrafficMatrix};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::fast::{self, stages::Kept};
use crate::paths::{PairKey, pair_key, paths_of};
use crate::{
    CandidatePaths, FastOptions, FastOutcome, Hooks, PathOptions, Problem, TeError, WarmStart,
};

/// What a link failure does to the candidate paths of the demands crossing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reroute {
    /// New candidate paths on the surviving topology: what a from-scratch
    /// computation finds.
    #[default]
    Recompute,
    /// Keep the surviving candidates; new paths only for demands left with none.
    DropDead,
}

/// A TE instance kept between solves; see the module docs.
pub struct Reoptimiser {
    reroute: Reroute,
    /// As given: path weights come from it.
    nominal: Topology,
    /// Capacity of each link when up, bit/s.
    capacity: Vec<f64>,
    down: Vec<bool>,
    /// `nominal` with the current capacities, down links at 0: what is solved
    /// and verified against.
    topology: Topology,
    traffic: TrafficMatrix,
    path_opts: PathOptions,
    opts: FastOptions,
    paths: CandidatePaths,
    /// Demands whose paths were recomputed around down links, with the paths
    /// they have with every link up when known.
    rerouted: BTreeMap<usize, Option<Vec<Path>>>,
    stages: Kept,
    warm: Option<WarmStart>,
    /// Path work and topology updates since the last solve.
    path_time: Duration,
    build_time: Duration,
}

impl Reoptimiser {
    /// Computes the candidate paths of `traffic` on `topology` (all links up).
    pub fn new(
        topology: Topology,
        traffic: TrafficMatrix,
        path_opts: PathOptions,
        opts: FastOptions,
    ) -> Result<Reoptimiser, TeError> {
        check_traffic(&topology, &traffic)?;
        let started = Instant::now();
        let paths = crate::compute_paths(&topology, &traffic, &path_opts);
        let path_time = started.elapsed();
        let capacity = topology.links().iter().map(|l| l.capacity.bps()).collect();
        Ok(Reoptimiser {
            reroute: Reroute::default(),
            down: vec![false; topology.link_count()],
            capacity,
            topology: topology.clone(),
            nominal: topology,
            traffic,
            path_opts,
            opts,
            paths,
            rerouted: BTreeMap::new(),
            stages: Kept::default(),
            warm: None,
            path_time,
            build_time: Duration::ZERO,
        })
    }

    /// The topology as solved: current capacities, down links at 0.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn traffic(&self) -> &TrafficMatrix {
        &self.traffic
    }

    pub fn paths(&self) -> &CandidatePaths {
        &self.paths
    }

    /// The current instance, as [`crate::solve_fast`] or the verifier take it.
    pub fn problem(&self) -> Problem<'_> {
        Problem {
            topology: &self.topology,
            traffic: &self.traffic,
            paths: &self.paths,
        }
    }

    pub fn is_down(&self, link: LinkId) -> bool {
        self.down.get(link.index()).copied().unwrap_or(false)
    }

    /// The prices the next solve starts from (the last solve's).
    pub fn warm_start(&self) -> Option<&WarmStart> {
        self.warm.as_ref()
    }

    /// Replaces the prices the next solve starts from (None: a cold start).
    pub fn set_warm_start(&mut self, warm: Option<WarmStart>) {
        self.warm = warm;
    }

    /// How later failures change paths (already rerouted demands stay as they are).
    pub fn set_reroute(&mut self, reroute: Reroute) {
        self.reroute = reroute;
    }

    pub fn options(&self) -> &FastOptions {
        &self.opts
    }

    pub fn set_options(&mut self, opts: FastOptions) {
        self.opts = opts;
    }

    /// A new traffic matrix over the same topology. Returns how many demands
    /// needed new paths.
    pub fn set_traffic(&mut self, traffic: TrafficMatrix) -> Result<usize, TeError> {
        check_traffic(&self.nominal, &traffic)?;
        let started = Instant::now();
        let keys = |tm: &TrafficMatrix| -> Vec<PairKey> {
            (0..tm.len())
                .map(|d| pair_key(tm, tm.classes(), d, &self.path_opts))
                .collect()
        };
        let (old_keys, new_keys) = (keys(&self.traffic), keys(&traffic));
        let mut computed = 0;
        if old_keys != new_keys {
            let was = match_keys(&old_keys, &new_keys);
            // The last demand to take an old demand's paths moves them.
            let mut takers = vec![0usize; self.traffic.len()];
            for o in was.iter().flatten() {
                takers[*o] += 1;
            }
            let mut old_paths = std::mem::take(&mut self.paths.per_demand);
            let mut old_rerouted = std::mem::take(&mut self.rerouted);
            let mut per_demand = Vec::with_capacity(traffic.len());
            let mut missing = Vec::new();
            for (d, w) in was.iter().enumerate() {
                match *w {
                    Some(o) => {
                        takers[o] -= 1;
                        let last = takers[o] == 0;
                        per_demand.push(if last {
                            std::mem::take(&mut old_paths[o])
                        } else {
                            old_paths[o].clone()
                        });
                        let base = if last {
                            old_rerouted.remove(&o)
                        } else {
                            old_rerouted.get(&o).cloned()
                        };
                        if let Some(base) = base {
                            self.rerouted.insert(d, base);
                        }
                    }
                    None => {
                        per_demand.push(Vec::new());
                        missing.push(d);
                    }
                }
            }
            let any_down = self.down.iter().any(|x| *x);
            let found = paths_of(
                &self.nominal,
                &traffic,
                &self.path_opts,
                any_down.then_some(self.down.as_slice()),
                &missing,
            );
            for (&d, p) in missing.iter().zip(found) {
                per_demand[d] = p;
                if any_down {
                    self.rerouted.insert(d, None);
                }
            }
            computed = missing.len();
            self.paths = CandidatePaths { per_demand };
            self.stages.renumber(was);
        }
        self.traffic = traffic;
        self.path_time += started.elapsed();
        Ok(computed)
    }

    /// Takes `link` down. Returns how many demands had their paths recomputed.
    pub fn fail_link(&mut self, link: LinkId) -> Result<usize, TeError> {
        self.fail_links(&[link])
    }

    /// Takes `links` down at once (a fibre's two arcs, a shared-risk group).
    /// Returns how many demands had their paths recomputed.
    pub fn fail_links(&mut self, links: &[LinkId]) -> Result<usize, TeError> {
        for &l in links {
            self.check_link(l)?;
        }
        let mut cut = vec![false; self.down.len()];
        for &l in links {
            if !self.down[l.index()] {
                cut[l.index()] = true;
                self.down[l.index()] = true;
            }
        }
        if !cut.iter().any(|x| *x) {
            return Ok(0);
        }
        self.update_topology()?;
        let started = Instant::now();
        let hit: Vec<usize> = self
            .paths
            .per_demand
            .par_iter()
            .enumerate()
            .filter(|(_, paths)| uses(paths, |l| cut[l.index()]))
            .map(|(d, _)| d)
            .collect();
        for &d in &hit {
            // Paths not yet rerouted are the ones with every link up.
            let current = std::mem::take(&mut self.paths.per_demand[d]);
            self.paths.per_demand[d] = self.surviving(&current);
            self.rerouted.entry(d).or_insert(Some(current));
        }
        let lost: Vec<usize> = hit
            .iter()
            .copied()
            .filter(|&d| {
                self.stages.paths_changed(d);
                self.paths.per_demand[d].is_empty()
            })
            .collect();
        self.recompute(&lost);
        self.path_time += started.elapsed();
        Ok(hit.len())
    }

    /// Brings `link` back up. Returns how many demands changed paths.
    pub fn restore_link(&mut self, link: LinkId) -> Result<usize, TeError> {
        self.restore_links(&[link])
    }

    /// Brings `links` back up at once. Returns how many demands changed paths.
    pub fn restore_links(&mut self, links: &[LinkId]) -> Result<usize, TeError> {
        for &l in links {
            self.check_link(l)?;
        }
        let mut restored = false;
        for &l in links {
            restored |= std::mem::replace(&mut self.down[l.index()], false);
        }
        if !restored {
            return Ok(0);
        }
        self.update_topology()?;
        let started = Instant::now();
        let down = &self.down;
        let mut back = Vec::new();
        let mut again = Vec::new();
        let mut kept = Vec::new();
        for (&d, base) in &self.rerouted {
            match base {
                Some(paths) if !uses(paths, |l| down[l.index()]) => back.push(d),
                Some(paths) if self.reroute == Reroute::DropDead => {
                    kept.push((d, self.surviving(paths)))
                }
                _ => again.push(d),
            }
        }
        for (d, paths) in kept {
            if paths.is_empty() {
                again.push(d);
            } else {
                self.paths.per_demand[d] = paths;
                self.stages.paths_changed(d);
            }
        }
        for &d in &back {
            if let Some(Some(paths)) = self.rerouted.remove(&d) {
                self.paths.per_demand[d] = paths;
                self.stages.paths_changed(d);
            }
        }
        self.recompute(&again);
        if !self.down.iter().any(|x| *x) {
            // Recomputed with every link up: these are their paths now.
            self.rerouted.clear();
        }
        self.path_time += started.elapsed();
        Ok(back.len() + again.len())
    }

    /// Sets the capacity of `link` when up (bit/s, > 0). The paths stay.
    pub fn set_capacity(&mut self, link: LinkId, bps: f64) -> Result<(), TeError> {
        self.check_link(link)?;
        if !(bps.is_finite() && bps > 0.0) {
            return Err(TeError::InvalidInput(format!(
                "capacity {bps} bit/s of link `{}` must be finite and > 0",
                self.nominal.link(link).id
            )));
        }
        self.capacity[link.index()] = bps;
        self.update_topology()
    }

    /// Solves the current instance warm from the last solve's prices (if any),
    /// re-packing only what changed since.
    pub fn solve(&mut self, hooks: Hooks) -> Result<FastOutcome, TeError> {
        let problem = Problem {
            topology: &self.topology,
            traffic: &self.traffic,
            paths: &self.paths,
        };
        let mut out = fast::solve_staged(
            &problem,
            &self.opts,
            self.warm.as_ref(),
            hooks,
            &mut self.stages,
        )?;
        self.stages.settled();
        out.solution.timings.paths = std::mem::take(&mut self.path_time);
        out.solution.timings.build += std::mem::take(&mut self.build_time);
        self.warm = Some(out.warm.clone());
        Ok(out)
    }

    fn check_link(&self, link: LinkId) -> Result<(), TeError> {
        if link.index() < self.nominal.link_count() {
            Ok(())
        } else {
            Err(TeError::InvalidInput(format!(
                "no link #{} (the topology has {})",
                link.0,
                self.nominal.link_count()
            )))
        }
    }

    fn update_topology(&mut self) -> Result<(), TeError> {
        let started = Instant::now();
        let capacity: Vec<f64> = self
            .capacity
            .iter()
            .zip(&self.down)
            .map(|(c, down)| if *down { 0.0 } else { *c })
            .collect();
        self.topology = self
            .nominal
            .with_capacities(&capacity)
            .map_err(|e| TeError::InvalidInput(e.to_string()))?;
        self.build_time += started.elapsed();
        Ok(())
    }

    /// With [`Reroute::DropDead`], those of `paths` avoiding every down link;
    /// else none (they are recomputed).
    fn surviving(&self, paths: &[Path]) -> Vec<Path> {
        match self.reroute {
            Reroute::Recompute => Vec::new(),
            Reroute::DropDead => paths
                .iter()
                .filter(|p| !p.links.iter().any(|l| self.down[l.index()]))
                .cloned()
                .collect(),
        }
    }

    /// New paths for `demands` avoiding every down link.
    fn recompute(&mut self, demands: &[usize]) {
        if demands.is_empty() {
            return;
        }
        let any_down = self.down.iter().any(|x| *x);
        let found = paths_of(
            &self.nominal,
            &self.traffic,
            &self.path_opts,
            any_down.then_some(self.down.as_slice()),
            demands,
        );
        for (&d, p) in demands.iter().zip(found) {
            self.paths.per_demand[d] = p;
            self.stages.paths_changed(d);
        }
    }
}

/// For each of `new`, the index of the same key in `old`, if any (the first
/// one when `old` repeats it). Traffic matrices usually list their demands in
/// order: then a merge, else a hash table.
fn match_keys(old: &[PairKey], new: &[PairKey]) -> Vec<Option<usize>> {
    let sorted = |k: &[PairKey]| k.windows(2).all(|w| w[0] < w[1]);
    if sorted(old) && sorted(new) {
        let mut i = 0;
        return new
            .iter()
            .map(|k| {
                while i < old.len() && old[i] < *k {
                    i += 1;
                }
                (i < old.len() && old[i] == *k).then_some(i)
            })
            .collect();
    }
    let mut by_key = FxHashMap::default();
    for (d, k) in old.iter().enumerate() {
        by_key.entry(*k).or_insert(d);
    }
    new.iter().map(|k| by_key.get(k).copied()).collect()
}

/// Whether any of `paths` has a link `f` selects.
fn uses(paths: &[Path], f: impl Fn(LinkId) -> bool) -> bool {
    paths.iter().any(|p| p.links.iter().any(|&l| f(l)))
}

/// Every demand's sites exist in `topology`.
fn check_traffic(topology: &Topology, traffic: &TrafficMatrix) -> Result<(), TeError> {
    let n = topology.site_count();
    match traffic
        .demands()
        .iter()
        .position(|d| d.src.index() >= n || d.dst.index() >= n)
    {
        Some(d) => Err(TeError::InvalidInput(format!(
            "demand #{d} names a site the topology ({n} sites) does not have"
        ))),
        None => Ok(()),
    }
}
