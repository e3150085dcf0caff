//! The decision and ingest API (docs/reference.md §5) for PBXs that record themselves.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use cr_policy::{CallFacts, Channels};
use serde::Deserialize;
use serde_json::json;

use crate::core::{Recorder, SealJob};

type App = Arc<Recorder>;

/// Serves the API until `shutdown` turns true.
pub async fn serve(
    recorder: App,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    axum::serve(listener, router(recorder))
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await?;
    Ok(())
}

fn router(recorder: App) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/recordings", post(ingest))
        .route("/v1/groups/{group}/members/{user}/{action}", post(membership))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(recorder)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

async fn decide(State(app): State<App>, body: Bytes) -> Response {
    let facts: CallFacts = match parse(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    axum::Json(app.policy().decide(&facts)).into_response()
}

/// `POST /v1/recordings`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestRequest {
    #[serde(flatten)]
    facts: CallFacts,
    legs: Legs,
    started_at: DateTime<Utc>,
    /// The PBX's call id (recommended: a call id is recorded once).
    #[serde(default)]
    call_id: Option<String>,
    /// When the call ended (default: start + audio length).
    #[serde(default)]
    ended_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Legs {
    #[serde(default)]
    caller: Option<PathBuf>,
    #[serde(default)]
    callee: Option<PathBuf>,
}

async fn ingest(State(app): State<App>, body: Bytes) -> Response {
    let req: IngestRequest = match serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))
        .and_then(|v| {
            // `deny_unknown_fields` does not work with `flatten`: check the keys here.
            let allowed = ["direction", "caller", "callee", "diversions", "legs", "started_at", "call_id", "ended_at"];
            if let Some(obj) = v.as_object()
                && let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str()))
            {
                return Err(error(StatusCode::BAD_REQUEST, format!("request body: unknown field `{k}`")));
            }
            parse(&body)
        }) {
        Ok(r) => r,
        Err(r) => return r,
    };
    // Which legs the decision needs, checked before anything is claimed or journaled.
    let probe = app.policy().decide(&req.facts);
    if !probe.record {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": "not recorded", "reason": probe.reason.to_string(), "decision": probe})),
        )
            .into_response();
    }
    let need_caller = !matches!(probe.channels, Some(Channels::Callee));
    let need_callee = !matches!(probe.channels, Some(Channels::Caller));
    let check = |leg: &Option<PathBuf>, name: &str, needed: bool| -> Result<PathBuf, Response> {
        match leg {
            Some(p) if p.is_file() => Ok(p.clone()),
            Some(p) if needed => Err(error(StatusCode::BAD_REQUEST, format!("legs.{name}: {} is not a readable file", p.display()))),
            None if needed => Err(error(StatusCode::BAD_REQUEST, format!("legs.{name} is required for channel mode {:?}", probe.channels.unwrap_or_default().to_string()))),
            Some(p) => Ok(p.clone()),
            None => Ok(PathBuf::from("/nonexistent-unused-leg")),
        }
    };
    let caller_leg = match check(&req.legs.caller, "caller", need_caller) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let callee_leg = match check(&req.legs.callee, "callee", need_callee) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let call_id = req.call_id.clone().unwrap_or_else(|| format!("api-{}", crate::core::new_set_id(req.started_at)));
    let (decision, record) = match app.begin_call(&call_id, &req.facts, req.started_at, "api") {
        Ok(x) => x,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let Some(record) = record else {
        // Decided differently meanwhile (e.g. the call id is being recorded already).
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": "not recorded", "reason": decision.reason.to_string(), "decision": decision})),
        )
            .into_response();
    };
    let app2 = app.clone();
    let ended_at = req.ended_at;
    let sealed = tokio::task::spawn_blocking(move || {
        app2.seal_call(SealJob {
            call: &record,
            caller_leg,
            callee_leg,
            metadata_xml: None,
            flags: Vec::new(),
            streams: Vec::new(),
            ended_at,
        })
    })
    .await;
    match sealed {
        Ok(Ok(id)) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "configuration": decision.configuration, "targets": decision.targets})),
        )
            .into_response(),
        // The leg files are the PBX's: never deleted, whatever happened.
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("sealing task failed: {e}")),
    }
}

async fn membership(State(app): State<App>, Path((group, user, action)): Path<(String, String, String)>) -> Response {
    let active = match action.as_str() {
        "login" => true,
        "logout" => false,
        other => return error(StatusCode::NOT_FOUND, format!("unknown action {other:?}: use login or logout")),
    };
    match app.set_membership(&group, &user, active, "api") {
        Ok(before) => axum::Json(json!({"group": group, "user": user, "active": active, "was_active": before})).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, format!("{e:#}")),
    }
}

async fn health(State(app): State<App>) -> Response {
    match app.healthy() {
        Ok(()) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "unavailable", "error": e}))).into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics_text()).into_response()
}
