//! Root tests: a real Abilene lab on this machine. Each test has its own lab
//! name (`t<pid><tag>`) and takes the lab down in a guard, pass or fail.

mod common;

use std::net::SocketAddrV6;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Guard, add_link_addresses, ip, ping_rtt, plan, run, scratch, skip_unless_root};
use keel_lab::{Lab, LinkMode, ProbeReport, Shaping, namespaces_with_prefix, probe};

/// Role and files of the probe helper below (the probe runs as a subprocess
/// inside a site's namespace: this test binary, re-executed).
const ROLE: &str = "KEEL_LAB_TEST_PROBE_ROLE";
const OUT: &str = "KEEL_LAB_TEST_PROBE_OUT";
const ADDR: &str = "KEEL_LAB_TEST_PROBE_ADDR";
/// What the TCP check sends.
const TCP_BYTES: usize = 1 << 20;

#[derive(serde::Deserialize)]
struct Qdisc {
    kind: String,
    #[serde(default)]
    options: serde_json::Value,
}

#[test]
fn abilene_up_status_and_down() {
    if skip_unless_root() {
        return;
    }
    let plan = plan("a");
    let _guard = Guard(plan.name().to_string());
    let started = Instant::now();
    let lab = Lab::up(&plan).expect("lab up");
    eprintln!(
        "Abilene up in {:.2} s, shaping {:?}",
        started.elapsed().as_secs_f64(),
        lab.shaping()
    );
    assert!(
        Lab::up(&plan).is_err(),
        "a second up of the same lab must fail"
    );

    let namespaces = namespaces_with_prefix(&plan.prefix()).expect("list");
    assert_eq!(namespaces.len(), 11);
    assert_eq!(plan.pairs().len(), 14);

    let status = lab.status().expect("status");
    assert!(status.namespaces.iter().all(|n| n.present));
    assert_eq!(status.links.len(), 14);
    assert_eq!(status.relay_running, None);
    for l in &status.links {
        assert!(l.up, "{} not up: {:?}", l.ifname, l.ends);
        assert_eq!(l.links.len(), 2, "Abilene links are bidirectional");
    }

    // Every link end shaped at its scaled rate (and delayed where netem exists).
    for pair in plan.pairs() {
        for end in &pair.ends {
            let ns = &plan.sites()[end.site].namespace;
            let (ok, out) = run(Command::new("tc").args([
                "-n",
                ns,
                "-j",
                "qdisc",
                "show",
                "dev",
                &pair.ifname,
            ]));
            assert!(ok, "{out}");
            let qdiscs: Vec<Qdisc> = serde_json::from_str(&out).expect("tc json");
            let root = qdiscs.first().expect("a root qdisc");
            match lab.shaping() {
                Some(Shaping::Tbf) => {
                    assert_eq!(root.kind, "tbf");
                    // tc -j reports tbf's rate in bytes/s.
                    let rate = root.options["rate"].as_f64().expect("rate") * 8.0;
                    assert!(
                        (rate - end.rate_bps).abs() / end.rate_bps < 0.01,
                        "{rate} vs {}",
                        end.rate_bps
                    );
                }
                Some(Shaping::Netem) => {
                    assert_eq!(root.kind, "netem");
                    // tc -j reports netem's delay in seconds.
                    let d = &root.options["delay"];
                    let delay = d["delay"].as_f64().or(d.as_f64()).expect("delay");
                    let want = end.latency_ms / 1e3;
                    assert!(
                        (delay - want).abs() <= want * 0.01 + 1e-6,
                        "{delay} s vs {want} s"
                    );
                }
                other => panic!("veth links shaped by {other:?}"),
            }
        }
    }

    // The host interface of site n carries fd00:0:n::1/64.
    let site = &plan.sites()[3];
    let (ok, out) = ip(&["-n", &site.namespace, "-j", "addr", "show", "dev", "khost"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("\"local\":\"{}\"", site.host_address)),
        "{out}"
    );
    let (ok, out) = run(lab
        .exec_in(
            &site.id,
            &["sysctl", "-n", "net.ipv6.conf.all.seg6_enabled"],
        )
        .expect("site"));
    assert!(ok && out.trim() == "1", "{out}");

    let maps = plan.write_interface_maps(&scratch("a")).expect("maps");
    assert_eq!(maps.len(), 11);

    drop(lab);
    let report = Lab::down(plan.name()).expect("down");
    assert_eq!(report.namespaces_removed.len(), 11);
    assert!(
        namespaces_with_prefix(&plan.prefix())
            .expect("list")
            .is_empty()
    );
    let again = Lab::down(plan.name()).expect("second down");
    assert!(again.namespaces_removed.is_empty());
    assert!(!keel_lab::state_dir(plan.name()).exists());
}

#[test]
fn ping_fail_and_restore() {
    if skip_unless_root() {
        return;
    }
    let plan = plan("p");
    let _guard = Guard(plan.name().to_string());
    let lab = Lab::up(&plan).expect("lab up");
    let pair = plan.pairs()[0].clone();
    let (a, b) = (
        &plan.sites()[pair.ends[0].site].id,
        &plan.sites()[pair.ends[1].site].id,
    );
    add_link_addresses(&lab, a);
    add_link_addresses(&lab, b);
    let peer = pair.ends[1].address.to_string();
    let link = pair.links().next().expect("a link").to_string();

    if !common::have_ping() {
        eprintln!("SKIP: needs ping (iputils-ping)");
        return;
    }
    let rtt = ping_rtt(&lab, a, &peer, Duration::from_secs(5)).expect("ping over the link");
    eprintln!(
        "{link}: RTT {rtt} ms, latency {} ms",
        pair.ends[0].latency_ms
    );
    if lab.delay_emulated() {
        assert!(
            rtt >= pair.ends[0].latency_ms,
            "RTT {rtt} below the one-way latency"
        );
    } else {
        eprintln!("NOTE: no netem on this kernel, latency not emulated");
    }

    lab.fail_link(&link).expect("fail");
    let st = lab.status().expect("status");
    let ls = st
        .links
        .iter()
        .find(|l| l.ifname == pair.ifname)
        .expect("link");
    assert!(!ls.up && ls.ends.iter().all(|e| e.present && !e.admin_up));
    assert!(
        ping_rtt(&lab, a, &peer, Duration::ZERO).is_none(),
        "ping over a failed link"
    );

    lab.restore_link(&link).expect("restore");
    assert!(
        ping_rtt(&lab, a, &peer, Duration::from_secs(5)).is_some(),
        "ping after restore"
    );
    let st = lab.status().expect("status");
    let ls = st
        .links
        .iter()
        .find(|l| l.ifname == pair.ifname)
        .expect("link");
    assert!(ls.up);
    assert!(ls.ends[0].tx_packets > 0 && ls.ends[1].rx_packets > 0);
}

#[test]
fn down_after_a_crash_removes_everything() {
    if skip_unless_root() {
        return;
    }
    let plan = plan("c");
    let _guard = Guard(plan.name().to_string());
    let mut lab = Lab::up(&plan).expect("lab up");
    let site = plan.sites()[0].id.clone();
    let mut sleeper = lab
        .exec_in(&site, &["sleep", "300"])
        .expect("site")
        .spawn()
        .expect("spawn");
    lab.register_process(sleeper.id(), "sleep")
        .expect("register");
    // A second process in a namespace but never registered.
    let mut stray = lab
        .exec_in(&plan.sites()[1].id, &["sleep", "300"])
        .expect("site")
        .spawn()
        .expect("spawn");
    // Both are inside their namespaces before the "crash" (`ip netns exec`
    // enters the namespace only after it has started).
    for (child, site) in [(&sleeper, 0), (&stray, 1)] {
        let ns = plan
            .namespace(&plan.sites()[site].id)
            .expect("namespace")
            .to_string();
        let pid = child.id().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = std::process::Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .expect("ip netns pids");
            if String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|p| p == pid)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} never entered {ns}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // The "crash": the handle goes away without down.
    drop(lab);

    let report = Lab::down(plan.name()).expect("down");
    assert_eq!(report.namespaces_removed.len(), 11);
    assert!(report.processes_killed.contains(&sleeper.id()));
    assert!(report.processes_killed.contains(&stray.id()));
    assert!(sleeper.wait().is_ok() && stray.wait().is_ok());
    assert!(
        namespaces_with_prefix(&plan.prefix())
            .expect("list")
            .is_empty()
    );
    let (_, all) = ip(&["netns", "list"]);
    assert!(!all.contains(&plan.prefix()), "{all}");
    Lab::down(plan.name()).expect("idempotent");
}

/// Not a test on its own: the probe subprocess. Does nothing unless started
/// by [`spawn_probe`] with the role in the environment.
#[test]
fn probe_helper() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let out = std::env::var(OUT).expect("output path");
    if role == "relay" {
        // Until `down` kills it; bounded in case a test leaks it.
        let config =
            keel_lab::relay::RelayConfig::read(std::path::Path::new(&out)).expect("relay config");
        keel_lab::relay::run(&config, Some(Duration::from_secs(300))).expect("relay");
        return;
    }
    let addr: SocketAddrV6 = std::env::var(ADDR)
        .expect("address")
        .parse()
        .expect("address");
    let json = match role.as_str() {
        // TCP through the lab (checksums, segmentation): bytes received.
        "tcp-server" => {
            use std::io::Read;
            let listener = std::net::TcpListener::bind(addr).expect("listen");
            std::fs::write(format!("{out}.ready"), "").expect("ready file");
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let mut total = 0u64;
            let mut buf = [0u8; 65536];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) => panic!("read: {e}"),
                }
            }
            serde_json::to_string(&total)
        }
        "tcp-client" => {
            use std::io::Write;
            let mut conn =
                std::net::TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10))
                    .expect("connect");
            conn.write_all(&vec![0x5a; TCP_BYTES]).expect("write");
            serde_json::to_string(&TCP_BYTES)
        }
        "recv" => {
            let rx = probe::Receiver::bind(addr).expect("bind");
            std::fs::write(format!("{out}.ready"), "").expect("ready file");
            serde_json::to_string(&rx.run(Duration::from_secs(20), None).expect("receive"))
        }
        _ => serde_json::to_string(
            &probe::send(addr, 500, Duration::from_secs(2), Some(46), 64).expect("send"),
        ),
    };
    std::fs::write(&out, json.expect("json")).expect("report");
}

fn spawn_probe(
    lab: &mut Lab,
    site: &str,
    role: &str,
    addr: SocketAddrV6,
    out: &std::path::Path,
) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let exe = exe.to_str().expect("utf-8 path");
    let child = lab
        .exec_in(
            site,
            &[
                exe,
                "--exact",
                "probe_helper",
                "--test-threads=1",
                "--nocapture",
            ],
        )
        .expect("site")
        .env(ROLE, role)
        .env(OUT, out)
        .env(ADDR, addr.to_string())
        // The harness's own chatter; the report goes to a file.
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn probe");
    lab.register_process(child.id(), role).expect("register");
    child
}

/// 1000 packets at 500/s from one end of a link to the other; the link fails
/// for `outage` in the middle when given.
/// Starts the relay of a relay-mode lab (this binary, as the helper above).
fn start_relay(lab: &mut Lab) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let exe = exe.to_str().expect("utf-8 path");
    let config = lab.relay_config_path().expect("relay mode");
    let relay = lab
        .exec_in_relay(&[exe, "--exact", "probe_helper", "--test-threads=1"])
        .expect("relay")
        .env(ROLE, "relay")
        .env(OUT, &config)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn relay");
    lab.register_process(relay.id(), "relay").expect("register");
    relay
}

fn probe_over_link(tag: &str, outage: Option<Duration>, links: LinkMode) -> ProbeReport {
    let options = keel_lab::LabOptions {
        name: common::lab_name(tag),
        links,
        ..keel_lab::LabOptions::default()
    };
    let plan = keel_lab::LabPlan::new(&common::abilene(), options).expect("plan");
    let _guard = Guard(plan.name().to_string());
    let mut lab = Lab::up(&plan).expect("lab up");
    let mut relay = (links == LinkMode::Relay).then(|| start_relay(&mut lab));
    let pair = plan.pairs()[1].clone();
    let (a, b) = (
        plan.sites()[pair.ends[0].site].id.clone(),
        plan.sites()[pair.ends[1].site].id.clone(),
    );
    add_link_addresses(&lab, &a);
    add_link_addresses(&lab, &b);
    // Neighbour discovery first, so that the run starts on a warm link.
    if common::have_ping() {
        let peer = pair.ends[1].address.to_string();
        assert!(ping_rtt(&lab, &a, &peer, Duration::from_secs(10)).is_some());
    } else {
        std::thread::sleep(Duration::from_secs(1));
    }

    let dir = scratch(tag);
    let (rx_out, tx_out) = (dir.join("recv.json"), dir.join("send.json"));
    let dst = SocketAddrV6::new(pair.ends[1].address, 47_001, 0, 0);
    let mut rx = spawn_probe(&mut lab, &b, "recv", dst, &rx_out);
    let ready = rx_out.with_extension("json.ready");
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "receiver never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut tx = spawn_probe(&mut lab, &a, "send", dst, &tx_out);
    if let Some(outage) = outage {
        std::thread::sleep(Duration::from_millis(900));
        let link = pair.links().next().expect("link").to_string();
        lab.fail_link(&link).expect("fail");
        std::thread::sleep(outage);
        lab.restore_link(&link).expect("restore");
    }
    assert!(tx.wait().expect("sender").success(), "sender failed");
    assert!(rx.wait().expect("receiver").success(), "receiver failed");
    let sent: probe::SendReport =
        serde_json::from_str(&std::fs::read_to_string(&tx_out).expect("send report"))
            .expect("json");
    let report: ProbeReport =
        serde_json::from_str(&std::fs::read_to_string(&rx_out).expect("receive report"))
            .expect("json");
    eprintln!("sender {sent:?}\nreceiver {report:?}");
    assert_eq!(sent.sent, 1000);
    assert_eq!(report.sent, 1000);
    assert!(report.end_received);
    assert_eq!(report.received + report.lost, 1000);
    let _ = std::fs::remove_dir_all(&dir);
    Lab::down(plan.name()).expect("down");
    if let Some(r) = relay.as_mut() {
        assert!(r.wait().is_ok());
    }
    report
}

#[test]
fn probe_without_failure_loses_nothing() {
    if skip_unless_root() {
        return;
    }
    let report = probe_over_link("n", None, LinkMode::Veth);
    assert_eq!(report.lost, 0);
    assert!(report.loss_windows.is_empty());
    assert_eq!(report.duplicates, 0);
}

#[test]
fn probe_sees_a_200ms_link_failure() {
    if skip_unless_root() {
        return;
    }
    let report = probe_over_link("f", Some(Duration::from_millis(200)), LinkMode::Veth);
    assert!(report.lost > 0);
    let window: f64 = report.loss_windows.iter().map(|w| w.2).fold(0.0, f64::max);
    assert!(
        (100.0..=2000.0).contains(&window),
        "loss window {window} ms"
    );
    assert!(
        (100.0..=2000.0).contains(&report.max_gap_ms),
        "max gap {} ms",
        report.max_gap_ms
    );
}

#[test]
fn unknown_names_are_errors() {
    if skip_unless_root() {
        return;
    }
    let plan = plan("u");
    let _guard = Guard(plan.name().to_string());
    assert!(
        Lab::attach(&plan).is_err(),
        "attach to a lab that is not up"
    );
    let lab = Lab::up(&plan).expect("lab up");
    assert!(lab.fail_link("nope->nowhere").is_err());
    assert!(lab.exec_in("NOPE", &["true"]).is_err());
    let again = Lab::attach(&plan).expect("attach");
    assert_eq!(again.shaping(), lab.shaping());
    let opened = Lab::open(plan.name()).expect("open by name");
    assert_eq!(opened.plan(), &plan);
    assert!(Lab::open("nosuchlab").is_err());
    assert!(Lab::down("bad-name").is_err());
    // Veth labs emulate latency exactly when the kernel has netem.
    let netem = keel_lab::netem_supported().expect("netem check");
    assert_eq!(netem, lab.shaping() == Some(Shaping::Netem));
    assert!(
        namespaces_with_prefix(&format!("kl-nc{}x", std::process::id()))
            .expect("list")
            .is_empty()
    );
}

/// A large lab from a file, timed: `KEEL_LAB_TEST_TOPOLOGY=path/Kdl.json
/// cargo test -p keel-lab --test lab -- --ignored --nocapture large_topology`
/// (`KEEL_LAB_TEST_LINKS=relay` for relay links; the relay is not started).
#[test]
#[ignore = "large: needs KEEL_LAB_TEST_TOPOLOGY and a minute"]
fn large_topology_up_and_down() {
    if skip_unless_root() {
        return;
    }
    let Ok(path) = std::env::var("KEEL_LAB_TEST_TOPOLOGY") else {
        eprintln!("SKIP: set KEEL_LAB_TEST_TOPOLOGY to a topology file");
        return;
    };
    let opts = keel_formats::ReadOptions {
        default_capacity: Some(keel_model::Bandwidth::from_gbps(10.0)),
        ..keel_formats::ReadOptions::default()
    };
    let topo =
        keel_formats::read_topology(std::path::Path::new(&path), None, &opts).expect("topology");
    let links = match std::env::var("KEEL_LAB_TEST_LINKS").as_deref() {
        Ok("relay") => LinkMode::Relay,
        _ => LinkMode::Veth,
    };
    let options = keel_lab::LabOptions {
        name: common::lab_name("L"),
        links,
        ..keel_lab::LabOptions::default()
    };
    let plan = keel_lab::LabPlan::new(&topo, options).expect("plan");
    let _guard = Guard(plan.name().to_string());
    let t = Instant::now();
    let lab = Lab::up(&plan).expect("lab up");
    let up = t.elapsed();
    let t = Instant::now();
    let status = lab.status().expect("status");
    let status_time = t.elapsed();
    assert!(status.namespaces.iter().all(|n| n.present));
    assert!(status.links.iter().all(|l| l.up));
    let t = Instant::now();
    Lab::down(plan.name()).expect("down");
    eprintln!(
        "{} sites, {} veth pairs: up {:.1} s, status {:.1} s, down {:.1} s",
        plan.sites().len(),
        plan.pairs().len(),
        up.as_secs_f64(),
        status_time.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn relay_links_emulate_latency() {
    if skip_unless_root() || common::skip_unless_ethtool() {
        return;
    }
    if !common::have_ping() {
        eprintln!("SKIP: needs ping (iputils-ping)");
        return;
    }
    let options = keel_lab::LabOptions {
        name: common::lab_name("r"),
        links: keel_lab::LinkMode::Relay,
        ..keel_lab::LabOptions::default()
    };
    let plan = keel_lab::LabPlan::new(&common::abilene(), options).expect("plan");
    let _guard = Guard(plan.name().to_string());
    let mut lab = Lab::up(&plan).expect("lab up");
    assert_eq!(lab.shaping(), Some(Shaping::Relay));
    assert!(lab.delay_emulated());
    assert_eq!(
        namespaces_with_prefix(&plan.prefix()).expect("list").len(),
        13
    );

    assert_eq!(lab.status().expect("status").relay_running, Some(false));
    let mut relay = start_relay(&mut lab);

    // The longest Abilene link, so that its latency stands out.
    let pair = plan
        .pairs()
        .iter()
        .max_by(|x, y| x.ends[0].latency_ms.total_cmp(&y.ends[0].latency_ms))
        .expect("pairs")
        .clone();
    let (a, b) = (
        &plan.sites()[pair.ends[0].site].id,
        &plan.sites()[pair.ends[1].site].id,
    );
    add_link_addresses(&lab, a);
    add_link_addresses(&lab, b);
    let peer = pair.ends[1].address.to_string();
    let link = pair.links().next().expect("a link").to_string();
    // The first pings may wait for the relay to start and for neighbour discovery.
    ping_rtt(&lab, a, &peer, Duration::from_secs(10)).expect("ping through the relay");
    let rtt = ping_rtt(&lab, a, &peer, Duration::ZERO).expect("ping through the relay");
    let one_way = pair.ends[0].latency_ms;
    eprintln!("{link}: RTT {rtt} ms, latency {one_way} ms each way");
    assert!(
        rtt >= one_way,
        "RTT {rtt} ms below the one-way latency {one_way} ms"
    );
    // Loose upper bound: the relay adds scheduling noise, not whole latencies.
    assert!(rtt < 4.0 * one_way + 50.0, "RTT {rtt} ms");

    lab.fail_link(&link).expect("fail");
    assert!(
        ping_rtt(&lab, a, &peer, Duration::ZERO).is_none(),
        "ping over a failed link"
    );
    lab.restore_link(&link).expect("restore");
    assert!(
        ping_rtt(&lab, a, &peer, Duration::from_secs(5)).is_some(),
        "ping after restore"
    );
    // A megabyte of TCP across the link: checksums and segmentation survive
    // the tunnel.
    let dir = scratch("r");
    let (srv_out, cli_out) = (dir.join("server.json"), dir.join("client.json"));
    let dst = SocketAddrV6::new(pair.ends[1].address, 47_002, 0, 0);
    let mut server = spawn_probe(&mut lab, b, "tcp-server", dst, &srv_out);
    let ready = srv_out.with_extension("json.ready");
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = spawn_probe(&mut lab, a, "tcp-client", dst, &cli_out);
    assert!(
        client.wait().expect("client").success(),
        "TCP client failed"
    );
    assert!(
        server.wait().expect("server").success(),
        "TCP server failed"
    );
    let got: u64 = serde_json::from_str(&std::fs::read_to_string(&srv_out).expect("server report"))
        .expect("json");
    assert_eq!(got, TCP_BYTES as u64);
    let _ = std::fs::remove_dir_all(&dir);

    let status = lab.status().expect("status");
    assert_eq!(status.relay_running, Some(true));
    assert!(status.links.iter().all(|l| l.up));

    drop(lab);
    let report = Lab::down(plan.name()).expect("down");
    assert_eq!(report.namespaces_removed.len(), 13);
    assert!(report.processes_killed.contains(&relay.id()));
    assert!(relay.wait().is_ok());
}

#[test]
fn probe_through_the_relay_sees_a_200ms_link_failure() {
    if skip_unless_root() || common::skip_unless_ethtool() {
        return;
    }
    let report = probe_over_link("g", Some(Duration::from_millis(200)), LinkMode::Relay);
    assert!(report.lost > 0);
    let window: f64 = report.loss_windows.iter().map(|w| w.2).fold(0.0, f64::max);
    assert!(
        (100.0..=2000.0).contains(&window),
        "loss window {window} ms"
    );
    // One-way delay through the relay is at least the link's latency.
    let min_delay = report.delay_min_ms.expect("arrivals");
    assert!(min_delay > 1.0, "one-way delay {min_delay} ms");
}
