//! Keel's native schema (`keel_model::spec`) as TOML or JSON.

use keel_model::spec::{TopologySpec, TrafficSpec};
use keel_model::{Topology, TrafficMatrix};
use serde::de::DeserializeOwned;

use crate::assemble::{line_col, stem};
use crate::error::{FormatError, Location};

fn from_toml<T: DeserializeOwned>(content: &str, file: &str) -> Result<T, FormatError> {
    toml::from_str(content).map_err(|e| {
        let at = match e.span() {
            Some(span) => {
                let (line, col) = line_col(content, span.start);
                Location::at(line, col)
            }
            None => Location::default(),
        };
        FormatError::syntax(file, at, e.message().trim().to_string())
    })
}

fn from_json<T: DeserializeOwned>(content: &str, file: &str) -> Result<T, FormatError> {
    serde_json::from_str(content).map_err(|e| json_error(&e, file))
}

/// serde_json puts "at line L column C" into its message; move it to the front.
pub(crate) fn json_error(e: &serde_json::Error, file: &str) -> FormatError {
    let text = e.to_string();
    if e.line() == 0 {
        return FormatError::syntax(file, Location::default(), text);
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    FormatError::syntax(file, Location::at(e.line(), e.column().max(1)), msg)
}

fn into_topology(mut spec: TopologySpec, file: &str) -> Result<Topology, FormatError> {
    if spec.name.is_empty() {
        spec.name = stem(file);
    }
    spec.into_topology()
        .map_err(|e| FormatError::model(file, Location::default(), e))
}

pub(crate) fn read_topology_toml(content: &str, file: &str) -> Result<Topology, FormatError> {
    into_topology(from_toml(content, file)?, file)
}

pub(crate) fn read_topology_json(content: &str, file: &str) -> Result<Topology, FormatError> {
    into_topology(from_json(content, file)?, file)
}

fn into_traffic(
    spec: TrafficSpec,
    file: &str,
    topology: &Topology,
) -> Result<TrafficMatrix, FormatError> {
    spec.into_traffic(topology)
        .map_err(|e| FormatError::model(file, Location::default(), e))
}

pub(crate) fn read_traffic_toml(
    content: &str,
    file: &str,
    topology: &Topology,
) -> Result<TrafficMatrix, FormatError> {
    into_traffic(from_toml(content, file)?, file, topology)
}

pub(crate) fn read_traffic_json(
    content: &str,
    file: &str,
    topology: &Topology,
) -> Result<TrafficMatrix, FormatError> {
    into_traffic(from_json(content, file)?, file, topology)
}

fn write_failed(what: &str, e: impl std::fmt::Display) -> FormatError {
    FormatError::Unsupported {
        what: format!("writing {what} ({e})"),
    }
}

pub(crate) fn write_topology_toml(t: &Topology) -> Result<String, FormatError> {
    toml::to_string_pretty(&TopologySpec::from_topology(t))
        .map_err(|e| write_failed("TOML topology", e))
}

pub(crate) fn write_topology_json(t: &Topology) -> Result<String, FormatError> {
    serde_json::to_string_pretty(&TopologySpec::from_topology(t))
        .map(|s| s + "\n")
        .map_err(|e| write_failed("JSON topology", e))
}

pub(crate) fn write_traffic_toml(t: &Topology, tm: &TrafficMatrix) -> Result<String, FormatError> {
    toml::to_string_pretty(&TrafficSpec::from_traffic(t, tm))
        .map_err(|e| write_failed("TOML traffic matrix", e))
}

pub(crate) fn write_traffic_json(t: &Topology, tm: &TrafficMatrix) -> Result<String, FormatError> {
    serde_json::to_string_pretty(&TrafficSpec::from_traffic(t, tm))
        .map(|s| s + "\n")
        .map_err(|e| write_failed("JSON traffic matrix", e))
}
