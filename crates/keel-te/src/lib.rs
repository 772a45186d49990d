//! Traffic engineering for Keel: candidate paths, an exact path-form LP solver with
//! certified optimality bounds, a greedy baseline and an independent verifier.
//!
//! The flow is: [`compute_paths`] → [`Problem`] → [`solve_exact`] (or [`greedy`])
//! → [`verify`] and [`summarize`]. A controller re-solving as traffic and links
//! change keeps a [`Reoptimiser`], which redoes only the path work and packing a
//! change touches.

pub mod bound;
mod error;
mod exact;
pub mod fast;
mod greedy;
mod lp;
mod paths;
pub mod protect;
mod reopt;
mod summary;
#[cfg(test)]
mod testing;
mod verify;

use crate::error::named_enum;
use std::time::Duration;

use keel_model::{Allocation, Topology, TrafficMatrix};
use serde::{Deserialize, Serialize};

pub use error::{ParseNameError, TeError};
pub use exact::solve_exact;
pub use fast::{FastOptions, FastOutcome, Hooks, Progress, StopReason, WarmStart, solve_fast};
pub use greedy::{empty_allocation, greedy};
pub use paths::{
    CandidatePaths, PathKind, PathMetric, PathOptions, compute_paths, edge_disjoint, k_shortest,
    link_weights, path_cost, srlg_disjoint,
};
pub use protect::{
    Backup, Backups, Coverage, Covers, FfcOptions, FfcSolution, RiskModel, Unprotectable,
    backup_paths, coverage, rescale_after_failure, solve_ffc,
};
pub use reopt::{Reoptimiser, Reroute};
pub use summary::{ClassFigures, Summary, class_figures, summarize};
pub use verify::{Tolerance, VerifyReport, Violation, verify, verify_routing};

/// What the exact solver optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Objective {
    /// Maximise the total carried rate.
    #[default]
    #[serde(rename = "max-flow")]
    MaxFlow,
    /// Maximise the fraction of every demand carried simultaneously.
    #[serde(rename = "max-concurrent")]
    MaxConcurrent,
    /// Route every demand in full, minimising the maximum link utilisation.
    #[serde(rename = "mlu")]
    MinMlu,
}

named_enum!(Objective, "objective", {
    MaxFlow => "max-flow",
    MaxConcurrent => "max-concurrent",
    MinMlu => "mlu",
});

impl Objective {
    /// Whether larger values are better.
    pub fn maximises(self) -> bool {
        !matches!(self, Objective::MinMlu)
    }
}

/// How rate is shared among the demands of one priority level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fairness {
    /// Whatever optimises the objective.
    #[default]
    None,
    /// Max-min fair: with `MaxFlow`, in absolute rate (no demand can gain without
    /// a demand with less rate losing); with `MaxConcurrent`, in the fraction of
    /// each demand carried. Ignored by `MinMlu`, which routes everything.
    MaxMin,
}

named_enum!(Fairness, "fairness", {
    None => "none",
    MaxMin => "max-min",
});

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SolveOptions {
    pub objective: Objective,
    /// Serve priority levels strictly in order (B4/SWAN): each level's objective is
    /// optimised before any lower level may take capacity.
    pub class_priority: bool,
    pub fairness: Fairness,
    /// Interior-point tolerance (relative gap and feasibility), e.g. 1e-8.
    pub tolerance: f64,
    /// After the objective, one more LP keeps what every priority level (max-flow)
    /// or demand (max-concurrent) achieved and minimises Σ IGP metric × rate: among
    /// optimal allocations, the one on the shortest paths. Interior-point optima
    /// otherwise spread flow over every candidate of an optimal face, which routers
    /// would have to be told about and which moves with every re-solve. Ignored by
    /// min-MLU and max-min fairness.
    pub prefer_short: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            objective: Objective::MaxFlow,
            class_priority: true,
            fairness: Fairness::None,
            tolerance: 1e-8,
            prefer_short: false,
        }
    }
}

/// A traffic-engineering instance: topology, traffic and candidate paths.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    pub topology: &'a Topology,
    pub traffic: &'a TrafficMatrix,
    pub paths: &'a CandidatePaths,
}

/// Where the time went. The solver fills `build` and `solve`; whoever computed the
/// paths fills `paths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Timings {
    pub paths: Duration,
    /// Building the LPs (rows, sparse matrices, solver setup).
    pub build: Duration,
    /// Interior-point iterations.
    pub solve: Duration,
}

/// How far `gap` can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// `bound` is a weak-duality bound evaluated independently of solver accuracy,
    /// so the optimum provably lies between `value` and `bound`.
    Certified,
    /// `gap` is the interior-point method's own relative primal–dual gap of the LP
    /// that produced the allocation (the last stage); `bound` is value·(1 + gap),
    /// indicative only, not a certificate.
    SolverReported,
    /// Strict priority solved stage by stage on residual capacity: each stage's
    /// bound certifies that stage given what the higher stages took; `bound` is
    /// their sum, not a bound on the lexicographic optimum.
    PerStage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Solution {
    /// Every candidate path of every demand, rate 0 when unused; exactly feasible.
    pub allocation: Allocation,
    pub objective: Objective,
    /// The objective evaluated on `allocation`: carried bit/s (max-flow), smallest
    /// carried fraction over demands with traffic and a path (max-concurrent), or
    /// maximum link utilisation (mlu).
    pub value: f64,
    /// Bound on the optimum: upper for max-flow and max-concurrent, lower for mlu.
    pub bound: f64,
    /// |bound − value| / |bound|.
    pub gap: f64,
    pub gap_kind: GapKind,
    pub per_class: Vec<ClassFigures>,
    pub timings: Timings,
    /// LPs solved.
    pub stages: usize,
}

/// `demands` split by priority level, highest first; levels without any of them
/// are left out.
pub(crate) fn by_priority_level(tm: &TrafficMatrix, demands: &[usize]) -> Vec<Vec<usize>> {
    let classes = tm.classes();
    classes
        .priority_levels()
        .into_iter()
        .map(|level| {
            demands
                .iter()
                .copied()
                .filter(|&d| classes.get(tm.demands()[d].class).priority == level)
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}
