//! The controller ↔ agent contract: everything the router of one site must hold,
//! as plain data. The controller derives one [`SiteState`] per site from its
//! topology and desired state; an agent on the site's router makes the kernel
//! match it (and nothing more: stale entries go).
//!
//! Addressing follows the SRv6 plan of docs/architecture.md: site n (index + 1)
//! owns `fc00:0:n::/48`; the point-to-point subnet of the link pair with the
//! lower link index p is `fd00:ffff:p::/64` (`::1` at the source of link p,
//! `::2` at its destination); hosts of site n live in `fd00:0:n::/64`.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use crate::PolicyKey;

/// Version of the agent protocol (the JSON documents below and the HTTP routes
/// under `/api/v1/agents`). A controller refuses agents of another version.
pub const AGENT_PROTOCOL_VERSION: u32 = 1;

/// Routing table of the site's TE policies when the policy has no tenant.
pub const MAIN_TABLE: u32 = 254;

/// One site's complete forwarding state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteState {
    pub site: String,
    /// Grows with every change the controller makes to this site's state; an
    /// agent acknowledges the generation it has installed.
    pub generation: u64,
    /// The site's SRv6 locator.
    pub locator: Ipv6Net,
    /// Prefixes of the site's own hosts, delivered locally (a host interface).
    pub host_prefixes: Vec<Ipv6Net>,
    /// The site's ends of its links.
    pub interfaces: Vec<Interface>,
    /// Local SIDs (seg6local routes).
    pub local_sids: Vec<LocalSid>,
    /// The IGP: the other sites' locators and host prefixes over shortest paths
    /// by link metric (equal-cost nexthops kept), each with its repairs.
    pub underlay: Vec<UnderlayRoute>,
    /// TE policies with this site as ingress.
    pub policies: Vec<SitePolicy>,
    /// VPN tenants with an endpoint at this site.
    pub tenants: Vec<Tenant>,
    /// Egress queueing, the same on every interface.
    pub qos: Vec<QosClass>,
}

/// The local end of one link (one directed link of the topology leaving the site;
/// the reverse link arrives on the same interface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Id of the outgoing link in the topology (`A->B`).
    pub link: String,
    /// Id of the reverse link, when the topology has one.
    pub reverse_link: Option<String>,
    pub peer_site: String,
    /// Local address with its prefix length.
    pub address: Ipv6Net,
    pub peer_address: Ipv6Addr,
    pub capacity_bps: f64,
    pub latency_ms: f64,
}

/// Where to send a packet next: out of the interface of `link`, to `via`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nexthop {
    pub link: String,
    pub via: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum SidAction {
    /// Endpoint: go on to the next segment.
    End,
    /// Endpoint with cross-connect: go on to the next segment over one link.
    EndX { nexthop: Nexthop },
    /// Decapsulate and look the inner packet up in a routing table.
    EndDt6 { table: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSid {
    pub sid: Ipv6Addr,
    #[serde(flatten)]
    pub action: SidAction,
}

/// A route of the IGP underlay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnderlayRoute {
    pub prefix: Ipv6Net,
    /// Equal-cost nexthops.
    pub nexthops: Vec<Nexthop>,
    /// Local repair: what to do when local links go down, before the controller
    /// re-optimises (TI-LFA style: the post-convergence path, steered by segments
    /// over the pre-failure IGP so that no other router needs to know).
    pub repairs: Vec<Repair>,
}

/// The replacement for a route while `link` is down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    pub link: String,
    /// Encapsulate with these segments (empty: plain forwarding) ...
    pub segments: Vec<Ipv6Addr>,
    /// ... and send to this nexthop.
    pub nexthop: Nexthop,
}

/// A TE policy at its ingress: destination prefixes of one class steered over
/// weighted segment lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePolicy {
    pub key: PolicyKey,
    /// Routing table the policy's routes go into: [`MAIN_TABLE`] or a per-class
    /// table selected by DSCP rules, or a tenant's table.
    pub table: u32,
    /// DSCP the ingress classifies on (none: all traffic to the prefixes).
    pub dscp: Option<u8>,
    pub prefixes: Vec<Ipv6Net>,
    pub paths: Vec<SitePath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePath {
    /// Nexthop-group weight, 1..=256.
    pub weight: u16,
    pub rate_bps: f64,
    pub segments: Vec<Ipv6Addr>,
    /// The first hop: the link the path leaves the site on.
    pub nexthop: Nexthop,
    /// Links of the whole path, in order.
    pub links: Vec<String>,
    /// Used instead of this path while its first link is down (the resilience
    /// plan's backup), none when no backup exists.
    pub backup: Option<Backup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    pub segments: Vec<Ipv6Addr>,
    pub nexthop: Nexthop,
}

/// A VPN tenant at this site: its own routing table, decapsulation SID and the
/// interface its customer edge attaches to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    pub table: u32,
    /// End.DT6 SID that decapsulates into `table`.
    pub sid: Ipv6Addr,
    /// Prefixes of the tenant attached at this site (routed to `attachment`).
    pub local_prefixes: Vec<Ipv6Net>,
    /// Name of the customer-facing interface (given by the site's operator).
    pub attachment: String,
}

/// One class of the egress scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QosClass {
    pub class: String,
    pub dscp: Vec<u8>,
    /// Strict priority (voice, inference): served before weighted classes.
    pub strict: bool,
    /// Share of the link for weighted classes, 0..=1.
    pub share: f64,
    /// Police to the allocation (bulk): drop what exceeds the class's rate.
    pub policed: bool,
}

/// An agent's report to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "kebab-case")]
pub enum AgentReport {
    /// The state of this generation is installed.
    Applied {
        generation: u64,
    },
    /// Installing failed; the agent keeps forwarding on what it has.
    Failed {
        generation: u64,
        error: String,
    },
    LinkDown {
        link: String,
    },
    LinkUp {
        link: String,
    },
    /// Bytes sent per local link since the agent started, per class where known.
    Counters {
        links: Vec<InterfaceCounters>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceCounters {
    pub link: String,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_dropped: u64,
    /// Bytes sent per class by the egress scheduler.
    pub class_tx_bytes: Vec<(String, u64)>,
}
