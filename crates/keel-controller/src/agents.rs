//! The agents' southbound: the controller hands each site's [`SiteState`] to the
//! agent on that site's router and takes their reports back as network events.
//!
//! [`AgentSouthbound`] lives in the controller loop; [`AgentRegistry`] is what
//! the API shares with it: one watch channel per site (agents stream the latest
//! state, never a backlog) and the generations agents acknowledged. `apply`
//! returns once every connected agent concerned has acknowledged its state, or
//! after a bound: a slow or absent agent must not stall the controller, it
//! catches up from the latest state when it comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keel_model::{ClassSet, Topology};
use keel_southbound::site::{InterfaceCounters, SiteState};
use keel_southbound::{Change, DesiredState, LinkCounter, Southbound, SouthboundError};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::sitestate::site_states;

/// What an agent connection needs of one site.
#[derive(Clone)]
pub struct SiteChannel {
    pub state: watch::Receiver<Arc<SiteState>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentStatus {
    pub site: String,
    pub desired_generation: u64,
    pub applied_generation: Option<u64>,
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_seen_ms_ago: Option<u64>,
}

#[derive(Default)]
struct Acks {
    applied: BTreeMap<String, u64>,
    errors: BTreeMap<String, String>,
    connected: BTreeMap<String, usize>,
    seen: BTreeMap<String, Instant>,
}

/// Shared between the API (agent connections) and the southbound.
#[derive(Default)]
pub struct AgentRegistry {
    sites: Mutex<BTreeMap<String, SiteChannel>>,
    acks: Mutex<Acks>,
    acked: Condvar,
    /// Last byte counter per link, to turn the agents' running totals into rates.
    counters: Mutex<BTreeMap<String, (u64, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere leaves plain data behind: keep serving it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AgentRegistry {
    pub fn channel(&self, site: &str) -> Option<SiteChannel> {
        lock(&self.sites).get(site).cloned()
    }

    pub fn connected(&self, site: &str) {
        let mut a = lock(&self.acks);
        *a.connected.entry(site.to_string()).or_default() += 1;
        a.seen.insert(site.to_string(), Instant::now());
    }

    pub fn disconnected(&self, site: &str) {
        let mut a = lock(&self.acks);
        if let Some(n) = a.connected.get_mut(site) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn seen(&self, site: &str) {
        lock(&self.acks)
            .seen
            .insert(site.to_string(), Instant::now());
    }

    pub fn applied(&self, site: &str, generation: u64, error: Option<String>) {
        let mut a = lock(&self.acks);
        a.seen.insert(site.to_string(), Instant::now());
        match error {
            None => {
                a.applied.insert(site.to_string(), generation);
                a.errors.remove(site);
            }
            Some(e) => {
                a.errors.insert(site.to_string(), e);
            }
        }
        self.acked.notify_all();
    }

    /// Rates since the previous report of each link (none on a link's first).
    pub fn rates(&self, links: &[InterfaceCounters]) -> Vec<LinkCounter> {
        let now = Instant::now();
        let mut last = lock(&self.counters);
        links
            .iter()
            .filter_map(|c| {
                let (bytes, at) = last.insert(c.link.clone(), (c.tx_bytes, now))?;
                let secs = now.duration_since(at).as_secs_f64();
                // A counter that went back means the interface was re-created.
                (secs > 0.0 && c.tx_bytes >= bytes).then(|| {
                    let bps = (c.tx_bytes - bytes) as f64 * 8.0 / secs;
                    LinkCounter {
                        link: c.link.clone(),
                        offered_bps: bps,
                        carried_bps: bps,
                    }
                })
            })
            .collect()
    }

    pub fn status(&self) -> Vec<AgentStatus> {
        let sites = lock(&self.sites);
        let a = lock(&self.acks);
        sites
            .iter()
            .map(|(site, ch)| AgentStatus {
                site: site.clone(),
                desired_generation: ch.state.borrow().generation,
                applied_generation: a.applied.get(site).copied(),
                connected: a.connected.get(site).copied().unwrap_or(0) > 0,
                last_error: a.errors.get(site).cloned(),
                last_seen_ms_ago: a
                    .seen
                    .get(site)
                    .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)),
            })
            .collect()
    }

    /// Waits until each of `sites` that has an agent connected has applied at
    /// least the generation given, or `timeout` passes. Returns the sites that
    /// lag.
    fn wait_applied(&self, want: &BTreeMap<String, u64>, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut a = lock(&self.acks);
        loop {
            let lagging: Vec<String> = want
                .iter()
                .filter(|(site, g)| {
                    a.connected.get(*site).copied().unwrap_or(0) > 0
                        && a.applied.get(*site).is_none_or(|x| x < *g)
                        && !a.errors.contains_key(*site)
                })
                .map(|(s, _)| s.clone())
                .collect();
            let now = Instant::now();
            if lagging.is_empty() || now >= deadline {
                return lagging;
            }
            a = self
                .acked
                .wait_timeout(a, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The southbound of a controller whose network is run by `keel agent`s.
pub struct AgentSouthbound {
    registry: Arc<AgentRegistry>,
    senders: BTreeMap<String, watch::Sender<Arc<SiteState>>>,
    base: Topology,
    igp: Topology,
    classes: ClassSet,
    desired: DesiredState,
    ack_timeout: Duration,
}

impl AgentSouthbound {
    pub fn new(base: &Topology, ack_timeout: Duration) -> (Self, Arc<AgentRegistry>) {
        let registry = Arc::new(AgentRegistry::default());
        let mut sb = AgentSouthbound {
            registry: registry.clone(),
            senders: BTreeMap::new(),
            base: base.clone(),
            igp: base.clone(),
            classes: ClassSet::default(),
            desired: DesiredState::new(),
            ack_timeout,
        };
        sb.publish();
        (sb, registry)
    }

    /// Recomputes every site's state and hands out the ones that changed;
    /// returns the generations to wait for.
    fn publish(&mut self) -> BTreeMap<String, u64> {
        let states = site_states(&self.base, &self.igp, &self.desired, &self.classes);
        let mut changed = BTreeMap::new();
        let mut sites = lock(&self.registry.sites);
        let known: BTreeSet<String> = states.keys().cloned().collect();
        self.senders.retain(|s, _| known.contains(s));
        sites.retain(|s, _| known.contains(s));
        for (site, mut state) in states {
            match self.senders.get(&site) {
                Some(tx) => {
                    let old = tx.borrow().clone();
                    state.generation = old.generation;
                    if *old == state {
                        continue;
                    }
                    state.generation += 1;
                    changed.insert(site.clone(), state.generation);
                    tx.send_replace(Arc::new(state));
                }
                None => {
                    state.generation = 1;
                    changed.insert(site.clone(), 1);
                    let (tx, rx) = watch::channel(Arc::new(state));
                    sites.insert(site.clone(), SiteChannel { state: rx });
                    self.senders.insert(site, tx);
                }
            }
        }
        changed
    }

    fn publish_and_wait(&mut self) {
        let want = self.publish();
        if want.is_empty() {
            return;
        }
        let lagging = self.registry.wait_applied(&want, self.ack_timeout);
        if !lagging.is_empty() {
            warn!(?lagging, "agents have not acknowledged their state in time");
        }
    }
}

impl Southbound for AgentSouthbound {
    fn kind(&self) -> &'static str {
        "agents"
    }

    fn apply(&mut self, batch: &[Change]) -> Result<(), SouthboundError> {
        for c in batch {
            match c {
                Change::Upsert(p) => {
                    self.desired.insert(p.key.clone(), p.clone());
                }
                Change::Remove(k) => {
                    self.desired.remove(k);
                }
            }
        }
        self.publish_and_wait();
        Ok(())
    }

    fn set_link(&mut self, _link: &str, _up: bool) -> Result<(), SouthboundError> {
        Err(SouthboundError::Unsupported(
            "failing a link on request (a real network fails on its own; in a lab use `keel lab fail`)",
        ))
    }

    fn installed(&self) -> DesiredState {
        self.desired.clone()
    }

    fn set_igp(&mut self, base: &Topology, igp: &Topology) {
        if self.base.links() == base.links()
            && self.base.sites() == base.sites()
            && self.igp.links() == igp.links()
        {
            return;
        }
        info!(
            links = igp.link_count(),
            "IGP changed: recomputing the underlay"
        );
        self.base = base.clone();
        self.igp = igp.clone();
        self.publish_and_wait();
    }
}
