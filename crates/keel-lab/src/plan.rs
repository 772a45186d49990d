//! The lab's deterministic layout: which namespace, interface and address each
//! site and link gets. Pure data; nothing here touches the machine.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use keel_model::{LinkId, SiteId, Topology};
use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// Every lab namespace is named `kl-<lab>-<site>`.
pub const NAMESPACE_PREFIX: &str = "kl-";
/// The interface carrying a site's host prefix (`fd00:0:n::1/64`).
pub const HOST_INTERFACE: &str = "khost";
/// The other end of the host interface (a veth pair in the same namespace,
/// since the kernel may lack dummy devices).
pub const HOST_PEER_INTERFACE: &str = "khostp";
/// The slowest lab link: below this, probes and pings queue for too long.
pub const MIN_RATE_BPS: f64 = 1e6;
/// Lab names are short so that prefixes stay readable in `ip netns list`.
pub const MAX_NAME_LEN: usize = 16;

/// How to build a lab from a topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabOptions {
    /// Lab name: 1–16 characters of `[A-Za-z0-9_]`. No `-`, so that the prefix
    /// `kl-<name>-` of one lab never matches another lab's namespaces.
    pub name: String,
    /// Lab rate of a link = capacity × scale, at least [`MIN_RATE_BPS`].
    pub capacity_scale: f64,
    /// Emulate each link's latency (with veth links this needs the kernel's
    /// netem qdisc; without it the lab still shapes the rate and reports the
    /// delay as missing: use [`LinkMode::Relay`]).
    pub delay: bool,
    /// How links are made.
    pub links: LinkMode,
}

/// How the lab makes its links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// A veth pair per link, shaped by netem (latency and rate) where the
    /// kernel has it, else by tbf (rate only). Works as soon as the lab is up.
    #[default]
    Veth,
    /// A VXLAN device per link end, tunnelled through a user-space relay that
    /// emulates latency and rate ([`crate::relay`]). Passes traffic only
    /// while the relay process runs.
    Relay,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            name: "keel".to_string(),
            capacity_scale: 1e-3,
            delay: true,
            links: LinkMode::Veth,
        }
    }
}

/// Checks a lab name (see [`LabOptions::name`]).
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(LabError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 16 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return bad("only letters, digits and _ are allowed");
    }
    Ok(())
}

/// The namespace prefix of lab `name`: `kl-<name>-`.
pub fn namespace_prefix(name: &str) -> String {
    format!("{NAMESPACE_PREFIX}{name}-")
}

/// One site of the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePlan {
    /// Site id in the topology.
    pub id: String,
    /// Site number n = index + 1 (as in the addressing plan).
    pub number: u16,
    pub namespace: String,
    /// `fd00:0:n::1`, on [`HOST_INTERFACE`] with prefix length 64.
    pub host_address: Ipv6Addr,
}

/// One end of a link pair's veth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndPlan {
    /// Index into [`LabPlan::sites`].
    pub site: usize,
    /// The link leaving the site over this interface, if the topology has one.
    pub egress_link: Option<String>,
    /// `fd00:ffff:p::1` at the source of link p, `::2` at its destination.
    pub address: Ipv6Addr,
    /// Shaped rate of the traffic leaving this end, bit/s.
    pub rate_bps: f64,
    /// Latency of the traffic leaving this end, ms.
    pub latency_ms: f64,
}

/// One veth pair: a bidirectional link pair, or a lone directed link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairPlan {
    /// The pair's lower link index p (names the interface and the subnet).
    pub index: u16,
    /// `k<p>` at both ends.
    pub ifname: String,
    /// `[source of link p, destination of link p]`.
    pub ends: [EndPlan; 2],
}

impl PairPlan {
    /// Ids of the pair's links (one or two).
    pub fn links(&self) -> impl Iterator<Item = &str> {
        self.ends.iter().filter_map(|e| e.egress_link.as_deref())
    }
}

/// The address of one link interface, for tests and for checking an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkAddress {
    /// The link leaving the site over this interface, or the arriving link
    /// when it has no reverse.
    pub link: String,
    pub ifname: String,
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    pub peer: Ipv6Addr,
    pub peer_site: String,
}

/// The full layout of a lab: deterministic for a topology and options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabPlan {
    options: LabOptions,
    sites: Vec<SitePlan>,
    pairs: Vec<PairPlan>,
    /// Link id → index into `pairs`.
    by_link: HashMap<String, usize>,
    by_site: HashMap<String, usize>,
}

/// Pairs the j-th link B->A with the j-th A->B (by link index), as the
/// controller does, so parallel links pair one to one.
fn reverse_links(topo: &Topology) -> Vec<Option<LinkId>> {
    let mut by_dir: HashMap<(SiteId, SiteId), Vec<LinkId>> = HashMap::new();
    for l in topo.link_ids() {
        let link = topo.link(l);
        by_dir.entry((link.src, link.dst)).or_default().push(l);
    }
    topo.link_ids()
        .map(|l| {
            let link = topo.link(l);
            let j = by_dir
                .get(&(link.src, link.dst))?
                .iter()
                .position(|&x| x == l)?;
            by_dir.get(&(link.dst, link.src))?.get(j).copied()
        })
        .collect()
}

/// Keeps characters that are safe in a namespace (file) name.
fn sanitize(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    // A leading dot is kept for the lab's own namespaces (`.wire`, `.relay`).
    match s.strip_prefix('.') {
        _ if s.is_empty() => "_".to_string(),
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

fn lab_rate(capacity_bps: f64, scale: f64) -> f64 {
    let r = capacity_bps * scale;
    if r.is_finite() && r > MIN_RATE_BPS {
        r
    } else {
        MIN_RATE_BPS
    }
}

fn pair_address(p: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xffff, p, 0, 0, 0, 0, host)
}

impl LabPlan {
    pub fn new(topo: &Topology, options: LabOptions) -> Result<LabPlan> {
        validate_name(&options.name)?;
        if !(options.capacity_scale.is_finite() && options.capacity_scale > 0.0) {
            return Err(LabError::InvalidOptions(format!(
                "capacity_scale must be finite and > 0, not {}",
                options.capacity_scale
            )));
        }
        let prefix = namespace_prefix(&options.name);
        let mut taken = HashSet::new();
        let mut sites = Vec::with_capacity(topo.site_count());
        let mut by_site = HashMap::new();
        for s in topo.site_ids() {
            let site = topo.site(s);
            let number = u16::try_from(s.index() + 1).map_err(|_| {
                LabError::Topology(
                    "more than 65535 sites (the host plan fd00:0:n:: has 16 bits)".into(),
                )
            })?;
            // Sanitising can merge ids ("a b", "a_b"): disambiguate by site number.
            let base = sanitize(&site.id);
            let mut slug = base.clone();
            let mut attempt = 0u32;
            while !taken.insert(slug.clone()) {
                slug = match attempt {
                    0 => format!("{base}-{number}"),
                    k => format!("{base}-{number}-{k}"),
                };
                attempt += 1;
            }
            by_site.insert(site.id.clone(), sites.len());
            sites.push(SitePlan {
                id: site.id.clone(),
                number,
                namespace: format!("{prefix}{slug}"),
                host_address: Ipv6Addr::new(0xfd00, 0, number, 0, 0, 0, 0, 1),
            });
        }

        let reverse = reverse_links(topo);
        let mut pairs = Vec::new();
        let mut by_link = HashMap::new();
        for l in topo.link_ids() {
            let rev = reverse[l.index()];
            if rev.is_some_and(|r| r.index() < l.index()) {
                continue; // the pair was made at its lower index
            }
            let p = u16::try_from(l.index()).map_err(|_| {
                LabError::Topology(format!(
                    "link index {} exceeds the 16-bit pair plan fd00:ffff:p::/64",
                    l.index()
                ))
            })?;
            let fwd = topo.link(l);
            let scale = options.capacity_scale;
            let back = rev.map(|r| topo.link(r));
            let end_b = EndPlan {
                site: fwd.dst.index(),
                egress_link: back.map(|b| b.id.clone()),
                address: pair_address(p, 2),
                // A lone link's reverse direction carries only control traffic
                // (ND, ICMP); shape it like the forward direction.
                rate_bps: lab_rate(back.unwrap_or(fwd).capacity.bps(), scale),
                latency_ms: back.unwrap_or(fwd).latency.ms(),
            };
            let end_a = EndPlan {
                site: fwd.src.index(),
                egress_link: Some(fwd.id.clone()),
                address: pair_address(p, 1),
                rate_bps: lab_rate(fwd.capacity.bps(), scale),
                latency_ms: fwd.latency.ms(),
            };
            by_link.insert(fwd.id.clone(), pairs.len());
            if let Some(b) = back {
                by_link.insert(b.id.clone(), pairs.len());
            }
            pairs.push(PairPlan {
                index: p,
                ifname: format!("k{p}"),
                ends: [end_a, end_b],
            });
        }
        Ok(LabPlan {
            options,
            sites,
            pairs,
            by_link,
            by_site,
        })
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }
    pub fn options(&self) -> &LabOptions {
        &self.options
    }
    /// `kl-<lab>-`: every namespace of this lab starts with it.
    pub fn prefix(&self) -> String {
        namespace_prefix(&self.options.name)
    }
    pub fn sites(&self) -> &[SitePlan] {
        &self.sites
    }
    /// In relay mode: the namespace holding every link's tunnel endpoints.
    pub fn wire_namespace(&self) -> String {
        format!("{}.wire", self.prefix())
    }
    /// In relay mode: the namespace of the relay process.
    pub fn relay_namespace(&self) -> String {
        format!("{}.relay", self.prefix())
    }
    /// In relay mode: the VNI of end `end` (0 or 1) of pair `p`.
    pub fn vni(p: u16, end: usize) -> u32 {
        2 * u32::from(p) + 1 + u32::from(end == 1)
    }
    pub fn pairs(&self) -> &[PairPlan] {
        &self.pairs
    }
    pub fn site(&self, id: &str) -> Result<&SitePlan> {
        self.by_site
            .get(id)
            .map(|&i| &self.sites[i])
            .ok_or_else(|| LabError::UnknownSite(id.to_string()))
    }
    /// The namespace of a site.
    pub fn namespace(&self, site: &str) -> Result<&str> {
        Ok(&self.site(site)?.namespace)
    }
    /// The veth pair carrying a link (either direction).
    pub fn pair_of(&self, link: &str) -> Result<&PairPlan> {
        self.by_link
            .get(link)
            .map(|&i| &self.pairs[i])
            .ok_or_else(|| LabError::UnknownLink(link.to_string()))
    }

    fn site_index(&self, id: &str) -> Result<usize> {
        self.by_site
            .get(id)
            .copied()
            .ok_or_else(|| LabError::UnknownSite(id.to_string()))
    }

    /// Pairs with an end at site `s`, with the index of that end.
    fn ends_at(&self, s: usize) -> impl Iterator<Item = (&PairPlan, usize)> {
        self.pairs.iter().flat_map(move |p| {
            (0..2)
                .filter(move |&e| p.ends[e].site == s)
                .map(move |e| (p, e))
        })
    }

    /// Link id → interface name at `site`, one entry per interface: the
    /// site's outgoing link (its reverse arrives on the same interface), or
    /// the arriving link where the topology has no link back. One id per
    /// interface, so that the agent can also map an interface event back to
    /// the link it carries.
    pub fn interface_map(&self, site: &str) -> Result<BTreeMap<String, String>> {
        Ok(self
            .link_addresses(site)?
            .into_iter()
            .map(|a| (a.link, a.ifname))
            .collect())
    }

    /// The addresses an agent would put on the site's link interfaces.
    pub fn link_addresses(&self, site: &str) -> Result<Vec<LinkAddress>> {
        let s = self.site_index(site)?;
        let mut out = Vec::new();
        for (pair, e) in self.ends_at(s) {
            let (local, peer) = (&pair.ends[e], &pair.ends[1 - e]);
            let link = local
                .egress_link
                .clone()
                .or_else(|| peer.egress_link.clone())
                .unwrap_or_default();
            out.push(LinkAddress {
                link,
                ifname: pair.ifname.clone(),
                address: local.address,
                prefix_len: 64,
                peer: peer.address,
                peer_site: self.sites[peer.site].id.clone(),
            });
        }
        Ok(out)
    }

    /// Writes each site's [`LabPlan::interface_map`] as the agent reads it,
    /// a JSON object `{"A->B": "k0", ...}`, to `<dir>/<namespace>.json`;
    /// returns the paths in site order.
    pub fn write_interface_maps(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        let mut paths = Vec::with_capacity(self.sites.len());
        for sp in &self.sites {
            let file = self.interface_map(&sp.id)?;
            let path = dir.join(format!("{}.json", sp.namespace));
            let json = serde_json::to_string_pretty(&file).map_err(|source| LabError::State {
                path: path.clone(),
                source,
            })?;
            std::fs::write(&path, json + "\n").map_err(|e| LabError::io(&path, e))?;
            paths.push(path);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_model::{Bandwidth, Latency, NewLink, Site, TopologyBuilder};

    fn topo() -> Topology {
        let mut b = TopologyBuilder::new("t");
        let a = b.add_site(Site::new("A")).expect("site");
        let bb = b.add_site(Site::new("B b")).expect("site");
        let c = b.add_site(Site::new("B_b")).expect("site");
        let link = |src, dst, gbps| NewLink {
            latency: Some(Latency::from_ms(5.0)),
            ..NewLink::new(src, dst, Bandwidth::from_gbps(gbps))
        };
        b.add_link(link(a, bb, 10.0)).expect("link"); // 0
        b.add_link(link(bb, c, 0.1)).expect("link"); // 1, lone
        b.add_link(link(bb, a, 20.0)).expect("link"); // 2, reverse of 0
        b.add_link(link(a, bb, 10.0)).expect("link"); // 3, parallel, lone
        b.build().expect("topology")
    }

    #[test]
    fn names_pairs_and_addresses() {
        let plan = LabPlan::new(&topo(), LabOptions::default()).expect("plan");
        let ns: Vec<_> = plan.sites().iter().map(|s| s.namespace.as_str()).collect();
        assert_eq!(ns, ["kl-keel-A", "kl-keel-B_b", "kl-keel-B_b-3"]);
        let pairs: Vec<_> = plan.pairs().iter().map(|p| p.ifname.as_str()).collect();
        assert_eq!(pairs, ["k0", "k1", "k3"]);
        let p0 = &plan.pairs()[0];
        assert_eq!(p0.ends[0].rate_bps, 10e6);
        assert_eq!(p0.ends[1].rate_bps, 20e6);
        // 0.1 G × 1e-3 is below the floor.
        assert_eq!(plan.pairs()[1].ends[0].rate_bps, MIN_RATE_BPS);

        // One id per interface: the outgoing link, or the arriving one when
        // there is no link back (k3, the parallel A->B b without a reverse).
        let map = plan.interface_map("B b").expect("map");
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("B b->A"), Some(&"k0".to_string()));
        assert_eq!(map.get("A->B b"), None);
        assert_eq!(map.get("B b->B_b"), Some(&"k1".to_string()));
        assert_eq!(map.values().filter(|v| *v == "k3").count(), 1);
        let a = plan.interface_map("A").expect("map");
        assert_eq!(a.get("A->B b"), Some(&"k0".to_string()));
        assert_eq!(a.len(), 2);
        let c = plan.interface_map("B_b").expect("map");
        assert_eq!(c.get("B b->B_b"), Some(&"k1".to_string()));

        let addrs = plan.link_addresses("A").expect("addresses");
        let k0 = addrs.iter().find(|a| a.ifname == "k0").expect("k0");
        assert_eq!(
            k0.address,
            "fd00:ffff:0::1".parse::<Ipv6Addr>().expect("ip")
        );
        assert_eq!(k0.peer, "fd00:ffff:0::2".parse::<Ipv6Addr>().expect("ip"));
        let c = plan.link_addresses("B_b").expect("addresses");
        assert_eq!(
            c[0].address,
            "fd00:ffff:1::2".parse::<Ipv6Addr>().expect("ip")
        );
        assert_eq!(c[0].link, "B b->B_b");
        assert_eq!(
            plan.site("B_b").expect("site").host_address,
            "fd00:0:3::1".parse::<Ipv6Addr>().expect("ip")
        );
    }

    #[test]
    fn sanitised_names_stay_unique() {
        let mut b = TopologyBuilder::new("t");
        for id in ["a b", "a_b", "a_b-2", "a/b", ".hidden"] {
            b.add_site(Site::new(id)).expect("site");
        }
        let plan =
            LabPlan::new(&b.build().expect("topology"), LabOptions::default()).expect("plan");
        let ns: Vec<_> = plan.sites().iter().map(|s| s.namespace.as_str()).collect();
        assert_eq!(
            ns,
            [
                "kl-keel-a_b",
                "kl-keel-a_b-2",
                "kl-keel-a_b-2-3",
                "kl-keel-a_b-4",
                "kl-keel-_hidden"
            ]
        );
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "a-b", "x/y", "seventeen_chars_x"] {
            let opts = LabOptions {
                name: bad.to_string(),
                ..LabOptions::default()
            };
            assert!(LabPlan::new(&topo(), opts).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_interface_maps() {
        let plan = LabPlan::new(&topo(), LabOptions::default()).expect("plan");
        let dir = std::env::temp_dir().join(format!("keel-lab-maps-{}", std::process::id()));
        let paths = plan.write_interface_maps(&dir).expect("write");
        assert_eq!(paths.len(), 3);
        assert!(paths[0].ends_with("kl-keel-A.json"));
        let text = std::fs::read_to_string(&paths[0]).expect("read");
        let file: BTreeMap<String, String> = serde_json::from_str(&text).expect("json");
        assert_eq!(file, plan.interface_map("A").expect("map"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
