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
//!
//! Needs root and, on the machine: iproute2 (`ip`, `tc`), `sysctl`, `kill`,
//! and for relay links `ethtool`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let topology: keel_model::Topology = unimplemented!();
//! use keel_lab::{Lab, LabOptions, LabPlan, LinkMode};
//!
//! // Latency needs netem for veth links; the relay works on any kernel.
//! let links = if keel_lab::netem_supported()? { LinkMode::Veth } else { LinkMode::Relay };
//! let plan = LabPlan::new(&topology, LabOptions { links, ..LabOptions::default() })?;
//! plan.write_interface_maps(std::path::Path::new("/run/keel-lab/keel/maps"))?;
//! let mut lab = Lab::up(&plan)?;
//! // Relay links pass traffic once the relay runs (a CLI starts itself in
//! // the relay namespace with `keel_lab::relay::run`).
//! if let Some(config) = lab.relay_config_path() {
//!     let relay = lab.exec_in_relay(&["keel", "lab", "relay", "--config"])?.arg(&config).spawn()?;
//!     lab.register_process(relay.id(), "relay")?;
//! }
//! // Later, from any process:
//! let lab = Lab::open("keel")?;
//! lab.fail_link("NYCM->CHIN")?;
//! lab.restore_link("NYCM->CHIN")?;
//! Lab::down("keel")?;
//! # Ok(())
//! # }
//! ```

mod cmd;
pub mod error;
pub mod lab;
pub mod plan;
pub mod probe;
pub mod relay;

pub use error::{LabError, Result};
pub use lab::{
    DownReport, EndStatus, Lab, LabState, LabStatus, LinkStatus, NamespaceStatus, ProcessRecord,
    STATE_ROOT, Shaping, namespaces_with_prefix, netem_supported, state_dir,
};
pub use plan::{
    EndPlan, HOST_INTERFACE, HOST_PEER_INTERFACE, LabOptions, LabPlan, LinkAddress, LinkMode,
    MIN_RATE_BPS, NAMESPACE_PREFIX, PairPlan, SitePlan, namespace_prefix, validate_name,
};
pub use probe::{ProbeReport, Receiver, SendReport, Tally};
