//! The Keel controller: backbone services with admission control, a self-healing
//! control loop over a southbound network, a REST API with roles, and everything
//! durable in the embedded store.
//!
//! Threads and channels: the event loop ([`core::Core`]) runs on its own thread
//! and owns all state; the HTTP server (tokio) turns requests into typed commands
//! with a reply channel, and reads the snapshot the loop publishes; the southbound
//! reports network events on a channel forwarded into the loop; timer tasks send
//! ticks and replayed demand.

pub mod agent_api;
pub mod agents;
pub mod api;
pub mod auth;
pub mod core;
pub mod dashboard;
pub mod error;
pub mod openapi;
pub mod plan;
pub mod predict;
pub mod service;
pub mod sitestate;
pub mod srv6;
pub mod update;
pub mod whatif;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keel_model::spec::TopologySpec;
use keel_model::{Topology, TrafficMatrix};
use keel_southbound::Southbound;
use keel_southbound::sim::SimNetwork;
use keel_store::{Audit, Store, TokenRow};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::info;

use crate::agents::AgentSouthbound;
use crate::core::{Core, Msg, Settings, Start};
use crate::plan::BackgroundDemand;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] keel_store::StoreError),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("stored topology: {0}")]
    Topology(String),
    #[error("exit `{0}` is not a site of the topology")]
    UnknownExit(String),
    #[error("{0}")]
    Start(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the topology comes from.
pub enum TopologySource {
    /// Given by the operator: imported as a new version when it differs from the
    /// stored one.
    Given(Topology),
    /// The built-in demo: used only when the store has no topology yet.
    Default(Topology),
}

pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub topology: TopologySource,
    /// Background traffic replayed over time (ignored when the stored topology
    /// is not the one it was given for).
    pub background: Option<TrafficMatrix>,
    /// Sites that connect to upstream providers (Internet services).
    pub exits: Vec<String>,
    pub min_reroute_interval: Duration,
    pub counter_interval: Duration,
    /// Replays one day of demand (a diurnal swing of the background) in this long.
    pub replay_day: Option<Duration>,
    pub southbound: SouthboundKind,
}

/// What the controller programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SouthboundKind {
    /// A simulated network in the controller's process.
    #[default]
    Sim,
    /// Routers run by `keel agent`, connected over the agent protocol.
    Agents,
}

/// How long a change waits for the agents concerned to acknowledge it.
const AGENT_ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// How long open event streams may delay the end of a shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What a started server tells its caller.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub data_dir: PathBuf,
    /// The admin token's secret, when this start created it.
    pub new_admin_token: Option<String>,
    pub admin_token_file: PathBuf,
    pub topology: String,
    pub services: usize,
}

/// Runs the controller until `shutdown` completes.
pub async fn serve(
    config: Config,
    on_start: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Arc::new(Store::open(&config.data_dir)?);
    let (base, version, background, stored) =
        settle_topology(&store, config.topology, config.background)?;
    // The demo's exits need not exist in a topology imported since.
    let exits = config
        .exits
        .iter()
        .filter_map(|e| match base.site_by_id(e) {
            Some(s) => Some(Ok(s)),
            None if stored => None,
            None => Some(Err(ServeError::UnknownExit(e.clone()))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let admin_file = config.data_dir.join("admin.token");
    let new_admin_token = ensure_admin(&store, &admin_file)?;

    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let (net_tx, mut net_rx) = mpsc::unbounded_channel();
    let (southbound, sim, agents): (Box<dyn Southbound>, _, _) = match config.southbound {
        SouthboundKind::Sim => {
            let sim = SimNetwork::new(
                base.links()
                    .iter()
                    .map(|l| (l.id.clone(), l.capacity.bps())),
                net_tx,
            );
            (Box::new(sim.clone()), Some(sim), None)
        }
        SouthboundKind::Agents => {
            let (sb, registry) = AgentSouthbound::new(&base, AGENT_ACK_TIMEOUT);
            (Box::new(sb), None, Some(registry))
        }
    };
    let (snap_tx, snap_rx) = watch::channel(Arc::new(empty_snapshot(&base)));
    let (events, _) = broadcast::channel(1024);
    let start = Start {
        store: store.clone(),
        base: base.clone(),
        topology_version: version,
        settings: Settings {
            min_reroute_interval: config.min_reroute_interval,
            exit_names: config.exits.clone(),
            exits,
        },
        background,
        southbound,
        snapshot: snap_tx,
        events: events.clone(),
        loopback: Some(tx.clone()),
    };
    let core = tokio::task::spawn_blocking(move || Core::new(start))
        .await
        .map_err(|e| ServeError::Start(e.to_string()))?
        .map_err(|e| ServeError::Start(e.to_string()))?;
    let services = core_services(&store)?;
    let loop_thread = std::thread::Builder::new()
        .name("keel-core".into())
        .spawn(move || core.run(rx))?;

    // Network events into the loop.
    let fwd = tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = net_rx.recv().await {
            if fwd.send(Msg::Network(ev)).is_err() {
                return;
            }
        }
    });
    let reporter = sim
        .as_ref()
        .map(|sim| sim.spawn_reporter(config.counter_interval));
    let ticker = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_millis(200));
            loop {
                t.tick().await;
                if tx.send(Msg::Tick).is_err() {
                    return;
                }
            }
        })
    };
    let replay = config.replay_day.map(|day| {
        let tx = tx.clone();
        tokio::spawn(async move { replay_demand(tx, day).await })
    });

    let state = api::AppState {
        tx,
        snapshot: snap_rx,
        events,
        store: store.clone(),
        sim,
        agents,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    on_start(&Started {
        url: format!("http://{addr}"),
        data_dir: config.data_dir.clone(),
        new_admin_token,
        admin_token_file: admin_file,
        topology: base.name().to_string(),
        services,
    });
    info!(%addr, "serving");
    // Graceful shutdown waits for open connections, but event streams (agents,
    // dashboards) never end by themselves: after the signal they get a short
    // grace, then the server stops regardless.
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let signalled = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(signalled);
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served?,
        _ = async {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => info!("stopped with event streams still open"),
    }
    if let Some(r) = reporter {
        r.abort();
    }
    ticker.abort();
    if let Some(r) = replay {
        r.abort();
    }
    // The loop ends when the last sender (held by the router and tasks) is gone.
    drop(loop_thread);
    Ok(())
}

fn core_services(store: &Store) -> Result<usize, ServeError> {
    Ok(store.services()?.len())
}

/// The topology to run: the operator's (stored as a new version when changed), or
/// the stored one, or the built-in default.
fn settle_topology(
    store: &Store,
    source: TopologySource,
    background: Option<TrafficMatrix>,
) -> Result<(Topology, i64, Vec<BackgroundDemand>, bool), ServeError> {
    let stored = store.latest_topology()?;
    let (given, is_default) = match source {
        TopologySource::Given(t) => (t, false),
        TopologySource::Default(t) => (t, true),
    };
    let given_doc = serde_json::to_string(&TopologySpec::from_topology(&given))
        .map_err(|e| ServeError::Topology(e.to_string()))?;
    let (topo, version) = match stored {
        Some((v, doc)) if doc == given_doc => (given, v),
        Some((v, doc)) if is_default => {
            let spec: TopologySpec =
                serde_json::from_str(&doc).map_err(|e| ServeError::Topology(e.to_string()))?;
            let t = spec
                .into_topology()
                .map_err(|e| ServeError::Topology(e.to_string()))?;
            // Background traffic belongs to the default topology, not this one.
            return Ok((t, v, Vec::new(), true));
        }
        _ => {
            let detail = serde_json::json!({ "cause": "serve", "name": given.name() }).to_string();
            let v = store.save_topology(
                &given_doc,
                Audit {
                    actor: "controller",
                    action: "topology.import",
                    subject: given.name(),
                    detail: &detail,
                },
            )?;
            (given, v)
        }
    };
    let bg = background
        .map(|tm| {
            let classes = tm.classes();
            tm.demands()
                .iter()
                .map(|d| BackgroundDemand {
                    src: d.src,
                    dst: d.dst,
                    class: classes.get(d.class).name.clone(),
                    rate: d.rate.bps(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((topo, version, bg, false))
}

/// Creates the first admin token when the store has none; its secret is written
/// to `file` (mode 0600) and returned so it can be printed once.
fn ensure_admin(store: &Store, file: &std::path::Path) -> Result<Option<String>, ServeError> {
    if store.token_count()? > 0 {
        return Ok(None);
    }
    let secret = auth::new_secret();
    write_secret(file, &secret)?;
    store.put_token(
        &auth::hash(&secret),
        &TokenRow {
            name: "admin".into(),
            role: "admin".into(),
            tenant: None,
        },
        Audit {
            actor: "controller",
            action: "token.create",
            subject: "admin",
            detail: "{\"cause\":\"first start\"}",
        },
    )?;
    Ok(Some(secret))
}

fn write_secret(file: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(file)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

/// A diurnal swing of the background between 55% and 100% of the matrix, one
/// day per `day`, updated 48 times a day (every half hour of the day).
async fn replay_demand(tx: mpsc::UnboundedSender<Msg>, day: Duration) {
    let step = day / 48;
    let mut t = tokio::time::interval(step.max(Duration::from_millis(100)));
    let mut k: u32 = 0;
    loop {
        t.tick().await;
        let phase = f64::from(k % 48) / 48.0;
        // Peak in the evening (phase 0.8), trough before dawn.
        let f = 0.775 + 0.225 * (2.0 * std::f64::consts::PI * (phase - 0.55)).cos();
        if tx.send(Msg::DemandScale(f)).is_err() {
            return;
        }
        k = k.wrapping_add(1);
    }
}

fn empty_snapshot(base: &Topology) -> core::Snapshot {
    core::Snapshot {
        topology_name: base.name().to_string(),
        topology_version: 0,
        southbound: "sim",
        sites: Vec::new(),
        links: Vec::new(),
        services: Default::default(),
        allocation: None,
        model: None,
        prediction: None,
        reoptimisations: 0,
        last_reaction_s: None,
        pending_reoptimisation: true,
        ready: false,
    }
}
