//! `keel serve`: the controller daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use keel_controller::{Config, Started, TopologySource};
use serde::Deserialize;

use crate::input::{self, TopologyArgs, UsageError};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7480";
/// Exits to upstream providers for the built-in Abilene demo: the New York and
/// Los Angeles PoPs, where Abilene met the commercial Internet.
const DEMO_EXITS: &[&str] = &["NYCM", "LOSA"];

/// Run the Keel controller: services with admission control, a self-healing
/// control loop and the REST API.
///
/// With no arguments it starts a working controller on the built-in Abilene
/// backbone, with demo background traffic replayed over a compressed day, a
/// simulated network as its southbound, its data in SQLite under the data
/// directory, and the API on a loopback port. On first start it creates an admin
/// token, prints it once and keeps it in DATA_DIR/admin.token (mode 0600).
///
/// Examples:
///
///   keel serve
///   keel serve --data-dir /var/lib/keel --listen 0.0.0.0:7480 -t backbone.graphml --exit FRA
///   curl -H "Authorization: Bearer $(cat ~/.local/share/keel/admin.token)" http://127.0.0.1:7480/api/v1/status
#[derive(ClapArgs, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Settings file (TOML) with any of: data_dir, listen, topology, traffic,
    /// exits, southbound, min_reroute_interval, counter_interval, replay_day.
    /// Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the SQLite store and the admin token live [default: $KEEL_DATA_DIR,
    /// else $XDG_DATA_HOME/keel, else ~/.local/share/keel].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for the API [default: 127.0.0.1:7480]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub topo: TopologyArgs,
    /// Background traffic matrix replayed over time (built-in demo traffic with
    /// the built-in topology).
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    /// A site connecting to upstream providers (for Internet services); repeat.
    #[arg(long = "exit", value_name = "SITE")]
    pub exits: Vec<String>,
    /// Network to program: `sim` (the built-in simulated network) or `agents`
    /// (routers run by `keel agent`, e.g. in a `keel lab`).
    #[arg(long, value_name = "KIND")]
    pub southbound: Option<String>,
    /// Minimum time between re-routes for non-failure events (damping), e.g. 30s.
    #[arg(long, value_name = "DURATION")]
    pub min_reroute_interval: Option<humantime::Duration>,
    /// How often the network reports link counters, e.g. 5s.
    #[arg(long, value_name = "DURATION")]
    pub counter_interval: Option<humantime::Duration>,
    /// Replay one day of background demand in this long, e.g. 1h; 0 holds it still.
    #[arg(long, value_name = "DURATION")]
    pub replay_day: Option<humantime::Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    topology: Option<PathBuf>,
    traffic: Option<PathBuf>,
    #[serde(default)]
    exits: Vec<String>,
    southbound: Option<String>,
    min_reroute_interval: Option<String>,
    counter_interval: Option<String>,
    replay_day: Option<String>,
}

fn duration(
    flag: Option<humantime::Duration>,
    file: Option<&str>,
    key: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    if let Some(d) = flag {
        return Ok(d.into());
    }
    match file {
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| UsageError(format!("config {key}: `{s}`: {e}")).into()),
        None => Ok(default),
    }
}

/// The default data directory.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEL_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return Path::new(&d).join("keel");
    }
    match std::env::var_os("HOME") {
        Some(h) => Path::new(&h).join(".local/share/keel"),
        None => PathBuf::from("keel-data"),
    }
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", p.display())))?
        }
        None => FileConfig::default(),
    };
    let southbound = args
        .southbound
        .clone()
        .or(file.southbound.clone())
        .unwrap_or_else(|| "sim".into());
    let southbound = match southbound.as_str() {
        "sim" => keel_controller::SouthboundKind::Sim,
        "agents" => keel_controller::SouthboundKind::Agents,
        other => {
            return Err(UsageError(format!(
                "--southbound {other}: one of `sim` (a simulated network) or `agents` \
                 (routers run by `keel agent`)"
            ))
            .into());
        }
    };
    if args.topo.topology.is_none() {
        args.topo.topology = file.topology.clone();
    }
    let traffic = args.traffic.clone().or(file.traffic.clone());
    let (topology, label) = args.topo.load()?;
    let background = if traffic.is_some() || args.topo.is_default() {
        Some(input::load_traffic(
            traffic.as_deref(),
            None,
            &args.topo,
            &topology,
        )?)
    } else {
        None
    };
    let mut exits = if args.exits.is_empty() {
        file.exits.clone()
    } else {
        args.exits.clone()
    };
    if exits.is_empty() && args.topo.is_default() {
        exits = DEMO_EXITS.iter().map(|s| s.to_string()).collect();
    }
    let source = if args.topo.is_default() {
        TopologySource::Default(topology)
    } else {
        TopologySource::Given(topology)
    };
    let replay = duration(
        args.replay_day,
        file.replay_day.as_deref(),
        "replay_day",
        Duration::from_secs(3600),
    )?;
    let config = Config {
        data_dir: args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(default_data_dir),
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
        topology: source,
        background,
        exits,
        min_reroute_interval: duration(
            args.min_reroute_interval,
            file.min_reroute_interval.as_deref(),
            "min_reroute_interval",
            Duration::from_secs(30),
        )?,
        counter_interval: duration(
            args.counter_interval,
            file.counter_interval.as_deref(),
            "counter_interval",
            Duration::from_secs(5),
        )?
        .max(Duration::from_millis(50)),
        replay_day: (!replay.is_zero()).then_some(replay),
        southbound,
    };
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(keel_controller::serve(
        config,
        |s| announce(s, &label),
        shutdown_signal(),
    ))?;
    Ok(())
}

fn announce(s: &Started, label: &str) {
    println!("keel controller listening on {}", s.url);
    println!("  topology   {} ({label})", s.topology);
    println!("  data       {}", s.data_dir.display());
    println!("  services   {}", s.services);
    match &s.new_admin_token {
        Some(t) => {
            println!(
                "  admin token (shown once, also in {}):",
                s.admin_token_file.display()
            );
            println!("    {t}");
        }
        None => println!("  admin token in {}", s.admin_token_file.display()),
    }
    println!(
        "  try        curl -H \"Authorization: Bearer $(cat {})\" {}/api/v1/status",
        s.admin_token_file.display(),
        s.url
    );
    // Tests and scripts wait for this line.
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Logs to stderr at `info`, or as `RUST_LOG` says.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}
