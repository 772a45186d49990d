//! Flow-level evaluation of an allocation under one failure scenario: the
//! local-repair state (traffic moved onto the pre-computed backups, no
//! re-optimisation) and the state after re-optimisation.
//!
//! **Congestion model.** Links serve classes in strict priority order: a
//! priority level gets what the higher levels left, and if its offered load
//! exceeds that, every flow of the level loses the same fraction there. A flow's
//! delivered rate is its rate times the product of those pass fractions along
//! its path. The offered load is counted before any upstream drop, so the loss
//! is slightly overestimated where a flow crosses two congested links (a
//! conservative figure, and one pass instead of a fixed point). Only flows
//! crossing a congested link are visited, through the per-link index.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use keel_model::{
    Allocation, Bandwidth, DemandAllocation, DemandId, LinkId, NewLink, Path, PathFlow, Topology,
    TopologyBuilder, TrafficMatrix,
};
use keel_te::{
    Backups, CandidatePaths, FastOptions, Hooks, Objective, Problem, RiskModel, SolveOptions,
    Tolerance, WarmStart,
};
use serde::Serialize;

use crate::SimError;
use crate::failure::Failed;

/// Links whose utilisation exceeds 1 by more than this are congested.
const OVERLOAD_SLACK: f64 = 1e-9;
/// Residual capacity below this fraction of a link's capacity closes the link
/// to re-optimised traffic.
const CLOSED_FRACTION: f64 = 1e-9;

/// Which demands re-optimisation may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reoptimise {
    /// Report the local-repair state only.
    None,
    /// Only the demands that lost a path, on the capacity the others leave
    /// (what a controller can do first, fast; a lower bound on `All`).
    Affected,
    /// Every demand, from scratch on the surviving paths (warm-started).
    All,
}

impl std::str::FromStr for Reoptimise {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => Reoptimise::None,
            "affected" => Reoptimise::Affected,
            "all" => Reoptimise::All,
            _ => return Err(format!("unknown re-optimisation `{s}`")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    Exact,
    Fast,
    /// Exact up to `AUTO_EXACT_MAX_PATHS` candidate paths, fast above.
    Auto,
}

/// The same threshold as `keel solve --solver auto`.
pub const AUTO_EXACT_MAX_PATHS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReoptOptions {
    pub mode: Reoptimise,
    pub solver: Solver,
    pub class_priority: bool,
    /// Fast solver: certified gap target.
    pub gap: f64,
    pub time_limit: Option<Duration>,
}

impl Default for ReoptOptions {
    fn default() -> Self {
        ReoptOptions {
            mode: Reoptimise::All,
            solver: Solver::Auto,
            class_priority: true,
            gap: 1e-3,
            time_limit: None,
        }
    }
}

/// The no-failure state every scenario starts from, with the indexes that make
/// a scenario cost what it touches rather than the whole network.
pub struct Base<'a> {
    pub problem: Problem<'a>,
    pub allocation: &'a Allocation,
    pub backups: &'a Backups,
    pub risk: &'a RiskModel,
    /// Prices of the base solve, when the fast solver produced it.
    pub warm: Option<&'a WarmStart>,
    /// Priority level index (0 = highest) of every class.
    class_level: Vec<usize>,
    levels: usize,
    /// (demand, path) of every path with traffic, and its priority level.
    active: Vec<(u32, u32)>,
    /// Per active path: its priority level, rate and class index, flat for the
    /// congested-flow pass, which visits up to every flow of a busy link.
    flow_level: Vec<u8>,
    flow_rate: Vec<f64>,
    flow_class: Vec<u16>,
    /// Active paths by arc (CSR).
    arc_start: Vec<u32>,
    arc_items: Vec<u32>,
    /// Base load per arc and per (arc, class).
    pub load: Vec<f64>,
    load_class: Vec<f64>,
    /// Carried per class in the base state.
    pub carried_class: Vec<f64>,
}

impl<'a> Base<'a> {
    pub fn new(
        problem: Problem<'a>,
        allocation: &'a Allocation,
        backups: &'a Backups,
        risk: &'a RiskModel,
        warm: Option<&'a WarmStart>,
    ) -> Self {
        let (topo, tm) = (problem.topology, problem.traffic);
        let classes = tm.classes();
        let prios = classes.priority_levels();
        let class_level: Vec<usize> = classes
            .iter()
            .map(|(_, c)| prios.iter().position(|&x| x == c.priority).unwrap_or(0))
            .collect();
        let levels = prios.len().max(1);
        let nclass = classes.len();
        let mut active = Vec::new();
        let mut count = vec![0u32; topo.link_count() + 1];
        let mut load = vec![0.0; topo.link_count()];
        let mut load_class = vec![0.0; topo.link_count() * nclass];
        let mut carried_class = vec![0.0; classes.len()];
        for (d, da) in allocation.demands.iter().enumerate() {
            for (p, pf) in da.paths.iter().enumerate() {
                if pf.rate <= 0.0 {
                    continue;
                }
                active.push((d as u32, p as u32));
                carried_class[tm.demands()[d].class.index()] += pf.rate;
                for l in pf.path.links.iter() {
                    count[l.index() + 1] += 1;
                    load[l.index()] += pf.rate;
                    load_class[l.index() * nclass + tm.demands()[d].class.index()] += pf.rate;
                }
            }
        }
        for i in 1..count.len() {
            count[i] += count[i - 1];
        }
        let arc_start = count.clone();
        let mut fill = count;
        let mut arc_items = vec![0u32; arc_start.last().copied().unwrap_or(0) as usize];
        for (i, &(d, p)) in active.iter().enumerate() {
            let path = &allocation.demands[d as usize].paths[p as usize].path;
            for l in path.links.iter() {
                arc_items[fill[l.index()] as usize] = i as u32;
                fill[l.index()] += 1;
            }
        }
        let flow_class: Vec<u16> = active
            .iter()
            .map(|&(d, _)| tm.demands()[d as usize].class.index() as u16)
            .collect();
        let flow_level = flow_class
            .iter()
            .map(|&c| class_level[c as usize] as u8)
            .collect();
        let flow_rate = active
            .iter()
            .map(|&(d, p)| allocation.demands[d as usize].paths[p as usize].rate)
            .collect();
        Base {
            problem,
            allocation,
            backups,
            risk,
            warm,
            class_level,
            levels,
            active,
            flow_level,
            flow_rate,
            flow_class,
            arc_start,
            arc_items,
            load,
            load_class,
            carried_class,
        }
    }

    fn topo(&self) -> &'a Topology {
        self.problem.topology
    }
    fn tm(&self) -> &'a TrafficMatrix {
        self.problem.traffic
    }

    fn flow(&self, i: u32) -> (usize, usize, &'a PathFlow) {
        let (d, p) = self.active[i as usize];
        let alloc: &'a Allocation = self.allocation;
        (
            d as usize,
            p as usize,
            &alloc.demands[d as usize].paths[p as usize],
        )
    }

    /// Active paths crossing a failed arc, sorted.
    fn affected(&self, failed: &Failed) -> Vec<u32> {
        let mut v: Vec<u32> = failed
            .failed_arcs()
            .flat_map(|l| {
                let (s, e) = (
                    self.arc_start[l.index()] as usize,
                    self.arc_start[l.index() + 1] as usize,
                );
                self.arc_items[s..e].iter().copied()
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether the scenario touches any traffic.
    pub fn touches_traffic(&self, failed: &Failed) -> bool {
        failed
            .failed_arcs()
            .any(|l| self.arc_start[l.index()] < self.arc_start[l.index() + 1])
    }
}

/// Per class (in class order), bit/s.
pub type PerClass = Vec<f64>;

/// Utilisation of a link in some state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkUtil {
    pub link: LinkId,
    pub utilisation: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalState {
    /// Delivered per class after local repair and congestion drops.
    pub delivered: PerClass,
    /// Lost because a path failed and had no surviving backup (or an end
    /// site failed).
    pub lost_unprotected: PerClass,
    /// Lost to congestion on links the backups overload.
    pub lost_congestion: PerClass,
    /// Traffic moved onto backups, bit/s.
    pub moved: f64,
    /// Links whose load differs from the base, with their utilisation.
    pub changed: Vec<LinkUtil>,
    pub max_utilisation: f64,
    pub max_link: Option<LinkId>,
    pub overloaded_links: usize,
    /// The allocation in this state (base paths that survive plus backups, by
    /// offered rate), when asked for.
    #[serde(skip)]
    pub allocation: Option<Allocation>,
}

/// The local-repair state of `failed` (see the module docs).
pub fn local_repair(base: &Base, failed: &Failed, keep_allocation: bool) -> LocalState {
    let (topo, tm) = (base.topo(), base.tm());
    let nclass = tm.classes().len();
    let lv = base.levels;
    let mut load_class = base.load_class.clone();
    let mut changed = vec![false; topo.link_count()];
    let mut lost_unprotected = vec![0.0; nclass];
    let affected = base.affected(failed);
    let mut moved: Vec<(usize, &Path, f64)> = Vec::new();
    for &i in &affected {
        let (d, p, pf) = base.flow(i);
        let demand = &tm.demands()[d];
        let c = demand.class.index();
        for l in pf.path.links.iter() {
            load_class[l.index() * nclass + c] -= pf.rate;
            changed[l.index()] = true;
        }
        let backup = base
            .backups
            .get(d, p)
            .and_then(|b| b.for_failure(base.risk, &pf.path, |l| failed.arc(l)))
            .filter(|_| !failed.site(demand.src) && !failed.site(demand.dst));
        match backup {
            Some(bp) => {
                for l in bp.links.iter() {
                    load_class[l.index() * nclass + c] += pf.rate;
                    changed[l.index()] = true;
                }
                moved.push((d, bp, pf.rate));
            }
            None => lost_unprotected[c] += pf.rate,
        }
    }
    // Only changed arcs can be congested: unchanged ones carry the base load,
    // which fits. Pass fractions per (arc, level) by strict priority.
    let mut pass = vec![1.0; topo.link_count() * lv];
    let mut overloaded = Vec::new();
    let mut changed_util = Vec::new();
    let (mut max_u, mut max_link) = (0.0_f64, None);
    let mut offered = vec![0.0; lv];
    for (e, link) in topo.links().iter().enumerate() {
        let cap = link.capacity.bps();
        let row = &load_class[e * nclass..(e + 1) * nclass];
        let total: f64 = if changed[e] {
            row.iter().map(|x| x.max(0.0)).sum()
        } else {
            base.load[e]
        };
        let u = total / cap;
        if total > 0.0 && u > max_u {
            max_u = u;
            max_link = Some(LinkId(e as u32));
        }
        if !changed[e] {
            continue;
        }
        changed_util.push(LinkUtil {
            link: LinkId(e as u32),
            utilisation: u,
        });
        if u > 1.0 + OVERLOAD_SLACK {
            overloaded.push(e);
            offered.iter_mut().for_each(|x| *x = 0.0);
            for (c, x) in row.iter().enumerate() {
                offered[base.class_level[c]] += x.max(0.0);
            }
            let mut left = cap;
            for (k, &o) in offered.iter().enumerate() {
                pass[e * lv + k] = if o <= left { 1.0 } else { left / o };
                left = (left - o).max(0.0);
            }
        }
    }
    let mut lost_congestion = vec![0.0; nclass];
    if !overloaded.is_empty() {
        let level = |d: usize| base.class_level[tm.demands()[d].class.index()];
        // Surviving base flows on congested links: multiply each flow's factor
        // by every congested link it crosses, through the per-link index.
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let Scratch { factor, state } = &mut *scratch;
            factor.resize(base.active.len(), 1.0);
            state.resize(base.active.len(), 0);
            for &i in &affected {
                state[i as usize] = SKIP;
            }
            let mut touched = Vec::new();
            for &e in &overloaded {
                let items =
                    &base.arc_items[base.arc_start[e] as usize..base.arc_start[e + 1] as usize];
                let pass = &pass[e * lv..(e + 1) * lv];
                for &i in items {
                    let i = i as usize;
                    match state[i] {
                        SKIP => continue,
                        0 => {
                            state[i] = SEEN;
                            touched.push(i);
                        }
                        _ => {}
                    }
                    // One level (one class, or no priorities): no per-flow lookup.
                    factor[i] *= if lv == 1 {
                        pass[0]
                    } else {
                        pass[base.flow_level[i] as usize]
                    };
                }
            }
            for i in touched {
                let c = base.flow_class[i] as usize;
                lost_congestion[c] += base.flow_rate[i] * (1.0 - factor[i]);
                factor[i] = 1.0;
                state[i] = 0;
            }
            for &i in &affected {
                state[i as usize] = 0;
            }
        });
        for &(d, bp, rate) in &moved {
            let f: f64 = bp
                .links
                .iter()
                .map(|l| pass[l.index() * lv + level(d)])
                .product();
            lost_congestion[tm.demands()[d].class.index()] += rate * (1.0 - f);
        }
    }
    let overloaded = overloaded.len();
    let delivered = (0..nclass)
        .map(|c| (base.carried_class[c] - lost_unprotected[c] - lost_congestion[c]).max(0.0))
        .collect();
    let allocation = keep_allocation.then(|| {
        let mut a = base.allocation.clone();
        for &i in &affected {
            let (d, p) = base.active[i as usize];
            a.demands[d as usize].paths[p as usize].rate = 0.0;
        }
        for &(d, bp, rate) in &moved {
            a.demands[d].paths.push(PathFlow {
                path: bp.clone(),
                rate,
            });
        }
        a
    });
    LocalState {
        delivered,
        lost_unprotected,
        lost_congestion,
        moved: moved.iter().map(|m| m.2).sum(),
        changed: changed_util,
        max_utilisation: max_u,
        max_link,
        overloaded_links: overloaded,
        allocation,
    }
}

/// Per-thread scratch of `local_repair`: a factor and a state per active flow,
/// left all-1 / all-0 between scenarios so each costs only what it touches.
#[derive(Default)]
struct Scratch {
    factor: Vec<f64>,
    state: Vec<u8>,
}
const SEEN: u8 = 1;
const SKIP: u8 = 2;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReoptState {
    pub delivered: PerClass,
    /// Links whose load differs from the base, with their utilisation.
    pub changed: Vec<LinkUtil>,
    pub max_utilisation: f64,
    pub max_link: Option<LinkId>,
    /// Demands re-optimised.
    pub demands: usize,
    pub solver: &'static str,
    /// Relative optimality gap of the re-optimising solve (its own kind).
    pub gap: f64,
    pub solve_time: Duration,
    #[serde(skip)]
    pub allocation: Option<Allocation>,
}

/// Re-optimises after `failed` (see [`Reoptimise`]). The result is checked by
/// the independent verifier (capacities, demand bounds, path validity) and for
/// traffic on failed arcs; either failing is an error.
pub fn reoptimise(
    base: &Base,
    failed: &Failed,
    opts: &ReoptOptions,
    keep_allocation: bool,
) -> Result<Option<ReoptState>, SimError> {
    let started = Instant::now();
    let (topo, tm) = (base.topo(), base.tm());
    let all = match opts.mode {
        Reoptimise::None => return Ok(None),
        Reoptimise::All => true,
        Reoptimise::Affected => false,
    };
    let affected_demands: Vec<usize> = {
        let mut v: Vec<usize> = base
            .affected(failed)
            .iter()
            .map(|&i| base.active[i as usize].0 as usize)
            .collect();
        v.dedup();
        v
    };
    let moving: Vec<usize> = if all {
        (0..tm.len()).collect()
    } else {
        affected_demands.clone()
    };
    // Capacity the demands that stay put leave over.
    let mut residual: Vec<f64> = topo.links().iter().map(|l| l.capacity.bps()).collect();
    if !all {
        let mut is_moving = vec![false; tm.len()];
        for &d in &moving {
            is_moving[d] = true;
        }
        for (d, da) in base.allocation.demands.iter().enumerate() {
            if is_moving[d] {
                continue;
            }
            for pf in &da.paths {
                for l in pf.path.links.iter() {
                    residual[l.index()] -= pf.rate;
                }
            }
        }
    }
    let closed: Vec<bool> = topo
        .links()
        .iter()
        .zip(&residual)
        .enumerate()
        .map(|(e, (l, r))| failed.arcs[e] || *r <= l.capacity.bps() * CLOSED_FRACTION)
        .collect();
    let usable = |p: &Path| !p.links.iter().any(|l| closed[l.index()]);
    let per_demand: Vec<Vec<Path>> = moving
        .iter()
        .map(|&d| {
            let mut v: Vec<Path> = base
                .problem
                .paths
                .of(DemandId(d as u32))
                .iter()
                .filter(|p| usable(p))
                .cloned()
                .collect();
            if let Some(list) = base.backups.per_demand.get(d) {
                for bp in list.iter().flatten().flat_map(|b| b.paths()) {
                    if usable(bp) && !v.contains(bp) {
                        v.push(bp.clone());
                    }
                }
            }
            v
        })
        .collect();
    let sub_topo;
    let sub_tm;
    let (topo_used, tm_used): (&Topology, &TrafficMatrix) = if all {
        (topo, tm)
    } else {
        sub_topo = residual_topology(topo, &residual, &closed)?;
        let demands = moving.iter().map(|&d| tm.demands()[d]).collect();
        sub_tm = TrafficMatrix::new_allow_unreachable(&sub_topo, tm.classes().clone(), demands)?;
        (&sub_topo, &sub_tm)
    };
    let cands = CandidatePaths { per_demand };
    let problem = Problem {
        topology: topo_used,
        traffic: tm_used,
        paths: &cands,
    };
    let exact = match opts.solver {
        Solver::Exact => true,
        Solver::Fast => false,
        Solver::Auto => cands.total() <= AUTO_EXACT_MAX_PATHS,
    };
    let (solution, solver) = if moving.is_empty() {
        (None, "none")
    } else if exact {
        let so = SolveOptions {
            objective: Objective::MaxFlow,
            class_priority: opts.class_priority,
            ..SolveOptions::default()
        };
        (Some(keel_te::solve_exact(&problem, &so)?), "exact")
    } else {
        let fo = FastOptions {
            objective: Objective::MaxFlow,
            class_priority: opts.class_priority,
            gap: opts.gap,
            time_limit: opts.time_limit,
        };
        // The base prices fit a re-solve of every demand. The affected
        // demands alone on residual capacities price links quite differently:
        // started from the base prices, a Kdl scenario took 3x longer.
        let warm = base
            .warm
            .filter(|_| all)
            .map(|w| stage_prices(w, base.tm(), tm_used, opts.class_priority));
        let out = keel_te::solve_fast(&problem, &fo, warm.as_ref(), Hooks::default())?;
        (Some(out.solution), "fast")
    };
    // The solve is checked on the problem it solved: in `Affected` mode the
    // residual capacities the others leave, so the whole state holds them too.
    if let Some(sol) = &solution {
        check(topo_used, tm_used, &sol.allocation, &closed)?;
    }
    // Loads and delivery: the moved demands' new flows, the others' base
    // ones, summed in demand order as a full allocation's would be.
    let mut moved_to = vec![usize::MAX; tm.len()];
    for (i, &d) in moving.iter().enumerate() {
        moved_to[d] = i;
    }
    let mut load = vec![0.0; topo.link_count()];
    let mut delivered = vec![0.0; tm.classes().len()];
    for (d, da) in base.allocation.demands.iter().enumerate() {
        let flows = match (&solution, moved_to[d]) {
            (Some(sol), i) if i != usize::MAX => &sol.allocation.demands[i].paths,
            _ => &da.paths,
        };
        delivered[tm.demands()[d].class.index()] += flows.iter().map(|pf| pf.rate).sum::<f64>();
        for pf in flows {
            for l in pf.path.links.iter() {
                load[l.index()] += pf.rate;
            }
        }
    }
    let mut changed = Vec::new();
    let (mut max_u, mut max_link) = (0.0_f64, None);
    for (e, link) in topo.links().iter().enumerate() {
        let u = load[e] / link.capacity.bps();
        if load[e] > 0.0 && u > max_u {
            max_u = u;
            max_link = Some(LinkId(e as u32));
        }
        if (load[e] - base.load[e]).abs() > 1e-9 * link.capacity.bps() {
            changed.push(LinkUtil {
                link: LinkId(e as u32),
                utilisation: u,
            });
        }
    }
    // The full allocation only when asked for: copying every demand's paths
    // costs more than the rest of a small scenario.
    let allocation = keep_allocation.then(|| {
        let mut alloc = base.allocation.clone();
        if let Some(sol) = &solution {
            for (i, &d) in moving.iter().enumerate() {
                alloc.demands[d] = DemandAllocation {
                    demand: DemandId(d as u32),
                    paths: sol.allocation.demands[i].paths.clone(),
                };
            }
        }
        alloc
    });
    Ok(Some(ReoptState {
        delivered,
        changed,
        max_utilisation: max_u,
        max_link,
        demands: moving.len(),
        solver,
        gap: solution.as_ref().map_or(0.0, |s| s.gap),
        solve_time: started.elapsed(),
        allocation,
    }))
}

/// Verifier, plus no traffic on failed arcs nor on arcs closed to the re-optimised
/// demands (their residual is nil).
fn check(
    topo: &Topology,
    tm: &TrafficMatrix,
    alloc: &Allocation,
    closed: &[bool],
) -> Result<(), SimError> {
    if let Err(v) = keel_te::verify(topo, tm, None, alloc, Tolerance::default()) {
        return Err(SimError::Verifier(
            v.iter()
                .take(5)
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    for (d, da) in alloc.demands.iter().enumerate() {
        for pf in da.paths.iter().filter(|pf| pf.rate > 0.0) {
            if let Some(l) = pf.path.links.iter().find(|l| closed[l.index()]) {
                return Err(SimError::Verifier(format!(
                    "demand #{d} sends {} bit/s over failed or full link `{}`",
                    pf.rate,
                    topo.link(*l).id
                )));
            }
        }
    }
    Ok(())
}

/// The topology with every capacity replaced by the residual; closed links keep
/// their capacity (no candidate path uses them) since capacities must be > 0.
fn residual_topology(
    topo: &Topology,
    residual: &[f64],
    closed: &[bool],
) -> Result<Topology, SimError> {
    let mut b = TopologyBuilder::new(topo.name());
    for s in topo.sites() {
        b.add_site(s.clone())?;
    }
    for (e, l) in topo.links().iter().enumerate() {
        let cap = if closed[e] {
            l.capacity
        } else {
            Bandwidth::from_bps(residual[e])
        };
        b.add_link(NewLink {
            id: Some(l.id.clone()),
            src: l.src,
            dst: l.dst,
            capacity: cap,
            latency: Some(l.latency),
            metric: Some(l.metric),
            cost: Some(l.cost),
            medium: l.medium,
            srlgs: l.srlgs.clone(),
        })?;
    }
    Ok(b.build()?)
}

/// The base prices of the priority stages `sub` has, in `sub`'s stage order
/// (stages are the priority levels with demands, highest first).
fn stage_prices(
    warm: &WarmStart,
    base: &TrafficMatrix,
    sub: &TrafficMatrix,
    class_priority: bool,
) -> WarmStart {
    if !class_priority {
        return warm.clone();
    }
    let levels = |tm: &TrafficMatrix| -> Vec<u8> {
        let c = tm.classes();
        let mut v: Vec<u8> = tm
            .demands()
            .iter()
            .map(|d| c.get(d.class).priority)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (bl, sl) = (levels(base), levels(sub));
    WarmStart {
        objective: warm.objective,
        prices: sl
            .iter()
            .map(|lv| {
                bl.iter()
                    .position(|b| b == lv)
                    .and_then(|i| warm.prices.get(i).cloned())
                    .unwrap_or_default()
            })
            .collect(),
    }
}
