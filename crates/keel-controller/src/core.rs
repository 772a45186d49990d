//! The controller's event loop: one thread owns all state and handles typed
//! messages one at a time — commands from the API, events from the network,
//! measured demand and timer ticks. Readers never lock it: after every change it
//! publishes an immutable [`Snapshot`], and every change is announced on a
//! broadcast channel (the API's event stream).
//!
//! Re-optimisation: failures, drains, capacity cuts and service changes re-plan at
//! once; measured-demand updates and capacity increases wait for the minimum
//! re-route interval (damping, as operators configure in commercial controllers),
//! and bursts coalesce: the plan runs when the queue is empty.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_model::spec::TopologySpec;
use keel_model::{ClassSet, SiteId, Topology};
use keel_southbound::{
    DesiredState, LinkCounter, NetworkEvent, Policy, PolicyKey, SegmentList, Southbound,
    quantise_weights,
};
use keel_store::{Audit, LinkStateRow, ServiceRow, Store, now_ms};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::plan::{self, Admission, BackgroundDemand, LinkState, Network, Owner, Plan};
use crate::predict;
use crate::service::{self, Service, ServiceSpec};
use crate::srv6;
use crate::update::plan_update;

pub type Reply = oneshot::Sender<Result<serde_json::Value, ApiError>>;

/// What the API asks of the controller.
#[derive(Debug)]
pub enum Command {
    CreateService {
        spec: ServiceSpec,
    },
    ReplaceService {
        id: String,
        spec: ServiceSpec,
    },
    DeleteService {
        id: String,
    },
    SetDrain {
        link: String,
        drained: bool,
    },
    SetCapacity {
        link: String,
        capacity_bps: f64,
    },
    /// Fail or restore a link in the simulated network.
    InjectLink {
        link: String,
        up: bool,
    },
    /// A new topology version.
    ImportTopology {
        spec: TopologySpec,
    },
}

#[derive(Debug)]
pub enum Msg {
    Command {
        cmd: Box<Command>,
        actor: Principal,
        reply: Reply,
    },
    Network(NetworkEvent),
    /// Measured (replayed) background demand: a factor on the base matrix.
    DemandScale(f64),
    /// A congestion prediction finished (beside the loop).
    Prediction(Result<predict::Prediction, String>),
    Tick,
}

/// Announced on the event stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    Audit {
        actor: String,
        action: String,
        subject: String,
        detail: serde_json::Value,
        /// The tenant of the service concerned, for filtering the stream.
        #[serde(skip)]
        tenant: Option<String>,
    },
    LinkState {
        link: String,
        up: bool,
        drained: bool,
    },
    Allocation {
        version: i64,
        cause: String,
        changes: usize,
    },
    Counters {
        max_utilisation: f64,
    },
    /// A link the best routing of the forecast demand would load to the
    /// threshold, with the lead time.
    Alert {
        link: String,
        utilisation: f64,
        lead_minutes: f64,
        message: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub id: String,
    pub src: String,
    pub dst: String,
    pub capacity_bps: f64,
    pub latency_ms: f64,
    pub srlgs: Vec<String>,
    pub up: bool,
    pub drained: bool,
    /// Set when the capacity was changed from the topology's.
    pub capacity_override_bps: Option<f64>,
    pub planned_bps: f64,
    pub measured_bps: Option<f64>,
    pub utilisation: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    #[serde(flatten)]
    pub spec: ServiceSpec,
    /// `active` when every committed flow is carried in full, else `degraded`.
    pub status: &'static str,
    pub committed_bps: f64,
    pub carried_bps: f64,
    pub worst_latency_ms: Option<f64>,
}

/// The installed allocation as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationDoc {
    pub version: i64,
    pub at_ms: i64,
    pub cause: String,
    pub figures: plan::SolveFigures,
    /// Per service id, its planned flows with paths, segments and reasons.
    pub services: BTreeMap<String, Vec<plan::PlannedDemand>>,
    pub background_demand_bps: f64,
    pub background_carried_bps: f64,
}

/// What readers see; replaced whole after every change.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub topology_name: String,
    pub topology_version: i64,
    pub southbound: &'static str,
    pub sites: Vec<serde_json::Value>,
    pub links: Vec<LinkView>,
    pub services: BTreeMap<String, ServiceView>,
    pub allocation: Option<Arc<AllocationDoc>>,
    /// The installed plan in solver terms (what-if questions start from it).
    #[serde(skip)]
    pub model: Option<Arc<plan::PlanModel>>,
    /// The latest congestion prediction.
    pub prediction: Option<Arc<predict::Prediction>>,
    pub reoptimisations: u64,
    /// From the last event to its allocation fully handed to the network, s.
    pub last_reaction_s: Option<f64>,
    pub pending_reoptimisation: bool,
    pub ready: bool,
}

pub struct Settings {
    pub min_reroute_interval: Duration,
    /// Exit sites by id; resolved against the topology in force.
    pub exit_names: Vec<String>,
    pub exits: Vec<SiteId>,
}

pub struct Core {
    store: Arc<Store>,
    base: Topology,
    topology_version: i64,
    classes: ClassSet,
    settings: Settings,
    links: BTreeMap<String, LinkState>,
    services: BTreeMap<String, Service>,
    background: Vec<BackgroundDemand>,
    background_scale: f64,
    southbound: Box<dyn Southbound>,
    installed: DesiredState,
    allocation: Option<Arc<AllocationDoc>>,
    model: Option<Arc<plan::PlanModel>>,
    planned_loads: BTreeMap<String, f64>,
    counters: BTreeMap<String, LinkCounter>,
    tenants: BTreeMap<String, u16>,
    pending: Option<Pending>,
    last_reroute: Option<Instant>,
    reoptimisations: u64,
    last_reaction: Option<Duration>,
    last_prune_ms: i64,
    /// Raw samples wait to be rolled up (`Store::downsample` said so).
    rollup_behind: bool,
    next_service: u64,
    snapshot: watch::Sender<Arc<Snapshot>>,
    events: broadcast::Sender<Event>,
    /// Measured demand levels, oldest first, and the level the installed
    /// plan was made for.
    demand_history: std::collections::VecDeque<f64>,
    planned_level: f64,
    prediction: Option<Arc<predict::Prediction>>,
    predicting: bool,
    /// The loop's own queue, for work done beside it (predictions).
    loopback: Option<mpsc::UnboundedSender<Msg>>,
}

/// Demand samples per day (replay steps of 30 simulated minutes) and the alert
/// threshold of predictions.
const SAMPLES_PER_DAY: usize = 48;
const MINUTES_PER_SAMPLE: f64 = 30.0;
const ALERT_UTILISATION: f64 = 0.95;

struct Pending {
    cause: String,
    urgent: bool,
    /// When the first event behind it arrived: reaction times count from here.
    since: Instant,
}

/// Everything the loop starts from.
pub struct Start {
    pub store: Arc<Store>,
    pub base: Topology,
    pub topology_version: i64,
    pub settings: Settings,
    pub background: Vec<BackgroundDemand>,
    pub southbound: Box<dyn Southbound>,
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    pub events: broadcast::Sender<Event>,
    /// The loop's own queue: with it, demand samples trigger predictions.
    pub loopback: Option<mpsc::UnboundedSender<Msg>>,
}

impl Core {
    /// Loads stored state (link states, services, the last allocation) and
    /// re-programs the southbound from it.
    pub fn new(start: Start) -> Result<Self, ApiError> {
        let store = start.store;
        let mut links: BTreeMap<String, LinkState> = start
            .base
            .links()
            .iter()
            .map(|l| (l.id.clone(), LinkState::default()))
            .collect();
        for row in store.link_states()? {
            if let Some(s) = links.get_mut(&row.link) {
                s.drained = row.drained;
                s.capacity_bps = row.capacity_bps;
            }
        }
        let mut services = BTreeMap::new();
        let mut next_service = 1;
        for row in store.services()? {
            let spec: ServiceSpec = serde_json::from_str(&row.doc).map_err(ApiError::internal)?;
            if let Some(n) = row
                .id
                .strip_prefix("svc-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                next_service = next_service.max(n + 1);
            }
            services.insert(
                row.id.clone(),
                Service {
                    id: row.id,
                    tenant: row.tenant,
                    spec,
                },
            );
        }
        let tenants = match store.meta("tenants")? {
            Some(doc) => serde_json::from_str(&doc).map_err(ApiError::internal)?,
            None => BTreeMap::new(),
        };
        let mut core = Core {
            store,
            base: start.base,
            topology_version: start.topology_version,
            classes: ClassSet::default(),
            settings: start.settings,
            links,
            services,
            background: start.background,
            background_scale: 1.0,
            southbound: start.southbound,
            installed: DesiredState::new(),
            allocation: None,
            model: None,
            planned_loads: BTreeMap::new(),
            counters: BTreeMap::new(),
            tenants,
            pending: None,
            last_reroute: None,
            reoptimisations: 0,
            last_reaction: None,
            last_prune_ms: 0,
            rollup_behind: false,
            next_service,
            snapshot: start.snapshot,
            events: start.events,
            demand_history: std::collections::VecDeque::new(),
            planned_level: 1.0,
            prediction: None,
            predicting: false,
            loopback: start.loopback,
        };
        core.installed = core.southbound.installed();
        core.restore_programming()?;
        core.pending = Some(Pending {
            cause: "controller start".into(),
            urgent: true,
            since: Instant::now(),
        });
        core.publish();
        Ok(core)
    }

    /// After a restart the network is programmed from the stored allocation
    /// before anything is re-planned, so forwarding resumes from known state.
    fn restore_programming(&mut self) -> Result<(), ApiError> {
        let Some((version, doc)) = self.store.latest_allocation()? else {
            return Ok(());
        };
        let stored: StoredAllocation = serde_json::from_str(&doc).map_err(ApiError::internal)?;
        let desired: DesiredState = stored
            .policies
            .into_iter()
            .map(|p| (p.key.clone(), p))
            .collect();
        let eff = plan::effective(&self.base, &self.links).map_err(ApiError::internal)?;
        self.southbound.set_igp(&self.base, &eff);
        let update = plan_update(&self.installed, &desired, &self.capacities(), is_background);
        for batch in &update.batches {
            self.southbound.apply(batch).map_err(ApiError::internal)?;
        }
        info!(
            version,
            changes = update.changes(),
            "re-programmed the network from the stored allocation"
        );
        self.installed = desired;
        Ok(())
    }

    /// Runs until every sender is gone.
    pub fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let msg = if self.pending_due() {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        self.run_pending();
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match rx.blocking_recv() {
                    Some(m) => m,
                    None => break,
                }
            };
            self.handle(msg);
        }
    }

    fn pending_due(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| {
            p.urgent
                || self
                    .last_reroute
                    .is_none_or(|t| t.elapsed() >= self.settings.min_reroute_interval)
        })
    }

    fn request(&mut self, cause: String, urgent: bool) {
        match &mut self.pending {
            Some(p) => {
                p.urgent |= urgent;
                if !p.cause.contains(&cause) {
                    p.cause = format!("{}; {cause}", p.cause);
                }
            }
            None => {
                self.pending = Some(Pending {
                    cause,
                    urgent,
                    since: Instant::now(),
                })
            }
        }
        self.publish();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Command { cmd, actor, reply } => {
                let result = self.command(*cmd, &actor);
                // Readers see the change before its author hears back.
                self.publish();
                // The caller may have gone (client closed): the change stands.
                let _ = reply.send(result);
            }
            Msg::Network(ev) => self.network_event(ev),
            Msg::DemandScale(f) => {
                if (f - self.background_scale).abs() > 1e-9 {
                    self.background_scale = f;
                    self.request(format!("measured demand ×{f:.3}"), false);
                }
                self.demand_history.push_back(f);
                if self.demand_history.len() > 14 * SAMPLES_PER_DAY {
                    self.demand_history.pop_front();
                }
                self.start_prediction();
            }
            Msg::Prediction(result) => {
                self.predicting = false;
                match result {
                    Ok(p) => self.prediction_done(p),
                    Err(e) => debug!(error = e, "no congestion prediction"),
                }
            }
            Msg::Tick => {}
        }
    }

    /// Forecasts demand and plans it beside the loop (the loop hears back in
    /// a `Msg::Prediction`), one prediction at a time.
    fn start_prediction(&mut self) {
        let (Some(tx), Some(model)) = (self.loopback.clone(), self.model.clone()) else {
            return;
        };
        if self.predicting {
            return;
        }
        self.predicting = true;
        let history: Vec<f64> = self.demand_history.iter().copied().collect();
        let planned = self.planned_level;
        let spawned = std::thread::Builder::new()
            .name("keel-predict".into())
            .spawn(move || {
                let result = predict::predict(
                    &model,
                    &history,
                    planned,
                    SAMPLES_PER_DAY,
                    MINUTES_PER_SAMPLE,
                    ALERT_UTILISATION,
                )
                .map_err(|e| e.to_string());
                let _ = tx.send(Msg::Prediction(result));
            });
        if spawned.is_err() {
            self.predicting = false;
        }
    }

    /// Announces links that newly reach the threshold, and keeps the prediction.
    fn prediction_done(&mut self, p: predict::Prediction) {
        let before: Vec<&str> = self
            .prediction
            .iter()
            .flat_map(|x| x.alerts.iter().map(|a| a.link.as_str()))
            .collect();
        let new: Vec<predict::Alert> = p
            .alerts
            .iter()
            .filter(|a| !before.contains(&a.link.as_str()))
            .cloned()
            .collect();
        for a in new {
            info!(
                link = a.link,
                lead_minutes = a.lead_minutes,
                "{}",
                a.message
            );
            self.audit(
                "controller",
                "congestion.predicted",
                &a.link.clone(),
                json!({ "utilisation": a.utilisation, "lead_minutes": a.lead_minutes,
                        "method": p.method }),
            );
            let _ = self.events.send(Event::Alert {
                link: a.link,
                utilisation: a.utilisation,
                lead_minutes: a.lead_minutes,
                message: a.message,
            });
        }
        self.prediction = Some(Arc::new(p));
        self.publish();
    }

    fn network_event(&mut self, ev: NetworkEvent) {
        match ev {
            NetworkEvent::LinkDown { link } | NetworkEvent::LinkUp { link }
                if !self.links.contains_key(&link) =>
            {
                warn!(link, "event for a link not in the topology");
            }
            NetworkEvent::LinkDown { link } => {
                self.set_oper(&link, false);
                self.request(format!("link {link} down"), true);
            }
            NetworkEvent::LinkUp { link } => {
                self.set_oper(&link, true);
                self.request(format!("link {link} up"), false);
            }
            NetworkEvent::Counters { links } => self.counters_event(links),
        }
    }

    fn set_oper(&mut self, link: &str, up: bool) {
        let Some(s) = self.links.get_mut(link) else {
            return;
        };
        s.up = up;
        let drained = s.drained;
        let action = if up { "link.up" } else { "link.down" };
        self.audit(
            "network",
            action,
            link,
            json!({ "cause": "reported by the network" }),
        );
        let _ = self.events.send(Event::LinkState {
            link: link.to_string(),
            up,
            drained,
        });
    }

    fn counters_event(&mut self, links: Vec<LinkCounter>) {
        let at = now_ms();
        let caps: BTreeMap<&str, f64> = self
            .base
            .links()
            .iter()
            .map(|l| (l.id.as_str(), self.capacity(l)))
            .collect();
        let rows: Vec<(&str, f64, f64, f64)> = links
            .iter()
            .filter_map(|c| {
                caps.get(c.link.as_str())
                    .map(|cap| (c.link.as_str(), c.offered_bps, c.carried_bps, *cap))
            })
            .collect();
        if let Err(e) = self.store.record_utilisation(at, &rows) {
            warn!(error = %e, "cannot record link utilisation");
        }
        // Rollups and retention (keel_store::RAW_RETENTION_MS and the rest) run
        // every five minutes: each call rolls only the buckets completed since
        // the last, so it costs a few minutes of samples.
        // A backlog is rolled a bounded step per call, one call per counter report.
        if self.rollup_behind || at - self.last_prune_ms >= keel_store::FIVE_MIN_MS {
            self.last_prune_ms = at;
            match self.store.downsample(at) {
                Ok(d) => self.rollup_behind = d.behind,
                Err(e) => {
                    self.rollup_behind = false;
                    warn!(error = %e, "cannot downsample link utilisation history");
                }
            }
        }
        let max = rows
            .iter()
            .filter(|r| r.3 > 0.0)
            .map(|r| r.1 / r.3)
            .fold(0.0, f64::max);
        self.counters = links.into_iter().map(|c| (c.link.clone(), c)).collect();
        let _ = self.events.send(Event::Counters {
            max_utilisation: max,
        });
        self.publish();
    }

    /// Capacity in force: the operator's override, else the topology's.
    fn capacity(&self, link: &keel_model::Link) -> f64 {
        self.links
            .get(&link.id)
            .and_then(|s| s.capacity_bps)
            .unwrap_or(link.capacity.bps())
    }

    fn capacity_of(&self, link: &str) -> f64 {
        // Only for single-link commands: the per-link loops use `capacity`.
        self.base
            .links()
            .iter()
            .find(|l| l.id == link)
            .map_or(0.0, |l| self.capacity(l))
    }

    /// Capacity of every usable link (down and drained links are left out).
    fn capacities(&self) -> BTreeMap<String, f64> {
        self.base
            .links()
            .iter()
            .filter(|l| self.links.get(&l.id).is_none_or(LinkState::usable))
            .map(|l| (l.id.clone(), self.capacity(l)))
            .collect()
    }

    fn audit(&self, actor: &str, action: &str, subject: &str, detail: serde_json::Value) {
        let text = detail.to_string();
        let a = Audit {
            actor,
            action,
            subject,
            detail: &text,
        };
        if let Err(e) = self.store.audit(a) {
            warn!(error = %e, action, subject, "cannot write the audit log");
        }
        self.announce(actor, action, subject, detail);
    }

    /// Puts an audit record (already stored) on the event stream.
    fn announce(&self, actor: &str, action: &str, subject: &str, detail: serde_json::Value) {
        let tenant = self.services.get(subject).map(|s| s.tenant.clone());
        let _ = self.events.send(Event::Audit {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail,
            tenant,
        });
    }

    fn command(&mut self, cmd: Command, actor: &Principal) -> Result<serde_json::Value, ApiError> {
        match cmd {
            Command::CreateService { spec } => self.create_service(spec, actor),
            Command::ReplaceService { id, spec } => self.replace_service(&id, spec, actor),
            Command::DeleteService { id } => self.delete_service(&id, actor),
            Command::SetDrain { link, drained } => self.set_drain(&link, drained, actor),
            Command::SetCapacity { link, capacity_bps } => {
                self.set_capacity(&link, capacity_bps, actor)
            }
            Command::ImportTopology { spec } => self.import_topology(spec, actor),
            Command::InjectLink { link, up } => {
                actor.require(actor.can_operate(), "inject failures")?;
                if !self.links.contains_key(&link) {
                    return Err(ApiError::not_found("link", &link));
                }
                self.southbound
                    .set_link(&link, up)
                    .map_err(|e| ApiError::new(Code::BadRequest, e.to_string()))?;
                self.audit(
                    &actor.name,
                    if up { "sim.restore" } else { "sim.fail" },
                    &link,
                    json!({}),
                );
                Ok(json!({ "link": link, "up": up }))
            }
        }
    }

    fn network<'a>(
        &'a self,
        topo: &'a Topology,
        tenant_number: &'a dyn Fn(&str) -> u16,
    ) -> Network<'a> {
        Network {
            topo,
            base: &self.base,
            exits: &self.settings.exits,
            classes: &self.classes,
            tenant_number,
        }
    }

    /// Fills in identity, validates and runs admission control for a spec.
    fn settle(
        &mut self,
        mut spec: ServiceSpec,
        id: Option<String>,
        actor: &Principal,
    ) -> Result<(Service, Admission), ApiError> {
        let tenant = match (&actor.tenant, spec.tenant.take()) {
            (Some(mine), Some(asked)) if *mine != asked => {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!("a token of tenant `{mine}` cannot manage services of `{asked}`"),
                ));
            }
            (Some(mine), _) => mine.clone(),
            (None, Some(asked)) => asked,
            (None, None) => return Err(crate::error::field("tenant", "required for this token")),
        };
        actor.require(actor.owns(&tenant), "manage services")?;
        spec.tenant = Some(tenant.clone());
        service::validate(&spec, &self.base, &self.classes, &self.settings.exits)?;
        let id = match (id, spec.id.take()) {
            (Some(path), Some(body)) if path != body => {
                return Err(crate::error::field(
                    "id",
                    format!("`{body}` differs from the URL's `{path}`"),
                ));
            }
            (Some(id), _) => id,
            (None, Some(id)) => {
                if self.services.contains_key(&id) {
                    return Err(ApiError::new(
                        Code::Conflict,
                        format!("service `{id}` exists"),
                    ));
                }
                id
            }
            // Taken for good only when the service is stored (store_service).
            (None, None) => format!("svc-{}", self.next_service),
        };
        spec.id = Some(id.clone());
        let svc = Service { id, tenant, spec };
        let others: Vec<Service> = self
            .services
            .values()
            .filter(|s| s.id != svc.id)
            .cloned()
            .collect();
        let eff = plan::effective(&self.base, &self.links).map_err(ApiError::internal)?;
        let tenants = self.tenants.clone();
        let number = move |t: &str| tenants.get(t).copied().unwrap_or(0);
        let admission =
            plan::admit(&self.network(&eff, &number), &others, &svc).map_err(ApiError::internal)?;
        Ok((svc, admission))
    }

    fn create_service(
        &mut self,
        spec: ServiceSpec,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        let (svc, admission) = self.settle(spec, None, actor)?;
        self.store_service(svc, admission, actor, "service.create")
    }

    fn replace_service(
        &mut self,
        id: &str,
        spec: ServiceSpec,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        let Some(old) = self.services.get(id) else {
            return Err(ApiError::not_found("service", id));
        };
        if !actor.owns(&old.tenant) {
            return Err(ApiError::not_found("service", id));
        }
        let (svc, admission) = self.settle(spec, Some(id.to_string()), actor)?;
        if svc.tenant != self.services[id].tenant {
            return Err(crate::error::field(
                "tenant",
                "a service cannot change tenant",
            ));
        }
        self.store_service(svc, admission, actor, "service.update")
    }

    fn store_service(
        &mut self,
        svc: Service,
        admission: Admission,
        actor: &Principal,
        action: &str,
    ) -> Result<serde_json::Value, ApiError> {
        if let Admission::Refused { .. } = &admission {
            self.audit(
                &actor.name,
                "service.refused",
                &svc.id,
                json!({ "admission": admission }),
            );
            let mut err = ApiError::new(
                Code::NotAdmitted,
                format!("service `{}` cannot be carried with its SLA", svc.id),
            );
            err.details = Some(json!(admission));
            return Err(err);
        }
        if svc.spec.kind == service::ServiceKind::Vpn && !self.tenants.contains_key(&svc.tenant) {
            let n = self.tenants.values().max().map_or(1, |m| m + 1);
            self.tenants.insert(svc.tenant.clone(), n);
            let doc = serde_json::to_string(&self.tenants).map_err(ApiError::internal)?;
            self.store.set_meta("tenants", &doc)?;
        }
        let doc = serde_json::to_string(&svc.spec).map_err(ApiError::internal)?;
        let detail = json!({ "cause": "api", "spec": svc.spec }).to_string();
        // Durable before acknowledged: the reply goes out after this commit.
        self.store.put_service(
            &ServiceRow {
                id: svc.id.clone(),
                tenant: svc.tenant.clone(),
                doc,
            },
            Audit {
                actor: &actor.name,
                action,
                subject: &svc.id,
                detail: &detail,
            },
        )?;
        let _ = self.events.send(Event::Audit {
            actor: actor.name.clone(),
            action: action.into(),
            subject: svc.id.clone(),
            detail: json!({ "cause": "api" }),
            tenant: Some(svc.tenant.clone()),
        });
        if svc.id == format!("svc-{}", self.next_service) {
            self.next_service += 1;
        }
        let out = json!({ "service": svc.spec, "admission": admission });
        self.request(
            format!(
                "service {} {}",
                svc.id,
                action.trim_start_matches("service.")
            ),
            true,
        );
        self.services.insert(svc.id.clone(), svc);
        Ok(out)
    }

    fn delete_service(
        &mut self,
        id: &str,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        match self.services.get(id) {
            Some(s) if actor.owns(&s.tenant) => {}
            // A tenant learns nothing about other tenants' services.
            _ => return Err(ApiError::not_found("service", id)),
        }
        let detail = json!({ "cause": "api" }).to_string();
        self.store.delete_service(
            id,
            Audit {
                actor: &actor.name,
                action: "service.delete",
                subject: id,
                detail: &detail,
            },
        )?;
        self.announce(&actor.name, "service.delete", id, json!({ "cause": "api" }));
        self.services.remove(id);
        self.request(format!("service {id} deleted"), true);
        Ok(json!({ "deleted": id }))
    }

    /// Makes a link's administrative state durable with its audit record, then
    /// takes it into memory and announces it.
    fn write_link_state(
        &mut self,
        link: &str,
        state: LinkState,
        actor: &Principal,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let text = detail.to_string();
        self.store.set_link_state(
            &LinkStateRow {
                link: link.to_string(),
                drained: state.drained,
                capacity_bps: state.capacity_bps,
            },
            Audit {
                actor: &actor.name,
                action,
                subject: link,
                detail: &text,
            },
        )?;
        self.links.insert(link.to_string(), state);
        self.announce(&actor.name, action, link, detail);
        let _ = self.events.send(Event::LinkState {
            link: link.to_string(),
            up: state.up,
            drained: state.drained,
        });
        Ok(())
    }

    fn set_drain(
        &mut self,
        link: &str,
        drained: bool,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        actor.require(actor.can_operate(), "drain links")?;
        let Some(&state) = self.links.get(link) else {
            return Err(ApiError::not_found("link", link));
        };
        if state.drained == drained {
            return Ok(json!({ "link": link, "drained": drained, "changed": false }));
        }
        let (action, verb) = if drained {
            ("link.drain", "drained")
        } else {
            ("link.undrain", "undrained")
        };
        let new = LinkState { drained, ..state };
        self.write_link_state(link, new, actor, action, json!({ "cause": "api" }))?;
        // Draining moves traffic now (the operator is waiting to work on it);
        // undraining may wait for the damping interval.
        self.request(format!("link {link} {verb}"), drained);
        Ok(json!({ "link": link, "drained": drained, "changed": true }))
    }

    fn set_capacity(
        &mut self,
        link: &str,
        bps: f64,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        actor.require(actor.can_operate(), "change capacities")?;
        if !(bps.is_finite() && bps >= 0.0) {
            return Err(crate::error::field(
                "capacity",
                "must be a rate >= 0 such as \"40G\"",
            ));
        }
        let Some(&state) = self.links.get(link) else {
            return Err(ApiError::not_found("link", link));
        };
        let old = self.capacity_of(link);
        let new = LinkState {
            capacity_bps: Some(bps),
            ..state
        };
        let detail = json!({ "cause": "api", "from_bps": old, "to_bps": bps });
        self.write_link_state(link, new, actor, "link.capacity", detail)?;
        // A cut may overload the link now: act at once; an increase can wait.
        self.request(
            format!("link {link} capacity {old:.0} -> {bps:.0} bit/s"),
            bps < old,
        );
        Ok(json!({ "link": link, "capacity_bps": bps }))
    }

    /// Switches to a new topology version: link states carry over by id,
    /// background demand and exits by site id; services keep their specs (a
    /// service whose sites are gone shows as degraded).
    fn import_topology(
        &mut self,
        spec: TopologySpec,
        actor: &Principal,
    ) -> Result<serde_json::Value, ApiError> {
        actor.require(actor.can_operate(), "import topologies")?;
        let doc = serde_json::to_string(&spec).map_err(ApiError::internal)?;
        let topo = spec
            .into_topology()
            .map_err(|e| ApiError::new(Code::BadRequest, format!("topology: {e}")))?;
        let detail = json!({ "cause": "api", "name": topo.name(), "sites": topo.site_count(),
                             "links": topo.link_count() })
        .to_string();
        let version = self.store.save_topology(
            &doc,
            Audit {
                actor: &actor.name,
                action: "topology.import",
                subject: topo.name(),
                detail: &detail,
            },
        )?;
        let old = std::mem::replace(&mut self.base, topo);
        let new = &self.base;
        self.background = std::mem::take(&mut self.background)
            .into_iter()
            .filter_map(|b| {
                let src = new.site_by_id(&old.site(b.src).id)?;
                let dst = new.site_by_id(&old.site(b.dst).id)?;
                Some(BackgroundDemand { src, dst, ..b })
            })
            .collect();
        self.settings.exits = self
            .settings
            .exit_names
            .iter()
            .filter_map(|e| new.site_by_id(e))
            .collect();
        self.links = new
            .links()
            .iter()
            .map(|l| {
                (
                    l.id.clone(),
                    self.links.get(&l.id).copied().unwrap_or_default(),
                )
            })
            .collect();
        let links: Vec<(String, f64)> = new
            .links()
            .iter()
            .map(|l| (l.id.clone(), l.capacity.bps()))
            .collect();
        self.southbound.sync_links(&links);
        self.topology_version = version;
        let (sites, n_links) = (new.site_count(), new.link_count());
        self.request(format!("topology version {version} imported"), true);
        Ok(json!({ "version": version, "sites": sites, "links": n_links }))
    }

    fn run_pending(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.last_reroute = Some(Instant::now());
        if let Err(e) = self.reoptimise(&p.cause, p.since) {
            warn!(error = %e, cause = p.cause, "re-optimisation failed; the installed state stays");
            self.audit(
                "controller",
                "allocation.failed",
                "network",
                json!({ "cause": p.cause, "error": e.to_string() }),
            );
        }
        self.publish();
    }

    fn reoptimise(&mut self, cause: &str, since: Instant) -> Result<(), ApiError> {
        let started = Instant::now();
        let eff = plan::effective(&self.base, &self.links).map_err(ApiError::internal)?;
        self.southbound.set_igp(&self.base, &eff);
        let services: Vec<Service> = self.services.values().cloned().collect();
        let background: Vec<BackgroundDemand> = self
            .background
            .iter()
            .map(|b| BackgroundDemand {
                rate: b.rate * self.background_scale,
                ..b.clone()
            })
            .collect();
        let tenants = self.tenants.clone();
        let number = move |t: &str| tenants.get(t).copied().unwrap_or(0);
        let plan = plan::plan(&self.network(&eff, &number), &services, &background)
            .map_err(ApiError::internal)?;
        let planned = started.elapsed();
        let desired = desired_state(&plan, &services, &eff);
        let built = started.elapsed();
        let update = plan_update(&self.installed, &desired, &self.capacities(), is_background);
        let ordered = started.elapsed();
        for batch in &update.batches {
            self.southbound.apply(batch).map_err(ApiError::internal)?;
        }
        let elapsed = started.elapsed();
        // From the event to the last batch handed to the network.
        let reaction = since.elapsed();
        self.last_reaction = Some(reaction);
        self.installed = desired;
        self.reoptimisations += 1;
        let stored = StoredAllocation {
            cause: cause.to_string(),
            policies: self.installed.values().cloned().collect(),
        };
        let doc = serde_json::to_string(&stored).map_err(ApiError::internal)?;
        let detail = json!({
            "cause": cause,
            "changes": update.changes(),
            "batches": update.batches.len(),
            "at_risk": update.at_risk,
            "solver": plan.figures.solver,
            "carried_bps": plan.figures.carried_bps,
            "gap": plan.figures.gap,
            "seconds": elapsed.as_secs_f64(),
            "reaction_s": reaction.as_secs_f64(),
            // Where the time went: planning (paths, LP, verification, segment
            // lists), policies, update ordering, handing batches to the network.
            "phases_s": {
                "plan": planned.as_secs_f64(),
                "policies": (built - planned).as_secs_f64(),
                "ordering": (ordered - built).as_secs_f64(),
                "apply": (elapsed - ordered).as_secs_f64(),
            },
            "paths_s": plan.figures.paths_s,
            "build_s": plan.figures.build_s,
            "solve_s": plan.figures.solve_s,
        });
        let text = detail.to_string();
        let version = self.store.save_allocation(
            cause,
            &doc,
            Audit {
                actor: "controller",
                action: "allocation.install",
                subject: "network",
                detail: &text,
            },
        )?;
        info!(
            version,
            cause,
            changes = update.changes(),
            seconds = elapsed.as_secs_f64(),
            "allocation installed"
        );
        let _ = self.events.send(Event::Allocation {
            version,
            cause: cause.to_string(),
            changes: update.changes(),
        });
        self.allocation = Some(Arc::new(allocation_doc(version, cause, &plan, &services)));
        self.model = Some(plan.model.clone());
        self.planned_level = self.background_scale;
        self.planned_loads = plan.loads;
        Ok(())
    }

    fn publish(&self) {
        let links = self
            .base
            .links()
            .iter()
            .map(|l| {
                let s = self.links.get(&l.id).copied().unwrap_or_default();
                let cap = self.capacity(l);
                let measured = self.counters.get(&l.id).map(|c| c.offered_bps);
                LinkView {
                    id: l.id.clone(),
                    src: self.base.site(l.src).id.clone(),
                    dst: self.base.site(l.dst).id.clone(),
                    capacity_bps: cap,
                    latency_ms: l.latency.ms(),
                    srlgs: l.srlgs.clone(),
                    up: s.up,
                    drained: s.drained,
                    capacity_override_bps: s.capacity_bps,
                    planned_bps: self.planned_loads.get(&l.id).copied().unwrap_or(0.0),
                    measured_bps: measured,
                    utilisation: measured.map(|m| if cap > 0.0 { m / cap } else { 0.0 }),
                }
            })
            .collect();
        let services = self
            .services
            .values()
            .map(|s| (s.id.clone(), self.service_view(s)))
            .collect();
        let snap = Snapshot {
            topology_name: self.base.name().to_string(),
            topology_version: self.topology_version,
            southbound: self.southbound.kind(),
            sites: self
                .base
                .sites()
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({
                        "id": s.id, "name": s.name, "kind": s.kind, "location": s.location,
                        "locator": srv6::locator(SiteId(i as u32)),
                    })
                })
                .collect(),
            links,
            services,
            allocation: self.allocation.clone(),
            model: self.model.clone(),
            prediction: self.prediction.clone(),
            reoptimisations: self.reoptimisations,
            last_reaction_s: self.last_reaction.map(|d| d.as_secs_f64()),
            pending_reoptimisation: self.pending.is_some(),
            ready: self.allocation.is_some(),
        };
        self.snapshot.send_replace(Arc::new(snap));
    }

    fn service_view(&self, s: &Service) -> ServiceView {
        let flows = self.allocation.as_ref().and_then(|a| a.services.get(&s.id));
        let committed: f64 = s
            .demands(&self.base, &self.settings.exits)
            .iter()
            .map(|d| d.rate)
            .sum();
        let carried: f64 = flows.map_or(0.0, |f| f.iter().map(|d| d.carried_bps).sum());
        let worst = flows.and_then(|f| {
            f.iter()
                .flat_map(|d| d.paths.iter().map(|p| p.latency_ms))
                .reduce(f64::max)
        });
        ServiceView {
            spec: s.spec.clone(),
            status: if flows.is_some() && carried >= committed * (1.0 - 1e-6) {
                "active"
            } else {
                "degraded"
            },
            committed_bps: committed,
            carried_bps: carried,
            worst_latency_ms: worst,
        }
    }
}

/// Background policies absorb transient congestion during updates.
fn is_background(k: &PolicyKey) -> bool {
    k.service == BACKGROUND
}

const BACKGROUND: &str = "background";

/// What is stored per allocation: enough to re-program the network.
#[derive(Serialize, serde::Deserialize)]
struct StoredAllocation {
    cause: String,
    policies: Vec<Policy>,
}

/// One TE policy per planned flow with traffic, keyed by owner, ends and class.
fn desired_state(plan: &Plan, services: &[Service], topo: &Topology) -> DesiredState {
    let mut out = DesiredState::new();
    // One shared string per link id across all policies.
    let ids: std::collections::HashMap<&str, Arc<str>> = topo
        .links()
        .iter()
        .map(|l| (l.id.as_str(), Arc::from(l.id.as_str())))
        .collect();
    for d in &plan.demands {
        if d.paths.is_empty() {
            continue;
        }
        let (service, prefixes) = match d.owner {
            Owner::Service(i) => {
                let s = &services[i];
                let prefixes = s
                    .spec
                    .endpoints
                    .iter()
                    .filter(|e| e.site == d.dst)
                    .flat_map(|e| e.prefixes.iter().cloned())
                    .collect();
                (s.id.clone(), prefixes)
            }
            Owner::Background => (BACKGROUND.to_string(), Vec::new()),
        };
        // Without prefixes of its own a policy carries traffic to the egress
        // site's hosts (never to its locator: that is the underlay's).
        let prefixes = if prefixes.is_empty() {
            topo.site_by_id(&d.dst)
                .map(|s| vec![crate::sitestate::host_prefix(s).to_string()])
                .unwrap_or_default()
        } else {
            prefixes
        };
        let rates: Vec<f64> = d.paths.iter().map(|p| p.rate_bps).collect();
        let weights = quantise_weights(&rates);
        let key = PolicyKey {
            service,
            ingress: d.src.clone(),
            egress: d.dst.clone(),
            class: d.class.clone(),
        };
        // Routers split by weight: the rate each path really gets is the policy's
        // total in proportion to its quantised weight.
        let total: f64 = rates.iter().sum();
        let weight_sum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
        let paths = d
            .paths
            .iter()
            .zip(weights)
            .map(|(p, weight)| SegmentList {
                weight,
                rate_bps: total * f64::from(weight) / weight_sum,
                segments: p.segments.clone(),
                links: p
                    .links
                    .iter()
                    .map(|l| {
                        ids.get(l.as_str())
                            .cloned()
                            .unwrap_or_else(|| Arc::from(l.as_str()))
                    })
                    .collect(),
            })
            .collect();
        out.insert(
            key.clone(),
            Policy {
                key,
                dscp: d.dscp,
                prefixes,
                paths,
            },
        );
    }
    out
}

fn allocation_doc(version: i64, cause: &str, plan: &Plan, services: &[Service]) -> AllocationDoc {
    let mut by_service: BTreeMap<String, Vec<plan::PlannedDemand>> = services
        .iter()
        .map(|s| (s.id.clone(), Vec::new()))
        .collect();
    let (mut bg_demand, mut bg_carried) = (0.0, 0.0);
    for d in &plan.demands {
        match d.owner {
            Owner::Service(i) => by_service
                .entry(services[i].id.clone())
                .or_default()
                .push(d.clone()),
            Owner::Background => {
                bg_demand += d.rate_bps;
                bg_carried += d.carried_bps;
            }
        }
    }
    AllocationDoc {
        version,
        at_ms: now_ms(),
        cause: cause.to_string(),
        figures: plan.figures.clone(),
        services: by_service,
        background_demand_bps: bg_demand,
        background_carried_bps: bg_carried,
    }
}
