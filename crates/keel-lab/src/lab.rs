//! Building, driving and removing a lab on this machine.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cmd::{Invocation, run_all};
use crate::error::{LabError, Result};
use crate::plan::{
    HOST_INTERFACE, HOST_PEER_INTERFACE, LabPlan, LinkMode, namespace_prefix, validate_name,
};
use crate::relay::{RELAY_ADDRESS, RelayConfig, RelayLeg, VXLAN_PORT, WIRE_ADDRESS};

/// Where each lab keeps its state file (`<root>/<lab>/state.json`).
pub const STATE_ROOT: &str = "/run/keel-lab";
/// How many `ip`/`tc` processes run at once while building a lab.
const PARALLEL: usize = 4;
/// How long a registered process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(1000);
/// Queueing bound of the rate shaper: a backbone-like buffer.
const SHAPER_LATENCY_MS: u32 = 100;

/// How the links are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shaping {
    /// netem: latency and rate.
    Netem,
    /// tbf: rate only (no delay emulation on this kernel, or none asked for).
    Tbf,
    /// The user-space relay ([`LinkMode::Relay`]): latency and rate.
    Relay,
}

/// A process started for the lab, killed by [`Lab::down`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub pid: u32,
    pub what: String,
    /// Start time (clock ticks since boot, /proc/<pid>/stat) at registration,
    /// so that a reused pid is never killed.
    pub start_ticks: Option<u64>,
}

/// The lab's state file: what was created and what to kill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    pub lab: String,
    pub namespaces: Vec<String>,
    /// `namespace/ifname` of every link interface.
    pub interfaces: Vec<String>,
    pub shaping: Option<Shaping>,
    pub processes: Vec<ProcessRecord>,
    /// The plan the lab was built from, so that [`Lab::open`] needs only the name.
    #[serde(default)]
    pub plan: Option<LabPlan>,
}

/// What [`Lab::down`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownReport {
    pub namespaces_removed: Vec<String>,
    pub processes_killed: Vec<u32>,
}

/// One namespace of [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceStatus {
    pub site: String,
    pub namespace: String,
    pub present: bool,
}

/// One end of a link in [`LabStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndStatus {
    pub site: String,
    pub namespace: String,
    pub ifname: String,
    /// The interface exists.
    pub present: bool,
    /// Administratively up (`UP` flag).
    pub admin_up: bool,
    /// Carrier (`LOWER_UP`); on a veth, the peer end is up too.
    pub lower_up: bool,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// One veth pair in [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Topology link ids carried (one or two directions).
    pub links: Vec<String>,
    pub ifname: String,
    /// Both ends present, up and with carrier.
    pub up: bool,
    pub ends: [EndStatus; 2],
}

/// Snapshot of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabStatus {
    pub lab: String,
    pub namespaces: Vec<NamespaceStatus>,
    pub links: Vec<LinkStatus>,
    /// Relay mode: whether a process runs in the relay namespace (without
    /// it no link passes traffic). `None` with veth links.
    pub relay_running: Option<bool>,
}

/// A lab that is up on this machine. Dropping it leaves the lab running; take
/// it down with [`Lab::down`].
#[derive(Debug)]
pub struct Lab {
    plan: LabPlan,
    state: LabState,
    state_path: PathBuf,
}

/// `<STATE_ROOT>/<lab>`.
pub fn state_dir(name: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(name)
}

fn state_path(name: &str) -> PathBuf {
    state_dir(name).join("state.json")
}

fn relay_config_path(name: &str) -> PathBuf {
    state_dir(name).join("relay.json")
}

/// The relay's work: both directions of every link.
fn relay_config(plan: &LabPlan) -> RelayConfig {
    let mut legs = Vec::with_capacity(plan.pairs().len() * 2);
    for pair in plan.pairs() {
        for (e, end) in pair.ends.iter().enumerate() {
            legs.push(RelayLeg {
                vni_in: LabPlan::vni(pair.index, e),
                vni_out: LabPlan::vni(pair.index, 1 - e),
                latency_ms: if plan.options().delay {
                    end.latency_ms
                } else {
                    0.0
                },
                rate_bps: end.rate_bps,
            });
        }
    }
    RelayConfig {
        lab: plan.name().to_string(),
        listen: std::net::SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, VXLAN_PORT, 0, 0),
        forward_to: std::net::SocketAddrV6::new(WIRE_ADDRESS, VXLAN_PORT, 0, 0),
        legs,
    }
}

fn write_state(path: &Path, state: &LabState) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new(STATE_ROOT));
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let json = serde_json::to_string_pretty(state).map_err(|source| LabError::State {
        path: path.to_path_buf(),
        source,
    })?;
    // Write then rename: a crash never leaves a half-written state file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n").map_err(|e| LabError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io(path, e))
}

fn read_state(path: &Path) -> Result<Option<LabState>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LabError::io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| LabError::State {
            path: path.to_path_buf(),
            source,
        })
}

#[derive(Deserialize)]
struct NetnsEntry {
    name: String,
}

/// Namespaces whose name starts with `prefix`, sorted.
pub fn namespaces_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let inv = Invocation::new("ip", ["-json", "netns", "list"]);
    let out = inv.run()?;
    // With no namespace at all, iproute2 prints nothing rather than `[]`.
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<NetnsEntry> = serde_json::from_str(&out).map_err(|e| LabError::Output {
        command: inv.describe(),
        reason: e.to_string(),
    })?;
    let mut names: Vec<String> = entries
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    Ok(names)
}

/// (state, start time) of a process from /proc, `None` when it is gone.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn alive(pid: u32, start_ticks: Option<u64>) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => state != 'Z' && start_ticks.is_none_or(|s| s == start),
        None => false,
    }
}

/// Processes of the lab that live outside its namespaces (an agent run as
/// `keel agent --netns kl-<lab>-<site>`, a controller whose data is in the
/// lab's state directory; also ones restarted by hand and never registered):
/// found by their command line.
fn programming(prefix: &str, dir: &Path) -> Vec<u32> {
    let dir = dir.to_string_lossy();
    let dir = format!("{}/", dir.trim_end_matches('/'));
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"--netns" && w[1].starts_with(prefix.as_bytes()))
                || args.iter().any(|a| a.starts_with(dir.as_bytes()))
        })
        .collect()
}

/// Terminates processes (TERM to all, then KILL to those still running
/// after a grace period). Returns those that were running. Never signals
/// init or this process; a pid whose start time differs was reused and is
/// left alone.
fn kill_processes(targets: &[(u32, Option<u64>)]) -> Vec<u32> {
    let mut running: Vec<(u32, Option<u64>)> = Vec::new();
    for &(pid, start) in targets {
        if pid > 1
            && pid != std::process::id()
            && alive(pid, start)
            && !running.iter().any(|r| r.0 == pid)
        {
            running.push((pid, start));
        }
    }
    let killed: Vec<u32> = running.iter().map(|r| r.0).collect();
    let signal = |sig: &str, pids: &[(u32, Option<u64>)]| {
        if pids.is_empty() {
            return;
        }
        let mut args = vec!["-s".to_string(), sig.to_string()];
        args.extend(pids.iter().map(|p| p.0.to_string()));
        // Fails when some process is already gone; the others still get it.
        let _ = Invocation::new("kill", args).run();
    };
    signal("TERM", &running);
    let deadline = Instant::now() + TERM_GRACE;
    while !running.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        running.retain(|&(pid, start)| alive(pid, start));
    }
    signal("KILL", &running);
    killed
}

fn sysctl_invocation(ns: &str, ifaces: &[&str]) -> Invocation {
    let mut args: Vec<String> = ["netns", "exec", ns, "sysctl", "-qw"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push("net.ipv6.conf.all.forwarding=1".into());
    // Multipath by flow (addresses and ports): TE splits apply per flow, so
    // many flows split in the nexthop weights' proportion.
    args.push("net.ipv6.fib_multipath_hash_policy=1".into());
    // seg6 must be on for "all" and for each receiving interface; DAD off so
    // addresses work at once; addresses kept across admin down so that a
    // failed link comes back as it was (the kernel flushes them otherwise).
    for conf in ["all", "default"].iter().chain(ifaces) {
        args.push(format!("net.ipv6.conf.{conf}.seg6_enabled=1"));
        args.push(format!("net.ipv6.conf.{conf}.accept_dad=0"));
        args.push(format!("net.ipv6.conf.{conf}.keep_addr_on_down=1"));
    }
    Invocation::new("ip", args)
}

/// Whether this kernel has the netem qdisc (veth links can then emulate
/// latency; otherwise use [`LinkMode::Relay`]). Tried in a scratch namespace
/// `kl-nc<pid>x<k>-check`, removed again. Needs root.
pub fn netem_supported() -> Result<bool> {
    // Unique per call, so that threads of one process never share it.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let lab = format!("nc{}x{k}", std::process::id());
    let ns = format!("{}check", namespace_prefix(&lab));
    Invocation::new("ip", ["netns", "add", &ns]).run()?;
    let tried = Invocation::new(
        "tc",
        [
            "-n", &ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ],
    )
    .run();
    Lab::down(&lab)?;
    match tried {
        Ok(_) => Ok(true),
        Err(LabError::Command { stderr, .. }) if stderr.contains("unknown") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the kernel has netem, tried on a namespace's spare interface.
fn netem_available(ns: &str) -> Result<bool> {
    let add = Invocation::new(
        "tc",
        [
            "-n",
            ns,
            "qdisc",
            "replace",
            "dev",
            HOST_PEER_INTERFACE,
            "root",
            "netem",
            "delay",
            "1ms",
        ],
    );
    match add.run() {
        Ok(_) => {
            Invocation::new(
                "tc",
                ["-n", ns, "qdisc", "del", "dev", HOST_PEER_INTERFACE, "root"],
            )
            .run()?;
            Ok(true)
        }
        Err(LabError::Command { stderr, .. }) if stderr.contains("unknown") => Ok(false),
        Err(e) => Err(e),
    }
}

fn qdisc_line(ifname: &str, shaping: Shaping, rate_bps: f64, latency_ms: f64) -> String {
    let rate = rate_bps.round().max(1.0) as u64;
    match shaping {
        Shaping::Netem => {
            let delay_us = (latency_ms * 1e3).round().max(0.0) as u64;
            // The queue must hold what is in flight over the delay plus a
            // buffer, counted in small (100-byte) packets.
            let in_flight =
                rate_bps / 8.0 / 100.0 * (latency_ms + f64::from(SHAPER_LATENCY_MS)) / 1e3;
            let limit = (in_flight.ceil() as u64).clamp(1000, 1_000_000);
            if delay_us > 0 {
                format!(
                    "qdisc replace dev {ifname} root netem delay {delay_us}us rate {rate}bit limit {limit}\n"
                )
            } else {
                format!("qdisc replace dev {ifname} root netem rate {rate}bit limit {limit}\n")
            }
        }
        // Relay links are paced by the relay and never get a qdisc line.
        Shaping::Tbf | Shaping::Relay => {
            // Burst: 4 ms at line rate, but never under a few full frames.
            let burst = ((rate_bps / 8.0 * 0.004) as u64).max(4 * 1514);
            format!(
                "qdisc replace dev {ifname} root tbf rate {rate}bit burst {burst} latency {SHAPER_LATENCY_MS}ms\n"
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IpCounters {
    bytes: u64,
    packets: u64,
    dropped: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IpStats {
    rx: IpCounters,
    tx: IpCounters,
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    stats64: IpStats,
}

impl Lab {
    /// Creates the lab: namespaces, link interfaces (up, no addresses),
    /// sysctls, link shaping and the host interfaces. On failure whatever was
    /// created is removed again.
    pub fn up(plan: &LabPlan) -> Result<Lab> {
        let name = plan.name().to_string();
        let existing = namespaces_with_prefix(&plan.prefix())?;
        if let Some(first) = existing.first() {
            return Err(LabError::AlreadyUp {
                lab: name,
                count: existing.len(),
                example: first.clone(),
            });
        }
        let state_path = state_path(&name);
        // Its processes may still run: `down` must see that file first.
        if state_path.exists() {
            return Err(LabError::StaleState {
                lab: name,
                path: state_path,
            });
        }
        let mut namespaces: Vec<String> =
            plan.sites().iter().map(|s| s.namespace.clone()).collect();
        if plan.options().links == LinkMode::Relay {
            namespaces.push(plan.wire_namespace());
            namespaces.push(plan.relay_namespace());
        }
        let mut state = LabState {
            lab: name.clone(),
            namespaces,
            interfaces: plan
                .pairs()
                .iter()
                .flat_map(|p| {
                    p.ends
                        .iter()
                        .map(|e| format!("{}/{}", plan.sites()[e.site].namespace, p.ifname))
                })
                .collect(),
            shaping: None,
            processes: Vec::new(),
            plan: Some(plan.clone()),
        };
        // Written first, so that `down` finds a half-built lab after a crash.
        write_state(&state_path, &state)?;
        match build(plan) {
            Ok(shaping) => {
                state.shaping = Some(shaping);
                write_state(&state_path, &state)?;
                tracing::info!(lab = %name, sites = plan.sites().len(), pairs = plan.pairs().len(), ?shaping, "lab up");
                Ok(Lab {
                    plan: plan.clone(),
                    state,
                    state_path,
                })
            }
            Err(e) => {
                if let Err(cleanup) = Lab::down(&name) {
                    tracing::warn!(lab = %name, error = %cleanup, "cleanup after a failed start");
                }
                Err(e)
            }
        }
    }

    /// A handle on a lab that is already up (e.g. from another process).
    pub fn attach(plan: &LabPlan) -> Result<Lab> {
        let present = namespaces_with_prefix(&plan.prefix())?;
        let mut wanted: Vec<String> = plan.sites().iter().map(|s| s.namespace.clone()).collect();
        if plan.options().links == LinkMode::Relay {
            wanted.push(plan.wire_namespace());
            wanted.push(plan.relay_namespace());
        }
        if let Some(missing) = wanted
            .into_iter()
            .find(|ns| present.binary_search(ns).is_err())
        {
            return Err(LabError::NotUp {
                lab: plan.name().to_string(),
                namespace: missing,
            });
        }
        let state_path = state_path(plan.name());
        let state = read_state(&state_path)?.unwrap_or_else(|| LabState {
            lab: plan.name().to_string(),
            namespaces: present,
            interfaces: Vec::new(),
            shaping: None,
            processes: Vec::new(),
            plan: None,
        });
        Ok(Lab {
            plan: plan.clone(),
            state,
            state_path,
        })
    }

    /// A handle on lab `name` from its state file alone (the plan it was
    /// built from is recorded there).
    pub fn open(name: &str) -> Result<Lab> {
        validate_name(name)?;
        let path = state_path(name);
        let plan = read_state(&path)?
            .and_then(|s| s.plan)
            .ok_or_else(|| LabError::NotUp {
                lab: name.to_string(),
                namespace: format!("(no plan in {})", path.display()),
            })?;
        Lab::attach(&plan)
    }

    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }
    pub fn name(&self) -> &str {
        self.plan.name()
    }
    pub fn state(&self) -> &LabState {
        &self.state
    }
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }
    /// How the links are shaped (`None` when attached to a lab without a state file).
    pub fn shaping(&self) -> Option<Shaping> {
        self.state.shaping
    }
    /// Whether link latencies are emulated (asked for, and netem present or
    /// links through the relay).
    pub fn delay_emulated(&self) -> bool {
        matches!(self.state.shaping, Some(Shaping::Netem | Shaping::Relay))
            && self.plan.options().delay
    }

    /// In relay mode, the relay's configuration file (written by `up`).
    pub fn relay_config_path(&self) -> Option<PathBuf> {
        (self.plan.options().links == LinkMode::Relay).then(|| relay_config_path(self.name()))
    }

    /// In relay mode, a command running `args` in the relay namespace; the
    /// caller starts the relay with it and registers the process.
    pub fn exec_in_relay<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Command> {
        if self.plan.options().links != LinkMode::Relay {
            return Err(LabError::InvalidOptions(format!(
                "lab {:?} has veth links, no relay",
                self.name()
            )));
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.plan.relay_namespace()])
            .args(args);
        Ok(cmd)
    }

    fn set_link(&self, link: &str, state: &str) -> Result<()> {
        let pair = self.plan.pair_of(link)?;
        let invs: Vec<Invocation> = pair
            .ends
            .iter()
            .map(|e| {
                let ns = &self.plan.sites()[e.site].namespace;
                Invocation::new("ip", ["-n", ns, "link", "set", &pair.ifname, state])
            })
            .collect();
        // Both ends at once: the failure should look like one cut.
        run_all(&invs, 2)?;
        if state == "up" {
            // Neighbour solicitations sent while only one end was up went
            // nowhere and would be retried only after a second; start
            // resolution afresh now that the carrier is there.
            let flush: Vec<Invocation> = pair
                .ends
                .iter()
                .map(|e| {
                    let ns = &self.plan.sites()[e.site].namespace;
                    Invocation::new(
                        "ip",
                        ["-n", ns, "-6", "neigh", "flush", "dev", &pair.ifname],
                    )
                })
                .collect();
            run_all(&flush, 2)?;
        }
        tracing::info!(lab = %self.name(), link, ifname = %pair.ifname, state, "link");
        Ok(())
    }

    /// Takes both ends of the link's veth administratively down (either link
    /// id of the pair).
    pub fn fail_link(&self, link: &str) -> Result<()> {
        self.set_link(link, "down")
    }

    /// Brings both ends of the link's veth back up.
    pub fn restore_link(&self, link: &str) -> Result<()> {
        self.set_link(link, "up")
    }

    /// Namespaces present, and per link its ends' state and counters.
    pub fn status(&self) -> Result<LabStatus> {
        let present = namespaces_with_prefix(&self.plan.prefix())?;
        let sites = self.plan.sites();
        let is_present = |ns: &str| present.binary_search_by(|p| p.as_str().cmp(ns)).is_ok();
        let queried: Vec<usize> = (0..sites.len())
            .filter(|&i| is_present(&sites[i].namespace))
            .collect();
        let invs: Vec<Invocation> = queried
            .iter()
            .map(|&i| {
                Invocation::new(
                    "ip",
                    ["-n", &sites[i].namespace, "-json", "-s", "link", "show"],
                )
            })
            .collect();
        let outputs = run_all(&invs, PARALLEL)?;
        let mut links_by_site: Vec<Vec<IpLink>> = (0..sites.len()).map(|_| Vec::new()).collect();
        for ((&i, out), inv) in queried.iter().zip(&outputs).zip(&invs) {
            links_by_site[i] = serde_json::from_str(out).map_err(|e| LabError::Output {
                command: inv.describe(),
                reason: e.to_string(),
            })?;
        }
        let namespaces = sites
            .iter()
            .map(|s| NamespaceStatus {
                site: s.id.clone(),
                namespace: s.namespace.clone(),
                present: is_present(&s.namespace),
            })
            .collect();
        let links = self
            .plan
            .pairs()
            .iter()
            .map(|pair| {
                let ends = pair.ends.clone().map(|e| {
                    let site = &sites[e.site];
                    let mut st = EndStatus {
                        site: site.id.clone(),
                        namespace: site.namespace.clone(),
                        ifname: pair.ifname.clone(),
                        ..EndStatus::default()
                    };
                    if let Some(l) = links_by_site[e.site]
                        .iter()
                        .find(|l| l.ifname == pair.ifname)
                    {
                        let flag = |f: &str| l.flags.iter().any(|x| x == f);
                        st.present = true;
                        st.admin_up = flag("UP");
                        st.lower_up = flag("LOWER_UP");
                        st.rx_packets = l.stats64.rx.packets;
                        st.tx_packets = l.stats64.tx.packets;
                        st.rx_bytes = l.stats64.rx.bytes;
                        st.tx_bytes = l.stats64.tx.bytes;
                        st.rx_dropped = l.stats64.rx.dropped;
                        st.tx_dropped = l.stats64.tx.dropped;
                    }
                    st
                });
                LinkStatus {
                    links: pair.links().map(str::to_string).collect(),
                    ifname: pair.ifname.clone(),
                    up: ends.iter().all(|e| e.present && e.admin_up && e.lower_up),
                    ends,
                }
            })
            .collect();
        let relay_running = if self.plan.options().links == LinkMode::Relay {
            let ns = self.plan.relay_namespace();
            let running = is_present(&ns)
                && !Invocation::new("ip", ["netns", "pids", &ns])
                    .run()?
                    .trim()
                    .is_empty();
            Some(running)
        } else {
            None
        };
        Ok(LabStatus {
            lab: self.name().to_string(),
            namespaces,
            links,
            relay_running,
        })
    }

    /// Records a process that belongs to the lab (an agent, a probe) in the
    /// state file, so that [`Lab::down`] kills it even from another process.
    pub fn register_process(&mut self, pid: u32, what: &str) -> Result<()> {
        // Another handle (another process) may have registered some since.
        if let Some(on_disk) = read_state(&self.state_path)? {
            self.state.processes = on_disk.processes;
        }
        let start_ticks = proc_stat(pid).map(|(_, start)| start);
        self.state.processes.push(ProcessRecord {
            pid,
            what: what.to_string(),
            start_ticks,
        });
        write_state(&self.state_path, &self.state)
    }

    /// A command that runs `args` inside the site's namespace
    /// (`ip netns exec <ns> args...`).
    pub fn exec_in<S: AsRef<OsStr>>(&self, site: &str, args: &[S]) -> Result<Command> {
        let ns = self.plan.namespace(site)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        Ok(cmd)
    }

    /// Removes everything of lab `name`: kills the processes recorded in its
    /// state file and any process left inside its namespaces, deletes every
    /// namespace named `kl-<name>-*` (which removes the veths) and the state
    /// directory. Idempotent, and works without a state file (after a crash).
    pub fn down(name: &str) -> Result<DownReport> {
        validate_name(name)?;
        let prefix = namespace_prefix(name);
        let path = state_path(name);
        let mut report = DownReport::default();
        let state = match read_state(&path) {
            Ok(s) => s,
            Err(e) => {
                // A damaged state file must not keep the lab up.
                tracing::warn!(lab = name, error = %e, "ignoring the state file");
                None
            }
        };
        let mut targets: Vec<(u32, Option<u64>)> = state
            .iter()
            .flat_map(|s| &s.processes)
            .map(|p| (p.pid, p.start_ticks))
            .collect();
        let namespaces = namespaces_with_prefix(&prefix)?;
        // A process still inside a namespace keeps its interfaces alive.
        for ns in &namespaces {
            let out = Invocation::new("ip", ["netns", "pids", ns]).run()?;
            targets.extend(
                out.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                    .map(|pid| (pid, None)),
            );
        }
        targets.extend(
            programming(&prefix, &state_dir(name))
                .into_iter()
                .map(|pid| (pid, None)),
        );
        report.processes_killed = kill_processes(&targets);
        if !namespaces.is_empty() {
            let batch: String = namespaces
                .iter()
                .map(|n| format!("netns del {n}\n"))
                .collect();
            // -force: try every deletion; the re-listing below says what is left.
            if let Err(e) = Invocation::new("ip", ["-force", "-batch", "-"])
                .with_stdin(batch)
                .run()
            {
                tracing::warn!(lab = name, error = %e, "deleting namespaces");
            }
        }
        let left = namespaces_with_prefix(&prefix)?;
        if !left.is_empty() {
            return Err(LabError::Leftovers {
                lab: name.to_string(),
                left: left.join(" "),
            });
        }
        report.namespaces_removed = namespaces;
        let dir = state_dir(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io(dir, e)),
        }
        tracing::info!(
            lab = name,
            namespaces = report.namespaces_removed.len(),
            processes = report.processes_killed.len(),
            "lab down"
        );
        Ok(report)
    }
}

/// Relay mode: the underlay between the wire and relay namespaces, and per
/// link end a VXLAN device in the site's namespace whose tunnel lives in the
/// wire namespace.
fn build_tunnels(plan: &LabPlan) -> Result<()> {
    let (wire, relay_ns) = (plan.wire_namespace(), plan.relay_namespace());
    let mut w =
        format!("link set lo up\naddress add {WIRE_ADDRESS}/64 dev kw nodad\nlink set kw up\n");
    for pair in plan.pairs() {
        for (e, end) in pair.ends.iter().enumerate() {
            // Made from the wire namespace straight into the site's: the
            // tunnel socket stays in the namespace that asked.
            w.push_str(&format!(
                "link add {ifname} netns {ns} mtu 1500 type vxlan id {vni} local {WIRE_ADDRESS} remote {RELAY_ADDRESS} dstport {VXLAN_PORT} nolearning\n",
                ifname = pair.ifname,
                ns = plan.sites()[end.site].namespace,
                vni = LabPlan::vni(pair.index, e)
            ));
        }
    }
    let r =
        format!("link set lo up\naddress add {RELAY_ADDRESS}/64 dev kr nodad\nlink set kr up\n");
    run_all(
        &[
            Invocation::new("ip", ["-n", &wire, "-batch", "-"]).with_stdin(w),
            Invocation::new("ip", ["-n", &relay_ns, "-batch", "-"]).with_stdin(r),
        ],
        2,
    )?;
    // Locally sent UDP/TCP leaves a site with its checksum still to be filled
    // in (offload); veths pass that on, so the relay would hand the frame back
    // unfinished and the receiver drop it. Without tx checksum offload on the
    // underlay, the kernel completes every checksum before the tunnel leaves
    // the wire namespace.
    Invocation::new(
        "ip",
        ["netns", "exec", &wire, "ethtool", "-K", "kw", "tx", "off"],
    )
    .run()?;
    Ok(())
}

/// Creates the lab's kernel objects; returns how links are shaped.
fn build(plan: &LabPlan) -> Result<Shaping> {
    let sites = plan.sites();
    // Everything is created from the root namespace straight into the target
    // namespaces, so no interface name ever exists in the root namespace.
    let relay = plan.options().links == LinkMode::Relay;
    let (wire, relay_ns) = (plan.wire_namespace(), plan.relay_namespace());
    let mut root = String::new();
    for s in sites {
        root.push_str(&format!("netns add {}\n", s.namespace));
    }
    if relay {
        root.push_str(&format!("netns add {wire}\nnetns add {relay_ns}\n"));
        // Jumbo underlay: the tunnelled 1500-byte frames fit unfragmented.
        root.push_str(&format!(
            "link add kw netns {wire} mtu 9000 type veth peer name kr netns {relay_ns} mtu 9000\n"
        ));
    }
    for s in sites {
        root.push_str(&format!(
            "link add {HOST_INTERFACE} netns {ns} type veth peer name {HOST_PEER_INTERFACE} netns {ns}\n",
            ns = s.namespace
        ));
    }
    for p in plan.pairs().iter().filter(|_| !relay) {
        root.push_str(&format!(
            "link add {ifname} netns {a} type veth peer name {ifname} netns {b}\n",
            ifname = p.ifname,
            a = sites[p.ends[0].site].namespace,
            b = sites[p.ends[1].site].namespace,
        ));
    }
    Invocation::new("ip", ["-batch", "-"])
        .with_stdin(root)
        .run()?;
    if relay {
        build_tunnels(plan)?;
    }

    // Interfaces of each namespace.
    let mut ifaces: Vec<Vec<(&str, f64, f64)>> = (0..sites.len()).map(|_| Vec::new()).collect();
    for p in plan.pairs() {
        for e in &p.ends {
            ifaces[e.site].push((&p.ifname, e.rate_bps, e.latency_ms));
        }
    }

    let sysctls: Vec<Invocation> = sites
        .iter()
        .zip(&ifaces)
        .map(|(s, ifs)| {
            let mut names: Vec<&str> = ifs.iter().map(|i| i.0).collect();
            names.push(HOST_INTERFACE);
            sysctl_invocation(&s.namespace, &names)
        })
        .collect();
    run_all(&sysctls, PARALLEL)?;

    let links: Vec<Invocation> = sites
        .iter()
        .zip(&ifaces)
        .map(|(s, ifs)| {
            let mut b = String::from("link set lo up\n");
            b.push_str(&format!("link set {HOST_PEER_INTERFACE} up\n"));
            b.push_str(&format!("link set {HOST_INTERFACE} up\n"));
            b.push_str(&format!(
                "address add {}/64 dev {HOST_INTERFACE} nodad\n",
                s.host_address
            ));
            for (ifname, _, _) in ifs {
                b.push_str(&format!("link set {ifname} up\n"));
            }
            Invocation::new("ip", ["-n", &s.namespace, "-batch", "-"]).with_stdin(b)
        })
        .collect();
    run_all(&links, PARALLEL)?;

    if relay {
        let config = relay_config(plan);
        let path = relay_config_path(plan.name());
        let json = serde_json::to_string_pretty(&config).map_err(|source| LabError::State {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, json + "\n").map_err(|e| LabError::io(&path, e))?;
        return Ok(Shaping::Relay);
    }
    let shaping = match sites.first() {
        Some(s) if plan.options().delay && netem_available(&s.namespace)? => Shaping::Netem,
        Some(_) if plan.options().delay => {
            tracing::warn!(
                "the kernel has no netem qdisc: link rates are shaped (tbf), latencies are not emulated"
            );
            Shaping::Tbf
        }
        _ => Shaping::Tbf,
    };
    let qdiscs: Vec<Invocation> = sites
        .iter()
        .zip(&ifaces)
        .filter(|(_, ifs)| !ifs.is_empty())
        .map(|(s, ifs)| {
            let b: String = ifs
                .iter()
                .map(|&(ifname, rate, lat)| {
                    let lat = if plan.options().delay { lat } else { 0.0 };
                    qdisc_line(ifname, shaping, rate, lat)
                })
                .collect();
            Invocation::new("tc", ["-n", &s.namespace, "-batch", "-"]).with_stdin(b)
        })
        .collect();
    run_all(&qdiscs, PARALLEL)?;
    Ok(shaping)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qdisc_lines() {
        assert_eq!(
            qdisc_line("k3", Shaping::Tbf, 9_953_280.0, 10.0),
            "qdisc replace dev k3 root tbf rate 9953280bit burst 6056 latency 100ms\n"
        );
        assert_eq!(
            qdisc_line("k3", Shaping::Netem, 10e6, 12.5),
            "qdisc replace dev k3 root netem delay 12500us rate 10000000bit limit 1407\n"
        );
    }

    #[test]
    fn kills_only_the_process_it_recorded() {
        let Ok(mut child) = Command::new("sleep").arg("30").spawn() else {
            eprintln!("SKIP: no sleep binary");
            return;
        };
        let pid = child.id();
        let (_, start) = proc_stat(pid).expect("child stat");
        // A different start time: the pid would belong to another process.
        assert!(kill_processes(&[(pid, Some(start + 1))]).is_empty());
        assert!(alive(pid, Some(start)));
        assert_eq!(
            kill_processes(&[(pid, Some(start)), (pid, None)]),
            vec![pid]
        );
        let status = child.wait().expect("wait");
        assert!(!status.success());
        assert!(kill_processes(&[(pid, Some(start))]).is_empty());
    }

    #[test]
    fn reads_proc_stat_of_self() {
        let (state, start) = proc_stat(std::process::id()).expect("own stat");
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
        assert!(alive(std::process::id(), Some(start)));
        assert!(!alive(std::process::id(), Some(start + 1)));
    }
}
