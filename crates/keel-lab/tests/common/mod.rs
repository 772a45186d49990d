//! Shared helpers of the root lab tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use keel_formats::{ReadOptions, TopologyFormat};
use keel_lab::{Lab, LabOptions, LabPlan};
use keel_model::Topology;

/// Effective uid 0, from /proc (no libc in the tests).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// True (and says so) when the test cannot run here.
pub fn skip_unless_root() -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIP: needs root (network namespaces)");
    true
}

pub fn abilene() -> Topology {
    keel_formats::parse_topology(
        include_str!("../../../../data/abilene.toml"),
        "data/abilene.toml",
        Some(TopologyFormat::NativeToml),
        &ReadOptions::default(),
    )
    .expect("built-in Abilene")
}

/// A lab name unique to this test process and test.
pub fn lab_name(tag: &str) -> String {
    format!("t{}{tag}", std::process::id())
}

pub fn plan(tag: &str) -> LabPlan {
    let options = LabOptions {
        name: lab_name(tag),
        ..LabOptions::default()
    };
    LabPlan::new(&abilene(), options).expect("plan")
}

/// Takes the lab down when the test ends, pass or fail.
pub struct Guard(pub String);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = Lab::down(&self.0) {
            eprintln!("cleanup of lab {}: {e}", self.0);
        }
    }
}

/// Whether `ping` (iputils) is installed.
pub fn have_ping() -> bool {
    Command::new("ping")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether relay labs can be built here (they need `ethtool`); says so if not.
pub fn skip_unless_ethtool() -> bool {
    let ok = Command::new("ethtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: relay links need ethtool");
    }
    !ok
}

/// Runs a command to completion; (success, stdout + stderr).
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> (bool, String) {
    let out = cmd.borrow_mut().output().expect("spawn");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub fn ip(args: &[&str]) -> (bool, String) {
    run(Command::new("ip").args(args))
}

/// Adds the link addresses of `site` by hand, as the agent would.
pub fn add_link_addresses(lab: &Lab, site: &str) {
    let ns = lab.plan().namespace(site).expect("site");
    for a in lab.plan().link_addresses(site).expect("addresses") {
        let cidr = format!("{}/{}", a.address, a.prefix_len);
        let (ok, out) = ip(&["-n", ns, "addr", "add", &cidr, "dev", &a.ifname, "nodad"]);
        assert!(ok, "address {cidr} on {}: {out}", a.ifname);
    }
}

/// Pings `dst` from `site` (two echoes per try) until a reply or `within`;
/// the smaller RTT of the try, in ms (the first echo may wait for neighbour
/// discovery).
pub fn ping_rtt(lab: &Lab, site: &str, dst: &str, within: Duration) -> Option<f64> {
    let deadline = Instant::now() + within;
    loop {
        let (ok, out) = run(lab
            .exec_in(
                site,
                &["ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "1", dst],
            )
            .expect("site"));
        if ok {
            return out
                .split("time=")
                .skip(1)
                .filter_map(|t| t.split_whitespace().next()?.parse::<f64>().ok())
                .min_by(f64::total_cmp);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-lab-{}", lab_name(tag)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
