//! The REST API under `/api/v1`: a thin shell that authenticates, parses, and
//! either reads the latest snapshot or sends a typed command to the event loop.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::Stream;
use keel_model::Bandwidth;
use keel_southbound::sim::SimNetwork;
use keel_store::{Audit, Store, TokenRow};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::{self, Principal, Role};
use crate::core::{Command, Event, Msg, Snapshot};
use crate::error::{ApiError, Code, field};

#[derive(Clone)]
pub struct AppState {
    pub tx: mpsc::UnboundedSender<Msg>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub events: broadcast::Sender<Event>,
    pub store: Arc<Store>,
    pub sim: Option<SimNetwork>,
    /// Set when the network is run by agents (`--southbound agents`).
    pub agents: Option<Arc<crate::agents::AgentRegistry>>,
}

impl AppState {
    fn snap(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    async fn send(&self, cmd: Command, actor: Principal) -> Result<Value, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command {
                cmd: Box::new(cmd),
                actor,
                reply,
            })
            .map_err(|_| ApiError::new(Code::Unavailable, "the controller is shutting down"))?;
        rx.await
            .map_err(|_| ApiError::new(Code::Unavailable, "the controller is shutting down"))?
    }
}

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/status", get(status))
        .route("/topology", get(topology).post(import_topology))
        .route("/links", get(links))
        .route("/links/{id}", get(link))
        .route("/links/{id}/drain", post(drain))
        .route("/links/{id}/undrain", post(undrain))
        .route("/links/{id}/capacity", put(capacity))
        .route("/links/{id}/utilisation", get(utilisation))
        .route("/sim/links/{id}/fail", post(sim_fail))
        .route("/sim/links/{id}/restore", post(sim_restore))
        .route("/sim/stats", get(sim_stats))
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{id}",
            get(get_service).put(replace_service).delete(delete_service),
        )
        .route("/services/{id}/allocation", get(service_allocation))
        .route("/allocation", get(allocation))
        .route("/audit", get(audit))
        .route("/events", get(events))
        .route("/tokens", post(create_token))
        .route("/whatif", post(whatif))
        .route("/predictions", get(predictions))
        .merge(crate::agent_api::routes());
    Router::new()
        .nest("/api/v1", v1)
        .route("/", get(crate::dashboard::index))
        .route("/app.js", get(crate::dashboard::script))
        .route("/style.css", get(crate::dashboard::style))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Code::MethodNotAllowed,
                "this endpoint does not take that method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(Code::Unauthorized, m);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>` header"))?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let row = state
            .store
            .token(&auth::hash(secret.trim()))?
            .ok_or_else(|| unauthorized("unknown token"))?;
        let role: Role = row
            .role
            .parse()
            .map_err(|e: String| ApiError::internal(e))?;
        Ok(Principal {
            name: row.name,
            role,
            tenant: row.tenant,
        })
    }
}

/// Query parameters whose errors come back as the API's JSON errors.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(q)| Params(q))
            .map_err(|e| ApiError::new(Code::BadRequest, format!("query: {}", e.body_text())))
    }
}

/// A JSON body whose errors name the offending field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        Code::PayloadTooLarge,
                        format!("request body above {BODY_LIMIT} bytes"),
                    )
                } else {
                    ApiError::new(Code::BadRequest, e.body_text())
                }
            })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(Body).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::new(Code::BadRequest, format!("invalid JSON body: {inner}"))
            } else {
                field(&path, inner.to_string())
            }
        })
    }
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(st): State<AppState>) -> Response {
    if st.snap().ready {
        Json(json!({ "ready": true })).into_response()
    } else {
        ApiError::new(Code::Unavailable, "no allocation installed yet").into_response()
    }
}

async fn status(State(st): State<AppState>, who: Principal) -> Json<Value> {
    let s = st.snap();
    let visible = s
        .services
        .values()
        .filter(|v| v.spec.tenant.as_deref().is_some_and(|t| who.owns(t)) || who.can_read_network())
        .count();
    let mut out = json!({
        "you": who,
        "topology": { "name": s.topology_name, "version": s.topology_version,
                      "sites": s.sites.len(), "links": s.links.len() },
        "southbound": s.southbound,
        "services": visible,
        "ready": s.ready,
    });
    if who.can_read_network() {
        out["links_down"] = json!(
            s.links
                .iter()
                .filter(|l| !l.up)
                .map(|l| &l.id)
                .collect::<Vec<_>>()
        );
        out["links_drained"] = json!(
            s.links
                .iter()
                .filter(|l| l.drained)
                .map(|l| &l.id)
                .collect::<Vec<_>>()
        );
        out["reoptimisations"] = json!(s.reoptimisations);
        out["last_reaction_s"] = json!(s.last_reaction_s);
        out["pending_reoptimisation"] = json!(s.pending_reoptimisation);
        out["allocation"] = json!(s.allocation.as_ref().map(|a| json!({
            "version": a.version, "cause": a.cause, "figures": a.figures,
            "background_demand_bps": a.background_demand_bps,
            "background_carried_bps": a.background_carried_bps,
        })));
    }
    Json(out)
}

async fn topology(State(st): State<AppState>, _who: Principal) -> Json<Value> {
    let s = st.snap();
    let links: Vec<Value> = s
        .links
        .iter()
        .map(|l| {
            json!({ "id": l.id, "src": l.src, "dst": l.dst, "capacity_bps": l.capacity_bps,
                         "latency_ms": l.latency_ms, "srlgs": l.srlgs })
        })
        .collect();
    Json(
        json!({ "name": s.topology_name, "version": s.topology_version,
                 "sites": s.sites, "links": links }),
    )
}

async fn import_topology(
    State(st): State<AppState>,
    who: Principal,
    Body(spec): Body<keel_model::spec::TopologySpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let out = st.send(Command::ImportTopology { spec }, who).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn links(State(st): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read link state")?;
    Ok(Json(json!(st.snap().links)))
}

async fn link(
    State(st): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read link state")?;
    let s = st.snap();
    let l = s
        .links
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found("link", &id))?;
    let crossing: Vec<&String> = s
        .allocation
        .iter()
        .flat_map(|a| a.services.iter())
        .filter(|(_, flows)| {
            flows
                .iter()
                .any(|f| f.paths.iter().any(|p| p.links.contains(&id)))
        })
        .map(|(sid, _)| sid)
        .collect();
    Ok(Json(json!({ "link": l, "services": crossing })))
}

/// One handler per link verb, each a command to the loop.
macro_rules! link_verb {
    ($name:ident, $cmd:expr) => {
        async fn $name(
            State(st): State<AppState>,
            who: Principal,
            Path(link): Path<String>,
        ) -> Result<Json<Value>, ApiError> {
            st.send($cmd(link), who).await.map(Json)
        }
    };
}

link_verb!(drain, |link| Command::SetDrain {
    link,
    drained: true
});
link_verb!(undrain, |link| Command::SetDrain {
    link,
    drained: false
});
link_verb!(sim_fail, |link| Command::InjectLink { link, up: false });
link_verb!(sim_restore, |link| Command::InjectLink { link, up: true });

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityBody {
    capacity: Bandwidth,
}

async fn capacity(
    State(st): State<AppState>,
    who: Principal,
    Path(link): Path<String>,
    Body(body): Body<CapacityBody>,
) -> Result<Json<Value>, ApiError> {
    let cmd = Command::SetCapacity {
        link,
        capacity_bps: body.capacity.bps(),
    };
    st.send(cmd, who).await.map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UtilQuery {
    #[serde(default, alias = "since")]
    since_ms: i64,
    #[serde(default = "default_limit")]
    limit: usize,
    /// raw (default), 5m or 1h.
    #[serde(default)]
    resolution: Option<String>,
}

fn default_limit() -> usize {
    1000
}

async fn utilisation(
    State(st): State<AppState>,
    who: Principal,
    Path(link): Path<String>,
    Params(q): Params<UtilQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read link history")?;
    if !st.snap().links.iter().any(|l| l.id == link) {
        return Err(ApiError::not_found("link", &link));
    }
    let limit = q.limit.min(100_000);
    let rollup = match q.resolution.as_deref() {
        None | Some("raw") => None,
        Some("5m") => Some(keel_store::Rollup::FiveMinutes),
        Some("1h") => Some(keel_store::Rollup::Hour),
        Some(other) => {
            return Err(field(
                "resolution",
                format!("`{other}`: expected raw, 5m or 1h"),
            ));
        }
    };
    let samples = match rollup {
        None => json!(st.store.utilisation(&link, q.since_ms, limit)?),
        Some(r) => json!(st.store.utilisation_rollup(&link, r, q.since_ms, limit)?),
    };
    let resolution = q.resolution.as_deref().unwrap_or("raw");
    Ok(Json(
        json!({ "link": link, "resolution": resolution, "samples": samples }),
    ))
}

async fn sim_stats(State(st): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read the simulator")?;
    let sim = st
        .sim
        .as_ref()
        .ok_or_else(|| ApiError::new(Code::NotFound, "the southbound is not the simulator"))?;
    Ok(Json(json!(sim.stats())))
}

async fn list_services(State(st): State<AppState>, who: Principal) -> Json<Value> {
    let s = st.snap();
    let visible: Vec<_> = s
        .services
        .values()
        .filter(|v| who.can_read_network() || v.spec.tenant.as_deref().is_some_and(|t| who.owns(t)))
        .collect();
    Json(json!(visible))
}

/// A service visible to `who`; others' services are "not found", never "forbidden",
/// so a tenant cannot probe for their existence.
fn visible_service(s: &Snapshot, who: &Principal, id: &str) -> Result<Value, ApiError> {
    s.services
        .get(id)
        .filter(|v| who.can_read_network() || v.spec.tenant.as_deref().is_some_and(|t| who.owns(t)))
        .map(|v| json!(v))
        .ok_or_else(|| ApiError::not_found("service", id))
}

async fn get_service(
    State(st): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible_service(&st.snap(), &who, &id).map(Json)
}

async fn create_service(
    State(st): State<AppState>,
    who: Principal,
    Body(spec): Body<crate::service::ServiceSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let out = st.send(Command::CreateService { spec }, who).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn replace_service(
    State(st): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(spec): Body<crate::service::ServiceSpec>,
) -> Result<Json<Value>, ApiError> {
    st.send(Command::ReplaceService { id, spec }, who)
        .await
        .map(Json)
}

async fn delete_service(
    State(st): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    st.send(Command::DeleteService { id }, who).await.map(Json)
}

async fn service_allocation(
    State(st): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = st.snap();
    visible_service(&s, &who, &id)?;
    let a = s
        .allocation
        .as_ref()
        .ok_or_else(|| ApiError::new(Code::Unavailable, "no allocation installed yet"))?;
    let flows = a.services.get(&id).cloned().unwrap_or_default();
    Ok(Json(
        json!({ "service": id, "version": a.version, "cause": a.cause, "flows": flows }),
    ))
}

async fn allocation(State(st): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read the whole allocation")?;
    let s = st.snap();
    let a = s
        .allocation
        .as_ref()
        .ok_or_else(|| ApiError::new(Code::Unavailable, "no allocation installed yet"))?;
    Ok(Json(json!(a)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    after: i64,
    /// The newest records instead (up to `limit`), oldest first.
    #[serde(default)]
    latest: bool,
    #[serde(default = "default_limit")]
    limit: usize,
}

async fn audit(
    State(st): State<AppState>,
    who: Principal,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read the audit log")?;
    let limit = q.limit.min(10_000);
    let rows = if q.latest {
        if q.after != 0 {
            return Err(field("latest", "give either `after` or `latest`"));
        }
        st.store.audit_latest(limit)?
    } else {
        st.store.audit_since(q.after, limit)?
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let detail: Value = serde_json::from_str(&r.detail).unwrap_or(Value::String(r.detail));
            json!({ "seq": r.seq, "at_ms": r.at_ms, "actor": r.actor, "action": r.action,
                    "subject": r.subject, "detail": detail })
        })
        .collect();
    Ok(Json(json!(rows)))
}

/// Server-Sent Events: every controller event; tenants get only allocation
/// versions and the audit records of their own services.
async fn predictions(State(st): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read predictions")?;
    Ok(Json(match &st.snap().prediction {
        Some(p) => serde_json::to_value(&**p).map_err(ApiError::internal)?,
        None => json!({ "method": null, "steps": [], "alerts": [],
                        "note": "no prediction yet: it needs measured demand and an installed plan" }),
    }))
}

async fn events(
    State(st): State<AppState>,
    who: Principal,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(st.events.subscribe()).filter_map(move |ev| {
        let ev = ev.ok()?;
        let ev = if who.can_read_network() {
            ev
        } else {
            match ev {
                // The version only: the cause names network elements.
                Event::Allocation { version, .. } => Event::Allocation {
                    version,
                    cause: String::new(),
                    changes: 0,
                },
                Event::Audit {
                    tenant: Some(ref t),
                    ..
                } if who.owns(t) => ev,
                _ => return None,
            }
        };
        let data = serde_json::to_string(&ev).ok()?;
        let kind = match &ev {
            Event::Audit { .. } => "audit",
            Event::LinkState { .. } => "link-state",
            Event::Allocation { .. } => "allocation",
            Event::Counters { .. } => "counters",
            Event::Alert { .. } => "alert",
        };
        Some(Ok(SseEvent::default().event(kind).data(data)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    role: Role,
    #[serde(default)]
    tenant: Option<String>,
}

async fn create_token(
    State(st): State<AppState>,
    who: Principal,
    Body(body): Body<TokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(who.is_admin(), "create tokens")?;
    crate::service::validate_name("name", &body.name)?;
    match (body.role, &body.tenant) {
        (Role::Tenant, None) => return Err(field("tenant", "required for role tenant")),
        (Role::Tenant, Some(t)) => crate::service::validate_name("tenant", t)?,
        (_, Some(_)) => return Err(field("tenant", "only tenant tokens belong to a tenant")),
        (_, None) => {}
    }
    let secret = auth::new_secret();
    let detail = json!({ "role": body.role, "tenant": body.tenant }).to_string();
    st.store.put_token(
        &auth::hash(&secret),
        &TokenRow {
            name: body.name.clone(),
            role: body.role.to_string(),
            tenant: body.tenant.clone(),
        },
        Audit {
            actor: &who.name,
            action: "token.create",
            subject: &body.name,
            detail: &detail,
        },
    )?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "token": secret, "name": body.name, "role": body.role, "tenant": body.tenant }),
        ),
    ))
}

/// Prometheus text exposition of the snapshot.
async fn metrics(State(st): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(who.can_read_network(), "read metrics")?;
    let s = st.snap();
    let mut out = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let label = |l: &str| {
        format!(
            "{{link=\"{}\"}}",
            l.replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    family(
        "keel_link_up",
        "1 when the link is operationally up.",
        "gauge",
        s.links
            .iter()
            .map(|l| (label(&l.id), f64::from(u8::from(l.up))))
            .collect(),
    );
    family(
        "keel_link_drained",
        "1 when the link is administratively drained.",
        "gauge",
        s.links
            .iter()
            .map(|l| (label(&l.id), f64::from(u8::from(l.drained))))
            .collect(),
    );
    family(
        "keel_link_capacity_bps",
        "Capacity in force, bit/s.",
        "gauge",
        s.links
            .iter()
            .map(|l| (label(&l.id), l.capacity_bps))
            .collect(),
    );
    family(
        "keel_link_planned_bps",
        "Load the installed allocation puts on the link, bit/s.",
        "gauge",
        s.links
            .iter()
            .map(|l| (label(&l.id), l.planned_bps))
            .collect(),
    );
    family(
        "keel_link_utilisation",
        "Measured offered load over capacity.",
        "gauge",
        s.links
            .iter()
            .filter_map(|l| l.utilisation.map(|u| (label(&l.id), u)))
            .collect(),
    );
    family(
        "keel_services",
        "Services admitted.",
        "gauge",
        vec![(String::new(), s.services.len() as f64)],
    );
    family(
        "keel_reoptimisations_total",
        "Allocations installed since start.",
        "counter",
        vec![(String::new(), s.reoptimisations as f64)],
    );
    if let Some(a) = &s.allocation {
        let f = &a.figures;
        family(
            "keel_allocation_version",
            "Version of the installed allocation.",
            "gauge",
            vec![(String::new(), a.version as f64)],
        );
        family(
            "keel_carried_bps",
            "Traffic the installed allocation carries, bit/s.",
            "gauge",
            vec![(String::new(), f.carried_bps)],
        );
        family(
            "keel_demand_bps",
            "Traffic offered, bit/s.",
            "gauge",
            vec![(String::new(), f.demand_bps)],
        );
        family(
            "keel_solve_seconds",
            "Time of the last solve by phase.",
            "gauge",
            vec![
                ("{phase=\"paths\"}".into(), f.paths_s),
                ("{phase=\"build\"}".into(), f.build_s),
                ("{phase=\"solve\"}".into(), f.solve_s),
            ],
        );
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

/// Failure what-if on the installed plan; runs beside the event loop.
async fn whatif(
    State(st): State<AppState>,
    who: Principal,
    Body(req): Body<crate::whatif::WhatIfRequest>,
) -> Result<Json<Value>, ApiError> {
    who.require(who.can_read_network(), "ask what-if questions")?;
    let model = st
        .snap()
        .model
        .clone()
        .ok_or_else(|| ApiError::new(Code::Unavailable, "no allocation installed yet"))?;
    tokio::task::spawn_blocking(move || crate::whatif::run(&model, &req))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Every route the router serves, for the OpenAPI completeness test.
pub fn routes() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("/api/v1/health", &["get"][..]),
        ("/api/v1/ready", &["get"]),
        ("/api/v1/status", &["get"]),
        ("/api/v1/topology", &["get", "post"]),
        ("/api/v1/links", &["get"]),
        ("/api/v1/links/{id}", &["get"]),
        ("/api/v1/links/{id}/drain", &["post"]),
        ("/api/v1/links/{id}/undrain", &["post"]),
        ("/api/v1/links/{id}/capacity", &["put"]),
        ("/api/v1/links/{id}/utilisation", &["get"]),
        ("/api/v1/sim/links/{id}/fail", &["post"]),
        ("/api/v1/sim/links/{id}/restore", &["post"]),
        ("/api/v1/sim/stats", &["get"]),
        ("/api/v1/services", &["get", "post"]),
        ("/api/v1/services/{id}", &["get", "put", "delete"]),
        ("/api/v1/services/{id}/allocation", &["get"]),
        ("/api/v1/allocation", &["get"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/tokens", &["post"]),
        ("/api/v1/whatif", &["post"]),
        ("/api/v1/predictions", &["get"]),
        ("/api/v1/agents", &["get"]),
        ("/api/v1/agents/{site}/state", &["get"]),
        ("/api/v1/agents/{site}/reports", &["post"]),
        ("/", &["get"]),
        ("/app.js", &["get"]),
        ("/style.css", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
    ])
}
