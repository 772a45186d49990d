//! Agent protocol v1 over HTTP (routes under `/api/v1/agents`), documented in
//! docs/agent-protocol.md:
//!
//! - `GET /agents/{site}/state?protocol=1` streams the site's state as
//!   Server-Sent Events (`event: state`, data: a `SiteState` document): the
//!   latest state at once, then each new generation. Only the latest counts, so
//!   an agent that was away never replays a backlog.
//! - `POST /agents/{site}/reports` takes one `AgentReport`: acknowledgements,
//!   link up/down (turned into network events at once) and counters.
//! - `GET /agents` lists the sites, their generations and whether an agent is on.
//!
//! A streaming JSON API was chosen over gRPC: the controller already speaks
//! HTTP with bearer tokens, and the agent needs no code generation.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::Stream;
use keel_southbound::NetworkEvent;
use keel_southbound::site::{AGENT_PROTOCOL_VERSION, AgentReport};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use crate::agents::AgentRegistry;
use crate::api::{AppState, Body, Params};
use crate::auth::Principal;
use crate::core::Msg;
use crate::error::{ApiError, Code};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents", get(list))
        .route("/agents/{site}/state", get(state_stream))
        .route("/agents/{site}/reports", post(report))
}

fn registry(st: &AppState) -> Result<&Arc<AgentRegistry>, ApiError> {
    st.agents.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::NotFound,
            "this controller drives a simulated network: start it with `--southbound agents`",
        )
    })
}

async fn list(State(st): State<AppState>, who: Principal) -> Result<axum::Json<Value>, ApiError> {
    who.require(who.can_read_network(), "read agents")?;
    let reg = registry(&st)?;
    Ok(axum::Json(json!({
        "protocol": AGENT_PROTOCOL_VERSION,
        "agents": reg.status(),
    })))
}

#[derive(Deserialize)]
struct StreamParams {
    protocol: u32,
}

/// Counts a connection for as long as its stream lives.
struct Connection {
    registry: Arc<AgentRegistry>,
    site: String,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.disconnected(&self.site);
    }
}

async fn state_stream(
    State(st): State<AppState>,
    who: Principal,
    Path(site): Path<String>,
    Params(p): Params<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    who.require(who.can_operate(), "run an agent")?;
    if p.protocol != AGENT_PROTOCOL_VERSION {
        return Err(ApiError::new(
            Code::BadRequest,
            format!(
                "agent protocol {} is not spoken here: this controller speaks {AGENT_PROTOCOL_VERSION}",
                p.protocol
            ),
        ));
    }
    let reg = registry(&st)?.clone();
    let channel = reg
        .channel(&site)
        .ok_or_else(|| ApiError::not_found("site", &site))?;
    reg.connected(&site);
    let conn = Connection {
        registry: reg,
        site,
    };
    let stream = WatchStream::new(channel.state).map(move |state| {
        let _alive = &conn;
        let data = serde_json::to_string(&*state).unwrap_or_default();
        Ok(SseEvent::default()
            .event("state")
            .id(state.generation.to_string())
            .data(data))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(5))))
}

async fn report(
    State(st): State<AppState>,
    who: Principal,
    Path(site): Path<String>,
    Body(report): Body<AgentReport>,
) -> Result<axum::Json<Value>, ApiError> {
    who.require(who.can_operate(), "report as an agent")?;
    let reg = registry(&st)?;
    if reg.channel(&site).is_none() {
        return Err(ApiError::not_found("site", &site));
    }
    reg.seen(&site);
    let send = |ev: NetworkEvent| {
        st.tx
            .send(Msg::Network(ev))
            .map_err(|_| ApiError::new(Code::Unavailable, "the controller is shutting down"))
    };
    match report {
        AgentReport::Applied { generation } => reg.applied(&site, generation, None),
        AgentReport::Failed { generation, error } => {
            tracing::warn!(
                site,
                generation,
                error,
                "an agent could not install its state"
            );
            reg.applied(&site, generation, Some(error));
        }
        AgentReport::LinkDown { link } => send(NetworkEvent::LinkDown { link })?,
        AgentReport::LinkUp { link } => send(NetworkEvent::LinkUp { link })?,
        AgentReport::Counters { links } => {
            let rates = reg.rates(&links);
            if !rates.is_empty() {
                send(NetworkEvent::Counters { links: rates })?;
            }
        }
    }
    Ok(axum::Json(json!({ "ok": true })))
}
