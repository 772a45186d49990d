use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{DemandId, LinkId, SiteId, Topology};

/// A path as the sequence of directed links it uses. Immutable and shared:
/// allocations copy every candidate path of a solve (millions on continental
/// networks), and a copy only counts a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Path {
    pub links: Arc<[LinkId]>,
}

impl Path {
    pub fn new(links: Vec<LinkId>) -> Self {
        Path {
            links: links.into(),
        }
    }

    /// The sites visited, source first. Empty for an empty path.
    pub fn sites(&self, topology: &Topology) -> Vec<SiteId> {
        let mut out = Vec::with_capacity(self.links.len() + 1);
        if let Some(first) = self.links.first() {
            out.push(topology.link(*first).src);
        }
        out.extend(self.links.iter().map(|l| topology.link(*l).dst));
        out
    }

    /// Sum of link latencies in ms.
    pub fn latency_ms(&self, topology: &Topology) -> f64 {
        self.links
            .iter()
            .map(|l| topology.link(*l).latency.ms())
            .sum()
    }

    /// Sum of IGP/TE metrics.
    pub fn metric(&self, topology: &Topology) -> f64 {
        self.links.iter().map(|l| topology.link(*l).metric).sum()
    }
}

/// A candidate path and the rate (bit/s) placed on it; 0 when unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathFlow {
    pub path: Path,
    pub rate: f64,
}

/// The candidate paths of one demand and their rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandAllocation {
    pub demand: DemandId,
    pub paths: Vec<PathFlow>,
}

impl DemandAllocation {
    pub fn carried(&self) -> f64 {
        self.paths.iter().map(|p| p.rate).sum()
    }
}

/// Per demand (in traffic-matrix order), every candidate path with its rate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Allocation {
    pub demands: Vec<DemandAllocation>,
}

impl Allocation {
    pub fn carried(&self) -> f64 {
        self.demands.iter().map(DemandAllocation::carried).sum()
    }

    /// Load in bit/s on every link.
    pub fn link_loads(&self, topology: &Topology) -> Vec<f64> {
        let mut load = vec![0.0; topology.link_count()];
        for pf in self.demands.iter().flat_map(|d| &d.paths) {
            for l in pf.path.links.iter() {
                load[l.index()] += pf.rate;
            }
        }
        load
    }
}
