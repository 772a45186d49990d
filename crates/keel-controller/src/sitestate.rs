//! One [`SiteState`] per site for the agents: the SRv6 addressing plan, the IGP
//! underlay with TI-LFA-style repairs, and the TE policies of each ingress with a
//! backup for the failure of their first link.
//!
//! The underlay is computed here, centrally, over the IGP as it is now (usable
//! links by metric): the same graph the segment lists are compressed over, so an
//! End SID steers a packet exactly along the path the compressor assumed.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use keel_model::{ClassSet, LinkId, Path, SiteId, Topology};
use keel_southbound::site::{
    Backup, Interface, LocalSid, MAIN_TABLE, Nexthop, QosClass, Repair, SidAction, SitePath,
    SitePolicy, SiteState, Tenant, UnderlayRoute,
};
use keel_southbound::{DesiredState, Policy, quantise_weights};

use crate::srv6::{self, Compressor, Entry, dt6_sid, end_sid, end_x_numbers, end_x_sid};

/// Tenant t's routing table is `TENANT_TABLE_BASE + t`.
pub const TENANT_TABLE_BASE: u32 = 1000;
/// A class with DSCP d has its TE routes in table `CLASS_TABLE_BASE + d`.
pub const CLASS_TABLE_BASE: u32 = 200;

/// The prefix of a site's hosts: `fd00:0:n::/64`.
pub fn host_prefix(site: SiteId) -> Ipv6Net {
    let addr = Ipv6Addr::new(0xfd00, 0, srv6::site_group(site), 0, 0, 0, 0, 0);
    Ipv6Net::new(addr, 64).unwrap_or_default()
}

/// The customer-facing interface of tenant t at every site, by convention.
pub fn tenant_attachment(tenant: u16) -> String {
    format!("kt{tenant}")
}

/// The tenant number carried by a decapsulating SID (`fc00:0:n:t::`), if any.
fn tenant_of(last: Ipv6Addr) -> Option<u16> {
    let h = last.segments();
    (h[0] == 0xfc00 && h[3] != 0 && h[4..].iter().all(|&x| x == 0)).then_some(h[3])
}

/// The reverse of each link: the j-th link B->A pairs with the j-th A->B, so
/// parallel links pair one to one. `None` for a link without a reverse.
pub fn reverse_links(topo: &Topology) -> Vec<Option<LinkId>> {
    let mut by_pair: HashMap<(SiteId, SiteId), Vec<LinkId>> = HashMap::new();
    for l in topo.link_ids() {
        let link = topo.link(l);
        by_pair.entry((link.src, link.dst)).or_default().push(l);
    }
    topo.link_ids()
        .map(|l| {
            let link = topo.link(l);
            let same = &by_pair[&(link.src, link.dst)];
            let j = same.iter().position(|&x| x == l)?;
            by_pair.get(&(link.dst, link.src))?.get(j).copied()
        })
        .collect()
}

/// Addresses of a link's two ends: the pair's lower link index p gives the
/// subnet `fd00:ffff:p::/64`, `::1` at the source of link p, `::2` at its
/// destination. Returns (local address of `link`'s source, peer address).
pub fn link_addresses(link: LinkId, reverse: Option<LinkId>) -> (Ipv6Net, Ipv6Addr) {
    let p = reverse.map_or(link.index(), |r| r.index().min(link.index()));
    let p = u16::try_from(p).unwrap_or(u16::MAX);
    let addr = |host| Ipv6Addr::new(0xfd00, 0xffff, p, 0, 0, 0, 0, host);
    let (local, peer) = if p as usize == link.index() {
        (1, 2)
    } else {
        (2, 1)
    };
    (
        Ipv6Net::new(addr(local), 64).unwrap_or_default(),
        addr(peer),
    )
}

/// Shortest-path tree from `from` by metric, without the links in `skip`:
/// the link into each site, `None` where unreachable.
fn tree(topo: &Topology, from: SiteId, skip: &[LinkId]) -> Vec<Option<LinkId>> {
    let n = topo.site_count();
    let mut dist = vec![f64::INFINITY; n];
    let mut pred = vec![None; n];
    dist[from.index()] = 0.0;
    let mut heap = BinaryHeap::from([Entry(0.0, from)]);
    while let Some(Entry(d, u)) = heap.pop() {
        if d > dist[u.index()] {
            continue;
        }
        for &l in topo.out_links(u) {
            if skip.contains(&l) {
                continue;
            }
            let v = topo.link(l).dst;
            let nd = d + topo.link(l).metric;
            if nd < dist[v.index()] {
                dist[v.index()] = nd;
                pred[v.index()] = Some(l);
                heap.push(Entry(nd, v));
            }
        }
    }
    pred
}

fn tree_path(topo: &Topology, pred: &[Option<LinkId>], from: SiteId, to: SiteId) -> Option<Path> {
    let mut links = Vec::new();
    let mut at = to;
    while at != from {
        let l = pred[at.index()]?;
        links.push(l);
        at = topo.link(l).src;
    }
    links.reverse();
    Some(Path::new(links))
}

/// Derives every site's state. `base` is the full topology (interfaces, SID
/// numbering); `igp` the usable part now (same sites, links matched by id);
/// `desired` the TE policies. Generations are left at 0 for the caller.
pub fn site_states(
    base: &Topology,
    igp: &Topology,
    desired: &DesiredState,
    classes: &ClassSet,
) -> BTreeMap<String, SiteState> {
    let base_reverse = reverse_links(base);
    let igp_reverse = reverse_links(igp);
    let base_by_id: HashMap<&str, LinkId> = base
        .link_ids()
        .map(|l| (base.link(l).id.as_str(), l))
        .collect();
    let igp_by_id: HashMap<&str, LinkId> = igp
        .link_ids()
        .map(|l| (igp.link(l).id.as_str(), l))
        .collect();
    let end_x = end_x_numbers(base);
    // The nexthop over a link: to the peer's address on it.
    let nexthop = |id: &str| -> Option<Nexthop> {
        let l = *base_by_id.get(id)?;
        let (_, via) = link_addresses(l, base_reverse[l.index()]);
        Some(Nexthop {
            link: id.to_string(),
            via,
        })
    };
    let dist: Vec<Vec<f64>> = igp
        .site_ids()
        .map(|s| srv6::distances(igp, s, |l| igp.link(l).metric))
        .collect();
    let qos = qos_classes(classes);
    let mut by_ingress: BTreeMap<&str, Vec<&Policy>> = BTreeMap::new();
    let mut tenant_prefixes: BTreeMap<(&str, u16), Vec<Ipv6Net>> = BTreeMap::new();
    for p in desired.values() {
        by_ingress
            .entry(p.key.ingress.as_str())
            .or_default()
            .push(p);
        if let Some(t) = policy_tenant(p) {
            let local = tenant_prefixes
                .entry((p.key.egress.as_str(), t))
                .or_default();
            local.extend(p.prefixes.iter().filter_map(|x| x.parse::<Ipv6Net>().ok()));
        }
    }

    // One compressor for every site: its shortest-path trees are shared.
    let mut compressor = Compressor::numbered_by(igp, base);
    let mut out = BTreeMap::new();
    for s in base.site_ids() {
        let id = base.site(s).id.as_str();
        // Post-convergence trees after the loss of each local link (and its
        // reverse: a cut fibre takes both directions).
        let repair_trees: HashMap<LinkId, Vec<Option<LinkId>>> = igp
            .out_links(s)
            .iter()
            .map(|&l| {
                let skip: Vec<LinkId> = std::iter::once(l).chain(igp_reverse[l.index()]).collect();
                (l, tree(igp, s, &skip))
            })
            .collect();

        let interfaces = base
            .out_links(s)
            .iter()
            .map(|&l| {
                let link = base.link(l);
                let (address, peer_address) = link_addresses(l, base_reverse[l.index()]);
                let capacity = igp_by_id
                    .get(link.id.as_str())
                    .map_or(link.capacity, |&i| igp.link(i).capacity);
                Interface {
                    link: link.id.clone(),
                    reverse_link: base_reverse[l.index()].map(|r| base.link(r).id.clone()),
                    peer_site: base.site(link.dst).id.clone(),
                    address,
                    peer_address,
                    capacity_bps: capacity.bps(),
                    latency_ms: link.latency.ms(),
                }
            })
            .collect();

        let mut tenants_here: BTreeMap<u16, Vec<Ipv6Net>> = tenant_prefixes
            .iter()
            .filter(|((egress, _), _)| *egress == id)
            .map(|((_, t), p)| (*t, p.clone()))
            .collect();
        for p in by_ingress.get(id).into_iter().flatten() {
            if let Some(t) = policy_tenant(p) {
                tenants_here.entry(t).or_default();
            }
        }

        let mut local_sids = vec![
            LocalSid {
                sid: end_sid(s),
                action: SidAction::End,
            },
            LocalSid {
                sid: dt6_sid(s, None),
                action: SidAction::EndDt6 { table: MAIN_TABLE },
            },
        ];
        for &l in base.out_links(s) {
            let link_id = base.link(l).id.as_str();
            if let (Some(nh), Some(&k)) = (nexthop(link_id), end_x.get(link_id)) {
                local_sids.push(LocalSid {
                    sid: end_x_sid(s, k),
                    action: SidAction::EndX { nexthop: nh },
                });
            }
        }
        for &t in tenants_here.keys() {
            local_sids.push(LocalSid {
                sid: dt6_sid(s, Some(t)),
                action: SidAction::EndDt6 {
                    table: TENANT_TABLE_BASE + u32::from(t),
                },
            });
        }

        let mut underlay = Vec::new();
        for d in igp.site_ids().filter(|&d| d != s) {
            let best = dist[s.index()][d.index()];
            if !best.is_finite() {
                continue;
            }
            let primary: Vec<LinkId> = igp
                .out_links(s)
                .iter()
                .copied()
                .filter(|&l| {
                    let link = igp.link(l);
                    srv6::same(link.metric + dist[link.dst.index()][d.index()], best)
                })
                .collect();
            let nexthops: Vec<Nexthop> = primary
                .iter()
                .filter_map(|&l| nexthop(&igp.link(l).id))
                .collect();
            let mut repairs = Vec::new();
            for &l in &primary {
                let Some(path) = tree_path(igp, &repair_trees[&l], s, d) else {
                    continue; // a bridge: nothing can repair it
                };
                let Some(nh) = nexthop(&igp.link(path.links[0]).id) else {
                    continue;
                };
                // The repair ends at the destination's main-table DT6 SID: it
                // decapsulates, and the inner packet (for a SID or a host of d)
                // is looked up there as if it had arrived normally.
                repairs.push(Repair {
                    link: igp.link(l).id.clone(),
                    segments: compressor.segments(&path, dt6_sid(d, None)),
                    nexthop: nh,
                });
            }
            for prefix in [srv6_locator(d), host_prefix(d)] {
                underlay.push(UnderlayRoute {
                    prefix,
                    nexthops: nexthops.clone(),
                    repairs: repairs.clone(),
                });
            }
        }

        let policies = site_policies(
            igp,
            s,
            by_ingress.get(id).map(Vec::as_slice).unwrap_or(&[]),
            &igp_by_id,
            &nexthop,
            &mut compressor,
            &repair_trees,
        );

        let tenants = tenants_here
            .into_iter()
            .map(|(t, mut local_prefixes)| {
                local_prefixes.sort();
                local_prefixes.dedup();
                Tenant {
                    name: format!("tenant-{t}"),
                    table: TENANT_TABLE_BASE + u32::from(t),
                    sid: dt6_sid(s, Some(t)),
                    local_prefixes,
                    attachment: tenant_attachment(t),
                }
            })
            .collect();

        out.insert(
            id.to_string(),
            SiteState {
                site: id.to_string(),
                generation: 0,
                locator: srv6_locator(s),
                host_prefixes: vec![host_prefix(s)],
                interfaces,
                local_sids,
                underlay,
                policies,
                tenants,
                qos: qos.clone(),
            },
        );
    }
    out
}

fn srv6_locator(site: SiteId) -> Ipv6Net {
    let addr = Ipv6Addr::new(0xfc00, 0, srv6::site_group(site), 0, 0, 0, 0, 0);
    Ipv6Net::new(addr, 48).unwrap_or_default()
}

fn policy_tenant(p: &Policy) -> Option<u16> {
    p.paths
        .first()
        .and_then(|path| path.segments.last())
        .and_then(|&last| tenant_of(last))
}

/// The policies of one ingress, merged per (table, destination prefix): the
/// kernel holds one route per prefix and table, so policies that share both
/// split their traffic over all their paths in proportion to the rates.
fn site_policies(
    igp: &Topology,
    s: SiteId,
    policies: &[&Policy],
    igp_by_id: &HashMap<&str, LinkId>,
    nexthop: &dyn Fn(&str) -> Option<Nexthop>,
    compressor: &mut Compressor,
    repair_trees: &HashMap<LinkId, Vec<Option<LinkId>>>,
) -> Vec<SitePolicy> {
    let mut merged: BTreeMap<(u32, Ipv6Net), SitePolicy> = BTreeMap::new();
    for p in policies {
        let tenant = policy_tenant(p);
        // DSCP 0 (best effort) is what unmarked traffic has: its policies go
        // into the main table, found when no class rule matched.
        let table = match (tenant, p.dscp) {
            (Some(t), _) => TENANT_TABLE_BASE + u32::from(t),
            (None, Some(d)) if d > 0 => CLASS_TABLE_BASE + u32::from(d),
            (None, _) => MAIN_TABLE,
        };
        let mut prefixes: Vec<Ipv6Net> = p.prefixes.iter().filter_map(|x| x.parse().ok()).collect();
        if tenant.is_none()
            && let Some(egress) = igp.site_by_id(&p.key.egress)
        {
            prefixes.push(host_prefix(egress));
        }
        prefixes.sort();
        prefixes.dedup();
        let egress = igp.site_by_id(&p.key.egress);
        let paths: Vec<SitePath> = p
            .paths
            .iter()
            .filter_map(|sl| {
                let first = sl.links.first()?;
                let nh = nexthop(first)?;
                let backup = igp_by_id.get(&**first).and_then(|&l| {
                    let path = tree_path(igp, repair_trees.get(&l)?, s, egress?)?;
                    let last = *sl.segments.last()?;
                    Some(Backup {
                        segments: compressor.segments(&path, last),
                        nexthop: nexthop(&igp.link(path.links[0]).id)?,
                    })
                });
                Some(SitePath {
                    weight: sl.weight,
                    rate_bps: sl.rate_bps,
                    segments: sl.segments.clone(),
                    nexthop: nh,
                    links: sl.links.iter().map(|l| l.to_string()).collect(),
                    backup,
                })
            })
            .collect();
        if paths.is_empty() {
            continue;
        }
        for prefix in prefixes {
            merged
                .entry((table, prefix))
                .and_modify(|m| m.paths.extend(paths.iter().cloned()))
                .or_insert_with(|| SitePolicy {
                    key: p.key.clone(),
                    table,
                    dscp: if tenant.is_some() || table == MAIN_TABLE {
                        None
                    } else {
                        p.dscp
                    },
                    prefixes: vec![prefix],
                    paths: paths.clone(),
                });
        }
    }
    let mut out: Vec<SitePolicy> = merged.into_values().collect();
    for p in &mut out {
        let rates: Vec<f64> = p.paths.iter().map(|x| x.rate_bps).collect();
        for (x, w) in p.paths.iter_mut().zip(quantise_weights(&rates)) {
            x.weight = w;
        }
    }
    out
}

/// Egress scheduling: voice and inference in strict priority, the other classes
/// weighted by priority (the higher, the larger the share), bulk policed.
fn qos_classes(classes: &ClassSet) -> Vec<QosClass> {
    let all: Vec<_> = classes.iter().map(|(_, c)| c).collect();
    let strict = |name: &str| matches!(name, "voice" | "inference");
    let lowest = all.iter().map(|c| c.priority).max().unwrap_or(0);
    let weight = |p: u8| f64::from(lowest - p) + 1.0;
    let total: f64 = all
        .iter()
        .filter(|c| !strict(&c.name))
        .map(|c| weight(c.priority))
        .sum();
    all.iter()
        .map(|c| QosClass {
            class: c.name.clone(),
            dscp: c.dscp.into_iter().collect(),
            strict: strict(&c.name),
            share: if strict(&c.name) || total <= 0.0 {
                0.0
            } else {
                weight(c.priority) / total
            },
            policed: c.name == "bulk",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! An independent check: a hop-by-hop SRv6 forwarder over the site states
    //! alone (longest-prefix match on the underlay, End / End.X / End.DT6, the
    //! repairs of down links), walked for every pair and every single failure.

    use std::sync::Arc;

    use keel_formats::{ReadOptions, TopologyFormat, parse_topology};
    use keel_southbound::{PolicyKey, SegmentList};

    use super::*;

    fn abilene() -> Topology {
        parse_topology(
            include_str!("../../../data/abilene.toml"),
            "abilene.toml",
            Some(TopologyFormat::NativeToml),
            &ReadOptions::default(),
        )
        .expect("abilene")
    }

    fn without(base: &Topology, down: &[&str]) -> Topology {
        let mut spec = keel_model::spec::TopologySpec::from_topology(base);
        spec.links
            .retain(|l| l.id.as_deref().is_none_or(|id| !down.contains(&id)));
        spec.into_topology().expect("topology")
    }

    /// Follows a packet from `at` towards `dst` with segments `segs` (the
    /// outer destination first). Returns the links crossed, or why it failed.
    fn forward(
        states: &BTreeMap<String, SiteState>,
        base: &Topology,
        mut at: String,
        mut stack: Vec<Vec<Ipv6Addr>>,
        down: &[&str],
    ) -> Result<(String, Vec<String>), String> {
        let peer = |link: &str| -> String {
            let l = base.links().iter().find(|l| l.id == link).expect("link");
            base.site(l.dst).id.clone()
        };
        let mut crossed = Vec::new();
        for _ in 0..200 {
            let st = &states[&at];
            let Some(segs) = stack.last_mut() else {
                return Ok((at, crossed));
            };
            let dst = segs[0];
            if let Some(sid) = st.local_sids.iter().find(|s| s.sid == dst) {
                match &sid.action {
                    SidAction::End => {
                        segs.remove(0);
                    }
                    SidAction::EndX { nexthop } => {
                        segs.remove(0);
                        if down.contains(&nexthop.link.as_str()) {
                            return Err(format!("End.X over down {}", nexthop.link));
                        }
                        crossed.push(nexthop.link.clone());
                        at = peer(&nexthop.link);
                        continue;
                    }
                    SidAction::EndDt6 { .. } => {
                        stack.pop();
                    }
                }
                if stack.last().is_some_and(|s| s.is_empty()) {
                    stack.pop();
                }
                continue;
            }
            let route = st
                .underlay
                .iter()
                .filter(|r| r.prefix.contains(&dst))
                .max_by_key(|r| r.prefix.prefix_len())
                .ok_or_else(|| format!("{at}: no route to {dst}"))?;
            match route
                .nexthops
                .iter()
                .find(|n| !down.contains(&n.link.as_str()))
            {
                Some(nh) => {
                    crossed.push(nh.link.clone());
                    at = peer(&nh.link);
                }
                None => {
                    let rep = route
                        .repairs
                        .iter()
                        .find(|r| down.contains(&r.link.as_str()))
                        .ok_or_else(|| format!("{at}: no repair towards {dst}"))?;
                    if !rep.segments.is_empty() {
                        stack.push(rep.segments.clone());
                    }
                }
            }
        }
        Err("forwarding loop".into())
    }

    #[test]
    fn every_site_reaches_every_other_before_and_after_any_single_cut() {
        let base = abilene();
        let classes = ClassSet::default();
        let states = site_states(&base, &base, &DesiredState::new(), &classes);
        assert_eq!(states.len(), base.site_count());
        let reverse = reverse_links(&base);
        for l in base.link_ids() {
            let cut: Vec<&str> = std::iter::once(l)
                .chain(reverse[l.index()])
                .map(|x| base.link(x).id.as_str())
                .collect();
            for s in base.site_ids() {
                for d in base.site_ids().filter(|&d| d != s) {
                    let from = base.site(s).id.clone();
                    let (end, crossed) =
                        forward(&states, &base, from.clone(), vec![vec![end_sid(d)]], &cut)
                            .unwrap_or_else(|e| panic!("{from} -> {d:?} with {cut:?} down: {e}"));
                    assert_eq!(end, base.site(d).id, "{from} -> {d:?}");
                    assert!(crossed.iter().all(|c| !cut.contains(&c.as_str())));
                }
            }
        }
    }

    #[test]
    fn a_policy_follows_its_segments_and_its_backup_avoids_its_first_link() {
        let base = abilene();
        let classes = ClassSet::default();
        let (src, dst) = (
            base.site(SiteId(0)).id.clone(),
            base.site(SiteId(5)).id.clone(),
        );
        // The second-shortest way out of `src`: a path pinned by segments.
        let first = base.out_links(SiteId(0))[1];
        let pred = tree(&base, base.link(first).dst, &[]);
        let rest = tree_path(&base, &pred, base.link(first).dst, SiteId(5)).expect("path");
        let mut links = vec![first];
        links.extend(rest.links.iter());
        let path = Path::new(links.clone());
        let segments = Compressor::new(&base).segments(&path, dt6_sid(SiteId(5), None));
        let key = PolicyKey {
            service: "svc-1".into(),
            ingress: src.clone(),
            egress: dst.clone(),
            class: "business".into(),
        };
        let policy = Policy {
            key: key.clone(),
            dscp: Some(18),
            prefixes: vec!["2001:db8:5::/48".into()],
            paths: vec![SegmentList {
                weight: 1,
                rate_bps: 1e9,
                segments: segments.clone(),
                links: links
                    .iter()
                    .map(|&l| Arc::from(base.link(l).id.as_str()))
                    .collect(),
            }],
        };
        let desired = DesiredState::from([(key, policy)]);
        let states = site_states(&base, &base, &desired, &classes);
        let sp = &states[&src].policies;
        assert_eq!(sp.len(), 2, "the service prefix and the egress hosts");
        assert!(sp.iter().all(|p| p.table == CLASS_TABLE_BASE + 18));
        let p = &sp[0].paths[0];
        let (end, crossed) = forward(&states, &base, src.clone(), vec![p.segments.clone()], &[])
            .expect("forwarding");
        assert_eq!(end, dst);
        let want: Vec<String> = links.iter().map(|&l| base.link(l).id.clone()).collect();
        assert_eq!(crossed, want, "the packet takes the planned path");
        let backup = p.backup.as_ref().expect("a backup");
        let cut = base.link(first).id.as_str();
        let (end, crossed) = forward(&states, &base, src, vec![backup.segments.clone()], &[cut])
            .expect("forwarding on the backup");
        assert_eq!(end, dst);
        assert!(!crossed.iter().any(|c| c == cut));
    }

    #[test]
    fn end_x_sids_keep_their_numbers_when_other_links_go() {
        let base = abilene();
        let first = base.link(base.out_links(SiteId(0))[0]).id.clone();
        let igp = without(&base, &[first.as_str()]);
        let classes = ClassSet::default();
        let full = site_states(&base, &base, &DesiredState::new(), &classes);
        let cut = site_states(&base, &igp, &DesiredState::new(), &classes);
        let site = &base.site(SiteId(0)).id;
        assert_eq!(full[site].local_sids, cut[site].local_sids);
        assert!(
            cut[site]
                .underlay
                .iter()
                .all(|r| r.nexthops.iter().all(|n| n.link != first)),
            "the IGP no longer uses the cut link"
        );
    }

    #[test]
    fn link_ends_get_the_two_addresses_of_one_subnet() {
        let base = abilene();
        let reverse = reverse_links(&base);
        for l in base.link_ids() {
            let r = reverse[l.index()].expect("abilene links come in pairs");
            let (a, a_peer) = link_addresses(l, Some(r));
            let (b, b_peer) = link_addresses(r, Some(l));
            assert_eq!(a.addr(), b_peer);
            assert_eq!(b.addr(), a_peer);
            assert_eq!(a.trunc(), b.trunc());
            assert_ne!(a.addr(), b.addr());
        }
    }
}
