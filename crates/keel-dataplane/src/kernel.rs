use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use keel_southbound::site::{InterfaceCounters, SiteState};
use nlink::netlink::addr::Ipv6Address;
use nlink::netlink::link::VethLink;
use nlink::netlink::message::{MessageIter, NlMsgType};
use nlink::netlink::{Connection, MessageBuilder, NetworkEvent, Route, RtnetlinkGroup};
use tokio::sync::{Mutex, mpsc};
use tokio_stream::StreamExt;

use crate::plan::{self, AddressEntry, Desired, Installed, RouteAction, RouteKey, RuleEntry};
use crate::wire::{self, RawAddr, RawRoute, RawRule, WireAddress, WireRoute};
use crate::{
    DataplaneError, InterfaceMap, ReconcileReport, SID_LOOP_DEV, SID_LOOP_GATEWAY, SID_LOOP_PEER,
    SID_LOOP_SOURCE,
};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x10000;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
/// How long one request may wait for the kernel's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A mapped interface came up or went down (operationally: admin up and
/// carrier), by link id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Up(String),
    Down(String),
}

/// What an agent needs from a data plane; [`Kernel`] is the Linux one. Keeps
/// callers free of the netlink library.
pub trait Dataplane {
    fn reconcile(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
    ) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send;
    fn local_repair(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
        changed_link: &str,
    ) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send;
    fn installed(&self) -> impl Future<Output = Result<Installed, DataplaneError>> + Send;
    fn remove_all(&self) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send;
    fn counters(
        &self,
        map: &InterfaceMap,
    ) -> impl Future<Output = Result<Vec<InterfaceCounters>, DataplaneError>> + Send;
}

/// One interface as the kernel has it.
#[derive(Debug, Clone)]
pub(crate) struct LinkInfo {
    pub(crate) index: u32,
}

/// One netlink connection to one network namespace.
pub struct Kernel {
    conn: Connection<Route>,
    netns: Option<String>,
    /// Interfaces by name, as of the last dump: a local repair resolves its few
    /// devices from here instead of dumping again.
    links: Mutex<HashMap<String, LinkInfo>>,
    /// One operation at a time: requests on the one socket must not interleave.
    op: Mutex<()>,
    /// QoS class names by htb minor, from the last reconcile (for counters).
    class_names: Mutex<std::collections::BTreeMap<u16, String>>,
}

impl Kernel {
    /// `None`: the caller's namespace; `Some(name)`: `/var/run/netns/<name>`.
    pub async fn connect(netns: Option<&str>) -> Result<Kernel, DataplaneError> {
        let conn = open(netns)?;
        let kernel = Kernel {
            conn,
            netns: netns.map(str::to_string),
            links: Mutex::new(HashMap::new()),
            op: Mutex::new(()),
            class_names: Mutex::new(Default::default()),
        };
        kernel.refresh_links().await?;
        Ok(kernel)
    }

    async fn refresh_links(&self) -> Result<HashMap<String, LinkInfo>, DataplaneError> {
        let links = self
            .conn
            .get_links()
            .await
            .map_err(DataplaneError::netlink("dump links"))?;
        let by_name: HashMap<String, LinkInfo> = links
            .iter()
            .filter_map(|l| Some((l.name()?.to_string(), LinkInfo { index: l.ifindex() })))
            .collect();
        *self.links.lock().await = by_name.clone();
        Ok(by_name)
    }

    async fn dump_routes(
        &self,
        links: &HashMap<String, LinkInfo>,
    ) -> Result<Desired, DataplaneError> {
        let names: HashMap<u32, String> = links.iter().map(|(n, l)| (l.index, n.clone())).collect();
        let raw: Vec<RawRoute> = self
            .conn
            .dump_typed(NlMsgType::RTM_GETROUTE)
            .await
            .map_err(DataplaneError::netlink("dump routes"))?;
        let mut out = Desired::default();
        for RawRoute(r) in raw {
            if let Some((key, action)) = wire::decode_route(&r.0, &names) {
                out.routes.insert(key, action);
            }
        }
        let rules: Vec<RawRule> = self
            .conn
            .dump_typed(NlMsgType::RTM_GETRULE)
            .await
            .map_err(DataplaneError::netlink("dump rules"))?;
        out.rules = rules
            .iter()
            .filter_map(|RawRule(r)| wire::decode_rule(&r.0))
            .collect();
        Ok(out)
    }

    /// Sends one request nlink has no builder for (rules with a `tos`
    /// selector) on the connection's socket and waits for its answer. Called
    /// only under `op`, so it never interleaves with nlink's own requests.
    async fn raw_request(
        &self,
        msg_type: u16,
        flags: u16,
        body: &[u8],
        context: &str,
    ) -> Result<(), DataplaneError> {
        let socket = self.conn.socket();
        let seq = socket.next_seq();
        let mut b = MessageBuilder::new(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK);
        b.append_bytes(body);
        b.set_seq(seq);
        b.set_pid(socket.pid());
        socket
            .send(&b.finish())
            .await
            .map_err(DataplaneError::netlink(context))?;
        let wait = async {
            loop {
                let data = socket
                    .recv_unicast()
                    .await
                    .map_err(DataplaneError::netlink(context))?;
                for msg in MessageIter::new(&data) {
                    let Ok((header, payload)) = msg else { continue };
                    if header.nlmsg_seq != seq || !header.is_error() {
                        continue;
                    }
                    let code = payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .ok_or_else(|| DataplaneError::Decode(format!("{context}: short ack")))?;
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(DataplaneError::Errno {
                            context: context.to_string(),
                            errno: -code,
                        })
                    };
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, wait)
            .await
            .map_err(|_| DataplaneError::Timeout(context.to_string()))?
    }

    async fn add_rule(&self, rule: &RuleEntry) -> Result<(), DataplaneError> {
        self.raw_request(
            RTM_NEWRULE,
            NLM_F_CREATE | NLM_F_EXCL,
            &wire::rule_body(rule),
            "add rule",
        )
        .await
    }

    async fn del_rule(&self, rule: &RuleEntry) -> Result<(), DataplaneError> {
        match self
            .raw_request(RTM_DELRULE, 0, &wire::rule_body(rule), "delete rule")
            .await
        {
            Err(DataplaneError::Errno { errno, .. }) if errno == ENOENT || errno == ESRCH => Ok(()),
            other => other,
        }
    }

    fn route(
        key: &RouteKey,
        action: Option<&RouteAction>,
        links: &HashMap<String, LinkInfo>,
    ) -> Result<WireRoute, DataplaneError> {
        WireRoute::new(key, action, &|dev| links.get(dev).map(|l| l.index))
    }

    async fn set_sysctls(&self, entries: Vec<(String, String)>) -> Result<(), DataplaneError> {
        let netns = self.netns.clone();
        // Sysctls are files under /proc/sys of the namespace: blocking I/O (and,
        // for another namespace, a thread that enters it).
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&str, &str)> = entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match &netns {
                Some(ns) => nlink::netlink::namespace::set_sysctls(ns, &refs),
                None => nlink::netlink::sysctl::set_many(&refs),
            }
            .map_err(|e| DataplaneError::Sysctl(e.to_string()))
        })
        .await
        .map_err(|e| DataplaneError::Sysctl(e.to_string()))?
    }

    /// Creates the SID loop (see the crate docs) when it is missing.
    async fn ensure_sid_loop(
        &self,
        report: &mut ReconcileReport,
    ) -> Result<HashMap<String, LinkInfo>, DataplaneError> {
        let links = self.refresh_links().await?;
        if links.contains_key(SID_LOOP_DEV) && links.contains_key(SID_LOOP_PEER) {
            return Ok(links);
        }
        if links.contains_key(SID_LOOP_DEV) {
            // Half a pair cannot be repaired; start again.
            self.conn
                .del_link(SID_LOOP_DEV)
                .await
                .map_err(DataplaneError::netlink("delete SID loop"))?;
        }
        self.conn
            .add_link(VethLink::new(SID_LOOP_DEV, SID_LOOP_PEER))
            .await
            .map_err(DataplaneError::netlink("create SID loop"))?;
        for dev in [SID_LOOP_DEV, SID_LOOP_PEER] {
            self.conn
                .set_link_up(dev)
                .await
                .map_err(DataplaneError::netlink("SID loop up"))?;
        }
        self.conn
            .add_address(Ipv6Address::new(SID_LOOP_PEER, SID_LOOP_GATEWAY, 64).nodad())
            .await
            .map_err(DataplaneError::netlink("SID loop address"))?;
        // A link-local address of our own end that needs no DAD either: the
        // neighbour solicitation for the gateway must come from a usable
        // link-local address, and the automatic one stays tentative for a
        // second or two, during which locally sent packets to a SID would
        // be lost.
        self.conn
            .add_address(Ipv6Address::new(SID_LOOP_DEV, SID_LOOP_SOURCE, 64).nodad())
            .await
            .map_err(DataplaneError::netlink("SID loop address"))?;
        report.added += 1;
        self.refresh_links().await
    }

    /// Every IPv6 address with its interface name, and whether Keel set it.
    async fn dump_addresses(
        &self,
        links: &HashMap<String, LinkInfo>,
    ) -> Result<Vec<(AddressEntry, bool)>, DataplaneError> {
        let names: HashMap<u32, &str> = links.iter().map(|(n, l)| (l.index, n.as_str())).collect();
        let raw: Vec<RawAddr> = self
            .conn
            .dump_typed(NlMsgType::RTM_GETADDR)
            .await
            .map_err(DataplaneError::netlink("dump addresses"))?;
        Ok(raw
            .iter()
            .filter_map(|RawAddr(r)| wire::decode_address(&r.0))
            .filter_map(|(index, address, keel)| {
                let dev = names.get(&index)?.to_string();
                Some((AddressEntry { dev, address }, keel))
            })
            .collect())
    }

    /// Adds the desired addresses that are missing (an equal address someone
    /// else set counts as present) and removes Keel's that are not desired.
    async fn sync_addresses(
        &self,
        want: &BTreeSet<AddressEntry>,
        have: &[(AddressEntry, bool)],
        links: &HashMap<String, LinkInfo>,
        report: &mut ReconcileReport,
    ) {
        for a in want {
            if have.iter().any(|(h, _)| h == a) {
                report.unchanged += 1;
                continue;
            }
            let Some(link) = links.get(&a.dev) else {
                continue;
            };
            match self
                .conn
                .add_address(WireAddress::new(link.index, a.address))
                .await
            {
                Ok(()) => report.added += 1,
                Err(e) => report
                    .errors
                    .push(format!("address {} on {}: {e}", a.address, a.dev)),
            }
        }
        for (a, _) in have.iter().filter(|(a, keel)| *keel && !want.contains(a)) {
            match self
                .conn
                .del_address(
                    a.dev.as_str(),
                    IpAddr::V6(a.address.addr()),
                    a.address.prefix_len(),
                )
                .await
            {
                Ok(()) => report.removed += 1,
                Err(e) => report
                    .errors
                    .push(format!("remove address {} on {}: {e}", a.address, a.dev)),
            }
        }
    }

    async fn reconcile_inner(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
    ) -> Result<ReconcileReport, DataplaneError> {
        let mut report = ReconcileReport::default();
        let links = if state.local_sids.is_empty() {
            self.refresh_links().await?
        } else {
            self.ensure_sid_loop(&mut report).await?
        };

        let mut sysctls = vec![
            ("net.ipv6.conf.all.forwarding".to_string(), "1".to_string()),
            (
                "net.ipv6.conf.all.seg6_enabled".to_string(),
                "1".to_string(),
            ),
        ];
        let mut devs: BTreeSet<&str> = map.iter().map(|(_, d)| d).collect();
        devs.extend([SID_LOOP_DEV, SID_LOOP_PEER, "lo"]);
        for dev in devs.into_iter().filter(|d| links.contains_key(*d)) {
            sysctls.push((format!("net.ipv6.conf.{dev}.seg6_enabled"), "1".to_string()));
        }
        self.set_sysctls(sysctls).await?;

        let addresses = self.dump_addresses(&links).await?;
        let local: Vec<(Ipv6Addr, String)> = addresses
            .iter()
            .map(|(a, _)| (a.address.addr(), a.dev.clone()))
            .collect();
        let want =
            plan::desired_with_local(state, map, down, &|dev| links.contains_key(dev), &local);
        // Addresses before routes: a gateway must be on a connected subnet.
        self.sync_addresses(&want.addresses, &addresses, &links, &mut report)
            .await;
        let have = self.dump_routes(&links).await?;

        for (key, action) in &want.routes {
            match have.routes.get(key) {
                Some(old) if old == action => report.unchanged += 1,
                old => {
                    // A device that vanished since the dump: report it, go on.
                    let route = match Self::route(key, Some(action), &links) {
                        Ok(r) => r,
                        Err(e) => {
                            report.errors.push(format!("route {}: {e}", key.prefix));
                            continue;
                        }
                    };
                    let done = if old.is_some() {
                        self.conn.replace_route(route).await
                    } else {
                        // Exclusive: never take over a route someone else has
                        // at the same key.
                        self.conn.add_route(route).await
                    };
                    match done {
                        Ok(()) if old.is_some() => report.replaced += 1,
                        Ok(()) => report.added += 1,
                        Err(e) => report
                            .errors
                            .push(format!("route {} table {}: {e}", key.prefix, key.table)),
                    }
                }
            }
        }
        for key in have.routes.keys().filter(|k| !want.routes.contains_key(*k)) {
            match self.conn.del_route(Self::route(key, None, &links)?).await {
                Ok(()) => report.removed += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => report.errors.push(format!(
                    "remove route {} table {}: {e}",
                    key.prefix, key.table
                )),
            }
        }
        for rule in want.rules.difference(&have.rules) {
            match self.add_rule(rule).await {
                Ok(()) => report.added += 1,
                Err(e) => report.errors.push(format!("rule {rule:?}: {e}")),
            }
        }
        report.unchanged += want.rules.intersection(&have.rules).count();
        for rule in have.rules.difference(&want.rules) {
            self.del_rule(rule).await?;
            report.removed += 1;
        }

        crate::qos::reconcile(&self.conn, state, map, &links, &mut report).await?;
        *self.class_names.lock().await = crate::qos::class_names(state);
        Ok(report)
    }

    /// Makes the namespace match `state`, with the links in `down` failed (their
    /// routes use the state's repairs and backups). Idempotent. Touches only
    /// Keel's entries (see the crate docs) and removes those not desired.
    pub async fn reconcile(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
    ) -> Result<ReconcileReport, DataplaneError> {
        let _op = self.op.lock().await;
        let report = self.reconcile_inner(state, map, down).await?;
        tracing::info!(
            site = %state.site,
            generation = state.generation,
            added = report.added,
            replaced = report.replaced,
            removed = report.removed,
            unchanged = report.unchanged,
            errors = report.errors.len(),
            "reconciled"
        );
        Ok(report)
    }

    /// The fast path when `changed_link` went down or came up: rewrites only
    /// the routes that depend on it, without dumping routes. `down` is the set
    /// of failed links after the change.
    pub async fn local_repair(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
        changed_link: &str,
    ) -> Result<ReconcileReport, DataplaneError> {
        let _op = self.op.lock().await;
        let links = self.links.lock().await.clone();
        let mut report = ReconcileReport::default();
        // The kernel drops an interface's IPv6 addresses when it goes down
        // (keep_addr_on_down is off by default); put the link's back first, or
        // the routes below have no usable nexthop.
        if !down.contains(changed_link)
            && let Some(iface) = state.interfaces.iter().find(|i| i.link == changed_link)
            && let Some(dev) = map.lookup(changed_link)
        {
            let index = links.get(dev).map_or(0, |l| l.index);
            match self
                .conn
                .add_address(WireAddress::new(index, iface.address))
                .await
            {
                Ok(()) => report.added += 1,
                Err(e) if e.is_already_exists() => report.unchanged += 1,
                Err(e) => report
                    .errors
                    .push(format!("address {} on {dev}: {e}", iface.address)),
            }
        }
        let affected = plan::affected_by(state, map, down, changed_link, &|dev| {
            links.contains_key(dev)
        });
        for (key, action) in &affected {
            let route = match Self::route(key, action.as_ref(), &links) {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(format!("route {}: {e}", key.prefix));
                    continue;
                }
            };
            match action {
                Some(_) => match self.conn.replace_route(route).await {
                    Ok(()) => report.replaced += 1,
                    Err(e) => report
                        .errors
                        .push(format!("route {} table {}: {e}", key.prefix, key.table)),
                },
                None => match self.conn.del_route(route).await {
                    Ok(()) => report.removed += 1,
                    Err(e) if e.is_not_found() => report.unchanged += 1,
                    Err(e) => report.errors.push(format!(
                        "remove route {} table {}: {e}",
                        key.prefix, key.table
                    )),
                },
            }
        }
        tracing::info!(
            site = %state.site,
            link = changed_link,
            replaced = report.replaced,
            removed = report.removed,
            "local repair"
        );
        Ok(report)
    }

    /// Keel's routes (SIDs included) and rules as they are in the kernel.
    pub async fn installed(&self) -> Result<Installed, DataplaneError> {
        let _op = self.op.lock().await;
        let links = self.refresh_links().await?;
        let mut installed = self.dump_routes(&links).await?;
        installed.addresses = self
            .dump_addresses(&links)
            .await?
            .into_iter()
            .filter_map(|(a, keel)| keel.then_some(a))
            .collect();
        Ok(installed)
    }

    /// Removes every Keel-owned route, rule, qdisc and the SID loop.
    pub async fn remove_all(&self) -> Result<ReconcileReport, DataplaneError> {
        let _op = self.op.lock().await;
        let links = self.refresh_links().await?;
        let have = self.dump_routes(&links).await?;
        let mut report = ReconcileReport::default();
        for key in have.routes.keys() {
            match self.conn.del_route(Self::route(key, None, &links)?).await {
                Ok(()) => report.removed += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => report.errors.push(format!(
                    "remove route {} table {}: {e}",
                    key.prefix, key.table
                )),
            }
        }
        for rule in &have.rules {
            self.del_rule(rule).await?;
            report.removed += 1;
        }
        let addresses = self.dump_addresses(&links).await?;
        self.sync_addresses(&BTreeSet::new(), &addresses, &links, &mut report)
            .await;
        report.removed += crate::qos::remove_all(&self.conn, &links).await?;
        if links.contains_key(SID_LOOP_DEV) {
            self.conn
                .del_link(SID_LOOP_DEV)
                .await
                .map_err(DataplaneError::netlink("delete SID loop"))?;
            report.removed += 1;
        }
        Ok(report)
    }

    /// Bytes and drops per mapped link since the interfaces were created.
    pub async fn counters(
        &self,
        map: &InterfaceMap,
    ) -> Result<Vec<InterfaceCounters>, DataplaneError> {
        let _op = self.op.lock().await;
        let links = self
            .conn
            .get_links()
            .await
            .map_err(DataplaneError::netlink("dump links"))?;
        let names = self.class_names.lock().await.clone();
        let mut out = Vec::new();
        for (link, dev) in map.iter() {
            let Some(l) = links.iter().find(|l| l.name() == Some(dev)) else {
                continue;
            };
            out.push(InterfaceCounters {
                link: link.to_string(),
                tx_bytes: l.tx_bytes(),
                rx_bytes: l.rx_bytes(),
                tx_dropped: l.tx_dropped(),
                class_tx_bytes: crate::qos::class_bytes(&self.conn, l.ifindex(), &names).await?,
            });
        }
        Ok(out)
    }

    /// The mapped links whose interface is missing or not operationally up
    /// (admin up and carrier): the `down` set for a first reconcile, before
    /// any [`LinkEvent`] has arrived.
    pub async fn down_links(&self, map: &InterfaceMap) -> Result<BTreeSet<String>, DataplaneError> {
        let _op = self.op.lock().await;
        let links = self
            .conn
            .get_links()
            .await
            .map_err(DataplaneError::netlink("dump links"))?;
        Ok(map
            .iter()
            .filter(|(_, dev)| {
                !links
                    .iter()
                    .any(|l| l.name() == Some(*dev) && oper_up(l.flags()))
            })
            .map(|(link, _)| link.to_string())
            .collect())
    }

    /// Operational up/down changes of the mapped interfaces, as they happen.
    /// The channel closes when the namespace goes away; dropping the receiver
    /// stops the watcher.
    pub async fn link_events(
        netns: Option<&str>,
        map: &InterfaceMap,
    ) -> Result<mpsc::Receiver<LinkEvent>, DataplaneError> {
        let events_conn = open(netns)?;
        events_conn
            .subscribe(&[RtnetlinkGroup::Link])
            .map_err(DataplaneError::netlink("subscribe to link events"))?;
        // The state before the first event, from a second connection (the
        // first one now belongs to the event stream).
        let initial = open(netns)?
            .get_links()
            .await
            .map_err(DataplaneError::netlink("dump links"))?;
        let mut up: HashMap<String, bool> = initial
            .iter()
            .filter_map(|l| {
                let link = map.link_of(l.name()?)?;
                Some((link.to_string(), oper_up(l.flags())))
            })
            .collect();
        let map = map.clone();
        let (tx, rx) = mpsc::channel(64);
        let mut stream = events_conn.into_events().await;
        tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                let (name, now_up) = match event {
                    Ok(NetworkEvent::NewLink(l)) => {
                        (l.name().map(str::to_string), oper_up(l.flags()))
                    }
                    Ok(NetworkEvent::DelLink(l)) => (l.name().map(str::to_string), false),
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "link event stream ended");
                        break;
                    }
                };
                let Some(link) = name.as_deref().and_then(|n| map.link_of(n)) else {
                    continue;
                };
                if up.insert(link.to_string(), now_up) == Some(now_up) {
                    continue;
                }
                let ev = if now_up {
                    LinkEvent::Up(link.to_string())
                } else {
                    LinkEvent::Down(link.to_string())
                };
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

fn oper_up(flags: u32) -> bool {
    flags & IFF_UP != 0 && flags & IFF_LOWER_UP != 0
}

fn open(netns: Option<&str>) -> Result<Connection<Route>, DataplaneError> {
    match netns {
        None => Connection::<Route>::new().map_err(DataplaneError::netlink("connect")),
        Some(name) => {
            if !nlink::netlink::namespace::exists(name) {
                return Err(DataplaneError::Namespace {
                    name: name.to_string(),
                    message: "no such namespace under /var/run/netns".to_string(),
                });
            }
            Connection::<Route>::new_in(name).map_err(|e| DataplaneError::Namespace {
                name: name.to_string(),
                message: e.to_string(),
            })
        }
    }
}

impl Dataplane for Kernel {
    fn reconcile(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
    ) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send {
        Kernel::reconcile(self, state, map, down)
    }
    fn local_repair(
        &self,
        state: &SiteState,
        map: &InterfaceMap,
        down: &BTreeSet<String>,
        changed_link: &str,
    ) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send {
        Kernel::local_repair(self, state, map, down, changed_link)
    }
    fn installed(&self) -> impl Future<Output = Result<Installed, DataplaneError>> + Send {
        Kernel::installed(self)
    }
    fn remove_all(&self) -> impl Future<Output = Result<ReconcileReport, DataplaneError>> + Send {
        Kernel::remove_all(self)
    }
    fn counters(
        &self,
        map: &InterfaceMap,
    ) -> impl Future<Output = Result<Vec<InterfaceCounters>, DataplaneError>> + Send {
        Kernel::counters(self, map)
    }
}

/// An agent runs these on a multi-threaded runtime: the futures and the
/// kernel handle must cross threads. Checked at compile time.
#[allow(dead_code)]
fn futures_are_send(k: &Kernel, s: &SiteState, m: &InterfaceMap, d: &BTreeSet<String>) {
    fn send<T: Send>(_: T) {}
    fn sync<T: Send + Sync>() {}
    sync::<Kernel>();
    send(k.reconcile(s, m, d));
    send(k.local_repair(s, m, d, "A->B"));
    send(k.installed());
    send(k.remove_all());
    send(k.counters(m));
    send(k.down_links(m));
    send(Kernel::link_events(None, m));
}
