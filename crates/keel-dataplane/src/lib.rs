//! The kernel side of a Keel agent: makes one Linux network namespace's
//! forwarding state match a [`SiteState`](keel_southbound::site::SiteState) over netlink.
//!
//! - [`plan`] turns a `SiteState` (plus the interface map and the links that are
//!   down) into plain desired entries: routes, SIDs, rules. Pure, no I/O.
//! - [`Kernel`] holds one netlink connection to one namespace and diffs the
//!   desired entries against what Keel installed before ([`Kernel::reconcile`],
//!   [`Kernel::local_repair`], [`Kernel::remove_all`]).
//! - [`oracle`] reads the same state back through iproute2 (`ip -json`), as an
//!   independent check for tests and for people.
//!
//! # What Keel owns
//!
//! Every route (SIDs included) is installed with the route protocol
//! [`RTPROT_KEEL`]; every rule with that protocol and a priority in
//! [`RULE_PRIORITIES`]; every interface address with that value as its
//! `IFA_PROTO`; every qdisc as an htb root with handle `4b:`. Only entries carrying these marks are ever replaced or
//! removed, so routes and rules added by people or other daemons survive.
//! Keel also owns the veth pair [`SID_LOOP_DEV`]/[`SID_LOOP_PEER`] (see below).
//!
//! # Local SIDs live on a loop
//!
//! After `encap seg6` the kernel routes the packet again on its first
//! segment. A segment list may start with this site's own End.X SID (it pins the
//! first link). For forwarded traffic that second lookup is an input lookup and
//! the seg6local route runs; for traffic the router sends itself it is an
//! *output* lookup, and a seg6local route has no output behaviour: the packet
//! would be sent to the SID as if it were a neighbour and lost. (A seg6local
//! route `dev lo` is worse: the kernel turns routes over loopback into reject
//! routes.) So every local SID is installed `via` [`SID_LOOP_GATEWAY`] `dev`
//! [`SID_LOOP_DEV`], one end of a veth pair inside the namespace: locally sent
//! packets to a SID come straight back in on [`SID_LOOP_PEER`], where the input
//! lookup finds the same seg6local route and runs End / End.X / End.DT6 on
//! them. Packets arriving from other routers never use the route's nexthop.
//! Verified with real packets in `tests/netns.rs`.
//!
//! # First hops are pinned
//!
//! For the same reason the `via`/`dev` of an `encap seg6` nexthop decide
//! nothing: the packet goes wherever the route to its first segment says. When
//! a repair or backup names a first hop but its segment list does not start
//! with a local SID, [`plan`] puts this site's End.X SID for that link in
//! front. Without it, the repair of a locator route (whose first segment, the
//! destination's DT6 SID, lies inside the repaired prefix) would encapsulate
//! its own output again and again.
//!
//! # End.DT6 and the router's own addresses
//!
//! End.DT6 with a numbered table looks up that table only, never `local`: a
//! packet decapsulated for an address of the router itself would be forwarded
//! out of the interface holding it. Reconcile copies the router's addresses
//! inside its host prefixes into the main table as `local` routes.

mod error;
mod kernel;
mod map;
pub mod oracle;
pub mod plan;
mod qos;
mod wire;

pub use error::DataplaneError;
pub use kernel::{Dataplane, Kernel, LinkEvent};
pub use map::InterfaceMap;
pub use plan::{
    AddressEntry, Desired, Hop, Installed, RouteAction, RouteEntry, RouteKey, RuleEntry,
    SidBehaviour,
};

use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// Route protocol (`rtm_protocol`) of every route and rule Keel installs; how
/// Keel recognises its own entries. Unassigned in iproute2's `rt_protos`.
pub const RTPROT_KEEL: u8 = 177;

/// Priorities of Keel's `ip -6 rule`s: before the main table's rule (32766).
pub const RULE_PRIORITIES: std::ops::RangeInclusive<u32> = 1000..=1199;
/// Rule priority of `iif <attachment> lookup <tenant table>`: tenants first, so
/// a tenant's traffic never leaves its table whatever its DSCP.
pub const RULE_PRIORITY_TENANT: u32 = 1000;
/// Rule priority of `tos <dscp> lookup <class table>` (TE classes).
pub const RULE_PRIORITY_DSCP: u32 = 1100;

/// Metric of local SIDs and TE policy routes.
pub const METRIC_POLICY: u32 = 64;
/// Metric of underlay (IGP) routes: above the policies', so a TE policy in the
/// main table for a prefix the underlay also routes takes precedence.
pub const METRIC_UNDERLAY: u32 = 128;
/// Metric of a tenant's attached prefixes in its table.
pub const METRIC_TENANT: u32 = 64;
/// Metric of the `unreachable ::/0` that closes a tenant's table.
pub const METRIC_TENANT_DEFAULT: u32 = 4096;

/// Keel's end of the SID loop (see the crate docs).
pub const SID_LOOP_DEV: &str = "keel-sr0";
/// The other end, where looped packets come back in.
pub const SID_LOOP_PEER: &str = "keel-sr1";
/// Link-local address on [`SID_LOOP_PEER`]: the gateway of every local SID.
pub const SID_LOOP_GATEWAY: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x4b, 1);
/// Link-local address on [`SID_LOOP_DEV`] (no DAD, usable at once).
pub const SID_LOOP_SOURCE: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x4b, 0);

/// What a reconcile did, entry by entry (routes, SIDs, rules, addresses, qdiscs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub added: usize,
    pub replaced: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Entries the kernel refused; the others were still applied.
    pub errors: Vec<String>,
}

impl ReconcileReport {
    /// Whether the run changed anything in the kernel.
    pub fn changed(&self) -> bool {
        self.added + self.replaced + self.removed > 0
    }
}
