//! A Keel backbone as a network-namespace lab on one Linux machine.
//!
//! [`LabPlan`] lays a topology out deterministically: a namespace
//! `kl-<lab>-<site>` per site, one veth pair `k<p>` per link pair (p = the
//! pair's lower link index, as in the SRv6 addressing plan), and a host
//! interface `khost` with `fd00:0:n::1/64` per site. [`Lab`] builds it
//! (root needed), fails and restores links, reports their state and removes
//! everything again, also after a crash. [`probe`] measures loss exactly.
//!
//! Links are veth pairs shaped by netem (tbf where the kernel lacks netem:
//! rate only), or, with [`LinkMode::Relay`], VXLAN tunnels through a
//! user-space [`relay`] that emulates latency and rate on any kernel.
//!
//! Link addresses are left to the agent ([`LabPlan::link_addresses`] says
//! which they are).

mod cmd;
pub mod error;
pub mod lab;
pub mod plan;
pub mod probe;
pub mod relay;

pub use error::{LabError, Result};
pub use lab::{
    DownReport, EndStatus, Lab, LabState, LabStatus, LinkStatus, NamespaceStatus, ProcessRecord,
    STATE_ROOT, Shaping, namespaces_with_prefix, state_dir,
};
pub use plan::{
    EndPlan, HOST_INTERFACE, HOST_PEER_INTERFACE, InterfaceMapFile, LabOptions, LabPlan,
    LinkAddress, LinkMode, MIN_RATE_BPS, NAMESPACE_PREFIX, PairPlan, SitePlan, namespace_prefix,
    validate_name,
};
pub use probe::{ProbeReport, Receiver, SendReport, Tally};
