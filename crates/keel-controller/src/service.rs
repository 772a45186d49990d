//! Backbone services as tenants order them, and how each becomes demands.

use std::collections::BTreeSet;

use keel_model::{Bandwidth, ClassSet, SiteId, Topology};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, field};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// Transit between the tenant's PoPs and the network's exits to upstreams.
    Internet,
    /// Site-to-site for one organisation, in the global table.
    Intranet,
    /// Any-to-any among member sites in a tenant-isolated table (End.DT6).
    Vpn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub site: String,
    /// Prefixes reachable at this endpoint (IPv6 CIDR).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// A service as submitted: what the tenant asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Chosen by the controller when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Tenant tokens may leave it out (it is theirs); admins must give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub name: String,
    pub kind: ServiceKind,
    pub endpoints: Vec<Endpoint>,
    /// Class of service name (voice, video, interactive, business, bulk, best-effort).
    pub class: String,
    /// Committed rate between every ordered pair of endpoints (Internet: each
    /// endpoint to and from its nearest exit), e.g. "2G".
    pub rate: Bandwidth,
    /// One-way latency bound, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid_sites: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid_srlgs: Vec<String>,
    /// Carry each pair over link-disjoint paths (a protected pair).
    #[serde(default)]
    pub disjoint: bool,
}

/// An admitted service with its identity settled (`spec.id` and `spec.tenant`
/// are filled in too, so the spec alone is the stored and returned document).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub tenant: String,
    pub spec: ServiceSpec,
}

/// One committed flow of a service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceDemand {
    pub src: SiteId,
    pub dst: SiteId,
    pub rate: f64,
}

const MAX_ENDPOINTS: usize = 64;

/// Checks a spec against the topology and classes; errors name the field.
pub fn validate(
    spec: &ServiceSpec,
    topo: &Topology,
    classes: &ClassSet,
    exits: &[SiteId],
) -> Result<(), ApiError> {
    if let Some(id) = &spec.id {
        validate_name("id", id)?;
    }
    if let Some(t) = &spec.tenant {
        validate_name("tenant", t)?;
    }
    if classes.by_name(&spec.class).is_none() {
        let names: Vec<_> = classes.iter().map(|(_, c)| c.name.as_str()).collect();
        return Err(field(
            "class",
            format!(
                "unknown class `{}`; one of {}",
                spec.class,
                names.join(", ")
            ),
        ));
    }
    if !(spec.rate.bps().is_finite() && spec.rate.bps() > 0.0) {
        return Err(field("rate", "must be a positive rate such as \"2G\""));
    }
    if let Some(l) = spec.latency_ms
        && !(l.is_finite() && l > 0.0)
    {
        return Err(field(
            "latency_ms",
            "must be a positive number of milliseconds",
        ));
    }
    let min = match spec.kind {
        ServiceKind::Internet => 1,
        _ => 2,
    };
    if spec.endpoints.len() < min || spec.endpoints.len() > MAX_ENDPOINTS {
        return Err(field(
            "endpoints",
            format!(
                "a {:?} service needs {min} to {MAX_ENDPOINTS} endpoints",
                spec.kind
            )
            .to_lowercase(),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, e) in spec.endpoints.iter().enumerate() {
        if topo.site_by_id(&e.site).is_none() {
            return Err(field(
                &format!("endpoints[{i}].site"),
                format!("no site `{}` in the topology", e.site),
            ));
        }
        if !seen.insert(&e.site) {
            return Err(field(
                &format!("endpoints[{i}].site"),
                format!("site `{}` appears twice", e.site),
            ));
        }
        for (j, p) in e.prefixes.iter().enumerate() {
            if !is_ipv6_prefix(p) {
                return Err(field(
                    &format!("endpoints[{i}].prefixes[{j}]"),
                    format!("`{p}` is not an IPv6 prefix like 2001:db8::/48"),
                ));
            }
        }
    }
    for (i, s) in spec.avoid_sites.iter().enumerate() {
        if topo.site_by_id(s).is_none() {
            return Err(field(
                &format!("avoid_sites[{i}]"),
                format!("no site `{s}` in the topology"),
            ));
        }
        if seen.contains(s) {
            return Err(field(
                &format!("avoid_sites[{i}]"),
                format!("`{s}` is an endpoint of the service"),
            ));
        }
    }
    for (i, g) in spec.avoid_srlgs.iter().enumerate() {
        if !topo.links().iter().any(|l| l.srlgs.contains(g)) {
            return Err(field(
                &format!("avoid_srlgs[{i}]"),
                format!("no link belongs to SRLG `{g}`"),
            ));
        }
    }
    if spec.kind == ServiceKind::Internet && exits.is_empty() {
        return Err(field(
            "kind",
            "this network has no exits to upstream providers configured (serve --exit SITE)",
        ));
    }
    Ok(())
}

/// Identifiers become URL path segments and SQLite keys: keep them plain.
pub fn validate_name(what: &str, s: &str) -> Result<(), ApiError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(field(
            what,
            format!("`{s}` must be 1-64 characters of letters, digits, '-', '_' or '.'"),
        ))
    }
}

fn is_ipv6_prefix(p: &str) -> bool {
    let Some((addr, len)) = p.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv6Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
}

impl Service {
    /// The committed flows: every ordered pair of endpoints, or for Internet each
    /// endpoint to and from its nearest exit (by latency over the topology).
    pub fn demands(&self, topo: &Topology, exits: &[SiteId]) -> Vec<ServiceDemand> {
        let sites: Vec<SiteId> = self
            .spec
            .endpoints
            .iter()
            .filter_map(|e| topo.site_by_id(&e.site))
            .collect();
        let rate = self.spec.rate.bps();
        let mut out = Vec::new();
        match self.spec.kind {
            ServiceKind::Internet => {
                for &s in &sites {
                    let Some(exit) = nearest(topo, s, exits) else {
                        continue;
                    };
                    if exit != s {
                        out.push(ServiceDemand {
                            src: s,
                            dst: exit,
                            rate,
                        });
                        out.push(ServiceDemand {
                            src: exit,
                            dst: s,
                            rate,
                        });
                    }
                }
            }
            ServiceKind::Intranet | ServiceKind::Vpn => {
                for &a in &sites {
                    for &b in &sites {
                        if a != b {
                            out.push(ServiceDemand {
                                src: a,
                                dst: b,
                                rate,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// The exit closest to `from` by great-circle-derived link latency (Dijkstra).
fn nearest(topo: &Topology, from: SiteId, exits: &[SiteId]) -> Option<SiteId> {
    let dist = crate::srv6::distances(topo, from, |l| topo.link(l).latency.ms());
    exits
        .iter()
        .copied()
        .filter(|e| dist[e.index()].is_finite())
        .min_by(|a, b| dist[a.index()].total_cmp(&dist[b.index()]).then(a.cmp(b)))
}
