//! The southbound boundary of the Keel controller: the desired forwarding state it
//! hands to a network (SRv6 TE policies per ingress site), the events a network
//! reports back (link state, counters), and the [`Southbound`] trait that a
//! simulated network ([`sim::SimNetwork`]) and the Linux data plane implement.
//!
//! Data flows one way: the controller computes [`Change`]s, a southbound applies
//! them and reports [`NetworkEvent`]s on a channel. Nothing here knows about HTTP,
//! storage or solvers.

pub mod sim;
pub mod site;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Names one TE policy: the service it carries, its ingress and egress sites and
/// its class. Unique in a desired state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyKey {
    pub service: String,
    pub ingress: String,
    pub egress: String,
    pub class: String,
}

impl std::fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.service, self.ingress, self.egress, self.class
        )
    }
}

/// One weighted candidate path of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentList {
    /// Share of the policy's traffic, as a nexthop-group weight (1..=256).
    pub weight: u16,
    /// Rate the controller allocated to this path, bit/s.
    pub rate_bps: f64,
    /// SRv6 segments that pin the path (fewest that do, per the addressing plan).
    pub segments: Vec<Ipv6Addr>,
    /// The links the path crosses, in order (link ids of the topology). Shared
    /// strings: a network-wide state repeats each id in thousands of paths.
    pub links: Vec<Arc<str>>,
}

/// A TE policy at an ingress: traffic of one class towards one egress, split over
/// weighted segment lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub key: PolicyKey,
    /// DSCP the ingress classifies on.
    pub dscp: Option<u8>,
    /// Destination prefixes the policy steers (the egress site's prefixes).
    pub prefixes: Vec<String>,
    pub paths: Vec<SegmentList>,
}

impl Policy {
    pub fn rate_bps(&self) -> f64 {
        self.paths.iter().map(|p| p.rate_bps).sum()
    }
}

/// One step of a network update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Change {
    /// Install the policy, replacing any policy with the same key.
    Upsert(Policy),
    /// Remove the policy; removing an absent policy is done already.
    Remove(PolicyKey),
}

impl Change {
    pub fn key(&self) -> &PolicyKey {
        match self {
            Change::Upsert(p) => &p.key,
            Change::Remove(k) => k,
        }
    }
}

/// The complete forwarding state a controller wants, keyed by policy.
pub type DesiredState = BTreeMap<PolicyKey, Policy>;

/// Measured rate on one link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkCounter {
    pub link: String,
    /// Offered load, bit/s (what the policies send onto the link).
    pub offered_bps: f64,
    /// Carried load, bit/s (at most the capacity).
    pub carried_bps: f64,
}

/// What a network reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum NetworkEvent {
    LinkDown { link: String },
    LinkUp { link: String },
    Counters { links: Vec<LinkCounter> },
}

#[derive(Debug, thiserror::Error)]
pub enum SouthboundError {
    #[error("unknown link `{0}`")]
    UnknownLink(String),
    #[error("policy {key}: {reason}")]
    Rejected { key: String, reason: String },
    #[error("{0} is not supported by this southbound")]
    Unsupported(&'static str),
}

/// A network the controller programs. `apply` installs one batch of changes and
/// returns once the network has them (the controller orders batches so that no
/// link is overloaded in between). Events are delivered on the channel given to
/// the implementation at construction.
pub trait Southbound: Send {
    /// A short name for logs and the API (`sim`, `linux`).
    fn kind(&self) -> &'static str;
    fn apply(&mut self, batch: &[Change]) -> Result<(), SouthboundError>;
    /// Fails or restores a link: only a simulated network can do this on request.
    fn set_link(&mut self, link: &str, up: bool) -> Result<(), SouthboundError>;
    /// Everything installed now: the controller re-programs from its stored state
    /// after a restart by diffing against this.
    fn installed(&self) -> DesiredState;
    /// The topology changed (an import): the links (id, capacity in bit/s) the
    /// network now has. A real network already has them; a simulated one follows.
    fn sync_links(&mut self, _links: &[(String, f64)]) {}
    /// The IGP as it is now (`igp`: the usable links of `base`), before each
    /// re-optimisation: a network whose routers take their underlay from the
    /// controller re-routes on it; a simulated one needs nothing.
    fn set_igp(&mut self, _base: &keel_model::Topology, _igp: &keel_model::Topology) {}
}

/// Splits rates into nexthop weights 1..=256 proportional to the rates (the
/// kernel's nexthop-group range). Paths without rate get no weight and are left
/// out by the caller.
pub fn quantise_weights(rates: &[f64]) -> Vec<u16> {
    let total: f64 = rates.iter().sum();
    if total <= 0.0 {
        return vec![1; rates.len()];
    }
    let max = rates.iter().copied().fold(0.0, f64::max);
    rates
        .iter()
        .map(|&r| ((r / max) * 256.0).round().clamp(1.0, 256.0) as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_rates_within_the_kernel_range() {
        let w = quantise_weights(&[3.0, 1.0]);
        assert_eq!(w, vec![256, 85]);
        let w = quantise_weights(&[1e12, 1.0]);
        assert_eq!(w, vec![256, 1]);
        assert_eq!(quantise_weights(&[0.0, 0.0]), vec![1, 1]);
    }
}
