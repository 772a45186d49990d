//! A simulated network at flow level: it holds the installed policies and the link
//! state, sends each policy's allocated rate down its paths in proportion to the
//! weights, and reports link counters on a timer. Failures are injected on
//! request and reported at once, as a router's link-down would be.
//!
//! Traffic on a path that crosses a down link is lost until the controller
//! re-programs (no local repair here: that is the data plane's job), which is what
//! makes the controller's reaction visible in the counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::{Change, DesiredState, LinkCounter, NetworkEvent, Policy, Southbound, SouthboundError};

#[derive(Debug)]
struct SimLink {
    capacity_bps: f64,
    up: bool,
}

/// Observations for tests and benchmarks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimStats {
    /// Batches applied since start.
    pub batches: u64,
    /// Highest offered/capacity ratio over up links seen right after any batch:
    /// above 1 means an update order overloaded a link transiently.
    pub peak_utilisation_after_batch: f64,
    /// From the last injected link failure to the first batch applied after it.
    pub last_failure_reaction: Option<Duration>,
    /// Offered traffic currently lost on down links, bit/s.
    pub lost_bps: f64,
}

#[derive(Debug)]
struct State {
    links: HashMap<String, SimLink>,
    policies: DesiredState,
    stats: SimStats,
    failed_at: Option<Instant>,
}

impl State {
    /// Offered load per link and traffic lost on down links.
    fn loads(&self) -> (HashMap<&str, f64>, f64) {
        let mut load: HashMap<&str, f64> = self.links.keys().map(|k| (k.as_str(), 0.0)).collect();
        let mut lost = 0.0;
        for policy in self.policies.values() {
            let total_weight: f64 = policy.paths.iter().map(|p| f64::from(p.weight)).sum();
            let rate = policy.rate_bps();
            if total_weight <= 0.0 {
                continue;
            }
            for path in &policy.paths {
                let share = rate * f64::from(path.weight) / total_weight;
                if !path.links.iter().all(|l| self.up(l)) {
                    lost += share;
                    continue;
                }
                for l in &path.links {
                    if let Some(v) = load.get_mut(&**l) {
                        *v += share;
                    }
                }
            }
        }
        (load, lost)
    }

    fn up(&self, l: &str) -> bool {
        self.links.get(l).is_some_and(|s| s.up)
    }

    fn peak_utilisation(&self) -> f64 {
        let (load, _) = self.loads();
        load.iter()
            .filter_map(|(l, v)| {
                let link = &self.links[*l];
                (link.up && link.capacity_bps > 0.0).then(|| v / link.capacity_bps)
            })
            .fold(0.0, f64::max)
    }

    fn counters(&self) -> (Vec<LinkCounter>, f64) {
        let (load, lost) = self.loads();
        let mut load: Vec<(&str, f64)> = load.into_iter().collect();
        load.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let counters = load
            .into_iter()
            .map(|(l, offered)| {
                let link = &self.links[l];
                let carried = if link.up {
                    offered.min(link.capacity_bps)
                } else {
                    0.0
                };
                LinkCounter {
                    link: l.to_string(),
                    offered_bps: offered,
                    carried_bps: carried,
                }
            })
            .collect();
        (counters, lost)
    }
}

/// A handle on the simulated network; clones share it.
#[derive(Debug, Clone)]
pub struct SimNetwork {
    state: Arc<Mutex<State>>,
    events: UnboundedSender<NetworkEvent>,
}

impl SimNetwork {
    /// A network of the given links (id, capacity in bit/s), all up.
    pub fn new(
        links: impl IntoIterator<Item = (String, f64)>,
        events: UnboundedSender<NetworkEvent>,
    ) -> Self {
        let links = links
            .into_iter()
            .map(|(id, capacity_bps)| {
                (
                    id,
                    SimLink {
                        capacity_bps,
                        up: true,
                    },
                )
            })
            .collect();
        SimNetwork {
            state: Arc::new(Mutex::new(State {
                links,
                policies: DesiredState::new(),
                stats: SimStats::default(),
                failed_at: None,
            })),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes a link's physical rate (a microwave link adapting to rain).
    pub fn set_capacity(&self, link: &str, capacity_bps: f64) -> Result<(), SouthboundError> {
        let mut st = self.lock();
        let l = st
            .links
            .get_mut(link)
            .ok_or_else(|| SouthboundError::UnknownLink(link.to_string()))?;
        l.capacity_bps = capacity_bps;
        Ok(())
    }

    pub fn stats(&self) -> SimStats {
        let st = self.lock();
        let mut stats = st.stats.clone();
        stats.lost_bps = st.loads().1;
        stats
    }

    /// Reports counters every `interval` until the event receiver is gone.
    pub fn spawn_reporter(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let sim = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (links, _) = sim.lock().counters();
                if sim.events.send(NetworkEvent::Counters { links }).is_err() {
                    return;
                }
            }
        })
    }
}

impl Southbound for SimNetwork {
    fn kind(&self) -> &'static str {
        "sim"
    }

    fn apply(&mut self, batch: &[Change]) -> Result<(), SouthboundError> {
        let mut st = self.lock();
        for change in batch {
            if let Change::Upsert(p) = change {
                check_policy(&st, p)?;
            }
        }
        for change in batch {
            match change {
                Change::Upsert(p) => {
                    st.policies.insert(p.key.clone(), p.clone());
                }
                Change::Remove(k) => {
                    st.policies.remove(k);
                }
            }
        }
        st.stats.batches += 1;
        let peak = st.peak_utilisation();
        st.stats.peak_utilisation_after_batch = st.stats.peak_utilisation_after_batch.max(peak);
        if let Some(at) = st.failed_at.take() {
            st.stats.last_failure_reaction = Some(at.elapsed());
        }
        Ok(())
    }

    fn set_link(&mut self, link: &str, up: bool) -> Result<(), SouthboundError> {
        let mut st = self.lock();
        let l = st
            .links
            .get_mut(link)
            .ok_or_else(|| SouthboundError::UnknownLink(link.to_string()))?;
        if l.up == up {
            return Ok(());
        }
        l.up = up;
        if !up {
            st.failed_at = Some(Instant::now());
        }
        drop(st);
        let event = if up {
            NetworkEvent::LinkUp {
                link: link.to_string(),
            }
        } else {
            NetworkEvent::LinkDown {
                link: link.to_string(),
            }
        };
        // The controller may be shutting down; the state change stands regardless.
        let _ = self.events.send(event);
        Ok(())
    }

    fn installed(&self) -> DesiredState {
        self.lock().policies.clone()
    }

    fn sync_links(&mut self, links: &[(String, f64)]) {
        let mut st = self.lock();
        st.links.retain(|id, _| links.iter().any(|(l, _)| l == id));
        for (id, capacity_bps) in links {
            st.links
                .entry(id.clone())
                .and_modify(|l| l.capacity_bps = *capacity_bps)
                .or_insert(SimLink {
                    capacity_bps: *capacity_bps,
                    up: true,
                });
        }
    }
}

/// A router refuses a policy over links it does not have.
fn check_policy(st: &State, p: &Policy) -> Result<(), SouthboundError> {
    for path in &p.paths {
        if let Some(l) = path.links.iter().find(|l| !st.links.contains_key(&***l)) {
            return Err(SouthboundError::Rejected {
                key: p.key.to_string(),
                reason: format!("unknown link `{l}`"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PolicyKey, SegmentList};

    fn policy(links: &[(&[&str], u16, f64)]) -> Policy {
        Policy {
            key: PolicyKey {
                service: "s".into(),
                ingress: "A".into(),
                egress: "C".into(),
                class: "bulk".into(),
            },
            dscp: None,
            prefixes: vec![],
            paths: links
                .iter()
                .map(|(ls, w, r)| SegmentList {
                    weight: *w,
                    rate_bps: *r,
                    segments: vec![],
                    links: ls.iter().map(|s| Arc::from(*s)).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn traffic_follows_weights_and_is_lost_on_a_down_link() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sim = SimNetwork::new(
            [
                ("ab".to_string(), 10.0),
                ("bc".into(), 10.0),
                ("ac".into(), 5.0),
            ],
            tx,
        );
        let p = policy(&[(&["ab", "bc"], 256, 6.0), (&["ac"], 128, 3.0)]);
        sim.apply(&[Change::Upsert(p.clone())]).expect("apply");
        let (counters, lost) = sim.lock().counters();
        let get = |l: &str| counters.iter().find(|c| c.link == l).map(|c| c.offered_bps);
        assert_eq!(get("ab"), Some(6.0));
        assert_eq!(get("ac"), Some(3.0));
        assert_eq!(lost, 0.0);
        assert!((sim.stats().peak_utilisation_after_batch - 0.6).abs() < 1e-12);

        sim.set_link("ac", false).expect("fail");
        assert!(matches!(rx.try_recv(), Ok(NetworkEvent::LinkDown { link }) if link == "ac"));
        assert_eq!(sim.stats().lost_bps, 3.0);
        sim.apply(&[Change::Remove(p.key.clone())]).expect("remove");
        assert!(sim.installed().is_empty());
        assert!(sim.stats().last_failure_reaction.is_some());
    }

    #[test]
    fn a_policy_over_an_unknown_link_is_refused_whole() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sim = SimNetwork::new([("ab".to_string(), 10.0)], tx);
        let err = sim
            .apply(&[Change::Upsert(policy(&[(&["zz"], 1, 1.0)]))])
            .expect_err("unknown link");
        assert!(err.to_string().contains("zz"), "{err}");
        assert!(sim.installed().is_empty());
    }
}
