//! A three-site lab in network namespaces (A-B-C in a line plus A-C), with one
//! host namespace behind each site, and the hand-written `SiteState`s for it.
//!
//! Links and addressing follow site.rs: link ids A->B (0), B->A (1), B->C (2),
//! C->B (3), A->C (4), C->A (5); pair p has subnet fd00:ffff:p::/64. Site n owns
//! fc00:0:n::/48; its hosts fd00:0:n::/64 (gateway ::1 on `h0`, host ::2).

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::process::Command;

use ipnet::Ipv6Net;
use keel_dataplane::InterfaceMap;
use keel_southbound::PolicyKey;
use keel_southbound::site::{
    Backup, Interface, LocalSid, MAIN_TABLE, Nexthop, Repair, SidAction, SitePath, SitePolicy,
    SiteState, Tenant, UnderlayRoute,
};

/// Whether the real-packet tests can run here; prints why not.
pub fn can_run() -> bool {
    // /proc/self/status gives the effective uid (no unsafe geteuid call).
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let ping = Command::new("ping").arg("-V").output().is_ok();
    let tc = Command::new("tc").arg("-V").output().is_ok();
    if !root || !ip || !ping || !tc {
        eprintln!("SKIP: needs root and the ip, tc and ping binaries");
        return false;
    }
    true
}

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn run(args: &[&str]) {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lab's namespaces; all deleted on drop, even when a test panics.
pub struct Lab {
    pub prefix: String,
}

pub const SITES: [&str; 3] = ["a", "b", "c"];

impl Lab {
    pub fn ns(&self, site: &str) -> String {
        format!("{}-{site}", self.prefix)
    }
    pub fn host(&self, site: &str) -> String {
        format!("{}-h{site}", self.prefix)
    }
    /// The host of tenant 1 behind a site (on the site's `kt1`).
    pub fn tenant_host(&self, site: &str) -> String {
        format!("{}-t{site}", self.prefix)
    }

    /// Namespaces, veth links (up, no addresses: reconcile sets those), hosts.
    pub fn new(tag: &str) -> Lab {
        let lab = Lab {
            prefix: format!("kdt-{}-{tag}", std::process::id()),
        };
        for s in SITES {
            run(&["ip", "netns", "add", &lab.ns(s)]);
            run(&["ip", "netns", "add", &lab.host(s)]);
            run(&["ip", "netns", "add", &lab.tenant_host(s)]);
        }
        for (x, y) in [("a", "b"), ("b", "c"), ("a", "c")] {
            let (nx, ny) = (lab.ns(x), lab.ns(y));
            let (ix, iy) = (format!("{x}{y}"), format!("{y}{x}"));
            run(&[
                "ip", "link", "add", &ix, "netns", &nx, "type", "veth", "peer", "name", &iy,
                "netns", &ny,
            ]);
        }
        for (i, s) in SITES.iter().enumerate() {
            let (ns, host) = (lab.ns(s), lab.host(s));
            let n = i + 1;
            run(&[
                "ip", "link", "add", "h0", "netns", &ns, "type", "veth", "peer", "name", "eth0",
                "netns", &host,
            ]);
            for dev in ["lo", "h0"] {
                run(&["ip", "-n", &ns, "link", "set", dev, "up"]);
            }
            for dev in ["lo", "eth0"] {
                run(&["ip", "-n", &host, "link", "set", dev, "up"]);
            }
            for other in SITES.iter().filter(|o| *o != s) {
                run(&["ip", "-n", &ns, "link", "set", &format!("{s}{other}"), "up"]);
            }
            let gw = format!("fd00:0:{n}::1");
            run(&[
                "ip",
                "-n",
                &ns,
                "-6",
                "addr",
                "add",
                &format!("{gw}/64"),
                "dev",
                "h0",
                "nodad",
            ]);
            run(&[
                "ip",
                "-n",
                &host,
                "-6",
                "addr",
                "add",
                &format!("fd00:0:{n}::2/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            run(&[
                "ip", "-n", &host, "-6", "route", "add", "default", "via", &gw,
            ]);
        }
        for (i, s) in SITES.iter().enumerate() {
            // Tenant 1's customer edge: fd10:n::/64 on kt1.
            let (ns, host) = (lab.ns(s), lab.tenant_host(s));
            let n = i + 1;
            run(&[
                "ip", "link", "add", "kt1", "netns", &ns, "type", "veth", "peer", "name", "eth0",
                "netns", &host,
            ]);
            run(&["ip", "-n", &ns, "link", "set", "kt1", "up"]);
            for dev in ["lo", "eth0"] {
                run(&["ip", "-n", &host, "link", "set", dev, "up"]);
            }
            let gw = format!("fd10:{n}::1");
            run(&[
                "ip",
                "-n",
                &ns,
                "-6",
                "addr",
                "add",
                &format!("{gw}/64"),
                "dev",
                "kt1",
                "nodad",
            ]);
            run(&[
                "ip",
                "-n",
                &host,
                "-6",
                "addr",
                "add",
                &format!("fd10:{n}::2/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            run(&[
                "ip", "-n", &host, "-6", "route", "add", "default", "via", &gw,
            ]);
        }
        lab.settle();
        lab
    }

    /// Waits (at most 10 s) until no namespace has a tentative address. Until
    /// duplicate address detection ends, an interface has no usable
    /// link-local address, and neighbour solicitations for forwarded packets
    /// cannot be sent: a second or two after links come up, traffic would be
    /// lost for reasons that have nothing to do with the code under test.
    pub fn settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for s in SITES {
            for ns in [self.ns(s), self.host(s), self.tenant_host(s)] {
                while std::time::Instant::now() < deadline {
                    let out = sh(&["ip", "-n", &ns, "-6", "addr", "show", "tentative"]);
                    if out.stdout.is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    }

    /// `ping -6` from a namespace; true when replies came back. A first
    /// round lets neighbour discovery settle (its losses prove nothing).
    pub fn ping(&self, ns: &str, from: Option<&str>, to: &str) -> bool {
        let mut warm = vec![
            "ip", "netns", "exec", ns, "ping", "-6", "-c", "2", "-W", "1", "-i", "0.2",
        ];
        if let Some(f) = from {
            warm.extend(["-I", f]);
        }
        warm.push(to);
        let _ = sh(&warm);
        let mut args = vec![
            "ip", "netns", "exec", ns, "ping", "-6", "-c", "3", "-W", "1", "-i", "0.2",
        ];
        if let Some(f) = from {
            args.extend(["-I", f]);
        }
        args.push(to);
        sh(&args).status.success()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in SITES {
            let _ = sh(&["ip", "netns", "del", &self.ns(s)]);
            let _ = sh(&["ip", "netns", "del", &self.host(s)]);
            let _ = sh(&["ip", "netns", "del", &self.tenant_host(s)]);
        }
    }
}

pub fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}
pub fn net(s: &str) -> Ipv6Net {
    s.parse().expect("prefix")
}

/// Site number, link ids to the other two sites and the pair subnets.
struct SiteDef {
    name: &'static str,
    n: u16,
    /// (peer site, out link id, pair index p, local is ::1)
    links: [(&'static str, &'static str, u16, bool); 2],
}

const DEFS: [SiteDef; 3] = [
    SiteDef {
        name: "A",
        n: 1,
        links: [("B", "A->B", 0, true), ("C", "A->C", 4, true)],
    },
    SiteDef {
        name: "B",
        n: 2,
        links: [("A", "B->A", 0, false), ("C", "B->C", 2, true)],
    },
    SiteDef {
        name: "C",
        n: 3,
        links: [("B", "C->B", 2, false), ("A", "C->A", 4, false)],
    },
];

fn pair_addr(p: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xffff, p, 0, 0, 0, 0, host)
}

pub fn dt6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfc00, 0, n, 0, 0, 0, 0, 0x100)
}
pub fn end_x(n: u16, k: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfc00, 0, n, 0, 0, 0, 2, k)
}

fn nexthop_of(def: &SiteDef, peer: &str) -> Nexthop {
    let (_, link, p, local_is_1) = *def.links.iter().find(|l| l.0 == peer).expect("peer");
    Nexthop {
        link: link.to_string(),
        via: pair_addr(p, if local_is_1 { 2 } else { 1 }),
    }
}

/// The interface map of a site: link `X->Y` on interface `xy`.
pub fn map(site: &str) -> InterfaceMap {
    let def = DEFS.iter().find(|d| d.name == site).expect("site");
    def.links
        .iter()
        .fold(InterfaceMap::new(), |m, (peer, link, _, _)| {
            m.with(
                *link,
                format!("{}{}", site.to_lowercase(), peer.to_lowercase()),
            )
        })
}

/// The plain state of a site: SIDs, addresses, underlay with repairs; no
/// policies.
pub fn base_state(site: &str) -> SiteState {
    let def = DEFS.iter().find(|d| d.name == site).expect("site");
    let n = def.n;
    let interfaces = def
        .links
        .iter()
        .map(|(peer, link, p, local_is_1)| Interface {
            link: link.to_string(),
            reverse_link: Some(format!("{peer}->{site}")),
            peer_site: peer.to_string(),
            address: Ipv6Net::new(pair_addr(*p, if *local_is_1 { 1 } else { 2 }), 64)
                .expect("prefix"),
            peer_address: pair_addr(*p, if *local_is_1 { 2 } else { 1 }),
            capacity_bps: 1e9,
            latency_ms: 1.0,
        })
        .collect();
    let mut local_sids = vec![
        LocalSid {
            sid: Ipv6Addr::new(0xfc00, 0, n, 0, 0, 0, 0, 1),
            action: SidAction::End,
        },
        LocalSid {
            sid: dt6(n),
            action: SidAction::EndDt6 { table: MAIN_TABLE },
        },
    ];
    for (k, (peer, _, _, _)) in def.links.iter().enumerate() {
        local_sids.push(LocalSid {
            sid: end_x(n, k as u16 + 1),
            action: SidAction::EndX {
                nexthop: nexthop_of(def, peer),
            },
        });
    }
    // Every other site is one hop away; when that link fails, the repair goes
    // over the third site and decapsulates at the destination.
    let mut underlay = Vec::new();
    for other in DEFS.iter().filter(|d| d.name != site) {
        let third = DEFS
            .iter()
            .find(|d| d.name != site && d.name != other.name)
            .expect("third site");
        let primary = nexthop_of(def, other.name);
        let repair = Repair {
            link: primary.link.clone(),
            segments: vec![dt6(other.n)],
            nexthop: nexthop_of(def, third.name),
        };
        for prefix in [
            Ipv6Net::new(Ipv6Addr::new(0xfc00, 0, other.n, 0, 0, 0, 0, 0), 48).expect("prefix"),
            Ipv6Net::new(Ipv6Addr::new(0xfd00, 0, other.n, 0, 0, 0, 0, 0), 64).expect("prefix"),
        ] {
            underlay.push(UnderlayRoute {
                prefix,
                nexthops: vec![primary.clone()],
                repairs: vec![repair.clone()],
            });
        }
    }
    SiteState {
        site: site.to_string(),
        generation: 1,
        locator: Ipv6Net::new(Ipv6Addr::new(0xfc00, 0, n, 0, 0, 0, 0, 0), 48).expect("prefix"),
        host_prefixes: vec![
            Ipv6Net::new(Ipv6Addr::new(0xfd00, 0, n, 0, 0, 0, 0, 0), 64).expect("prefix"),
        ],
        interfaces,
        local_sids,
        underlay,
        policies: vec![],
        tenants: vec![],
        qos: vec![],
    }
}

fn key(class: &str) -> PolicyKey {
    PolicyKey {
        service: "svc".into(),
        ingress: "A".into(),
        egress: "C".into(),
        class: class.into(),
    }
}

/// A's policy to C's hosts pinned over A->B->C: the segment list starts with
/// A's own End.X SID for A->B, then C's DT6. Backup: straight over A->C.
pub fn pinned_policy() -> SitePolicy {
    let a_def = &DEFS[0];
    SitePolicy {
        key: key("gold"),
        table: MAIN_TABLE,
        dscp: None,
        prefixes: vec![net("fd00:0:3::/64")],
        paths: vec![SitePath {
            weight: 1,
            rate_bps: 1e6,
            segments: vec![end_x(1, 1), dt6(3)],
            nexthop: nexthop_of(a_def, "B"),
            links: vec!["A->B".into(), "B->C".into()],
            backup: Some(Backup {
                segments: vec![dt6(3)],
                nexthop: nexthop_of(a_def, "C"),
            }),
        }],
    }
}

/// A 3:1 split for a prefix nobody answers, in a DSCP class table.
pub fn split_policy() -> SitePolicy {
    let a_def = &DEFS[0];
    SitePolicy {
        key: key("silver"),
        table: 246,
        dscp: Some(46),
        prefixes: vec![net("fd00:99::/64")],
        paths: vec![
            SitePath {
                weight: 3,
                rate_bps: 3e6,
                segments: vec![end_x(1, 1), dt6(3)],
                nexthop: nexthop_of(a_def, "B"),
                links: vec!["A->B".into(), "B->C".into()],
                backup: None,
            },
            SitePath {
                weight: 1,
                rate_bps: 1e6,
                segments: vec![dt6(3)],
                nexthop: nexthop_of(a_def, "C"),
                links: vec!["A->C".into()],
                backup: None,
            },
        ],
    }
}

/// Tenant 1 at site n: table 1001, DT6 SID fc00:0:n:1::, prefix fd10:n::/64
/// on `kt1`.
pub fn tenant_at(n: u16) -> Tenant {
    Tenant {
        name: "tenant-1".into(),
        table: 1001,
        sid: Ipv6Addr::new(0xfc00, 0, n, 1, 0, 0, 0, 0),
        local_prefixes: vec![
            Ipv6Net::new(Ipv6Addr::new(0xfd10, n, 0, 0, 0, 0, 0, 0), 64).expect("prefix"),
        ],
        attachment: "kt1".into(),
    }
}

pub fn tenant() -> Tenant {
    tenant_at(1)
}

/// Adds tenant 1 to a site's state: its DT6 SID, and a policy in the tenant's
/// table to tenant 1 at site `to` over the direct link (its first hop is
/// pinned by the End.X SID the agent puts in front).
pub fn with_tenant(mut s: SiteState, to: &str) -> SiteState {
    let def = DEFS.iter().find(|d| d.name == s.site).expect("site");
    let other = DEFS.iter().find(|d| d.name == to).expect("site");
    let t = tenant_at(def.n);
    let remote = tenant_at(other.n);
    s.local_sids.push(LocalSid {
        sid: t.sid,
        action: SidAction::EndDt6 { table: t.table },
    });
    s.policies.push(SitePolicy {
        key: PolicyKey {
            service: "vpn".into(),
            ingress: s.site.clone(),
            egress: to.into(),
            class: "default".into(),
        },
        table: t.table,
        dscp: None,
        prefixes: remote.local_prefixes.clone(),
        paths: vec![SitePath {
            weight: 1,
            rate_bps: 1e6,
            segments: vec![remote.sid],
            nexthop: nexthop_of(def, to),
            links: vec![format!("{}->{to}", s.site)],
            backup: None,
        }],
    });
    s.tenants.push(t);
    s
}

/// A's full state for the tests: base + pinned + split policy + a tenant.
pub fn state_a() -> SiteState {
    let mut s = base_state("A");
    s.policies = vec![pinned_policy(), split_policy()];
    s.local_sids.push(LocalSid {
        sid: a("fc00:0:1:1::"),
        action: SidAction::EndDt6 { table: 1001 },
    });
    s.tenants = vec![tenant()];
    s
}

/// All three sites' states, A's with its policies.
pub fn states() -> BTreeMap<&'static str, SiteState> {
    BTreeMap::from([
        ("a", state_a()),
        ("b", base_state("B")),
        ("c", base_state("C")),
    ])
}

/// Three classes: voice strict on EF, gold weighted 3/4, bulk policed 1/4.
pub fn qos() -> Vec<keel_southbound::site::QosClass> {
    use keel_southbound::site::QosClass;
    vec![
        QosClass {
            class: "voice".into(),
            dscp: vec![46],
            strict: true,
            share: 0.0,
            policed: false,
        },
        QosClass {
            class: "gold".into(),
            dscp: vec![26],
            strict: false,
            share: 0.75,
            policed: false,
        },
        QosClass {
            class: "bulk".into(),
            dscp: vec![8],
            strict: false,
            share: 0.25,
            policed: true,
        },
    ]
}

/// A's EF traffic to C's hosts over A->B->C in class table 246, steered by
/// B's End.X SID for B->C (A pins its own first hop in front of it).
pub fn ef_policy() -> SitePolicy {
    let mut p = SitePolicy {
        table: 246,
        dscp: Some(46),
        ..pinned_policy()
    };
    p.paths[0].segments = vec![end_x(2, 2), dt6(3)];
    p
}
