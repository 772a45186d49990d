//! End to end on real packets: `keel lab up` on Abilene (namespaces, veths, a
//! controller with `--southbound agents`, one agent per site), then
//! reachability, the controller's paths in the counters, local repair and
//! controller-only repair under a constant-rate probe, an agent restart without
//! loss, a removed policy leaving the kernel, and `keel lab down` leaving
//! nothing behind. Needs root (CI runs it as root); without it, it says so and
//! skips.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{json, keel, stderr};
use serde_json::{Value, json};

fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    if !root {
        return Some("needs root (network namespaces)".into());
    }
    for tool in ["ip", "ping"] {
        let found = Command::new(tool).arg("-V").output().is_ok();
        if !found {
            return Some(format!("needs `{tool}` (iproute2, iputils-ping)"));
        }
    }
    None
}

struct LabGuard {
    name: String,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = keel(&["lab", "down", "--name", &self.name]);
    }
}

fn ns(lab: &str, site: &str) -> String {
    format!("kl-{lab}-{site}")
}

fn sh(cmd: &mut Command) -> Output {
    cmd.output().expect("run command")
}

struct Api {
    url: String,
    token: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_call(method, path, body).expect("API call")
    }

    /// `None` when the controller does not answer (it may be restarting).
    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Value> {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let mut resp = match (method, body) {
            ("GET", _) => http.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => http.delete(&url).header("Authorization", &auth).call(),
            (_, Some(b)) => http.post(&url).header("Authorization", &auth).send_json(b),
            _ => http.post(&url).header("Authorization", &auth).send_empty(),
        }
        .ok()?;
        Some(resp.body_mut().read_json().unwrap_or(Value::Null))
    }
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return;
        }
        sleep(Duration::from_millis(100));
    }
    panic!("gave up after {} s waiting for {what}", limit.as_secs());
}

fn in_sync(api: &Api) -> bool {
    let Some(v) = api.try_call("GET", "/api/v1/agents", None) else {
        return false;
    };
    v["agents"].as_array().is_some_and(|a| {
        a.iter()
            .all(|x| x["connected"] == true && x["applied_generation"] == x["desired_generation"])
    })
}

/// Tx packets per link id (both directions of a pair share a veth; each end's
/// tx counts its own direction).
fn link_tx(lab: &str) -> BTreeMap<String, u64> {
    let v = json(&keel(&["lab", "status", "--name", lab, "--json"]));
    let mut out = BTreeMap::new();
    // A pair lists its links in the order of its ends (each end sends one).
    for l in v["links"].as_array().expect("links") {
        let ends = l["ends"].as_array().expect("ends");
        for (link, end) in l["links"].as_array().expect("links").iter().zip(ends) {
            let link = link.as_str().expect("link id").to_string();
            out.insert(link, end["tx_packets"].as_u64().unwrap_or(0));
        }
    }
    out
}

fn probe(lab: &str, from: &str, to: &str, rate: u32, secs: u64, dscp: Option<u8>) -> Value {
    let mut args = vec![
        "lab".to_string(),
        "traffic".into(),
        "--name".into(),
        lab.into(),
        "--from".into(),
        from.into(),
        "--to".into(),
        to.into(),
        "--rate".into(),
        rate.to_string(),
        "--duration".into(),
        format!("{secs}s"),
        "--json".into(),
    ];
    if let Some(d) = dscp {
        args.push("--dscp".into());
        args.push(d.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json(&keel(&refs))
}

/// Runs a probe in the background while `during` acts on the lab.
fn probe_while(
    lab: &str,
    (from, to, dscp): (&str, &str, Option<u8>),
    secs: u64,
    during: impl FnOnce(),
) -> Value {
    let (lab2, from2, to2) = (lab.to_string(), from.to_string(), to.to_string());
    let handle = std::thread::spawn(move || probe(&lab2, &from2, &to2, 1000, secs, dscp));
    sleep(Duration::from_millis(1500));
    during();
    handle.join().expect("probe thread")
}

fn state_of(lab: &str, number: usize) -> Value {
    let file = format!("/run/keel-lab/{lab}/{number}.state.json");
    serde_json::from_str(&std::fs::read_to_string(&file).expect("state file")).expect("state")
}

/// The pid of a process `keel lab up` registered (`controller`, `agent X`).
fn process_pid(lab: &str, what: &str) -> u32 {
    let v = json(&keel(&["lab", "status", "--name", lab, "--json"]));
    v["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .rev()
        .find(|p| p["what"] == what)
        .and_then(|p| p["pid"].as_u64())
        .unwrap_or_else(|| panic!("no process `{what}`")) as u32
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .expect("cmdline")
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn kill(pid: u32) {
    let _ = sh(Command::new("kill").arg(pid.to_string()));
    wait_until(Duration::from_secs(10), "the agent to stop", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
}

/// Restarts an agent with its own command line plus `extra`; the new process
/// is left to `keel lab down` through the namespace sweep.
fn restart_agent(pid: u32, extra: &[&str]) -> std::process::Child {
    let mut args = cmdline(pid);
    kill(pid);
    let exe = args.remove(0);
    Command::new(exe)
        .args(&args)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("restart agent")
}

#[test]
fn abilene_lab_end_to_end() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP abilene_lab_end_to_end: {why}");
        return;
    }
    let lab = format!("t{}", std::process::id() % 100_000);
    let port = 17_000 + (std::process::id() % 20_000) as u16;
    let listen = format!("127.0.0.1:{port}");
    let _guard = LabGuard { name: lab.clone() };
    let up = keel(&[
        "lab",
        "up",
        "--name",
        &lab,
        "--listen",
        &listen,
        "--serve-arg=--min-reroute-interval=1s",
    ]);
    assert!(up.status.success(), "lab up: {}", stderr(&up));
    let token = std::fs::read_to_string(format!("/run/keel-lab/{lab}/controller/admin.token"))
        .expect("admin token");
    let api = Api {
        url: format!("http://{listen}"),
        token: token.trim().to_string(),
    };
    assert!(in_sync(&api), "lab up returns once the agents are in sync");
    let topo = api.call("GET", "/api/v1/topology", None);
    let sites: Vec<String> = topo["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(sites.len(), 11);

    // Reachability: every host reaches every other host.
    let mut failed = Vec::new();
    for (i, a) in sites.iter().enumerate() {
        for (j, b) in sites.iter().enumerate() {
            if i == j {
                continue;
            }
            let (src, dst) = (
                format!("fd00:0:{:x}::1", i + 1),
                format!("fd00:0:{:x}::1", j + 1),
            );
            let out = sh(Command::new("ip").args([
                "netns",
                "exec",
                &ns(&lab, a),
                "ping",
                "-6",
                "-q",
                "-c",
                "1",
                "-W",
                "3",
                "-I",
                &src,
                &dst,
            ]));
            if !out.status.success() {
                failed.push(format!("{a} -> {b}"));
            }
        }
    }
    assert!(failed.is_empty(), "unreachable: {failed:?}");

    // A policy's traffic crosses the links of one of its segment lists. It is
    // picked so that nothing but a repair can save its traffic when its first
    // link is cut: one path, in the main table, whose first link is also the
    // IGP's only way to the destination (no class table to fall back from, no
    // other underlay nexthop for the kernel to keep using).
    let (from_i, policy) = (0..sites.len())
        .find_map(|i| {
            let st = state_of(&lab, i + 1);
            let only_igp_hop = |prefix: &Value, first: &Value| {
                st["underlay"].as_array().is_some_and(|u| {
                    u.iter().any(|r| {
                        r["prefix"] == *prefix
                            && r["nexthops"].as_array().is_some_and(|n| n.len() == 1)
                            && r["nexthops"][0]["link"] == *first
                    })
                })
            };
            st["policies"]
                .as_array()?
                .iter()
                .find(|p| {
                    let paths = p["paths"].as_array();
                    p["table"] == 254
                        && p["prefixes"][0]
                            .as_str()
                            .is_some_and(|x| x.starts_with("fd00:0:"))
                        && paths.is_some_and(|ps| {
                            ps.len() == 1
                                && ps[0]["links"].as_array().is_some_and(|l| l.len() >= 2)
                                && only_igp_hop(&p["prefixes"][0], &ps[0]["links"][0])
                        })
                })
                .cloned()
                .map(|p| (i, p))
        })
        .expect("a single-path policy over two or more links");
    let dscp = policy["dscp"].as_u64().map(|d| d as u8);
    let from = sites[from_i].clone();
    let to = policy["key"]["egress"]
        .as_str()
        .expect("egress")
        .to_string();
    let before = link_tx(&lab);
    let sent = probe(&lab, &from, &to, 500, 2, dscp);
    assert_eq!(sent["lost"], 0, "{sent}");
    let n = sent["received"].as_u64().expect("received");
    let after = link_tx(&lab);
    let used = policy["paths"].as_array().expect("paths").iter().find(|p| {
        p["links"].as_array().expect("links").iter().all(|l| {
            let l = l.as_str().expect("link");
            after[l] - before[l] >= n
        })
    });
    assert!(
        used.is_some(),
        "no segment list of {} carried the {n} probe packets: {policy}",
        policy["key"]
    );
    let used = used.expect("path").clone();
    let first = used["links"][0].as_str().expect("first link").to_string();

    // Splits: a policy over two paths leaving on different links; 128 flows
    // (one sender process each, so one source port each) split in the
    // proportion of the nexthop weights, seen in the interface counters.
    let (split_i, split) = (0..sites.len())
        .find_map(|i| {
            let st = state_of(&lab, i + 1);
            st["policies"]
                .as_array()?
                .iter()
                .find(|p| {
                    p["table"] == 254
                        && p["prefixes"][0]
                            .as_str()
                            .is_some_and(|x| x.starts_with("fd00:0:"))
                        && p["paths"].as_array().is_some_and(|ps| {
                            ps.len() == 2 && ps[0]["links"][0] != ps[1]["links"][0]
                        })
                })
                .cloned()
                .map(|p| (i, p))
        })
        .expect("a policy split over two first links");
    let paths = split["paths"].as_array().expect("paths");
    let weight = |k: usize| paths[k]["weight"].as_f64().expect("weight");
    let expected = weight(0) / (weight(0) + weight(1));
    let firsts: Vec<&str> = (0..2)
        .map(|k| paths[k]["links"][0].as_str().expect("link"))
        .collect();
    let egress = split["key"]["egress"].as_str().expect("egress");
    let dst_n = sites.iter().position(|s| s == egress).expect("egress site") + 1;
    let before = link_tx(&lab);
    for k in 0..128u32 {
        let out = sh(Command::new("ip").args([
            "netns",
            "exec",
            &ns(&lab, &sites[split_i]),
            env!("CARGO_BIN_EXE_keel"),
            "lab",
            "probe-send",
            "--to",
            &format!("[fd00:0:{dst_n:x}::1]:{}", 6000 + k),
            "--rate",
            "1000",
            "--duration",
            "20ms",
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let after = link_tx(&lab);
    let d: Vec<f64> = firsts
        .iter()
        .map(|l| (after[*l] - before[*l]) as f64)
        .collect();
    let share = d[0] / (d[0] + d[1]);
    eprintln!(
        "split: weights {} : {}, expected {expected:.2}, measured {share:.2} ({d:?})",
        weight(0),
        weight(1)
    );
    assert!(
        d[0] + d[1] >= 128.0 * 20.0,
        "the flows left over the policy's links: {d:?}"
    );
    assert!(
        (share - expected).abs() < 0.15,
        "split {share:.2}, weights say {expected:.2}"
    );

    // QoS: voice and bulk leave over the same link, bulk offered at twice the
    // link's rate: voice (strict priority) keeps its packets, bulk absorbs the
    // loss.
    let (qos_i, voice, bulk) = (0..sites.len())
        .find_map(|i| {
            let st = state_of(&lab, i + 1);
            let pols = st["policies"].as_array()?.clone();
            let single = |p: &Value| {
                p["paths"].as_array().is_some_and(|ps| ps.len() == 1)
                    && p["prefixes"][0]
                        .as_str()
                        .is_some_and(|x| x.starts_with("fd00:0:"))
            };
            pols.iter()
                .filter(|v| v["dscp"] == 46 && single(v))
                .find_map(|v| {
                    pols.iter()
                        .find(|b| {
                            b["dscp"] == 10
                                && single(b)
                                && b["prefixes"][0] == v["prefixes"][0]
                                && b["paths"][0]["links"][0] == v["paths"][0]["links"][0]
                        })
                        .map(|b| (i, v.clone(), b.clone()))
                })
        })
        .expect("voice and bulk policies leaving over the same link");
    let st = state_of(&lab, qos_i + 1);
    let shared = voice["paths"][0]["links"][0].clone();
    let capacity = st["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|x| x["link"] == shared)
        .and_then(|x| x["capacity_bps"].as_f64())
        .expect("capacity");
    // 1200-byte payloads: with the SRv6 encapsulation they stay within the
    // links' 1500-byte MTU.
    let bulk_pps = (2.0 * capacity / (1200.0 * 8.0)).ceil() as u32;
    let (qfrom, qto) = (
        sites[qos_i].clone(),
        voice["key"]["egress"].as_str().expect("egress").to_string(),
    );
    let run_probe = |dscp: u8, rate: u32, size: &str, port: &str| {
        let (lab, qfrom, qto) = (lab.clone(), qfrom.clone(), qto.clone());
        let (size, port) = (size.to_string(), port.to_string());
        std::thread::spawn(move || {
            json(&keel(&[
                "lab",
                "traffic",
                "--name",
                &lab,
                "--from",
                &qfrom,
                "--to",
                &qto,
                "--rate",
                &rate.to_string(),
                "--duration",
                "4s",
                "--dscp",
                &dscp.to_string(),
                "--size",
                &size,
                "--port",
                &port,
                "--json",
            ]))
        })
    };
    let bulk_run = run_probe(10, bulk_pps, "1200", "5100");
    let voice_run = run_probe(46, 500, "200", "5101");
    let (v, b) = (
        voice_run.join().expect("voice"),
        bulk_run.join().expect("bulk"),
    );
    // The congested queue is the sender's own egress: there bulk is held back
    // (queued, and the sending socket blocked) rather than dropped, so what
    // it absorbs shows as what it did not get through.
    let loss =
        |r: &Value| r["lost"].as_f64().unwrap_or(0.0) / r["sent"].as_f64().unwrap_or(1.0).max(1.0);
    let bulk_share = b["received"].as_f64().unwrap_or(0.0) / (f64::from(bulk_pps) * 4.0);
    eprintln!(
        "qos over {shared}: voice lost {:.2}% (max delay {} ms); bulk offered {bulk_pps} pps, delivered {:.0}% (max delay {} ms)",
        100.0 * loss(&v),
        v["delay_max_ms"],
        100.0 * bulk_share,
        b["delay_max_ms"]
    );
    assert!(loss(&v) < 0.01, "voice lost {:.2}%: {v}", 100.0 * loss(&v));
    assert!(
        v["delay_max_ms"].as_f64().is_some_and(|d| d < 100.0),
        "voice was queued: {v}"
    );
    assert!(bulk_share < 0.7, "bulk absorbed the congestion: {b}");
    assert_eq!(bulk["key"]["class"], "bulk");

    // Local repair: cut the first link of that path under a 1000 pps probe.
    let repaired = probe_while(&lab, (&from, &to, dscp), 4, || {
        let out = keel(&["lab", "fail", "--name", &lab, &first]);
        assert!(out.status.success(), "{}", stderr(&out));
    });
    let local_ms = repaired["max_gap_ms"].as_f64().expect("gap");
    eprintln!("local repair: cut {first}: {repaired}");
    assert!(repaired["received"].as_u64().expect("received") > 0);
    let sent_n = repaired["sent"].as_u64().expect("sent");
    let lost = repaired["lost"].as_u64().expect("lost");
    assert!(
        lost < sent_n / 4,
        "traffic resumed after the cut: {repaired}"
    );
    let restored = keel(&["lab", "restore", "--name", &lab, &first]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    wait_until(Duration::from_secs(30), "the controller to settle", || {
        in_sync(&api)
    });

    // The controller alone: the ingress agent without local repair.
    let pid = process_pid(&lab, &format!("agent {from}"));
    let mut child = restart_agent(pid, &["--no-local-repair"]);
    wait_until(Duration::from_secs(30), "the restarted agent", || {
        in_sync(&api)
    });
    let global = probe_while(&lab, (&from, &to, dscp), 6, || {
        let out = keel(&["lab", "fail", "--name", &lab, &first]);
        assert!(out.status.success(), "{}", stderr(&out));
    });
    let global_ms = global["max_gap_ms"].as_f64().expect("gap");
    eprintln!("controller only: cut {first}: {global}");
    assert!(
        global["lost"].as_u64().expect("lost") < global["sent"].as_u64().expect("sent") / 2,
        "the controller re-routed: {global}"
    );
    eprintln!("loss window: local repair {local_ms:.1} ms, controller only {global_ms:.1} ms");
    let restored = keel(&["lab", "restore", "--name", &lab, &first]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    wait_until(Duration::from_secs(30), "the controller to settle", || {
        in_sync(&api)
    });

    // An agent restart changes nothing and loses nothing.
    let pid = child.id();
    let calm = probe_while(&lab, (&from, &to, dscp), 4, || {
        child = restart_agent(pid, &[]);
        wait_until(Duration::from_secs(30), "the restarted agent", || {
            in_sync(&api)
        });
    });
    assert_eq!(calm["lost"], 0, "restarting an agent lost packets: {calm}");
    let _ = child;

    // Headless: with the controller gone, forwarding goes on untouched; a
    // restarted controller (same data directory) finds its agents again.
    let controller = process_pid(&lab, "controller");
    let controller_cmd = cmdline(controller);
    let headless = probe_while(&lab, (&from, &to, dscp), 3, || kill(controller));
    assert_eq!(
        headless["lost"], 0,
        "forwarding without the controller lost packets: {headless}"
    );
    let mut restarted = Command::new(&controller_cmd[0])
        .args(&controller_cmd[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("restart the controller");
    wait_until(
        Duration::from_secs(60),
        "the agents back in sync with the restarted controller",
        || in_sync(&api),
    );

    // VPN: two tenants with the same prefixes at both ends stay apart. Each
    // tenant t attaches at a site over `kt<t>` to a customer-edge namespace
    // (named with the lab's prefix, so `lab down` removes it too).
    let ends = [
        (from.clone(), "2001:db8:a::1"),
        (to.clone(), "2001:db8:b::1"),
    ];
    for t in [1, 2] {
        for (site, addr) in &ends {
            let ce = format!("kl-{lab}-ce{t}{site}");
            let site_ns = ns(&lab, site);
            let att = format!("kt{t}");
            for cmd in [
                vec!["netns", "add", &ce],
                vec![
                    "-n", &site_ns, "link", "add", &att, "type", "veth", "peer", "name", "ce0",
                    "netns", &ce,
                ],
                vec!["-n", &site_ns, "addr", "add", "fe80::1/64", "dev", &att],
                vec!["-n", &site_ns, "link", "set", &att, "up"],
                vec!["-n", &ce, "link", "set", "lo", "up"],
                vec![
                    "-n",
                    &ce,
                    "addr",
                    "add",
                    &format!("{addr}/48"),
                    "dev",
                    "ce0",
                    "nodad",
                ],
                vec!["-n", &ce, "link", "set", "ce0", "up"],
                vec![
                    "-n", &ce, "-6", "route", "add", "default", "via", "fe80::1", "dev", "ce0",
                ],
            ] {
                let out = sh(Command::new("ip").args(&cmd));
                assert!(out.status.success(), "ip {cmd:?}: {}", stderr(&out));
            }
        }
    }
    let mut ids = Vec::new();
    for tenant in ["acme", "globex"] {
        let svc = api.call(
            "POST",
            "/api/v1/services",
            Some(
                &json!({ "kind": "vpn", "tenant": tenant, "class": "business", "rate": "1M",
                          "endpoints": [{ "site": from, "prefixes": ["2001:db8:a::/48"] },
                                        { "site": to, "prefixes": ["2001:db8:b::/48"] }] }),
            ),
        );
        let id = svc["service"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("service: {svc}"));
        ids.push(id.to_string());
    }
    wait_until(Duration::from_secs(30), "the VPN routes", || {
        in_sync(&api)
            && [(from_i, "2001:db8:b::/48")].iter().all(|(i, p)| {
                let st = state_of(&lab, i + 1);
                st["tenants"].as_array().is_some_and(|t| t.len() == 2)
                    && st["policies"].to_string().contains(p)
            })
    });
    // Tenant numbers follow creation: acme is 1 (kt1), globex 2 (kt2).
    let decap: Vec<String> = ids
        .iter()
        .map(|id| {
            let a = api.call("GET", &format!("/api/v1/services/{id}/allocation"), None);
            a.to_string()
        })
        .collect();
    assert!(
        decap[0].contains(":1::\""),
        "acme is tenant 1: {}",
        decap[0]
    );
    let ce = |t: u32, site: &str| format!("kl-{lab}-ce{t}{site}");
    let ping = |t: u32| {
        sh(Command::new("ip").args([
            "netns",
            "exec",
            &ce(t, &from),
            "ping",
            "-6",
            "-q",
            "-c",
            "2",
            "-W",
            "2",
            "2001:db8:b::1",
        ]))
        .status
        .success()
    };
    // Silences tenant t's far end: it can no longer answer (a prohibit route
    // back to the near prefix), so a ping from t's near end succeeds only if it
    // reached another tenant's far end.
    let silence = |t: u32, on: bool| {
        let verb = if on { "add" } else { "del" };
        let out = sh(Command::new("ip").args([
            "-n",
            &ce(t, &to),
            "-6",
            "route",
            verb,
            "prohibit",
            "2001:db8:a::/48",
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
    };
    assert!(ping(1), "acme reaches its own far end");
    assert!(ping(2), "globex reaches its own far end");
    silence(1, true);
    assert!(!ping(1), "acme reached 2001:db8:b::1 of another tenant");
    assert!(ping(2), "globex is unaffected");
    silence(1, false);
    silence(2, true);
    assert!(ping(1), "acme is unaffected");
    assert!(!ping(2), "globex reached 2001:db8:b::1 of another tenant");
    silence(2, false);

    // A removed policy leaves the kernel: without its service, acme's table
    // loses the route to the far prefix.
    let has_route = |table: u32| {
        let out = sh(Command::new("ip").args([
            "-n",
            &ns(&lab, &from),
            "-6",
            "route",
            "show",
            "table",
            &table.to_string(),
        ]));
        String::from_utf8_lossy(&out.stdout).contains("2001:db8:b::/48")
    };
    assert!(has_route(1001) && has_route(1002));
    api.call("DELETE", &format!("/api/v1/services/{}", ids[0]), None);
    wait_until(Duration::from_secs(30), "acme's VPN route to go", || {
        !has_route(1001)
    });
    assert!(has_route(1002), "globex keeps its route");

    // Down leaves no namespace and no process.
    let down = keel(&["lab", "down", "--name", &lab]);
    assert!(down.status.success(), "{}", stderr(&down));
    let left = sh(Command::new("ip").args(["netns", "list"]));
    let prefix = format!("kl-{lab}-");
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&prefix),
        "namespaces left behind"
    );
    // Agents program their namespace from outside it: none may be left.
    let procs = sh(Command::new("pgrep").args(["-f", "--", &format!("--netns {prefix}")]));
    let alive: Vec<String> = String::from_utf8_lossy(&procs.stdout)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
        })
        .map(str::to_string)
        .collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
    // `down` stopped the restarted controller too (its data is the lab's).
    wait_until(
        Duration::from_secs(10),
        "the restarted controller to stop",
        || restarted.try_wait().expect("controller status").is_some(),
    );
    let again = keel(&["lab", "down", "--name", &lab]);
    assert!(again.status.success(), "down twice: {}", stderr(&again));
}
