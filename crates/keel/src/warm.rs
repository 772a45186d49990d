//! Warm-start files: the fast solver's link prices keyed by link id, so they stay
//! valid when links fail or come back (indices shift, ids do not).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use keel_model::Topology;
use keel_te::{Objective, WarmStart};
use serde::{Deserialize, Serialize};

use crate::input::UsageError;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmFile {
    objective: Option<Objective>,
    /// Per priority stage: price per link id.
    stages: Vec<BTreeMap<String, f64>>,
}

pub fn save(path: &Path, topology: &Topology, warm: &WarmStart) -> anyhow::Result<()> {
    let file = WarmFile {
        objective: warm.objective,
        stages: warm
            .prices
            .iter()
            .map(|prices| {
                topology
                    .links()
                    .iter()
                    .zip(prices)
                    .filter(|(_, p)| **p != 0.0)
                    .map(|(l, p)| (l.id.clone(), *p))
                    .collect()
            })
            .collect(),
    };
    crate::input::write_output(path, &serde_json::to_string_pretty(&file)?)
}

/// Prices for the links of `topology`; links the file does not name start at 0.
pub fn load(path: &Path, topology: &Topology) -> anyhow::Result<WarmStart> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: WarmFile = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("{}: not a warm-start file: {e}", path.display())))?;
    let prices = file
        .stages
        .iter()
        .map(|by_id| {
            topology
                .links()
                .iter()
                .map(|l| by_id.get(&l.id).copied().unwrap_or(0.0))
                .collect()
        })
        .collect();
    Ok(WarmStart {
        objective: file.objective,
        prices,
    })
}
