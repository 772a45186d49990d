//! Keel's backbone model: pure types and validation, no I/O.
//!
//! A [`Topology`] holds [`Site`]s and directed [`Link`]s (an undirected link is two
//! arcs) addressed by dense indices, so solvers can use plain vectors. The serde
//! "spec" types in [`spec`] are the human-facing form that names sites by id; they
//! convert to and from the indexed form exactly.

mod alloc;
mod class;
mod demand;
mod error;
mod geo;
pub mod spec;
mod topology;
mod units;

pub use alloc::{Allocation, DemandAllocation, Path, PathFlow};
pub use class::{ClassId, ClassOfService, ClassSet};
pub use demand::{Demand, DemandId, TrafficMatrix};
pub use error::ModelError;
pub use geo::{GeoPoint, great_circle_km};
pub use topology::{
    LatencySource, Link, LinkId, Medium, NewLink, Site, SiteId, SiteKind, Topology, TopologyBuilder,
};
pub use units::{Bandwidth, Latency, ParseUnitError};
