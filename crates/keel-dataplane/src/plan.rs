//! From a [`SiteState`] to the kernel entries it means, as plain data. No I/O:
//! the same types describe what is desired and what is installed, so a
//! reconcile is a comparison of two [`Desired`] values.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use keel_southbound::site::{MAIN_TABLE, Nexthop, SidAction, SiteState};
use serde::{Deserialize, Serialize};

use crate::{
    InterfaceMap, METRIC_POLICY, METRIC_TENANT, METRIC_TENANT_DEFAULT, METRIC_UNDERLAY,
    RULE_PRIORITY_DSCP, RULE_PRIORITY_TENANT, SID_LOOP_DEV, SID_LOOP_GATEWAY,
};

/// A route is identified by table, destination and metric (the kernel's key for
/// IPv6 routes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RouteKey {
    pub table: u32,
    pub prefix: Ipv6Net,
    pub metric: u32,
}

/// One nexthop of a route: out of `dev` to `via`, optionally encapsulating in
/// SRv6 with `segments` (first segment first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hop {
    pub dev: String,
    pub via: Option<Ipv6Addr>,
    pub weight: u16,
    pub segments: Vec<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum SidBehaviour {
    End,
    EndX { nh6: Ipv6Addr },
    EndDt6 { table: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteAction {
    /// A local SID (seg6local), reached through `hop` when sent locally.
    Sid { behaviour: SidBehaviour, hop: Hop },
    /// Forwarding over one or more (weighted) nexthops.
    Forward { hops: Vec<Hop> },
    /// A copy of one of the router's own addresses (type `local`): End.DT6
    /// looks up only its table, never the `local` table, so without it a
    /// packet decapsulated for an address of the router itself would be
    /// forwarded out of the interface instead of delivered.
    Local { dev: String },
    /// `unreachable`: ends a tenant's table, so that its traffic never falls
    /// through to the main table (rules go on to the next one on a miss).
    Unreachable,
    /// `throw`: go on with the next rule. For the first segment of a tenant's
    /// own encapsulated packets, which are routed again with the tenant's
    /// incoming interface and so meet the tenant's rule and table again.
    Throw,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteEntry {
    pub key: RouteKey,
    pub action: RouteAction,
}

impl RouteEntry {
    /// The hops in a canonical order (the kernel does not promise to keep
    /// ours), equal hops merged: the kernel refuses two nexthops with the same
    /// device, gateway and encapsulation, so their weights add up instead.
    pub(crate) fn normalised(mut self) -> Self {
        if let RouteAction::Forward { hops } = &mut self.action {
            *hops = merge_hops(std::mem::take(hops));
        }
        self
    }
}

/// An `ip -6 rule`: `[iif IIF] [tos DSFIELD] lookup TABLE` at `priority`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleEntry {
    pub priority: u32,
    pub iif: Option<String>,
    /// The whole traffic-class byte (DSCP << 2), as `ip rule ... tos` takes it.
    pub dsfield: Option<u8>,
    pub table: u32,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressEntry {
    pub dev: String,
    pub address: Ipv6Net,
}

/// Everything Keel wants (or has) in one namespace, keyed for comparison.
/// In JSON the routes are a list of [`RouteEntry`] (JSON keys are strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    #[serde(with = "routes_as_list")]
    pub routes: BTreeMap<RouteKey, RouteAction>,
    pub rules: BTreeSet<RuleEntry>,
    /// Addresses of the mapped interfaces (installed: those Keel set).
    #[serde(default)]
    pub addresses: BTreeSet<AddressEntry>,
}

mod routes_as_list {
    use super::{BTreeMap, RouteAction, RouteEntry, RouteKey};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        routes: &BTreeMap<RouteKey, RouteAction>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let list: Vec<RouteEntry> = routes
            .iter()
            .map(|(key, action)| RouteEntry {
                key: key.clone(),
                action: action.clone(),
            })
            .collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<RouteKey, RouteAction>, D::Error> {
        let list = Vec::<RouteEntry>::deserialize(d)?;
        Ok(list.into_iter().map(|e| (e.key, e.action)).collect())
    }
}

/// What Keel has installed, as plain data (for tests and status displays).
pub type Installed = Desired;

impl Desired {
    fn add_route(&mut self, entry: RouteEntry) {
        let entry = entry.normalised();
        match (self.routes.get_mut(&entry.key), entry.action) {
            // Two policies for the same prefix and table: one route, all paths.
            (Some(RouteAction::Forward { hops }), RouteAction::Forward { hops: more }) => {
                hops.extend(more);
                *hops = merge_hops(std::mem::take(hops));
            }
            (_, action) => {
                self.routes.insert(entry.key, action);
            }
        }
    }

    /// Local SIDs, by SID.
    pub fn sids(&self) -> BTreeMap<Ipv6Addr, SidBehaviour> {
        self.routes
            .iter()
            .filter_map(|(k, a)| match a {
                RouteAction::Sid { behaviour, .. } => Some((k.prefix.addr(), behaviour.clone())),
                RouteAction::Forward { .. }
                | RouteAction::Local { .. }
                | RouteAction::Unreachable
                | RouteAction::Throw => None,
            })
            .collect()
    }

    /// The forwarding route for a prefix in a table, whatever its metric.
    pub fn route(&self, table: u32, prefix: Ipv6Net) -> Option<&[Hop]> {
        self.routes.iter().find_map(|(k, a)| match a {
            RouteAction::Forward { hops } if k.table == table && k.prefix == prefix => {
                Some(hops.as_slice())
            }
            _ => None,
        })
    }
}

pub(crate) fn merge_hops(hops: Vec<Hop>) -> Vec<Hop> {
    let mut merged: BTreeMap<(String, Option<Ipv6Addr>, Vec<Ipv6Addr>), u16> = BTreeMap::new();
    for h in hops {
        let w = merged.entry((h.dev, h.via, h.segments)).or_insert(0);
        *w = w.saturating_add(h.weight).min(256);
    }
    merged
        .into_iter()
        .map(|((dev, via, segments), weight)| Hop {
            dev,
            via,
            weight: weight.max(1),
            segments,
        })
        .collect()
}

fn sid_key(sid: Ipv6Addr) -> RouteKey {
    RouteKey {
        table: MAIN_TABLE,
        prefix: Ipv6Net::new(sid, 128).unwrap_or_default(),
        metric: METRIC_POLICY,
    }
}

/// Routes and rules for `state`, with the links in `down` failed. `has_dev`
/// says whether an interface exists (nexthops over missing ones are skipped).
pub fn desired(
    state: &SiteState,
    map: &InterfaceMap,
    down: &BTreeSet<String>,
    has_dev: &dyn Fn(&str) -> bool,
) -> Desired {
    desired_with_local(state, map, down, has_dev, &[])
}

/// [`desired`], plus `local`: the router's own addresses (with their
/// interface) inside its host prefixes, delivered locally after End.DT6.
pub fn desired_with_local(
    state: &SiteState,
    map: &InterfaceMap,
    down: &BTreeSet<String>,
    has_dev: &dyn Fn(&str) -> bool,
    local: &[(Ipv6Addr, String)],
) -> Desired {
    let mut out = Desired::default();
    for iface in &state.interfaces {
        if let Some(dev) = map.lookup(&iface.link).filter(|d| has_dev(d)) {
            out.addresses.insert(AddressEntry {
                dev: dev.to_string(),
                address: iface.address,
            });
        }
    }
    for (addr, dev) in local {
        if state.host_prefixes.iter().any(|p| p.contains(addr)) {
            out.add_route(RouteEntry {
                key: RouteKey {
                    table: MAIN_TABLE,
                    prefix: Ipv6Net::new(*addr, 128).unwrap_or_default(),
                    metric: METRIC_POLICY,
                },
                action: RouteAction::Local { dev: dev.clone() },
            });
        }
    }
    let own_sids: BTreeSet<Ipv6Addr> = state.local_sids.iter().map(|s| s.sid).collect();
    // The kernel routes an encapsulated packet on its first segment and
    // ignores the route's own nexthop. To send it where the state says (a
    // repair's or backup's first hop), the list starts with this site's End.X
    // SID for that link, unless it already starts with a local SID. Without
    // it a repair of a locator route would encapsulate its own packets again
    // and again (the first segment lies inside the repaired prefix).
    let pin = |segments: &[Ipv6Addr], nh: &Nexthop| -> Vec<Ipv6Addr> {
        if segments.is_empty() || own_sids.contains(&segments[0]) {
            return segments.to_vec();
        }
        let end_x = state.local_sids.iter().find_map(|s| match &s.action {
            SidAction::EndX { nexthop } if nexthop == nh => Some(s.sid),
            _ => None,
        });
        end_x.into_iter().chain(segments.iter().copied()).collect()
    };
    let usable = |nh: &Nexthop| -> Option<String> {
        if down.contains(&nh.link) {
            return None;
        }
        let dev = map.lookup(&nh.link)?;
        has_dev(dev).then(|| dev.to_string())
    };

    for sid in &state.local_sids {
        let behaviour = match &sid.action {
            SidAction::End => SidBehaviour::End,
            SidAction::EndX { nexthop } => SidBehaviour::EndX { nh6: nexthop.via },
            SidAction::EndDt6 { table } => SidBehaviour::EndDt6 { table: *table },
        };
        out.add_route(RouteEntry {
            key: sid_key(sid.sid),
            action: RouteAction::Sid {
                behaviour,
                hop: Hop {
                    dev: SID_LOOP_DEV.to_string(),
                    via: Some(SID_LOOP_GATEWAY),
                    weight: 1,
                    segments: Vec::new(),
                },
            },
        });
    }

    for route in &state.underlay {
        let key = RouteKey {
            table: MAIN_TABLE,
            prefix: route.prefix,
            metric: METRIC_UNDERLAY,
        };
        let mut hops: Vec<Hop> = route
            .nexthops
            .iter()
            .filter_map(|nh| {
                Some(Hop {
                    dev: usable(nh)?,
                    via: Some(nh.via),
                    weight: 1,
                    segments: Vec::new(),
                })
            })
            .collect();
        if hops.is_empty() {
            // All primaries are gone: the repair of a failed primary link,
            // provided its own first hop still works.
            hops = route
                .repairs
                .iter()
                .filter(|r| {
                    down.contains(&r.link) || map.lookup(&r.link).is_none_or(|d| !has_dev(d))
                })
                .filter(|r| route.nexthops.iter().any(|nh| nh.link == r.link))
                .find_map(|r| {
                    Some(vec![Hop {
                        dev: usable(&r.nexthop)?,
                        via: Some(r.nexthop.via),
                        weight: 1,
                        segments: pin(&r.segments, &r.nexthop),
                    }])
                })
                .unwrap_or_default();
        }
        if !hops.is_empty() {
            out.add_route(RouteEntry {
                key,
                action: RouteAction::Forward { hops },
            });
        }
    }

    for policy in &state.policies {
        let hops: Vec<Hop> = policy
            .paths
            .iter()
            .filter_map(|path| {
                let (segments, nexthop) = match usable(&path.nexthop) {
                    Some(_) => (&path.segments, &path.nexthop),
                    None => {
                        let b = path.backup.as_ref()?;
                        (&b.segments, &b.nexthop)
                    }
                };
                Some(Hop {
                    dev: usable(nexthop)?,
                    via: Some(nexthop.via),
                    weight: path.weight.clamp(1, 256),
                    segments: pin(segments, nexthop),
                })
            })
            .collect();
        if hops.is_empty() {
            continue;
        }
        for prefix in &policy.prefixes {
            out.add_route(RouteEntry {
                key: RouteKey {
                    table: policy.table,
                    prefix: *prefix,
                    metric: METRIC_POLICY,
                },
                action: RouteAction::Forward { hops: hops.clone() },
            });
        }
        if let Some(dscp) = policy.dscp
            && policy.table != MAIN_TABLE
        {
            out.rules.insert(RuleEntry {
                priority: RULE_PRIORITY_DSCP,
                iif: None,
                dsfield: Some((dscp & 0x3f) << 2),
                table: policy.table,
            });
        }
    }

    for tenant in &state.tenants {
        if has_dev(&tenant.attachment) {
            for prefix in &tenant.local_prefixes {
                out.add_route(RouteEntry {
                    key: RouteKey {
                        table: tenant.table,
                        prefix: *prefix,
                        metric: METRIC_TENANT,
                    },
                    action: RouteAction::Forward {
                        hops: vec![Hop {
                            dev: tenant.attachment.clone(),
                            via: None,
                            weight: 1,
                            segments: Vec::new(),
                        }],
                    },
                });
            }
        }
        out.add_route(RouteEntry {
            key: RouteKey {
                table: tenant.table,
                prefix: Ipv6Net::default(),
                metric: METRIC_TENANT_DEFAULT,
            },
            action: RouteAction::Unreachable,
        });
        out.rules.insert(RuleEntry {
            priority: RULE_PRIORITY_TENANT,
            iif: Some(tenant.attachment.clone()),
            dsfield: None,
            table: tenant.table,
        });
    }
    // The lookups the kernel makes for a tenant's encapsulated packets still
    // carry the tenant's incoming interface: the one on the first segment,
    // and, when that is an End.X SID of this site, the one End.X makes for
    // its nexthop. Both must leave the tenant's table for the main one.
    let end_x_nexthop = |sid: &Ipv6Addr| {
        state.local_sids.iter().find_map(|l| match &l.action {
            SidAction::EndX { nexthop } if l.sid == *sid => Some(nexthop.via),
            _ => None,
        })
    };
    let tenant_tables: BTreeSet<u32> = state.tenants.iter().map(|t| t.table).collect();
    let throws: BTreeSet<(u32, Ipv6Addr)> = out
        .routes
        .iter()
        .filter(|(k, _)| tenant_tables.contains(&k.table))
        .flat_map(|(k, a)| match a {
            RouteAction::Forward { hops } => hops
                .iter()
                .filter_map(|h| h.segments.first())
                .flat_map(|s| [Some(*s), end_x_nexthop(s)])
                .flatten()
                .map(|x| (k.table, x))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    for (table, sid) in throws {
        out.add_route(RouteEntry {
            key: RouteKey {
                table,
                prefix: Ipv6Net::new(sid, 128).unwrap_or_default(),
                metric: METRIC_TENANT,
            },
            action: RouteAction::Throw,
        });
    }
    out
}

/// The subset of [`desired`] that depends on `link`: the routes a local repair
/// rewrites when that link changes state. Keys whose route disappears (no usable
/// nexthop left) are returned with `None`.
pub fn affected_by(
    state: &SiteState,
    map: &InterfaceMap,
    down: &BTreeSet<String>,
    link: &str,
    has_dev: &dyn Fn(&str) -> bool,
) -> BTreeMap<RouteKey, Option<RouteAction>> {
    let mut keys = BTreeSet::new();
    for route in &state.underlay {
        if route.nexthops.iter().any(|n| n.link == link)
            || route
                .repairs
                .iter()
                .any(|r| r.link == link || r.nexthop.link == link)
        {
            keys.insert((MAIN_TABLE, route.prefix, METRIC_UNDERLAY));
        }
    }
    for policy in &state.policies {
        let uses = policy.paths.iter().any(|p| {
            p.nexthop.link == link || p.backup.as_ref().is_some_and(|b| b.nexthop.link == link)
        });
        if uses {
            for prefix in &policy.prefixes {
                keys.insert((policy.table, *prefix, METRIC_POLICY));
            }
        }
    }
    if keys.is_empty() {
        return BTreeMap::new();
    }
    // Recomputing everything is cheap next to a netlink dump; only the
    // affected keys go to the kernel.
    let all = desired(state, map, down, has_dev);
    let mut out: BTreeMap<RouteKey, Option<RouteAction>> = keys
        .into_iter()
        .map(|(table, prefix, metric)| {
            let key = RouteKey {
                table,
                prefix,
                metric,
            };
            let action = all.routes.get(&key).cloned();
            (key, action)
        })
        .collect();
    // A backup may start with another End.X SID: its `throw` in the tenant
    // table must be there too (old ones stay until the next full reconcile,
    // where they are stale; they do no harm meanwhile).
    for (key, action) in &all.routes {
        if *action == RouteAction::Throw {
            out.insert(key.clone(), Some(RouteAction::Throw));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_southbound::PolicyKey;
    use keel_southbound::site::{Backup, LocalSid, Repair, SitePath, SitePolicy, UnderlayRoute};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }
    fn n(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }
    fn nh(link: &str, via: &str) -> Nexthop {
        Nexthop {
            link: link.into(),
            via: a(via),
        }
    }

    fn state() -> SiteState {
        SiteState {
            site: "A".into(),
            generation: 1,
            locator: n("fc00:0:1::/48"),
            host_prefixes: vec![n("fd00:0:1::/64")],
            interfaces: vec![],
            local_sids: vec![
                LocalSid {
                    sid: a("fc00:0:1::1"),
                    action: SidAction::End,
                },
                LocalSid {
                    sid: a("fc00:0:1::2:1"),
                    action: SidAction::EndX {
                        nexthop: nh("A->B", "fd00:ffff::2"),
                    },
                },
            ],
            underlay: vec![UnderlayRoute {
                prefix: n("fc00:0:3::/48"),
                nexthops: vec![nh("A->C", "fd00:ffff:1::2")],
                repairs: vec![Repair {
                    link: "A->C".into(),
                    segments: vec![a("fc00:0:3::")],
                    nexthop: nh("A->B", "fd00:ffff::2"),
                }],
            }],
            policies: vec![SitePolicy {
                key: PolicyKey {
                    service: "s".into(),
                    ingress: "A".into(),
                    egress: "C".into(),
                    class: "c".into(),
                },
                table: 246,
                dscp: Some(46),
                prefixes: vec![n("fd00:0:3::/64")],
                paths: vec![
                    SitePath {
                        weight: 3,
                        rate_bps: 3.0,
                        segments: vec![a("fc00:0:1::2:1"), a("fc00:0:3::")],
                        nexthop: nh("A->B", "fd00:ffff::2"),
                        links: vec!["A->B".into(), "B->C".into()],
                        backup: None,
                    },
                    SitePath {
                        weight: 1,
                        rate_bps: 1.0,
                        segments: vec![a("fc00:0:3::")],
                        nexthop: nh("A->C", "fd00:ffff:1::2"),
                        links: vec!["A->C".into()],
                        backup: Some(Backup {
                            segments: vec![a("fc00:0:1::2:1"), a("fc00:0:3::")],
                            nexthop: nh("A->B", "fd00:ffff::2"),
                        }),
                    },
                ],
            }],
            tenants: vec![],
            qos: vec![],
        }
    }

    fn map() -> InterfaceMap {
        InterfaceMap::new().with("A->B", "ab").with("A->C", "ac")
    }

    #[test]
    fn all_up() {
        let d = desired(&state(), &map(), &BTreeSet::new(), &|_| true);
        assert_eq!(d.sids().len(), 2);
        let u = d.route(MAIN_TABLE, n("fc00:0:3::/48")).expect("underlay");
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].dev, "ac");
        assert!(u[0].segments.is_empty());
        let p = d.route(246, n("fd00:0:3::/64")).expect("policy");
        assert_eq!(p.iter().map(|h| h.weight).sum::<u16>(), 4);
        assert_eq!(
            d.rules.iter().next().map(|r| (r.dsfield, r.table)),
            Some((Some(46 << 2), 246))
        );
    }

    #[test]
    fn link_down_uses_repairs_and_backups() {
        let down: BTreeSet<String> = ["A->C".to_string()].into();
        let d = desired(&state(), &map(), &down, &|_| true);
        let u = d.route(MAIN_TABLE, n("fc00:0:3::/48")).expect("repair");
        assert_eq!(u[0].dev, "ab");
        assert_eq!(u[0].segments, vec![a("fc00:0:1::2:1"), a("fc00:0:3::")]);
        let p = d.route(246, n("fd00:0:3::/64")).expect("policy");
        // The backup is the other path's segment list: one nexthop, weights added.
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].dev.as_str(), p[0].weight), ("ab", 4));

        let affected = affected_by(&state(), &map(), &down, "A->C", &|_| true);
        assert_eq!(affected.len(), 2);
        assert!(affected.values().all(Option::is_some));
    }

    #[test]
    fn a_repair_without_segments_is_plain_forwarding() {
        let mut st = state();
        st.underlay[0].repairs[0].segments.clear();
        let down: BTreeSet<String> = ["A->C".to_string()].into();
        let d = desired(&st, &map(), &down, &|_| true);
        let u = d.route(MAIN_TABLE, n("fc00:0:3::/48")).expect("repair");
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].dev.as_str(), u[0].via),
            ("ab", Some(a("fd00:ffff::2")))
        );
        assert!(u[0].segments.is_empty());
    }

    #[test]
    fn missing_interface_is_skipped() {
        let d = desired(&state(), &map(), &BTreeSet::new(), &|dev| dev != "ac");
        // Underlay: primary missing, repair over ab.
        let u = d.route(MAIN_TABLE, n("fc00:0:3::/48")).expect("repair");
        assert_eq!(u[0].dev, "ab");
    }

    #[test]
    fn desired_state_round_trips_through_json() {
        let d = desired(&state(), &map(), &BTreeSet::new(), &|_| true);
        let text = serde_json::to_string(&d).expect("serialises");
        let back: Desired = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, d);
    }

    #[test]
    fn everything_down_removes_routes() {
        let down: BTreeSet<String> = ["A->C".to_string(), "A->B".to_string()].into();
        let d = desired(&state(), &map(), &down, &|_| true);
        assert!(d.route(MAIN_TABLE, n("fc00:0:3::/48")).is_none());
        assert!(d.route(246, n("fd00:0:3::/64")).is_none());
        let affected = affected_by(&state(), &map(), &down, "A->B", &|_| true);
        assert!(affected.values().all(Option::is_none));
    }
}
