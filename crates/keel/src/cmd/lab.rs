//! `keel lab`: a backbone on this machine, one network namespace per site, with
//! a controller and one agent per site driving real SRv6 forwarding.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use keel_formats::{TopologyFormat, TrafficFormat, write_topology, write_traffic};
use keel_lab::{Lab, LabOptions, LabPlan, LinkMode, probe};
use keel_model::spec::TopologySpec;
use keel_model::{Bandwidth, Topology};
use serde_json::Value;

use crate::input::{TopologyArgs, TrafficArgs, UsageError};

/// Build and drive a network-namespace lab (needs root).
///
/// `keel lab up` builds a backbone from a topology file (default: the built-in
/// Abilene and its demo traffic): one namespace per site named `kl-<lab>-<site>`,
/// a veth pair per link shaped to the scaled capacity (and delayed by the link's
/// latency where the kernel has netem), a host
/// prefix per site (fd00:0:n::/64 on `khost`), a controller
/// (`keel serve --southbound agents`, unless --controller is given) and one
/// `keel agent` per site. Everything it creates carries the lab's prefix, and
/// `keel lab down` removes it all, also after a crash.
///
///   keel lab up                          # Abilene, controller on 127.0.0.1:7481
///   keel lab status
///   keel lab traffic --from NYCM --to LOSA --rate 1000 --duration 5s
///   keel lab fail 'NYCM->CHIN'; keel lab restore 'NYCM->CHIN'
///   keel lab down
#[derive(Subcommand, Debug)]
#[command(verbatim_doc_comment)]
pub enum Command {
    /// Build the lab and start its controller and agents.
    Up(UpArgs),
    /// Cut a link (both directions: the veth pair goes down at both ends).
    Fail(LinkArgs),
    /// Restore a cut link.
    Restore(LinkArgs),
    /// What is up: namespaces, links, processes, agents.
    Status(StatusArgs),
    /// Send a sequence-numbered UDP probe between two sites' hosts and report
    /// loss, reordering and loss windows exactly.
    Traffic(ProbeArgs),
    /// Remove everything of the lab (idempotent; works after a crash).
    Down(NameArg),
    #[command(hide = true)]
    ProbeSend(ProbeSendArgs),
    #[command(hide = true)]
    ProbeRecv(ProbeRecvArgs),
    /// The relay of a `--links relay` lab (started by `keel lab up`).
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct NameArg {
    /// Lab name (letters, digits, _; at most 16).
    #[arg(long, default_value = "keel")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub topo: TopologyArgs,
    #[command(flatten)]
    pub traffic: TrafficArgs,
    #[command(flatten)]
    pub name: NameArg,
    /// Lab rate of a link = its capacity × this (at least 1 Mbit/s).
    #[arg(long, default_value_t = 1e-3)]
    pub capacity_scale: f64,
    /// Use this running controller (started with `--southbound agents` on the
    /// same topology) instead of starting one.
    #[arg(long, value_name = "URL")]
    pub controller: Option<String>,
    /// Token for --controller.
    #[arg(long, env = "KEEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where the lab's own controller listens.
    #[arg(long, default_value = "127.0.0.1:7481")]
    pub listen: String,
    /// Agents do not repair local failures (only the controller re-routes).
    #[arg(long)]
    pub no_local_repair: bool,
    /// How links are made: `veth` (a veth pair shaped by the kernel; latency
    /// too where the kernel has netem) or `relay` (VXLAN ends tunnelled through
    /// a user-space relay that emulates latency and rate on any kernel; needs
    /// ethtool).
    #[arg(long, value_enum, default_value = "veth")]
    pub links: Links,
    /// Extra arguments for the lab's controller, e.g. `--min-reroute-interval=1s`.
    #[arg(long = "serve-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub serve_args: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Links {
    Veth,
    Relay,
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    /// Link id, e.g. 'NYCM->CHIN'.
    pub link: String,
    #[command(flatten)]
    pub name: NameArg,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// Sending site.
    #[arg(long)]
    pub from: String,
    /// Receiving site.
    #[arg(long)]
    pub to: String,
    /// Packets per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value = "5s")]
    pub duration: humantime::Duration,
    /// DSCP of the probe (46 = voice, 10 = bulk).
    #[arg(long)]
    pub dscp: Option<u8>,
    /// UDP payload bytes.
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    #[arg(long, default_value_t = 5099)]
    pub port: u16,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ProbeSendArgs {
    #[arg(long)]
    pub to: SocketAddrV6,
    #[arg(long)]
    pub rate: u32,
    #[arg(long)]
    pub duration: humantime::Duration,
    #[arg(long)]
    pub dscp: Option<u8>,
    #[arg(long, default_value_t = 200)]
    pub size: usize,
}

#[derive(Args, Debug)]
pub struct ProbeRecvArgs {
    #[arg(long)]
    pub bind: SocketAddrV6,
    #[arg(long)]
    pub until: humantime::Duration,
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Up(a) => up(a),
        Command::Fail(a) => {
            Lab::open(&a.name.name)?.fail_link(&a.link)?;
            println!("{}: down", a.link);
            Ok(())
        }
        Command::Restore(a) => {
            Lab::open(&a.name.name)?.restore_link(&a.link)?;
            println!("{}: up", a.link);
            Ok(())
        }
        Command::Status(a) => status(a),
        Command::Traffic(a) => traffic(a),
        Command::Down(a) => {
            let r = Lab::down(&a.name)?;
            println!(
                "lab {}: removed {} namespaces, stopped {} processes",
                a.name,
                r.namespaces_removed.len(),
                r.processes_killed.len()
            );
            Ok(())
        }
        Command::ProbeSend(a) => {
            let r = probe::send(a.to, a.rate, a.duration.into(), a.dscp, a.size)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Command::Relay { config } => {
            let stats = keel_lab::relay::run(&keel_lab::relay::RelayConfig::read(&config)?, None)?;
            eprintln!("{stats:?}");
            Ok(())
        }
        Command::ProbeRecv(a) => {
            let r = probe::receive(a.bind, a.until.into())?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
    }
}

fn require_root() -> anyhow::Result<()> {
    // The effective uid, without unsafe code: /proc knows it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        return Err(UsageError("keel lab needs root (namespaces, veths, netlink)".into()).into());
    }
    Ok(())
}

/// Files of the lab's controller and agents, under the lab's state directory.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(name: &str) -> Self {
        Files {
            dir: keel_lab::state_dir(name),
        }
    }
    fn controller_dir(&self) -> PathBuf {
        self.dir.join("controller")
    }
    fn controller_file(&self) -> PathBuf {
        self.dir.join("controller.json")
    }
}

fn up(a: UpArgs) -> anyhow::Result<()> {
    require_root()?;
    let (topo, label) = a.topo.load()?;
    let name = a.name.name.clone();
    let options = LabOptions {
        name: name.clone(),
        capacity_scale: a.capacity_scale,
        links: match a.links {
            Links::Veth => LinkMode::Veth,
            Links::Relay => LinkMode::Relay,
        },
        ..LabOptions::default()
    };
    let plan = LabPlan::new(&topo, options)?;
    let started = Instant::now();
    let mut lab = Lab::up(&plan)?;
    eprintln!(
        "lab {name}: {} sites, {} links from {label} up in {:.1} s",
        plan.sites().len(),
        plan.pairs().len(),
        started.elapsed().as_secs_f64()
    );
    // From here on a failure takes the half-built lab down again.
    let result = scaled_inputs(&a, &topo, &Files::new(&name))
        .and_then(|inputs| start_processes(&a, &inputs, &mut lab, &plan));
    if let Err(e) = result {
        let _ = Lab::down(&name);
        return Err(e.context(format!(
            "lab {name} did not come up; removed what was built"
        )));
    }
    Ok(())
}

/// The controller plans for the lab as it is: a topology with the scaled
/// capacities (what the links really carry, and what the agents' egress
/// schedulers shape to) and the traffic scaled alike. Returns the serve flags.
fn scaled_inputs(a: &UpArgs, topo: &Topology, files: &Files) -> anyhow::Result<Vec<String>> {
    let scale = a.capacity_scale;
    let mut spec = TopologySpec::from_topology(topo);
    for l in &mut spec.links {
        l.capacity = Bandwidth::from_bps((l.capacity.bps() * scale).max(keel_lab::MIN_RATE_BPS));
    }
    let scaled = spec.into_topology()?;
    let tm = a.traffic.load(&a.topo, topo)?.scaled(scale)?;
    let topo_file = files.dir.join("topology.json");
    let traffic_file = files.dir.join("traffic.json");
    std::fs::write(
        &topo_file,
        write_topology(&scaled, TopologyFormat::NativeJson)?,
    )?;
    std::fs::write(
        &traffic_file,
        write_traffic(&scaled, &tm, TrafficFormat::NativeJson)?,
    )?;
    Ok(vec![
        "--topology".into(),
        topo_file.display().to_string(),
        "--traffic".into(),
        traffic_file.display().to_string(),
    ])
}

fn start_processes(
    a: &UpArgs,
    inputs: &[String],
    lab: &mut Lab,
    plan: &LabPlan,
) -> anyhow::Result<()> {
    let files = Files::new(&a.name.name);
    let exe = std::env::current_exe().context("cannot find the keel executable")?;
    if let Some(config) = lab.relay_config_path() {
        let cmd = lab.exec_in_relay(&[
            exe.as_os_str(),
            "lab".as_ref(),
            "relay".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ])?;
        let pid = spawn_logged(cmd, &files.dir.join("relay.log"))?;
        lab.register_process(pid, "relay")?;
    }
    let (url, token_file) = match &a.controller {
        Some(url) => {
            let token = a
                .token
                .clone()
                .ok_or_else(|| UsageError("--controller needs --token or KEEL_TOKEN".into()))?;
            let f = files.dir.join("controller.token");
            std::fs::write(&f, token)?;
            (url.trim_end_matches('/').to_string(), f)
        }
        None => {
            let data = files.controller_dir();
            std::fs::create_dir_all(&data)?;
            let mut cmd = Process::new(&exe);
            cmd.arg("serve")
                .args(["--southbound", "agents", "--listen", &a.listen])
                .arg("--data-dir")
                .arg(&data)
                .args(inputs)
                .args(&a.serve_args);
            let pid = spawn_logged(cmd, &files.dir.join("controller.log"))?;
            lab.register_process(pid, "controller")?;
            (format!("http://{}", a.listen), data.join("admin.token"))
        }
    };
    std::fs::write(
        files.controller_file(),
        serde_json::to_string(&serde_json::json!({ "url": url, "token_file": token_file }))?,
    )?;
    wait_for(Duration::from_secs(60), "the controller to answer", || {
        Ok(token_file.exists() && get(&url, &token_file, "/api/v1/health").is_ok())
    })?;
    let maps = plan.write_interface_maps(&files.dir)?;
    for (site, map) in plan.sites().iter().zip(&maps) {
        let mut cmd = Process::new(&exe);
        cmd.args(["agent", "--site", &site.id, "--controller", &url])
            .arg("--token-file")
            .arg(&token_file)
            .args(["--netns", &site.namespace])
            .arg("--interfaces")
            .arg(map)
            .arg("--state-file")
            .arg(files.dir.join(format!("{}.state.json", site.number)));
        if a.no_local_repair {
            cmd.arg("--no-local-repair");
        }
        let log = files.dir.join(format!("agent-{}.log", site.number));
        let pid = spawn_logged(cmd, &log)?;
        lab.register_process(pid, &format!("agent {}", site.id))?;
    }
    let started = Instant::now();
    // Ready means the first allocation is installed: in sync after that, the
    // agents forward the controller's plan, not just the underlay.
    wait_for(
        Duration::from_secs(120),
        "the first allocation and every agent to install its state",
        || {
            get(&url, &token_file, "/api/v1/ready")?;
            let v = get(&url, &token_file, "/api/v1/agents")?;
            Ok(agents_in_sync(&v))
        },
    )?;
    eprintln!(
        "lab {}: controller {url}, {} agents in sync after {:.1} s",
        a.name.name,
        plan.sites().len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "  keel lab traffic --from {} --to {}",
        plan.sites()[0].id,
        plan.sites()[plan.sites().len() - 1].id
    );
    Ok(())
}

/// Every site's agent is connected and has applied the state the controller
/// wants now.
fn agents_in_sync(v: &Value) -> bool {
    v["agents"].as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|x| {
                x["connected"] == true
                    && x["applied_generation"].as_u64() == x["desired_generation"].as_u64()
            })
    })
}

/// Starts a process of the lab in its own process group (a Ctrl-C at the
/// terminal must not take the lab's processes with `keel lab up`), output to
/// `log`.
fn spawn_logged(mut cmd: Process, log: &Path) -> anyhow::Result<u32> {
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    Ok(child.id())
}

fn wait_for(
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_err = None;
    while started.elapsed() < limit {
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(anyhow!(
        "gave up waiting {} s for {what}{}",
        limit.as_secs(),
        last_err
            .map(|e| format!(" (last error: {e:#})"))
            .unwrap_or_default()
    ))
}

fn get(url: &str, token_file: &Path, path: &str) -> anyhow::Result<Value> {
    let token = std::fs::read_to_string(token_file)?;
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = http
        .get(&format!("{url}{path}"))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call()?;
    Ok(resp.body_mut().read_json()?)
}

fn controller_of(name: &str) -> Option<(String, PathBuf)> {
    let text = std::fs::read_to_string(Files::new(name).controller_file()).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some((
        v["url"].as_str()?.to_string(),
        PathBuf::from(v["token_file"].as_str()?),
    ))
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let lab = Lab::open(&a.name.name)?;
    let st = lab.status()?;
    let agents = controller_of(&a.name.name)
        .and_then(|(url, token)| get(&url, &token, "/api/v1/agents").ok());
    if a.json {
        let mut v = serde_json::to_value(&st)?;
        v["processes"] = serde_json::to_value(&lab.state().processes)?;
        v["agents"] = agents.map(|x| x["agents"].clone()).unwrap_or(Value::Null);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let present = st.namespaces.iter().filter(|n| n.present).count();
    let up = st.links.iter().filter(|l| l.up).count();
    println!(
        "lab {}: {present}/{} namespaces, {up}/{} links up",
        st.lab,
        st.namespaces.len(),
        st.links.len()
    );
    for l in st.links.iter().filter(|l| !l.up) {
        println!("  down: {}", l.links.join(" / "));
    }
    match agents {
        Some(v) => {
            let all = v["agents"].as_array().map_or(0, Vec::len);
            let on = v["agents"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|x| x["connected"] == true).count());
            println!(
                "  agents: {on}/{all} connected, {}",
                if agents_in_sync(&v) {
                    "all in sync"
                } else {
                    "not all in sync"
                }
            );
        }
        None => println!("  controller: not answering"),
    }
    Ok(())
}

fn traffic(a: ProbeArgs) -> anyhow::Result<()> {
    require_root()?;
    let lab = Lab::open(&a.name.name)?;
    let to = lab.plan().site(&a.to)?.host_address;
    let from_addr: Ipv6Addr = lab.plan().site(&a.from)?.host_address;
    let exe = std::env::current_exe()?;
    let duration: Duration = a.duration.into();
    let until = duration + Duration::from_secs(2);
    let recv = lab
        .exec_in(
            &a.to,
            &[
                exe.as_os_str(),
                "lab".as_ref(),
                "probe-recv".as_ref(),
                "--bind".as_ref(),
                format!("[{to}]:{}", a.port).as_ref(),
                "--until".as_ref(),
                format!("{}ms", until.as_millis()).as_ref(),
            ],
        )?
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the probe receiver")?;
    // The receiver binds before the first packet leaves.
    std::thread::sleep(Duration::from_millis(300));
    let mut send_args: Vec<String> = vec![
        exe.display().to_string(),
        "lab".into(),
        "probe-send".into(),
        "--to".into(),
        format!("[{to}]:{}", a.port),
        "--rate".into(),
        a.rate.to_string(),
        "--duration".into(),
        format!("{}ms", duration.as_millis()),
        "--size".into(),
        a.size.to_string(),
    ];
    if let Some(d) = a.dscp {
        send_args.push("--dscp".into());
        send_args.push(d.to_string());
    }
    let sent = lab.exec_in(&a.from, &send_args)?.output()?;
    if !sent.status.success() {
        bail!(
            "probe sender failed: {}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    let received = recv.wait_with_output()?;
    if !received.status.success() {
        bail!("probe receiver failed");
    }
    let report: probe::ProbeReport = serde_json::from_slice(&received.stdout)
        .context("cannot read the probe receiver's report")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} [{from_addr}] -> {} [{to}]: sent {}, received {}, lost {} ({:.2}%), reordered {}, duplicates {}, longest gap {:.1} ms",
        a.from,
        a.to,
        report.sent,
        report.received,
        report.lost,
        100.0 * report.lost as f64 / (report.sent.max(1)) as f64,
        report.reordered,
        report.duplicates,
        report.max_gap_ms
    );
    for (first, last, ms) in &report.loss_windows {
        println!("  lost #{first}..#{last}: {ms:.1} ms");
    }
    Ok(())
}
