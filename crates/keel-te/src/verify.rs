//! An independent check of an allocation: the test oracle for every solver.
//!
//! Deliberately shares no code with the solvers (it accumulates its own loads and
//! walks paths itself), so a bug there cannot hide here.

use std::collections::HashSet;

use keel_model::{Allocation, ClassId, DemandId, LinkId, SiteId, Topology, TrafficMatrix};
use serde::Serialize;
use thiserror::Error;

use crate::paths::CandidatePaths;
use crate::summary::ClassFigures;

/// How far a quantity may exceed its limit: `absolute + relative·|limit|`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    pub relative: f64,
    /// In bit/s.
    pub absolute: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            relative: 1e-7,
            absolute: 1e-6,
        }
    }
}

impl Tolerance {
    fn slack(&self, limit: f64) -> f64 {
        self.absolute + self.relative * limit.abs()
    }
}

/// Figures recomputed from a valid allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub total_demand: f64,
    pub carried: f64,
    /// Maximum link utilisation; 0 when nothing is carried.
    pub mlu: f64,
    pub max_load_link: Option<LinkId>,
    /// Smallest carried / rate over demands with a positive rate; 1 when none.
    pub concurrent: f64,
    pub per_class: Vec<ClassFigures>,
}

/// One rule an allocation breaks. Demands, paths (index among the demand's
/// allocated paths) and links are named by index.
#[derive(Debug, Clone, PartialEq, Error, Serialize)]
pub enum Violation {
    #[error("allocation has {found} demand entries, the traffic matrix {expected}")]
    DemandCount { expected: usize, found: usize },
    #[error("allocation entry #{index} is for demand #{}, expected #{index}", .found.0)]
    DemandMismatch { index: usize, found: DemandId },
    #[error("demand #{}, path #{path}: empty path", .demand.0)]
    EmptyPath { demand: DemandId, path: usize },
    #[error("demand #{}, path #{path}: link #{} does not exist", .demand.0, .link.0)]
    UnknownLink {
        demand: DemandId,
        path: usize,
        link: LinkId,
    },
    #[error(
        "demand #{}, path #{path}: link #{} at position {position} does not start where the previous link ends",
        .demand.0, .link.0
    )]
    NotContiguous {
        demand: DemandId,
        path: usize,
        position: usize,
        link: LinkId,
    },
    #[error(
        "demand #{}, path #{path}: starts at site #{}, the demand at site #{}",
        .demand.0, .found.0, .expected.0
    )]
    WrongSource {
        demand: DemandId,
        path: usize,
        expected: SiteId,
        found: SiteId,
    },
    #[error(
        "demand #{}, path #{path}: ends at site #{}, the demand at site #{}",
        .demand.0, .found.0, .expected.0
    )]
    WrongDestination {
        demand: DemandId,
        path: usize,
        expected: SiteId,
        found: SiteId,
    },
    #[error("demand #{}, path #{path}: visits site #{} twice", .demand.0, .site.0)]
    Loop {
        demand: DemandId,
        path: usize,
        site: SiteId,
    },
    #[error("demand #{}, path #{path}: not one of the demand's candidate paths", .demand.0)]
    NotCandidate { demand: DemandId, path: usize },
    #[error("demand #{}, path #{path}: invalid rate {rate} bit/s", .demand.0)]
    InvalidRate {
        demand: DemandId,
        path: usize,
        rate: f64,
    },
    #[error("demand #{}: carries {carried} bit/s, more than its rate {rate} bit/s", .demand.0)]
    OverDemand {
        demand: DemandId,
        carried: f64,
        rate: f64,
    },
    #[error("demand #{}: carries {carried} bit/s of {rate} bit/s; a routing must carry all", .demand.0)]
    UnderDemand {
        demand: DemandId,
        carried: f64,
        rate: f64,
    },
    #[error(
        "link #{}: load {load} bit/s exceeds capacity {capacity} bit/s ({:.6}%)",
        .link.0, load / capacity * 100.0
    )]
    OverCapacity {
        link: LinkId,
        load: f64,
        capacity: f64,
    },
}

/// Checks `alloc` against the topology, the traffic matrix and (when given) the
/// candidate paths. Returns the recomputed figures, or every violation found.
pub fn verify(
    topo: &Topology,
    tm: &TrafficMatrix,
    paths: Option<&CandidatePaths>,
    alloc: &Allocation,
    tol: Tolerance,
) -> Result<VerifyReport, Vec<Violation>> {
    check(topo, tm, paths, alloc, tol, None)
}

/// Checks a routing of *all* demand (the min-MLU objective): every rule of
/// [`verify`], except that links may carry up to `max_utilisation` × capacity, and
/// every demand must be carried in full.
pub fn verify_routing(
    topo: &Topology,
    tm: &TrafficMatrix,
    paths: Option<&CandidatePaths>,
    alloc: &Allocation,
    max_utilisation: f64,
    tol: Tolerance,
) -> Result<VerifyReport, Vec<Violation>> {
    check(topo, tm, paths, alloc, tol, Some(max_utilisation))
}

fn check(
    topo: &Topology,
    tm: &TrafficMatrix,
    paths: Option<&CandidatePaths>,
    alloc: &Allocation,
    tol: Tolerance,
    routing: Option<f64>,
) -> Result<VerifyReport, Vec<Violation>> {
    let mut bad = Vec::new();
    let demands = tm.demands();
    if alloc.demands.len() != demands.len() {
        bad.push(Violation::DemandCount {
            expected: demands.len(),
            found: alloc.demands.len(),
        });
    }
    let mut load = vec![0.0_f64; topo.link_count()];
    let mut carried_of = vec![0.0_f64; demands.len()];
    for (index, (da, demand)) in alloc.demands.iter().zip(demands).enumerate() {
        let id = DemandId(index as u32);
        if da.demand != id {
            bad.push(Violation::DemandMismatch {
                index,
                found: da.demand,
            });
        }
        let rate_limit = demand.rate.bps();
        let mut carried = 0.0;
        for (p, pf) in da.paths.iter().enumerate() {
            let links = &pf.path.links;
            if !pf.rate.is_finite() || pf.rate < -tol.slack(rate_limit) {
                bad.push(Violation::InvalidRate {
                    demand: id,
                    path: p,
                    rate: pf.rate,
                });
            }
            if pf.rate.is_finite() {
                carried += pf.rate;
            }
            if let Some(c) = paths {
                let known = c
                    .per_demand
                    .get(index)
                    .is_some_and(|cands| cands.iter().any(|q| q.links == *links));
                if !known {
                    bad.push(Violation::NotCandidate {
                        demand: id,
                        path: p,
                    });
                }
            }
            if links.is_empty() {
                bad.push(Violation::EmptyPath {
                    demand: id,
                    path: p,
                });
                continue;
            }
            if let Some(&l) = links.iter().find(|l| l.index() >= topo.link_count()) {
                bad.push(Violation::UnknownLink {
                    demand: id,
                    path: p,
                    link: l,
                });
                continue;
            }
            let ends = |l: LinkId| {
                let link = &topo.links()[l.index()];
                (link.src, link.dst)
            };
            for (position, pair) in links.windows(2).enumerate() {
                if ends(pair[0]).1 != ends(pair[1]).0 {
                    bad.push(Violation::NotContiguous {
                        demand: id,
                        path: p,
                        position: position + 1,
                        link: pair[1],
                    });
                }
            }
            let first = ends(links[0]).0;
            let last = ends(links[links.len() - 1]).1;
            if first != demand.src {
                bad.push(Violation::WrongSource {
                    demand: id,
                    path: p,
                    expected: demand.src,
                    found: first,
                });
            }
            if last != demand.dst {
                bad.push(Violation::WrongDestination {
                    demand: id,
                    path: p,
                    expected: demand.dst,
                    found: last,
                });
            }
            let mut visited = HashSet::new();
            visited.insert(first);
            for &l in links.iter() {
                let site = ends(l).1;
                if !visited.insert(site) {
                    bad.push(Violation::Loop {
                        demand: id,
                        path: p,
                        site,
                    });
                    break;
                }
            }
            if pf.rate.is_finite() {
                for &l in links.iter() {
                    load[l.index()] += pf.rate;
                }
            }
        }
        if carried > rate_limit + tol.slack(rate_limit) {
            bad.push(Violation::OverDemand {
                demand: id,
                carried,
                rate: rate_limit,
            });
        }
        if routing.is_some() && carried < rate_limit - tol.slack(rate_limit) {
            bad.push(Violation::UnderDemand {
                demand: id,
                carried,
                rate: rate_limit,
            });
        }
        carried_of[index] = carried;
    }
    let mut mlu = 0.0_f64;
    let mut max_load_link = None;
    for (i, link) in topo.links().iter().enumerate() {
        let capacity = link.capacity.bps();
        let limit = capacity * routing.unwrap_or(1.0);
        if load[i] > limit + tol.slack(limit) {
            bad.push(Violation::OverCapacity {
                link: LinkId(i as u32),
                load: load[i],
                capacity,
            });
        }
        if load[i] > 0.0 && load[i] / capacity > mlu {
            mlu = load[i] / capacity;
            max_load_link = Some(LinkId(i as u32));
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    let mut per_class: Vec<ClassFigures> = tm
        .classes()
        .iter()
        .map(|(class, c)| ClassFigures {
            class,
            name: c.name.clone(),
            demand: 0.0,
            carried: 0.0,
        })
        .collect();
    let mut concurrent = 1.0_f64;
    for (d, carried) in demands.iter().zip(&carried_of) {
        let ClassId(c) = d.class;
        if let Some(f) = per_class.get_mut(c as usize) {
            f.demand += d.rate.bps();
            f.carried += carried;
        }
        if d.rate.bps() > 0.0 {
            concurrent = concurrent.min(carried / d.rate.bps());
        }
    }
    Ok(VerifyReport {
        total_demand: demands.iter().map(|d| d.rate.bps()).sum(),
        carried: carried_of.iter().sum(),
        mlu,
        max_load_link,
        concurrent,
        per_class,
    })
}
