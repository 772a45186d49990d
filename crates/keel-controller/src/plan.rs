//! The engine between the controller's state and `keel-te`: it builds the network
//! as it is now (failed and drained links out, capacities as changed), turns
//! services and background traffic into one traffic matrix with strict priority
//! (committed service rates before background), solves it, verifies the result
//! and explains every path it chose. It also runs admission control.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Instant;

use keel_model::spec::TopologySpec;
use keel_model::{
    Allocation, Bandwidth, ClassOfService, ClassSet, Demand, Latency, LinkId, Path, SiteId,
    Topology, TrafficMatrix,
};
use keel_te::{
    CandidatePaths, FastOptions, Hooks, Objective, PathKind, PathOptions, Problem, SolveOptions,
    Tolerance, compute_paths, solve_exact, solve_fast, verify,
};
use serde::Serialize;

use crate::service::{Service, ServiceKind};
use crate::srv6::{Compressor, dt6_sid};

/// Up to this many candidate paths the exact LP is used; beyond, the fast solver.
const EXACT_MAX_PATHS: usize = 20_000;
/// Gap the fast solver is asked for.
const FAST_GAP: f64 = 0.01;
/// Background traffic is served after every committed service rate.
const BACKGROUND_PRIORITY: u8 = 100;
/// Paths carrying less than this share of their demand are not installed.
const MIN_PATH_SHARE: f64 = 1e-4;
/// A link is saturated (a bottleneck) above this utilisation.
const SATURATED: f64 = 1.0 - 1e-6;

/// Administrative and operational state of one link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkState {
    pub up: bool,
    pub drained: bool,
    /// Capacity in force when changed from the topology's (bit/s).
    pub capacity_bps: Option<f64>,
}

impl Default for LinkState {
    fn default() -> Self {
        LinkState {
            up: true,
            drained: false,
            capacity_bps: None,
        }
    }
}

impl LinkState {
    pub fn usable(&self) -> bool {
        self.up && !self.drained && self.capacity_bps.is_none_or(|c| c > 0.0)
    }
}

/// The topology as it is now: unusable links removed (site indices unchanged; link
/// indices differ from the base, links are matched by id).
pub fn effective(
    base: &Topology,
    states: &BTreeMap<String, LinkState>,
) -> Result<Topology, keel_model::ModelError> {
    let mut spec = TopologySpec::from_topology(base);
    spec.links.retain(|l| {
        l.id.as_ref()
            .and_then(|id| states.get(id))
            .is_none_or(LinkState::usable)
    });
    for l in &mut spec.links {
        if let Some(c) =
            l.id.as_ref()
                .and_then(|id| states.get(id))
                .and_then(|s| s.capacity_bps)
        {
            l.capacity = Bandwidth::from_bps(c);
        }
    }
    spec.into_topology()
}

/// Background traffic (not sold as a service) by base class name.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundDemand {
    pub src: SiteId,
    pub dst: SiteId,
    pub class: String,
    pub rate: f64,
}

/// Who a planned demand belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "index")]
pub enum Owner {
    Service(usize),
    Background,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedPath {
    pub links: Vec<String>,
    pub sites: Vec<String>,
    pub rate_bps: f64,
    pub latency_ms: f64,
    pub segments: Vec<Ipv6Addr>,
    /// Why this path: its rank among the candidates and what ruled out better ones.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedDemand {
    pub owner: Owner,
    pub src: String,
    pub dst: String,
    /// Base class of service (voice ... best-effort).
    pub class: String,
    pub dscp: Option<u8>,
    pub rate_bps: f64,
    pub carried_bps: f64,
    pub paths: Vec<PlannedPath>,
}

/// How the allocation was found and how good it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolveFigures {
    pub solver: &'static str,
    pub demands: usize,
    pub candidate_paths: usize,
    pub carried_bps: f64,
    pub demand_bps: f64,
    pub bound_bps: f64,
    pub gap: f64,
    pub gap_kind: keel_te::GapKind,
    pub paths_s: f64,
    pub build_s: f64,
    pub solve_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub demands: Vec<PlannedDemand>,
    pub figures: SolveFigures,
    /// Planned load per link id, bit/s.
    pub loads: BTreeMap<String, f64>,
    /// The instance as solved, for what-if questions about the installed plan.
    #[serde(skip)]
    pub model: Arc<PlanModel>,
}

/// A solved instance in `keel-te` terms (the effective topology's link ids).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanModel {
    pub topology: Topology,
    pub traffic: TrafficMatrix,
    pub paths: CandidatePaths,
    pub allocation: Allocation,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Te(#[from] keel_te::TeError),
    #[error(transparent)]
    Model(#[from] keel_model::ModelError),
    #[error("the solver's allocation failed verification: {0}")]
    Verify(String),
}

/// Inputs common to planning and admission.
pub struct Network<'a> {
    pub topo: &'a Topology,
    /// The full topology: End.X SIDs are numbered by its links so that they stay
    /// the same while links fail or drain.
    pub base: &'a Topology,
    pub exits: &'a [SiteId],
    pub classes: &'a ClassSet,
    /// Tenant number for End.DT6 SIDs of VPN services.
    pub tenant_number: &'a dyn Fn(&str) -> u16,
}

struct Instance {
    tm: TrafficMatrix,
    paths: CandidatePaths,
    owners: Vec<Owner>,
    paths_s: f64,
}

/// One traffic matrix over all services (each its own class, so its latency bound
/// applies to its paths) and the background, with candidate paths honouring each
/// service's avoid and disjointness constraints.
fn instance(
    net: &Network,
    services: &[(&Service, u8)],
    background: &[BackgroundDemand],
) -> Result<Instance, PlanError> {
    let started = Instant::now();
    let topo = net.topo;
    let mut classes = Vec::new();
    let mut demands = Vec::new();
    let mut owners = Vec::new();
    for (i, (svc, priority)) in services.iter().enumerate() {
        let base = net.classes.resolve(&svc.spec.class)?;
        classes.push(ClassOfService {
            name: format!("svc:{}", svc.id),
            priority: *priority,
            latency_bound: svc.spec.latency_ms.map(Latency::from_ms),
            dscp: net.classes.get(base).dscp,
        });
        let class = keel_model::ClassId(i as u16);
        for d in svc.demands(topo, net.exits) {
            demands.push(Demand {
                src: d.src,
                dst: d.dst,
                class,
                rate: Bandwidth::from_bps(d.rate),
            });
            owners.push(Owner::Service(i));
        }
    }
    let bg_first = classes.len();
    for (_, c) in net.classes.iter() {
        classes.push(ClassOfService {
            name: format!("bg:{}", c.name),
            priority: BACKGROUND_PRIORITY,
            latency_bound: None,
            dscp: c.dscp,
        });
    }
    for b in background {
        let class = net.classes.resolve(&b.class)?;
        demands.push(Demand {
            src: b.src,
            dst: b.dst,
            class: keel_model::ClassId((bg_first + class.index()) as u16),
            rate: Bandwidth::from_bps(b.rate),
        });
        owners.push(Owner::Background);
    }
    let tm = TrafficMatrix::new_allow_unreachable(topo, ClassSet::new(classes)?, demands)?;
    let mut paths = compute_paths(topo, &tm, &PathOptions::default());
    for (i, (svc, _)) in services.iter().enumerate() {
        let s = &svc.spec;
        if s.avoid_sites.is_empty() && s.avoid_srlgs.is_empty() && !s.disjoint {
            continue;
        }
        constrained_paths(topo, &tm, &owners, i, svc, &mut paths)?;
    }
    Ok(Instance {
        tm,
        paths,
        owners,
        paths_s: started.elapsed().as_secs_f64(),
    })
}

/// Recomputes service `i`'s candidate paths on the topology without the sites and
/// SRLGs it avoids, edge-disjoint when asked, and maps them back by link id.
fn constrained_paths(
    topo: &Topology,
    tm: &TrafficMatrix,
    owners: &[Owner],
    i: usize,
    svc: &Service,
    paths: &mut CandidatePaths,
) -> Result<(), PlanError> {
    let s = &svc.spec;
    let mut spec = TopologySpec::from_topology(topo);
    spec.links.retain(|l| {
        !s.avoid_sites.iter().any(|a| *a == l.from || *a == l.to)
            && !l.srlgs.iter().any(|g| s.avoid_srlgs.contains(g))
    });
    let pruned = spec.into_topology()?;
    let mine: Vec<usize> = (0..owners.len())
        .filter(|&d| owners[d] == Owner::Service(i))
        .collect();
    let sub = TrafficMatrix::new_allow_unreachable(
        &pruned,
        tm.classes().clone(),
        mine.iter().map(|&d| tm.demands()[d]).collect(),
    )?;
    let opts = PathOptions {
        kind: if s.disjoint {
            PathKind::EdgeDisjoint
        } else {
            PathKind::Shortest
        },
        ..PathOptions::default()
    };
    let found = compute_paths(&pruned, &sub, &opts);
    let by_id: HashMap<&str, LinkId> = topo
        .link_ids()
        .map(|l| (topo.link(l).id.as_str(), l))
        .collect();
    for (k, &d) in mine.iter().enumerate() {
        paths.per_demand[d] = found.per_demand[k]
            .iter()
            .map(|p| {
                Path::new(
                    p.links
                        .iter()
                        .map(|&l| by_id[pruned.link(l).id.as_str()])
                        .collect(),
                )
            })
            .collect();
    }
    Ok(())
}

struct Solved {
    alloc: Allocation,
    figures: SolveFigures,
}

fn solve(net: &Network, inst: &Instance) -> Result<Solved, PlanError> {
    let problem = Problem {
        topology: net.topo,
        traffic: &inst.tm,
        paths: &inst.paths,
    };
    let (solution, solver) = if inst.paths.total() <= EXACT_MAX_PATHS {
        let opts = SolveOptions {
            objective: Objective::MaxFlow,
            class_priority: true,
            prefer_short: true,
            ..SolveOptions::default()
        };
        (solve_exact(&problem, &opts)?, "exact")
    } else {
        let opts = FastOptions {
            objective: Objective::MaxFlow,
            class_priority: true,
            gap: FAST_GAP,
            time_limit: None,
        };
        (
            solve_fast(&problem, &opts, None, Hooks::default())?.solution,
            "fast",
        )
    };
    // Nothing reaches the network unless an independent check passes.
    verify(
        net.topo,
        &inst.tm,
        Some(&inst.paths),
        &solution.allocation,
        Tolerance::default(),
    )
    .map_err(|v| PlanError::Verify(format!("{} violations, first: {:?}", v.len(), v.first())))?;
    let figures = SolveFigures {
        solver,
        demands: inst.tm.len(),
        candidate_paths: inst.paths.total(),
        carried_bps: solution.allocation.carried(),
        demand_bps: inst.tm.total(),
        bound_bps: solution.bound,
        gap: solution.gap,
        gap_kind: solution.gap_kind,
        paths_s: inst.paths_s,
        build_s: solution.timings.build.as_secs_f64(),
        solve_s: solution.timings.solve.as_secs_f64(),
    };
    Ok(Solved {
        alloc: solution.allocation,
        figures,
    })
}

/// Plans the whole network: admitted services at their class priority, then the
/// background.
pub fn plan(
    net: &Network,
    services: &[Service],
    background: &[BackgroundDemand],
) -> Result<Plan, PlanError> {
    let with_priority: Vec<(&Service, u8)> = services
        .iter()
        .map(|s| {
            let p = net
                .classes
                .by_name(&s.spec.class)
                .map_or(BACKGROUND_PRIORITY - 1, |c| net.classes.get(c).priority);
            (s, p)
        })
        .collect();
    let inst = instance(net, &with_priority, background)?;
    let solved = solve(net, &inst)?;
    let topo = net.topo;
    let loads_by_index = solved.alloc.link_loads(topo);
    let saturated: Vec<bool> = topo
        .link_ids()
        .map(|l| loads_by_index[l.index()] >= SATURATED * topo.link(l).capacity.bps())
        .collect();
    let mut compressor = Compressor::numbered_by(topo, net.base);
    let mut demands = Vec::with_capacity(inst.tm.len());
    for (d, da) in inst.tm.demands().iter().zip(&solved.alloc.demands) {
        let owner = inst.owners[da.demand.index()];
        let class_name = match owner {
            Owner::Service(i) => services[i].spec.class.clone(),
            Owner::Background => {
                let n = &inst.tm.classes().get(d.class).name;
                n.strip_prefix("bg:").unwrap_or(n).to_string()
            }
        };
        let tenant = match owner {
            Owner::Service(i) if services[i].spec.kind == ServiceKind::Vpn => {
                Some((net.tenant_number)(&services[i].tenant))
            }
            _ => None,
        };
        let last = dt6_sid(d.dst, tenant);
        let candidates = inst.paths.of(da.demand);
        let mut paths = Vec::new();
        for pf in &da.paths {
            if pf.rate <= MIN_PATH_SHARE * d.rate.bps() {
                continue;
            }
            let rank = candidates.iter().position(|c| c == &pf.path).unwrap_or(0);
            paths.push(PlannedPath {
                links: pf
                    .path
                    .links
                    .iter()
                    .map(|&l| topo.link(l).id.clone())
                    .collect(),
                sites: pf
                    .path
                    .sites(topo)
                    .iter()
                    .map(|&s| topo.site(s).id.clone())
                    .collect(),
                rate_bps: pf.rate,
                latency_ms: pf.path.latency_ms(topo),
                segments: compressor.segments(&pf.path, last),
                why: explain(topo, candidates, rank, &saturated),
            });
        }
        demands.push(PlannedDemand {
            owner,
            src: topo.site(d.src).id.clone(),
            dst: topo.site(d.dst).id.clone(),
            class: class_name,
            dscp: inst.tm.classes().get(d.class).dscp,
            rate_bps: d.rate.bps(),
            carried_bps: da.carried(),
            paths,
        });
    }
    let loads = topo
        .link_ids()
        .map(|l| (topo.link(l).id.clone(), loads_by_index[l.index()]))
        .collect();
    Ok(Plan {
        demands,
        figures: solved.figures,
        loads,
        model: Arc::new(PlanModel {
            topology: topo.clone(),
            traffic: inst.tm,
            paths: inst.paths,
            allocation: solved.alloc,
        }),
    })
}

/// Why the solver put traffic on candidate `rank`.
fn explain(topo: &Topology, candidates: &[Path], rank: usize, saturated: &[bool]) -> String {
    if rank == 0 {
        return "shortest candidate by IGP metric".to_string();
    }
    // Allocations prefer short paths among the optimal ones (prefer_short), so a
    // longer candidate carries traffic only when the shorter ones are full.
    let mut full: Vec<&str> = candidates[..rank]
        .iter()
        .flat_map(|p| p.links.iter())
        .filter(|l| saturated[l.index()])
        .map(|&l| topo.link(l).id.as_str())
        .collect();
    full.sort_unstable();
    full.dedup();
    if full.is_empty() {
        format!(
            "candidate #{} by IGP metric: part of an optimal split (no shorter candidate is saturated)",
            rank + 1
        )
    } else {
        format!(
            "candidate #{} by IGP metric: the shorter candidates cross saturated {}",
            rank + 1,
            full.join(", ")
        )
    }
}

/// The verdict of admission control.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "admitted")]
pub enum Admission {
    #[serde(rename = "true")]
    Admitted,
    #[serde(rename = "false")]
    Refused {
        reason: String,
        /// The largest committed rate that fits now, bit/s (0 when none).
        offered_rate_bps: f64,
        /// Saturated links on the service's candidate paths: the cut that limits it.
        bottlenecks: Vec<String>,
        /// The best one-way latency the network offers for the worst pair, ms.
        best_latency_ms: Option<f64>,
    },
}

/// Decides whether `candidate` fits beside the admitted services with its SLA.
pub fn admit(
    net: &Network,
    admitted: &[Service],
    candidate: &Service,
) -> Result<Admission, PlanError> {
    let topo = net.topo;
    let pairs = candidate.demands(topo, net.exits);
    if pairs.is_empty() {
        return Ok(refused(
            "the service has no flows (its endpoints are its exits)",
            0.0,
            vec![],
            None,
        ));
    }
    // Latency first: no capacity helps a bound below the shortest path.
    let mut worst_best = 0.0f64;
    for d in &pairs {
        let dist = crate::srv6::distances(topo, d.src, |l| topo.link(l).latency.ms());
        worst_best = worst_best.max(dist[d.dst.index()]);
    }
    if !worst_best.is_finite() {
        return Ok(refused(
            "some endpoints are not connected in the network as it is now",
            0.0,
            vec![],
            None,
        ));
    }
    if let Some(bound) = candidate.spec.latency_ms
        && worst_best > bound
    {
        return Ok(refused(
            &format!("latency bound {bound} ms is below the best path latency {worst_best:.3} ms"),
            0.0,
            vec![],
            Some(worst_best),
        ));
    }
    let mut all: Vec<(&Service, u8)> = admitted.iter().map(|s| (s, 0)).collect();
    all.push((candidate, 1));
    let inst = instance(net, &all, &[])?;
    let mine: Vec<usize> = (0..inst.owners.len())
        .filter(|&d| inst.owners[d] == Owner::Service(admitted.len()))
        .collect();
    if let Some(&d) = mine.iter().find(|&&d| inst.paths.per_demand[d].is_empty()) {
        let dm = &inst.tm.demands()[d];
        return Ok(refused(
            &format!(
                "no candidate path from {} to {} meets the constraints",
                topo.site(dm.src).id,
                topo.site(dm.dst).id
            ),
            0.0,
            vec![],
            Some(worst_best),
        ));
    }
    let solved = solve(net, &inst)?;
    let fraction = mine
        .iter()
        .map(|&d| solved.alloc.demands[d].carried() / inst.tm.demands()[d].rate.bps())
        .fold(1.0, f64::min);
    if fraction >= 1.0 - 1e-6 {
        return Ok(Admission::Admitted);
    }
    let loads = solved.alloc.link_loads(topo);
    let mut bottlenecks: Vec<String> = mine
        .iter()
        .flat_map(|&d| inst.paths.per_demand[d].iter().flat_map(|p| p.links.iter()))
        .filter(|l| loads[l.index()] >= SATURATED * topo.link(**l).capacity.bps())
        .map(|&l| topo.link(l).id.clone())
        .collect();
    bottlenecks.sort();
    bottlenecks.dedup();
    let offered = round_down(fraction * candidate.spec.rate.bps());
    Ok(refused(
        &format!(
            "not enough capacity: {:.1}% of the committed rate fits beside the admitted services",
            fraction * 100.0
        ),
        offered,
        bottlenecks,
        Some(worst_best),
    ))
}

fn refused(
    reason: &str,
    offered_rate_bps: f64,
    bottlenecks: Vec<String>,
    best_latency_ms: Option<f64>,
) -> Admission {
    Admission::Refused {
        reason: reason.to_string(),
        offered_rate_bps,
        bottlenecks,
        best_latency_ms,
    }
}

/// Rounds down to three significant digits, so an offer is never above what fits.
fn round_down(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 2);
    (x / scale).floor() * scale
}
