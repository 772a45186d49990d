//! `keel agent`: runs on a site's router (in a lab, for a site's namespace).
//!
//! One event loop over typed messages owns the agent's state: the latest
//! [`SiteState`] from the controller, the set of local links that are down, and
//! the kernel connection. Threads around it only turn I/O into messages: the
//! controller's state stream, netlink link events, a counter ticker; reports go
//! out through one sender thread so the loop never waits on the network.
//!
//! A local link going down is repaired at once from the state the agent holds
//! (backups and TI-LFA repairs), before the controller hears of it. Without a
//! controller the agent keeps forwarding on the last state ("headless"), and a
//! restarted agent changes nothing in the kernel until it has a state to compare
//! with: reconciling to the same state is a no-op.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use keel_dataplane::{InterfaceMap, Kernel, LinkEvent};
use keel_southbound::site::{AGENT_PROTOCOL_VERSION, AgentReport, SiteState};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::input::UsageError;

/// Run the Keel agent of one site: program its router from the controller.
///
/// The agent streams its site's desired forwarding state from the controller
/// (agent protocol v1 over HTTP, docs/agent-protocol.md), makes the kernel match
/// it over netlink, reports link up/down at once and interface counters
/// periodically, and repairs local link failures by itself.
///
/// Example (in a lab, `keel lab up` starts agents like this):
///
///   keel agent --site NYCM --controller http://127.0.0.1:7481 \
///       --token-file /run/keel-lab/keel/controller/admin.token \
///       --netns kl-keel-NYCM --interfaces /run/keel-lab/keel/NYCM.json
#[derive(ClapArgs, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The site this agent runs (a site id of the controller's topology).
    #[arg(long)]
    pub site: String,
    /// Controller URL.
    #[arg(long, env = "KEEL_SERVER", default_value = "http://127.0.0.1:7480")]
    pub controller: String,
    /// Bearer token with the operator role [default: $KEEL_TOKEN].
    #[arg(long, env = "KEEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the token from this file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Program this network namespace (by name) instead of the agent's own.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// JSON map from link id to interface name (`{"A->B": "eth1", ...}`, or the
    /// lab's map file with a `links` member).
    #[arg(long, value_name = "FILE")]
    pub interfaces: PathBuf,
    /// Do not repair local link failures: wait for the controller (to measure
    /// what local repair is worth).
    #[arg(long)]
    pub no_local_repair: bool,
    /// How often to report interface counters.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub counter_interval: humantime::Duration,
    /// Keep the last state here, so that a restarted agent can go on headless.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
}

enum Msg {
    State(Box<SiteState>),
    Link(LinkEvent),
    Counters,
    /// The controller refused the agent (bad token, unknown site, protocol):
    /// retrying cannot help.
    Refused(String),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    super::serve::init_logging();
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the token file {}", f.display()))?
            .trim()
            .to_string(),
        (None, None) => {
            return Err(
                UsageError("no token: give --token, --token-file or KEEL_TOKEN".into()).into(),
            );
        }
    };
    let text = std::fs::read_to_string(&args.interfaces)
        .with_context(|| format!("cannot read {}", args.interfaces.display()))?;
    let map = parse_interface_map(&text)
        .map_err(|e| UsageError(format!("{}: {e}", args.interfaces.display())))?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(agent(args, token, map))
}

/// The agent's map file: either a plain `{link: ifname}` object or the lab's
/// file, which holds it under `links`.
fn parse_interface_map(text: &str) -> Result<InterfaceMap, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let inner = v.get("links").cloned().unwrap_or(v);
    InterfaceMap::from_json(&inner.to_string()).map_err(|e| e.to_string())
}

async fn agent(args: Args, token: String, map: InterfaceMap) -> anyhow::Result<()> {
    let kernel = Kernel::connect(args.netns.as_deref())
        .await
        .with_context(|| match &args.netns {
            Some(ns) => format!("cannot open netlink in namespace {ns}"),
            None => "cannot open netlink".to_string(),
        })?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let base = args.controller.trim_end_matches('/').to_string();
    let reports = spawn_reporter(&base, &args.site, &token);

    // Link events first, so no change between the first state and the stream
    // is missed; the stream starts with the current state of every interface.
    let mut links = Kernel::link_events(args.netns.as_deref(), &map)
        .await
        .context("cannot watch link events")?;
    let link_tx = tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = links.recv().await {
            if link_tx.send(Msg::Link(ev)).is_err() {
                return;
            }
        }
    });
    spawn_state_stream(&base, &args.site, &token, tx.clone());
    let interval: Duration = args.counter_interval.into();
    let tick_tx = tx.clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(interval.max(Duration::from_millis(100)));
        loop {
            t.tick().await;
            if tick_tx.send(Msg::Counters).is_err() {
                return;
            }
        }
    });

    let mut state: Option<Arc<SiteState>> = None;
    if let Some(cached) = args
        .state_file
        .as_ref()
        .and_then(|f| read_cached(f, &args.site))
    {
        info!(
            generation = cached.generation,
            "starting headless from the cached state"
        );
        let _ = tx.send(Msg::State(Box::new(cached)));
    }
    // Links already down when the agent starts (later changes come as events).
    let mut down: BTreeSet<String> = kernel.down_links(&map).await.unwrap_or_else(|e| {
        warn!(error = %e, "cannot read link states; assuming all up");
        BTreeSet::new()
    });
    info!(site = args.site, controller = base, "agent started");
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                match msg {
                    Msg::State(s) => {
                        let s: Arc<SiteState> = Arc::from(s);
                        let started = Instant::now();
                        match kernel.reconcile(&s, &map, &down).await {
                            Ok(r) => {
                                info!(generation = s.generation, added = r.added, replaced = r.replaced,
                                      removed = r.removed, ms = started.elapsed().as_secs_f64() * 1e3,
                                      "state installed");
                                if r.errors.is_empty() {
                                    reports.send(AgentReport::Applied { generation: s.generation });
                                } else {
                                    reports.send(AgentReport::Failed {
                                        generation: s.generation,
                                        error: r.errors.join("; "),
                                    });
                                }
                            }
                            Err(e) => {
                                error!(error = %e, "installing the state failed; forwarding stays as it was");
                                reports.send(AgentReport::Failed { generation: s.generation, error: e.to_string() });
                            }
                        }
                        if let Some(f) = &args.state_file {
                            write_cached(f, &s);
                        }
                        state = Some(s);
                    }
                    Msg::Link(ev) => {
                        let (link, is_up) = match &ev {
                            LinkEvent::Up(l) => (l.clone(), true),
                            LinkEvent::Down(l) => (l.clone(), false),
                        };
                        let changed = if is_up { down.remove(&link) } else { down.insert(link.clone()) };
                        if !changed {
                            continue;
                        }
                        if let (false, Some(s)) = (args.no_local_repair, &state) {
                            let started = Instant::now();
                            match kernel.local_repair(s, &map, &down, &link).await {
                                Ok(r) => info!(link, up = is_up, replaced = r.replaced + r.added + r.removed,
                                               us = started.elapsed().as_micros() as u64, "local repair"),
                                Err(e) => warn!(link, error = %e, "local repair failed"),
                            }
                        }
                        reports.send(if is_up { AgentReport::LinkUp { link } } else { AgentReport::LinkDown { link } });
                    }
                    Msg::Counters => match kernel.counters(&map).await {
                        Ok(links) => reports.send(AgentReport::Counters { links }),
                        Err(e) => warn!(error = %e, "cannot read counters"),
                    },
                    Msg::Refused(why) => bail!("the controller refused this agent: {why}"),
                }
            }
            _ = tokio::signal::ctrl_c() => {
                info!("stopping; the kernel keeps the last state");
                return Ok(());
            }
        }
    }
}

fn read_cached(file: &PathBuf, site: &str) -> Option<SiteState> {
    let text = std::fs::read_to_string(file).ok()?;
    let s: SiteState = serde_json::from_str(&text)
        .map_err(
            |e| warn!(file = %file.display(), error = %e, "ignoring an unreadable cached state"),
        )
        .ok()?;
    (s.site == site).then_some(s)
}

fn write_cached(file: &PathBuf, s: &SiteState) {
    // Write then rename: a crash never leaves half a state behind.
    let tmp = file.with_extension("tmp");
    let ok = serde_json::to_vec(s)
        .map_err(std::io::Error::other)
        .and_then(|doc| std::fs::write(&tmp, doc))
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = ok {
        warn!(file = %file.display(), error = %e, "cannot cache the state");
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(3)))
        .build()
        .into()
}

/// Streams the site's state from the controller, reconnecting with backoff.
fn spawn_state_stream(base: &str, site: &str, token: &str, tx: mpsc::UnboundedSender<Msg>) {
    let url = format!("{base}/api/v1/agents/{site}/state?protocol={AGENT_PROTOCOL_VERSION}");
    let auth = format!("Bearer {token}");
    let spawned = std::thread::Builder::new()
        .name("state-stream".into())
        .spawn(move || {
            let http = http();
            let mut backoff = Duration::from_millis(200);
            loop {
                match http.get(&url).header("Authorization", &auth).call() {
                    Ok(resp) if resp.status().is_success() => {
                        info!("connected to the controller");
                        backoff = Duration::from_millis(200);
                        let reader = BufReader::new(resp.into_body().into_reader());
                        if read_events(reader, &tx).is_err() {
                            return; // the agent is gone
                        }
                        warn!(
                            "the controller closed the state stream; forwarding goes on headless"
                        );
                    }
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.into_body().read_to_string().unwrap_or_default();
                        if matches!(status.as_u16(), 400 | 401 | 403 | 404) {
                            let _ = tx.send(Msg::Refused(format!("{status}: {body}")));
                            return;
                        }
                        warn!(%status, body, "the controller answered with an error");
                    }
                    Err(e) => {
                        warn!(error = %e, "controller unreachable; forwarding goes on headless")
                    }
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    if let Err(e) = spawned {
        error!(error = %e, "cannot start the state stream");
    }
}

/// Reads Server-Sent Events until the stream ends; `Err` when the agent loop
/// has gone.
fn read_events(reader: impl BufRead, tx: &mpsc::UnboundedSender<Msg>) -> Result<(), ()> {
    let (mut event, mut data) = (String::new(), String::new());
    for line in reader.lines() {
        let Ok(line) = line else { return Ok(()) };
        if line.is_empty() {
            if event == "state" {
                match serde_json::from_str::<SiteState>(&data) {
                    Ok(s) => tx.send(Msg::State(Box::new(s))).map_err(|_| ())?,
                    Err(e) => warn!(error = %e, "ignoring a state the agent cannot read"),
                }
            }
            event.clear();
            data.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Ok(())
}

/// Sends reports in order from one thread. Link events and acknowledgements are
/// retried until delivered; counters are dropped while the controller is away
/// (the next ones supersede them).
struct Reporter(std::sync::mpsc::Sender<AgentReport>);

impl Reporter {
    fn send(&self, r: AgentReport) {
        let _ = self.0.send(r);
    }
}

fn spawn_reporter(base: &str, site: &str, token: &str) -> Reporter {
    let (tx, rx) = std::sync::mpsc::channel::<AgentReport>();
    let url = format!("{base}/api/v1/agents/{site}/reports");
    let auth = format!("Bearer {token}");
    let spawned = std::thread::Builder::new()
        .name("reporter".into())
        .spawn(move || {
            let http = http();
            for report in rx {
                let retry = !matches!(report, AgentReport::Counters { .. });
                let mut backoff = Duration::from_millis(100);
                loop {
                    match http
                        .post(&url)
                        .header("Authorization", &auth)
                        .send_json(&report)
                    {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) => {
                            warn!(status = %r.status(), "the controller refused a report");
                            break;
                        }
                        Err(e) if retry => {
                            warn!(error = %e, "report not delivered; retrying");
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                        Err(_) => break,
                    }
                }
            }
        });
    if let Err(e) = spawned {
        error!(error = %e, "cannot start the reporter");
    }
    Reporter(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_become_states() {
        let state = r#"{"site":"A","generation":7,"locator":"fc00:0:1::/48","host_prefixes":[],"interfaces":[],"local_sids":[],"underlay":[],"policies":[],"tenants":[],"qos":[]}"#;
        let stream = format!(
            ": keep-alive\n\nevent: state\nid: 7\ndata: {state}\n\nevent: other\ndata: x\n\n"
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        read_events(stream.as_bytes(), &tx).expect("read");
        match rx.try_recv() {
            Ok(Msg::State(s)) => assert_eq!((s.site.as_str(), s.generation), ("A", 7)),
            _ => panic!("expected one state"),
        }
        assert!(rx.try_recv().is_err(), "other events are ignored");
    }

    #[test]
    fn interface_maps_come_plain_or_from_the_lab() {
        let plain = parse_interface_map(r#"{"A->B": "k0"}"#).expect("plain");
        assert_eq!(plain.lookup("A->B"), Some("k0"));
        let lab = parse_interface_map(r#"{"site": "A", "links": {"A->B": "k3"}}"#).expect("lab");
        assert_eq!(lab.lookup("A->B"), Some("k3"));
        assert!(parse_interface_map("[1]").is_err());
    }
}
