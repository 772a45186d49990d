//! From the installed state to the desired one without overloading a link on the
//! way, in the spirit of SWAN's congestion-free updates.
//!
//! Ingresses switch independently, so while a batch is being applied a link may
//! carry a policy's old *or* new rate. Batches are therefore built so that every
//! link stays within capacity counting, for each change still in flight, the larger
//! of its old and new load: first every change that only lowers load (removals,
//! shrinking policies), then growing changes greedily while they fit. When no
//! remaining change fits (a cycle of moves that needs scratch capacity), the rest
//! goes in one last batch and the links that may be transiently overloaded are
//! reported, so the audit log says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use keel_southbound::{Change, DesiredState, Policy, PolicyKey, SegmentList};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdatePlan {
    pub batches: Vec<Vec<Change>>,
    /// Links that may exceed capacity while the last batch is applied (empty when
    /// the whole update is congestion-free).
    pub at_risk: Vec<String>,
}

impl UpdatePlan {
    pub fn changes(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

/// Link ids interned to dense indices, so per-link sums are vector indexing.
struct Links<'a> {
    index: HashMap<&'a str, usize>,
    capacity: Vec<f64>,
    names: Vec<&'a str>,
}

impl<'a> Links<'a> {
    fn new(capacity: &'a BTreeMap<String, f64>) -> Self {
        let mut links = Links {
            index: HashMap::with_capacity(capacity.len()),
            capacity: Vec::with_capacity(capacity.len()),
            names: Vec::with_capacity(capacity.len()),
        };
        for (l, c) in capacity {
            let i = links.id(l);
            links.capacity[i] = *c;
        }
        links
    }

    /// Links without a capacity (down) are not checked: infinite.
    fn id(&mut self, l: &'a str) -> usize {
        *self.index.entry(l).or_insert_with(|| {
            self.capacity.push(f64::INFINITY);
            self.names.push(l);
            self.names.len() - 1
        })
    }

    fn fits(&self, l: usize, v: f64) -> bool {
        v <= self.capacity[l] * (1.0 + 1e-9) + 1e-3
    }

    /// Load change per link of replacing `old` by `new`, merged by link.
    fn delta(&mut self, old: Option<&'a Policy>, new: Option<&'a Policy>) -> Vec<(usize, f64)> {
        let mut d = Vec::new();
        for (p, sign) in [(old, -1.0), (new, 1.0)] {
            for path in p.iter().flat_map(|p| p.paths.iter()) {
                for l in &path.links {
                    d.push((self.id(l), sign * path.rate_bps));
                }
            }
        }
        d.sort_unstable_by_key(|x| x.0);
        d.dedup_by(|next, kept| {
            if next.0 == kept.0 {
                kept.1 += next.1;
                true
            } else {
                false
            }
        });
        d
    }
}

/// The changes from `installed` to `desired`, in batches given link capacities
/// (links absent from `capacity` are down: not checked). Policies for which
/// `elastic` holds (background traffic) make room first, SWAN-style: each is
/// lowered to the smaller of its old and new rate per path, the committed policies
/// move, and only then do the elastic ones grow to their new rates.
pub fn plan_update(
    installed: &DesiredState,
    desired: &DesiredState,
    capacity: &BTreeMap<String, f64>,
    elastic: impl Fn(&PolicyKey) -> bool,
) -> UpdatePlan {
    let mid = intermediate(installed, desired, &elastic);
    let mut first = greedy(installed, &mid, capacity);
    let second = greedy(&mid, desired, capacity);
    first.batches.extend(second.batches);
    first.at_risk.extend(second.at_risk);
    first.at_risk.sort();
    first.at_risk.dedup();
    first
}

/// `desired`, except that elastic policies carry at most their old rate on each
/// path they keep, and none on new paths.
fn intermediate(
    installed: &DesiredState,
    desired: &DesiredState,
    elastic: &impl Fn(&PolicyKey) -> bool,
) -> DesiredState {
    let mut mid = DesiredState::new();
    for (k, new) in desired {
        if !elastic(k) {
            mid.insert(k.clone(), new.clone());
            continue;
        }
        let Some(old) = installed.get(k) else {
            continue;
        };
        let paths: Vec<SegmentList> = new
            .paths
            .iter()
            .filter_map(|p| {
                let before = old.paths.iter().find(|o| o.links == p.links)?;
                let rate = before.rate_bps.min(p.rate_bps);
                (rate > 0.0).then(|| SegmentList {
                    rate_bps: rate,
                    ..p.clone()
                })
            })
            .collect();
        if paths.is_empty() {
            continue;
        }
        let rates: Vec<f64> = paths.iter().map(|p| p.rate_bps).collect();
        let weights = keel_southbound::quantise_weights(&rates);
        let paths = paths
            .into_iter()
            .zip(weights)
            .map(|(p, weight)| SegmentList { weight, ..p })
            .collect();
        mid.insert(
            k.clone(),
            Policy {
                paths,
                ..new.clone()
            },
        );
    }
    mid
}

/// Shrinking changes first, then growing ones in batches that fit.
fn greedy(
    installed: &DesiredState,
    desired: &DesiredState,
    capacity: &BTreeMap<String, f64>,
) -> UpdatePlan {
    let mut changes: Vec<Change> = Vec::new();
    for (k, p) in desired {
        if installed.get(k) != Some(p) {
            changes.push(Change::Upsert(p.clone()));
        }
    }
    for k in installed.keys() {
        if !desired.contains_key(k) {
            changes.push(Change::Remove(k.clone()));
        }
    }
    if changes.is_empty() {
        return UpdatePlan {
            batches: vec![],
            at_risk: vec![],
        };
    }
    let mut links = Links::new(capacity);
    let deltas: Vec<Vec<(usize, f64)>> = changes
        .iter()
        .map(|c| match c {
            Change::Upsert(p) => links.delta(installed.get(&p.key), desired.get(&p.key)),
            Change::Remove(k) => links.delta(installed.get(k), None),
        })
        .collect();
    let mut load = Vec::new();
    for p in installed.values() {
        for (l, v) in links.delta(None, Some(p)) {
            if load.len() <= l {
                load.resize(l + 1, 0.0);
            }
            load[l] += v;
        }
    }
    load.resize(links.names.len(), 0.0);
    let links = links;

    let mut batches = Vec::new();
    let mut pending: BTreeSet<usize> = (0..changes.len()).collect();
    // Only-decreasing changes are always safe.
    let shrinking: Vec<usize> = pending
        .iter()
        .copied()
        .filter(|&i| deltas[i].iter().all(|&(_, v)| v <= 0.0))
        .collect();
    if !shrinking.is_empty() {
        for &i in &shrinking {
            for &(l, v) in &deltas[i] {
                load[l] += v;
            }
            pending.remove(&i);
        }
        batches.push(shrinking);
    }
    while !pending.is_empty() {
        // Worst case while the batch is in flight: current load plus every
        // increase in the batch (decreases may not have happened yet).
        let mut peak = load.clone();
        let mut batch = Vec::new();
        for &i in &pending {
            let ok = deltas[i]
                .iter()
                .filter(|(_, v)| *v > 0.0)
                .all(|&(l, v)| links.fits(l, peak[l] + v));
            if ok {
                for &(l, v) in deltas[i].iter().filter(|(_, v)| *v > 0.0) {
                    peak[l] += v;
                }
                batch.push(i);
            }
        }
        if batch.is_empty() {
            break;
        }
        for &i in &batch {
            for &(l, v) in &deltas[i] {
                load[l] += v;
            }
            pending.remove(&i);
        }
        batches.push(batch);
    }
    let mut at_risk = Vec::new();
    if !pending.is_empty() {
        let mut peak = load.clone();
        for &i in &pending {
            for &(l, v) in deltas[i].iter().filter(|(_, v)| *v > 0.0) {
                peak[l] += v;
            }
        }
        at_risk = (0..peak.len())
            .filter(|&l| !links.fits(l, peak[l]))
            .map(|l| links.names[l].to_string())
            .collect();
        at_risk.sort();
        batches.push(pending.into_iter().collect());
    }
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    UpdatePlan {
        batches: batches
            .into_iter()
            .map(|b| b.into_iter().filter_map(|i| slots[i].take()).collect())
            .collect(),
        at_risk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, paths: &[(&[&str], f64)]) -> Policy {
        Policy {
            key: PolicyKey {
                service: name.into(),
                ingress: "A".into(),
                egress: "B".into(),
                class: "bulk".into(),
            },
            dscp: None,
            prefixes: vec![],
            paths: paths
                .iter()
                .map(|(ls, r)| SegmentList {
                    weight: 1,
                    rate_bps: *r,
                    segments: vec![],
                    links: ls.iter().map(|s| std::sync::Arc::from(*s)).collect(),
                })
                .collect(),
        }
    }

    fn loads(p: &Policy) -> BTreeMap<&str, f64> {
        let mut out = BTreeMap::new();
        for path in &p.paths {
            for l in &path.links {
                *out.entry(&**l).or_insert(0.0) += path.rate_bps;
            }
        }
        out
    }

    /// Load change per link of replacing `old` by `new`.
    fn delta<'a>(old: Option<&'a Policy>, new: Option<&'a Policy>) -> BTreeMap<&'a str, f64> {
        let mut d: BTreeMap<&str, f64> = BTreeMap::new();
        if let Some(o) = old {
            for (l, v) in loads(o) {
                *d.entry(l).or_insert(0.0) -= v;
            }
        }
        if let Some(n) = new {
            for (l, v) in loads(n) {
                *d.entry(l).or_insert(0.0) += v;
            }
        }
        d
    }

    fn state(ps: &[Policy]) -> DesiredState {
        ps.iter().map(|p| (p.key.clone(), p.clone())).collect()
    }

    fn caps(c: &[(&str, f64)]) -> BTreeMap<String, f64> {
        c.iter().map(|(l, v)| (l.to_string(), *v)).collect()
    }

    /// Replays batches with the worst case of each batch and returns the peak
    /// utilisation seen on any link.
    fn worst_peak(installed: &DesiredState, plan: &UpdatePlan, cap: &BTreeMap<String, f64>) -> f64 {
        let mut cur = installed.clone();
        let mut worst: f64 = 0.0;
        for batch in &plan.batches {
            let mut peak: BTreeMap<String, f64> = BTreeMap::new();
            for p in cur.values() {
                for (l, v) in loads(p) {
                    *peak.entry(l.to_string()).or_insert(0.0) += v;
                }
            }
            for c in batch {
                if let Change::Upsert(p) = c {
                    for (l, v) in delta(cur.get(&p.key), Some(p)) {
                        if v > 0.0 {
                            *peak.entry(l.to_string()).or_insert(0.0) += v;
                        }
                    }
                }
            }
            for (l, v) in &peak {
                worst = worst.max(v / cap[l]);
            }
            for c in batch {
                match c {
                    Change::Upsert(p) => {
                        cur.insert(p.key.clone(), p.clone());
                    }
                    Change::Remove(k) => {
                        cur.remove(k);
                    }
                }
            }
        }
        worst
    }

    #[test]
    fn a_swap_is_done_in_two_steps_that_never_overload() {
        // x moves from l1 to l2 and y from l2 to l1: moving y before x has left l1
        // would overload l1, so x must go first.
        let cap = caps(&[("l1", 12.0), ("l2", 15.0), ("l3", 20.0)]);
        let installed = state(&[
            policy("x", &[(&["l1"], 10.0)]),
            policy("y", &[(&["l2"], 5.0), (&["l3"], 5.0)]),
        ]);
        let desired = state(&[
            policy("x", &[(&["l2"], 10.0)]),
            policy("y", &[(&["l1"], 5.0), (&["l3"], 5.0)]),
        ]);
        let plan = plan_update(&installed, &desired, &cap, |_| false);
        assert!(plan.at_risk.is_empty(), "{plan:?}");
        assert_eq!(plan.changes(), 2);
        assert_eq!(plan.batches.len(), 2, "{plan:?}");
        assert_eq!(plan.batches[0][0].key().service, "x");
        assert!(worst_peak(&installed, &plan, &cap) <= 1.0 + 1e-12);
    }

    #[test]
    fn removals_and_shrinks_go_first() {
        let cap = caps(&[("l1", 10.0)]);
        let installed = state(&[policy("old", &[(&["l1"], 8.0)])]);
        let desired = state(&[policy("new", &[(&["l1"], 9.0)])]);
        let plan = plan_update(&installed, &desired, &cap, |_| false);
        assert_eq!(plan.batches.len(), 2);
        assert!(matches!(plan.batches[0][0], Change::Remove(_)));
        assert!(matches!(plan.batches[1][0], Change::Upsert(_)));
        assert!(worst_peak(&installed, &plan, &cap) <= 0.9 + 1e-12);
    }

    #[test]
    fn a_deadlock_is_reported_not_hidden() {
        // Two full links trade their flows: any order overloads one of them.
        let cap = caps(&[("l1", 10.0), ("l2", 10.0)]);
        let installed = state(&[
            policy("x", &[(&["l1"], 10.0)]),
            policy("y", &[(&["l2"], 10.0)]),
        ]);
        let desired = state(&[
            policy("x", &[(&["l2"], 10.0)]),
            policy("y", &[(&["l1"], 10.0)]),
        ]);
        let plan = plan_update(&installed, &desired, &cap, |_| false);
        assert_eq!(plan.changes(), 2);
        assert_eq!(plan.at_risk, vec!["l1".to_string(), "l2".to_string()]);
    }

    #[test]
    fn background_makes_room_before_committed_traffic_moves() {
        // The deadlock above, but y is background: it shrinks first, x moves,
        // then y takes its new path.
        let cap = caps(&[("l1", 10.0), ("l2", 10.0)]);
        let mut y_old = policy("y", &[(&["l2"], 10.0)]);
        let mut y_new = policy("y", &[(&["l1"], 10.0)]);
        y_old.key.service = "background".into();
        y_new.key.service = "background".into();
        let installed = state(&[policy("x", &[(&["l1"], 10.0)]), y_old]);
        let desired = state(&[policy("x", &[(&["l2"], 10.0)]), y_new]);
        let plan = plan_update(&installed, &desired, &cap, |k| k.service == "background");
        assert!(plan.at_risk.is_empty(), "{plan:?}");
        assert_eq!(plan.batches.len(), 3, "{plan:?}");
        assert!(matches!(&plan.batches[0][0], Change::Remove(k) if k.service == "background"));
        assert!(matches!(&plan.batches[1][0], Change::Upsert(p) if p.key.service == "x"));
        assert!(matches!(&plan.batches[2][0], Change::Upsert(p) if p.key.service == "background"));
        assert!(worst_peak(&installed, &plan, &cap) <= 1.0 + 1e-12);
    }

    #[test]
    fn nothing_to_do_is_no_batch() {
        let s = state(&[policy("x", &[(&["l1"], 1.0)])]);
        let plan = plan_update(&s, &s, &caps(&[("l1", 10.0)]), |_| false);
        assert!(plan.batches.is_empty());
    }
}
