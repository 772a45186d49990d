//! Egress queueing: an htb root (handle [`QDISC_MAJOR`]`:`) on every mapped
//! interface, one class per QoS class of the state, u32 filters on the IPv6
//! traffic class. On this kernel flower and the police action are missing
//! (`tc` says "classifier not found" / "failed to load action"), so
//! classification is u32 and a policed class is shaped to its share instead
//! (ceil = rate): what exceeds it queues and then drops at the queue's limit.
//!
//! Keel owns the root qdisc of a mapped interface while the state has QoS
//! classes; a root qdisc that is not Keel's htb is replaced.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use keel_southbound::site::{QosClass, SiteState};
use nlink::netlink::filter::U32Filter;
use nlink::netlink::tc::{HtbClassConfig, HtbQdiscConfig};
use nlink::netlink::{Connection, Route};
use nlink::{EthProto, FilterPriority, Rate, TcHandle};

use crate::kernel::LinkInfo;
use crate::{DataplaneError, InterfaceMap, ReconcileReport};

/// Major number of Keel's root qdisc (`4b:`).
pub const QDISC_MAJOR: u16 = 0x4b;
/// The class all others borrow from: the link's capacity.
const PARENT_MINOR: u16 = 1;
/// Unclassified traffic.
const DEFAULT_MINOR: u16 = 0xfff;
/// QoS class i is `4b:(0x10 + i)`.
const FIRST_MINOR: u16 = 0x10;
/// u32 filter priorities start here, one per (class, DSCP).
const FIRST_FILTER_PRIO: u16 = 10;
/// htb's smallest sensible rate.
const MIN_RATE_BPS: u64 = 8_000;

/// One htb class as Keel wants it and reads it back: bits/s and priority.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ClassSpec {
    minor: u16,
    rate: u64,
    ceil: u64,
    prio: u32,
}

/// The classes and filters of one interface with capacity `capacity_bps`.
fn plan(qos: &[QosClass], capacity_bps: f64) -> (Vec<ClassSpec>, Vec<(u16, u8, u16)>) {
    let cap = (capacity_bps.max(0.0) as u64).max(MIN_RATE_BPS);
    let mut classes = vec![
        ClassSpec {
            minor: PARENT_MINOR,
            rate: cap,
            ceil: cap,
            prio: 0,
        },
        ClassSpec {
            minor: DEFAULT_MINOR,
            rate: (cap / 100).max(MIN_RATE_BPS),
            ceil: cap,
            prio: 7,
        },
    ];
    let mut filters = Vec::new();
    let mut prio = FIRST_FILTER_PRIO;
    for (i, c) in qos.iter().enumerate() {
        let minor = FIRST_MINOR + i as u16;
        let share = ((c.share.clamp(0.0, 1.0) * cap as f64) as u64).max(MIN_RATE_BPS);
        let (rate, ceil, p) = if c.strict {
            // Strict: served first (htb prio 0) and never short of rate.
            (cap, cap, 0)
        } else if c.policed {
            (share, share, 2)
        } else {
            (share, cap, 1)
        };
        classes.push(ClassSpec {
            minor,
            rate,
            ceil,
            prio: p,
        });
        for &d in &c.dscp {
            filters.push((prio, d & 0x3f, minor));
            prio += 1;
        }
    }
    classes.sort();
    (classes, filters)
}

/// `struct tc_htb_opt` in TCA_HTB_PARMS: rate and ceil (bytes/s in their
/// ratespecs) and prio; rates past 4 GB/s come in TCA_HTB_RATE64/CEIL64.
fn read_class(options: &[u8], minor: u16) -> Option<ClassSpec> {
    let mut parms = None;
    let (mut rate64, mut ceil64) = (None, None);
    let mut b = options;
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        let p = &b[4..len];
        let u64_of = |p: &[u8]| {
            p.get(..8)
                .and_then(|x| x.try_into().ok())
                .map(u64::from_ne_bytes)
        };
        match kind {
            1 => parms = Some(p),
            6 => rate64 = u64_of(p),
            7 => ceil64 = u64_of(p),
            _ => {}
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    let parms = parms?;
    let u32_at = |o: usize| {
        parms
            .get(o..o + 4)
            .and_then(|x| x.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    let rate = rate64.unwrap_or(u64::from(u32_at(8)?));
    let ceil = ceil64.unwrap_or(u64::from(u32_at(20)?));
    Some(ClassSpec {
        minor,
        rate: rate * 8,
        ceil: ceil * 8,
        prio: u32_at(40)?,
    })
}

/// Rates as the kernel keeps them (bytes/s): what a read-back compares with.
fn as_kernel(c: &ClassSpec) -> ClassSpec {
    ClassSpec {
        rate: c.rate / 8 * 8,
        ceil: c.ceil / 8 * 8,
        ..c.clone()
    }
}

async fn current(
    conn: &Connection<Route>,
    ifindex: u32,
) -> Result<Option<(Vec<ClassSpec>, BTreeSet<u16>)>, DataplaneError> {
    let root = conn
        .get_root_qdisc_by_index(ifindex)
        .await
        .map_err(DataplaneError::netlink("dump qdiscs"))?;
    let ours = root.is_some_and(|q| q.kind() == Some("htb") && q.handle().major() == QDISC_MAJOR);
    if !ours {
        return Ok(None);
    }
    let mut classes: Vec<ClassSpec> = conn
        .get_classes_by_index(ifindex)
        .await
        .map_err(DataplaneError::netlink("dump classes"))?
        .iter()
        .filter(|c| c.handle().major() == QDISC_MAJOR)
        .filter_map(|c| read_class(c.raw_options()?, c.handle().minor()))
        .collect();
    classes.sort();
    let prios: BTreeSet<u16> = conn
        .get_filters_by_index(ifindex)
        .await
        .map_err(DataplaneError::netlink("dump filters"))?
        .iter()
        .filter(|f| f.parent().major() == QDISC_MAJOR)
        .map(|f| f.priority().as_u16())
        .collect();
    Ok(Some((classes, prios)))
}

async fn install(
    conn: &Connection<Route>,
    ifindex: u32,
    classes: &[ClassSpec],
    filters: &[(u16, u8, u16)],
) -> Result<(), DataplaneError> {
    let root = TcHandle::major_only(QDISC_MAJOR);
    conn.add_qdisc_by_index_full(
        ifindex,
        TcHandle::ROOT,
        Some(root),
        HtbQdiscConfig::new()
            .default_class(u32::from(DEFAULT_MINOR))
            .build(),
    )
    .await
    .map_err(DataplaneError::netlink("add htb"))?;
    let parent = TcHandle::new(QDISC_MAJOR, PARENT_MINOR);
    // The parent first: every other class hangs below it.
    let mut ordered: Vec<&ClassSpec> = classes.iter().collect();
    ordered.sort_by_key(|c| c.minor != PARENT_MINOR);
    for c in ordered {
        let (at, id) = if c.minor == PARENT_MINOR {
            (root, parent)
        } else {
            (parent, TcHandle::new(QDISC_MAJOR, c.minor))
        };
        let cfg = HtbClassConfig::new(Rate::bits_per_sec(c.rate))
            .ceil(Rate::bits_per_sec(c.ceil))
            .prio(c.prio)
            .build();
        conn.add_class_by_index(ifindex, at, id, cfg)
            .await
            .map_err(DataplaneError::netlink("add htb class"))?;
    }
    for &(prio, dscp, minor) in filters {
        // IPv6 traffic class: bits 20..27 of the first word.
        let f = U32Filter::new()
            .add_key(u32::from(dscp << 2) << 20, 0xfc << 20, 0)
            .classid(TcHandle::new(QDISC_MAJOR, minor));
        conn.add_filter_by_index_full(
            ifindex,
            root,
            None,
            EthProto::IPV6,
            FilterPriority::new(prio),
            f,
        )
        .await
        .map_err(DataplaneError::netlink("add u32 filter"))?;
    }
    Ok(())
}

/// Class names by minor number, for counters.
pub(crate) fn class_names(state: &SiteState) -> BTreeMap<u16, String> {
    let mut names: BTreeMap<u16, String> = state
        .qos
        .iter()
        .enumerate()
        .map(|(i, c)| (FIRST_MINOR + i as u16, c.class.clone()))
        .collect();
    if !names.is_empty() {
        names.insert(DEFAULT_MINOR, "unclassified".to_string());
    }
    names
}

pub(crate) async fn reconcile(
    conn: &Connection<Route>,
    state: &SiteState,
    map: &InterfaceMap,
    links: &HashMap<String, LinkInfo>,
    report: &mut ReconcileReport,
) -> Result<(), DataplaneError> {
    for iface in &state.interfaces {
        let Some(link) = map.lookup(&iface.link).and_then(|d| links.get(d)) else {
            continue;
        };
        let have = current(conn, link.index).await?;
        if state.qos.is_empty() {
            if have.is_some() {
                conn.del_qdisc_by_index(link.index, TcHandle::ROOT)
                    .await
                    .map_err(DataplaneError::netlink("delete htb"))?;
                report.removed += 1;
            }
            continue;
        }
        let (classes, filters) = plan(&state.qos, iface.capacity_bps);
        let want_classes: Vec<ClassSpec> = classes.iter().map(as_kernel).collect();
        let want_prios: BTreeSet<u16> = filters.iter().map(|f| f.0).collect();
        match &have {
            Some((c, p)) if *c == want_classes && *p == want_prios => {
                report.unchanged += 1;
                continue;
            }
            _ => {}
        }
        // Rebuilt whole: a qdisc tree is small and classes reference each other.
        let root = conn
            .get_root_qdisc_by_index(link.index)
            .await
            .map_err(DataplaneError::netlink("dump qdiscs"))?;
        if root.is_some_and(|q| !q.kind().is_some_and(|k| k == "noqueue" || k == "noop")) {
            // Deleting the default qdisc is ENOENT-like; anything else goes.
            let _ = conn.del_qdisc_by_index(link.index, TcHandle::ROOT).await;
        }
        install(conn, link.index, &classes, &filters).await?;
        if have.is_some() {
            report.replaced += 1;
        } else {
            report.added += 1;
        }
    }
    Ok(())
}

pub(crate) async fn remove_all(
    conn: &Connection<Route>,
    links: &HashMap<String, LinkInfo>,
) -> Result<usize, DataplaneError> {
    let mut removed = 0;
    for link in links.values() {
        if current(conn, link.index).await?.is_some() {
            conn.del_qdisc_by_index(link.index, TcHandle::ROOT)
                .await
                .map_err(DataplaneError::netlink("delete htb"))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Bytes sent per Keel class on one interface, named by `names`.
pub(crate) async fn class_bytes(
    conn: &Connection<Route>,
    ifindex: u32,
    names: &BTreeMap<u16, String>,
) -> Result<Vec<(String, u64)>, DataplaneError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let classes = conn
        .get_classes_by_index(ifindex)
        .await
        .map_err(DataplaneError::netlink("dump classes"))?;
    Ok(classes
        .iter()
        .filter(|c| c.handle().major() == QDISC_MAJOR)
        .filter_map(|c| Some((names.get(&c.handle().minor())?.clone(), c.bytes())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, dscp: u8, strict: bool, share: f64, policed: bool) -> QosClass {
        QosClass {
            class: name.into(),
            dscp: vec![dscp],
            strict,
            share,
            policed,
        }
    }

    #[test]
    fn shares_become_rates() {
        let qos = [
            class("voice", 46, true, 0.0, false),
            class("gold", 26, false, 0.75, false),
            class("bulk", 8, false, 0.25, true),
        ];
        let (classes, filters) = plan(&qos, 1e9);
        let by = |m: u16| classes.iter().find(|c| c.minor == m).expect("class");
        assert_eq!((by(0x10).rate, by(0x10).prio), (1_000_000_000, 0));
        assert_eq!((by(0x11).rate, by(0x11).ceil), (750_000_000, 1_000_000_000));
        assert_eq!((by(0x12).rate, by(0x12).ceil), (250_000_000, 250_000_000));
        assert_eq!(filters, vec![(10, 46, 0x10), (11, 26, 0x11), (12, 8, 0x12)]);
    }
}
