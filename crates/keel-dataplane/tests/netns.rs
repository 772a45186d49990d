//! Real packets through namespaces programmed by `Kernel`, checked against
//! iproute2's view. Needs root; skips otherwise.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use keel_dataplane::oracle;
use keel_dataplane::{InterfaceMap, Kernel, LinkEvent, RTPROT_KEEL};
use keel_southbound::site::SiteState;

async fn connect_all(lab: &Lab) -> BTreeMap<&'static str, Kernel> {
    let mut out = BTreeMap::new();
    for s in SITES {
        let k = Kernel::connect(Some(&lab.ns(s))).await.expect("connect");
        out.insert(s, k);
    }
    out
}

fn keel_routes(ns: &str) -> Vec<oracle::OracleRoute> {
    oracle::routes(Some(ns))
        .expect("ip route")
        .into_iter()
        .filter(|r| r.protocol == RTPROT_KEEL.to_string())
        .collect()
}

fn oracle_route(ns: &str, table: &str, dst: &str) -> Option<oracle::OracleRoute> {
    keel_routes(ns)
        .into_iter()
        .find(|r| r.table == table && r.dst == dst)
}

/// A local SID, in whatever table: iproute2's JSON gives an End.DT6 route two
/// "table" keys (the route's and the action's) and keeps the last.
fn oracle_sid(ns: &str, sid: &str) -> Option<oracle::OracleRoute> {
    keel_routes(ns)
        .into_iter()
        .find(|r| r.dst == sid && r.seg6local.is_some())
}

async fn reconcile_all(
    kernels: &BTreeMap<&'static str, Kernel>,
    states: &BTreeMap<&'static str, SiteState>,
) {
    for (s, k) in kernels {
        let site = s.to_uppercase();
        let report = k
            .reconcile(&states[s], &map(&site), &BTreeSet::new())
            .await
            .expect("reconcile");
        assert!(report.errors.is_empty(), "{s}: {:?}", report.errors);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn policies_rules_idempotence_stale_and_foreign_entries() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("p");
    let kernels = connect_all(&lab).await;
    let states = states();
    let (ns_a, ns_b) = (lab.ns("a"), lab.ns("b"));
    let map_a = map("A");

    // A route nobody at Keel owns; it must survive everything below.
    run(&[
        "ip",
        "-n",
        &ns_a,
        "-6",
        "route",
        "add",
        "fd00:77::/64",
        "via",
        "fd00:0:1::2",
        "dev",
        "h0",
    ]);

    reconcile_all(&kernels, &states).await;

    // Reachability over the pinned policy, from a host behind A (forwarded)
    // and from A itself (locally originated, its first segment is A's own
    // End.X SID). The path is A->B->C, not the direct A->C: B's link to C
    // carries the echo requests.
    let host_c = "fd00:0:3::2";
    let bc_before = oracle::tx_packets(Some(&ns_b), "bc").expect("counters");
    assert!(lab.ping(&lab.host("a"), None, host_c), "host A -> host C");
    assert!(
        lab.ping(&ns_a, Some("fd00:0:1::1"), host_c),
        "router A -> host C"
    );
    // C's own address on its host interface: delivered to C after End.DT6.
    assert!(
        lab.ping(&lab.host("a"), None, "fd00:0:3::1"),
        "host A -> router C"
    );
    let bc_after = oracle::tx_packets(Some(&ns_b), "bc").expect("counters");
    assert!(
        bc_after >= bc_before + 9,
        "echo requests did not transit B->C: {bc_before} -> {bc_after}"
    );
    // Keel's own counters agree with iproute2's.
    let counters = kernels["b"].counters(&map("B")).await.expect("counters");
    let bc = counters.iter().find(|c| c.link == "B->C").expect("B->C");
    assert!(bc.tx_bytes > 0 && bc.rx_bytes > 0);

    // The pinned route as iproute2 sees it: encap with A's End.X first.
    let pinned = oracle_route(&ns_a, "main", "fd00:0:3::/64").expect("pinned route");
    assert_eq!(pinned.hops.len(), 1);
    assert_eq!(pinned.hops[0].segs, vec!["fc00:0:1::2:1", "fc00:0:3::100"]);
    // The 3:1 split, in its class table.
    let split = oracle_route(&ns_a, "246", "fd00:99::/64").expect("split route");
    let mut weights: Vec<u16> = split.hops.iter().map(|h| h.weight).collect();
    weights.sort();
    assert_eq!(weights, vec![1, 3]);
    let seg_lists: BTreeSet<Vec<String>> = split.hops.iter().map(|h| h.segs.clone()).collect();
    // The direct path was pinned to its link with A's End.X SID for A->C.
    assert!(
        seg_lists.contains(&vec![
            "fc00:0:1::2:2".to_string(),
            "fc00:0:3::100".to_string()
        ]),
        "{seg_lists:?}"
    );
    // Local SIDs, seg6local.
    let sid = oracle_sid(&ns_a, "fc00:0:1::2:1").expect("End.X SID");
    assert_eq!(sid.seg6local.as_deref(), Some("End.X"));
    let dt6 = oracle_sid(&ns_a, "fc00:0:1:1::").expect("tenant SID");
    assert_eq!(dt6.seg6local.as_deref(), Some("End.DT6"));
    // Tenant prefix in its table, and the rules: DSCP 46 (tos 0xb8) and iif.
    assert!(oracle_route(&ns_a, "1001", "fd10:1::/64").is_some());
    let rules = oracle::rules(Some(&ns_a)).expect("rules");
    let rule_text = serde_json::to_string(&rules).expect("json");
    assert!(
        rules
            .iter()
            .any(|r| r["priority"] == 1100 && r["table"] == "246"
            // iproute2 names the value (EF is DSCP 46, tos 0xb8).
            && (r["tos"] == "0xb8" || r["tos"] == "EF")),
        "no DSCP rule in {rule_text}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["priority"] == 1000 && r["iif"] == "kt1" && r["table"] == "1001"),
        "no tenant rule in {rule_text}"
    );
    // Addresses on the mapped interfaces.
    let addrs = oracle::ip_json(Some(&ns_a), &["-6", "addr", "show", "dev", "ab"]).expect("addr");
    assert!(
        serde_json::to_string(&addrs)
            .expect("json")
            .contains("fd00:ffff::1")
    );

    // What Keel reads back is what it wanted.
    let installed = kernels["a"].installed().await.expect("installed");
    assert_eq!(installed.sids().len(), 5);
    assert_eq!(installed.rules.len(), 2);
    assert_eq!(installed.addresses.len(), 2, "{:?}", installed.addresses);

    // A second run changes nothing, and the oracle agrees.
    let before = keel_routes(&ns_a);
    let again = kernels["a"]
        .reconcile(&states["a"], &map_a, &BTreeSet::new())
        .await
        .expect("reconcile");
    assert!(!again.changed(), "second run changed things: {again:?}");
    assert!(again.unchanged > 0);
    assert_eq!(keel_routes(&ns_a), before);

    // Drop the split policy and the tenant: their routes and rules go.
    let mut smaller = states["a"].clone();
    smaller.policies.retain(|p| p.table != 246);
    smaller.tenants.clear();
    smaller.local_sids.retain(|s| s.sid != a("fc00:0:1:1::"));
    let report = kernels["a"]
        .reconcile(&smaller, &map_a, &BTreeSet::new())
        .await
        .expect("reconcile");
    assert!(report.removed >= 5, "{report:?}");
    assert!(oracle_route(&ns_a, "246", "fd00:99::/64").is_none());
    assert!(oracle_route(&ns_a, "1001", "fd10:1::/64").is_none());
    assert!(oracle_route(&ns_a, "main", "fd00:0:3::/64").is_some());
    assert!(
        !oracle::rules(Some(&ns_a))
            .expect("rules")
            .iter()
            .any(|r| r["priority"] == 1100 || r["priority"] == 1000)
    );
    assert!(lab.ping(&lab.host("a"), None, host_c), "still reachable");

    // remove_all: nothing of Keel's is left; the foreign route stays.
    let removed = kernels["a"].remove_all().await.expect("remove_all");
    assert!(removed.removed > 0);
    assert!(keel_routes(&ns_a).is_empty(), "{:?}", keel_routes(&ns_a));
    let installed = kernels["a"].installed().await.expect("installed");
    assert!(installed.routes.is_empty() && installed.rules.is_empty());
    // Keel's link addresses went too; the test's own host address stayed.
    let addrs = serde_json::to_string(
        &oracle::ip_json(Some(&ns_a), &["-6", "addr", "show"]).expect("addr"),
    )
    .expect("json");
    assert!(!addrs.contains("fd00:ffff::1"), "{addrs}");
    assert!(addrs.contains("fd00:0:1::1"), "{addrs}");
    let all = oracle::routes(Some(&ns_a)).expect("routes");
    assert!(
        all.iter().any(|r| r.dst == "fd00:77::/64"),
        "foreign route lost"
    );
    let links = oracle::ip_json(Some(&ns_a), &["link", "show"]).expect("links");
    assert!(
        !serde_json::to_string(&links)
            .expect("json")
            .contains("keel-sr0")
    );
}

/// Waits for the next event of the watcher (bounded, so a lost event fails the
/// test instead of hanging it).
async fn next_event(rx: &mut tokio::sync::mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no link event within 10 s")
        .expect("event channel closed")
}

#[tokio::test(flavor = "current_thread")]
async fn local_repair_switches_to_the_backup() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("r");
    let kernels = connect_all(&lab).await;
    let mut states = states();
    // Only the pinned policy at A: its backup is the direct link.
    states.get_mut("a").expect("a").policies = vec![pinned_policy()];
    reconcile_all(&kernels, &states).await;
    let (ns_a, ns_b) = (lab.ns("a"), lab.ns("b"));
    let map_a: InterfaceMap = map("A");
    let host_c = "fd00:0:3::2";
    assert!(lab.ping(&lab.host("a"), None, host_c));

    let mut events = Kernel::link_events(Some(&ns_a), &map_a)
        .await
        .expect("events");
    // B's end goes down: A's interface loses its carrier.
    run(&["ip", "-n", &ns_b, "link", "set", "ba", "down"]);
    assert_eq!(
        next_event(&mut events).await,
        LinkEvent::Down("A->B".into())
    );
    assert_eq!(
        kernels["a"].down_links(&map_a).await.expect("links"),
        BTreeSet::from(["A->B".to_string()])
    );

    let down: BTreeSet<String> = ["A->B".to_string()].into();
    let started = std::time::Instant::now();
    let report = kernels["a"]
        .local_repair(&states["a"], &map_a, &down, "A->B")
        .await
        .expect("repair");
    // For information only (no timed assertion): repair vs full reconcile.
    eprintln!("local_repair took {:?}", started.elapsed());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // B repairs its side too (its agent would have seen its own event).
    let down_b: BTreeSet<String> = ["B->A".to_string()].into();
    let report_b = kernels["b"]
        .local_repair(&states["b"], &map("B"), &down_b, "B->A")
        .await
        .expect("repair at B");
    assert!(report_b.replaced >= 2, "{report_b:?}");
    // The policy and the underlay routes to B both moved.
    assert!(report.replaced >= 3, "{report:?}");
    let pinned = oracle_route(&ns_a, "main", "fd00:0:3::/64").expect("policy route");
    assert_eq!(pinned.hops[0].dev.as_deref(), Some("ac"));
    assert_eq!(pinned.hops[0].segs, vec!["fc00:0:1::2:2", "fc00:0:3::100"]);
    let to_b = oracle_route(&ns_a, "main", "fd00:0:2::/64").expect("underlay to B");
    assert_eq!(to_b.hops[0].dev.as_deref(), Some("ac"));
    assert_eq!(to_b.hops[0].segs, vec!["fc00:0:1::2:2", "fc00:0:2::100"]);
    // A full reconcile with the same failed link finds nothing to change:
    // the fast path and the full one agree.
    let full = kernels["a"]
        .reconcile(&states["a"], &map_a, &down)
        .await
        .expect("reconcile while down");
    assert!(!full.changed(), "{full:?}");
    assert!(
        lab.ping(&lab.host("a"), None, host_c),
        "to C over the backup"
    );
    assert!(
        lab.ping(&lab.host("a"), None, "fd00:0:2::2"),
        "to B over the repair (A->C->B)"
    );

    // Back up: the event, then the pinned path again.
    run(&["ip", "-n", &ns_b, "link", "set", "ba", "up"]);
    assert_eq!(next_event(&mut events).await, LinkEvent::Up("A->B".into()));
    assert!(
        kernels["a"]
            .down_links(&map_a)
            .await
            .expect("links")
            .is_empty()
    );
    kernels["a"]
        .local_repair(&states["a"], &map_a, &BTreeSet::new(), "A->B")
        .await
        .expect("repair");
    kernels["b"]
        .local_repair(&states["b"], &map("B"), &BTreeSet::new(), "B->A")
        .await
        .expect("repair at B");
    let pinned = oracle_route(&ns_a, "main", "fd00:0:3::/64").expect("policy route");
    assert_eq!(pinned.hops[0].dev.as_deref(), Some("ab"));
    // A full reconcile agrees with what the repair left.
    let started = std::time::Instant::now();
    let full = kernels["a"]
        .reconcile(&states["a"], &map_a, &BTreeSet::new())
        .await
        .expect("reconcile");
    eprintln!("no-op reconcile took {:?}", started.elapsed());
    assert!(!full.changed(), "{full:?}");
    assert!(lab.ping(&lab.host("a"), None, host_c));
}

/// `ping -6 -Q TOS` from a namespace (after a warm-up round).
fn ping_tos(ns: &str, tos: &str, to: &str) -> bool {
    let args = |n: &'static str| {
        vec![
            "ip", "netns", "exec", ns, "ping", "-6", "-c", n, "-W", "1", "-i", "0.2", "-Q", tos, to,
        ]
    };
    let _ = sh(&args("2"));
    sh(&args("3")).status.success()
}

#[tokio::test(flavor = "current_thread")]
async fn dscp_steering_and_egress_classes() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("q");
    let kernels = connect_all(&lab).await;
    let mut states = states();
    for s in states.values_mut() {
        s.qos = qos();
        s.policies.clear();
        s.tenants.clear();
        s.local_sids.retain(|l| l.sid != a("fc00:0:1:1::"));
    }
    states.get_mut("a").expect("a").policies = vec![ef_policy()];
    reconcile_all(&kernels, &states).await;
    let (ns_a, ns_b, host_a) = (lab.ns("a"), lab.ns("b"), lab.host("a"));
    let host_c = "fd00:0:3::2";

    // The htb tree, as tc sees it.
    let out = sh(&["tc", "-n", &ns_a, "-j", "qdisc", "show", "dev", "ab"]);
    let qdiscs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tc json");
    assert!(
        qdiscs
            .as_array()
            .expect("list")
            .iter()
            .any(|q| q["kind"] == "htb" && q["handle"] == "4b:" && q["root"] == true),
        "{qdiscs}"
    );
    let classes =
        String::from_utf8_lossy(&sh(&["tc", "-n", &ns_a, "class", "show", "dev", "ab"]).stdout)
            .to_string();
    assert!(classes.contains("class htb 4b:12"), "{classes}");
    assert!(
        classes.contains("rate 250Mbit ceil 250Mbit"),
        "bulk is shaped: {classes}"
    );

    // The installed list: A's End.X for A->B, B's End.X for B->C, C's DT6.
    let ef = oracle_route(&ns_a, "246", "fd00:0:3::/64").expect("EF route");
    assert_eq!(
        ef.hops[0].segs,
        vec!["fc00:0:1::2:1", "fc00:0:2::2:2", "fc00:0:3::100"]
    );
    // EF (tos 0xb8) follows the class table over B; unmarked traffic goes
    // straight over A->C.
    let bc = oracle::tx_packets(Some(&ns_b), "bc").expect("counters");
    let voice = |c: &[keel_southbound::site::InterfaceCounters]| {
        c.iter()
            .find(|x| x.link == "A->B")
            .and_then(|x| x.class_tx_bytes.iter().find(|(n, _)| n == "voice"))
            .map(|(_, b)| *b)
            .expect("voice counter on A->B")
    };
    let voice_before = voice(&kernels["a"].counters(&map("A")).await.expect("counters"));
    assert!(ping_tos(&host_a, "0xb8", host_c), "EF ping");
    let voice_after = voice(&kernels["a"].counters(&map("A")).await.expect("counters"));
    assert!(
        oracle::tx_packets(Some(&ns_b), "bc").expect("counters") >= bc + 3,
        "EF did not transit B"
    );
    assert!(voice_after > voice_before, "EF not in the voice class");

    let ac = oracle::tx_packets(Some(&ns_a), "ac").expect("counters");
    assert!(lab.ping(&host_a, None, host_c), "unmarked ping");
    assert!(oracle::tx_packets(Some(&ns_a), "ac").expect("counters") >= ac + 3);

    // Idempotent with QoS too; remove_all takes the qdiscs away.
    let again = kernels["a"]
        .reconcile(&states["a"], &map("A"), &BTreeSet::new())
        .await
        .expect("reconcile");
    assert!(!again.changed(), "{again:?}");
    kernels["a"].remove_all().await.expect("remove_all");
    let out = sh(&["tc", "-n", &ns_a, "-j", "qdisc", "show", "dev", "ab"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("htb"));
}

#[tokio::test(flavor = "current_thread")]
async fn tenant_vpn_reaches_its_sites_and_nothing_else() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("t");
    let kernels = connect_all(&lab).await;
    let states = BTreeMap::from([
        ("a", with_tenant(base_state("A"), "C")),
        ("b", base_state("B")),
        ("c", with_tenant(base_state("C"), "A")),
    ]);
    reconcile_all(&kernels, &states).await;
    let (ta, ha) = (lab.tenant_host("a"), lab.host("a"));

    // Tenant host A to tenant host C: rule iif kt1 -> table 1001 -> encap to
    // C's tenant DT6 SID -> C's table 1001 -> kt1.
    assert!(lab.ping(&ta, None, "fd10:3::2"), "tenant A -> tenant C");
    // Nothing else: not the base network's hosts (the tenant table ends in
    // unreachable), and the base network does not reach the tenant.
    assert!(
        !lab.ping(&ta, None, "fd00:0:3::2"),
        "tenant escaped to the base network"
    );
    assert!(
        !lab.ping(&ha, None, "fd10:3::2"),
        "base network reached the tenant"
    );
    let unreachable = oracle::ip_json(
        Some(&lab.ns("a")),
        &["-6", "route", "show", "table", "1001"],
    )
    .expect("routes");
    assert!(
        unreachable
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["type"] == "unreachable" && r["dst"] == "default"),
        "{unreachable}"
    );
    // The base network itself still works.
    assert!(lab.ping(&ha, None, "fd00:0:3::2"), "base A -> base C");
}
