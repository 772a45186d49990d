//! Keel's flow-level simulator: failures and what-if.
//!
//! * [`failure`]: what fails (physical links, sites, SRLGs), scenario sets
//!   (single link / SRLG / node, link pairs, a file), and the probability of
//!   each element being down.
//! * [`eval`]: one scenario against a base allocation — the local-repair state
//!   (traffic moved onto the ingress backups, congestion by strict priority)
//!   and the state after re-optimisation, verified.
//! * [`whatif`]: every scenario of a set in parallel, with worst-case link
//!   utilisation, a ranking by lost demand and availability per class.
//!
//! No I/O and no printing: the `keel` binary renders the reports.

pub mod eval;
pub mod failure;
pub mod whatif;

use thiserror::Error;

pub use eval::{
    Base, LocalState, ReoptOptions, ReoptState, Reoptimise, Solver, local_repair, reoptimise,
};
pub use failure::{
    Element, Failed, Probabilities, Scenario, ScenarioKind, ScenarioSet, parse_scenarios,
    scenario_set, universe_of, with_probabilities,
};
pub use whatif::{Availability, ScenarioResult, WhatIfReport, WorstLink, run_one, run_whatif};

#[derive(Debug, Error)]
pub enum SimError {
    #[error("scenario file, line {line}: {msg}")]
    Scenario { line: usize, msg: String },
    #[error("probabilities file, line {line}: {msg}")]
    Probabilities { line: usize, msg: String },
    #[error(transparent)]
    Model(#[from] keel_model::ModelError),
    #[error(transparent)]
    Te(#[from] keel_te::TeError),
    #[error("the re-optimised allocation fails verification (a bug in Keel): {0}")]
    Verifier(String),
    #[error("scenario {0}: {1}")]
    InScenario(String, Box<SimError>),
}
