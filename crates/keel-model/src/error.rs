use thiserror::Error;

/// What is wrong with a model, named precisely enough to fix it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    #[error("unknown site `{0}`")]
    UnknownSite(String),
    #[error("duplicate site id `{0}`")]
    DuplicateSite(String),
    #[error("duplicate link id `{0}`")]
    DuplicateLink(String),
    #[error("link `{link}` is a self loop on site `{site}`")]
    SelfLoop { link: String, site: String },
    #[error("link `{link}` has non-positive capacity {capacity} bit/s")]
    NonPositiveCapacity { link: String, capacity: f64 },
    #[error("link `{link}` has invalid latency {latency_s} s (must be finite and >= 0)")]
    InvalidLatency { link: String, latency_s: f64 },
    #[error("link `{link}` has invalid {field} {value} (must be finite and > 0)")]
    InvalidMetric {
        link: String,
        field: &'static str,
        value: f64,
    },
    #[error("demand {src} -> {dst}: no path between these sites")]
    Disconnected { src: String, dst: String },
    #[error("demand {src} -> {dst}: source and destination are the same site")]
    SelfDemand { src: String, dst: String },
    #[error("demand {src} -> {dst}: invalid rate {rate} bit/s (must be finite and >= 0)")]
    InvalidRate { src: String, dst: String, rate: f64 },
    #[error("unknown class of service `{0}`")]
    UnknownClass(String),
    #[error("duplicate class of service `{0}`")]
    DuplicateClass(String),
    #[error("site `{site}` has invalid coordinates ({lat}, {lon})")]
    InvalidCoordinates { site: String, lat: f64, lon: f64 },
    #[error("the topology has no sites")]
    Empty,
    #[error("allocation refers to demand {0}, which does not exist")]
    UnknownDemand(usize),
    #[error("{0}")]
    Invalid(String),
}
