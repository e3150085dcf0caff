//! The decision and ingest API (docs/reference.md §5) for PBXs that record themselves.
// Handlers return a ready `Response` as their error (axum's idiom): it is large, and fine.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use cr_config::ApiSettings;
use cr_policy::{CallFacts, Channels};
use serde::Deserialize;
use serde_json::json;

use crate::core::{Recorder, SealJob};
use crate::ingest_times::{TimeLimits, check_times};
use crate::leg_files::{OpenedLeg, open_leg};

/// The largest request body read (ingest and decision requests are small JSON).
const MAX_BODY: usize = 1 << 20;

/// What the handlers share: the recorder, the validated `[pbx.api]`, the API's counters.
pub struct ApiState {
    recorder: Arc<Recorder>,
    settings: ApiSettings,
    /// Requests refused without a token / with a wrong one.
    unauthorized_missing: AtomicU64,
    unauthorized_wrong: AtomicU64,
    /// Connections being served now.
    connections_open: AtomicU64,
    /// Ingest requests refused: a leg, a time, a call id recorded already.
    refused_leg: AtomicU64,
    refused_time: AtomicU64,
    refused_duplicate: AtomicU64,
}

type App = Arc<ApiState>;

/// Serves the API until `shutdown` turns true: HTTP/1.1, at most `max_connections`
/// connections at once (more wait in the listen backlog), each closed when a request's
/// headers do not arrive within `header_timeout` (idle keep-alive connections too).
pub async fn serve(
    recorder: Arc<Recorder>,
    settings: ApiSettings,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(settings.header_timeout);
    let state = Arc::new(ApiState {
        recorder,
        settings,
        unauthorized_missing: AtomicU64::new(0),
        unauthorized_wrong: AtomicU64::new(0),
        connections_open: AtomicU64::new(0),
        refused_leg: AtomicU64::new(0),
        refused_time: AtomicU64::new(0),
        refused_duplicate: AtomicU64::new(0),
    });
    let app = router(state.clone());
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s?,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: wait a little and go on, never end the loop.
                    tracing::warn!("API: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = shutdown.clone();
        let state = state.clone();
        conns.spawn(async move {
            let _slot = slot;
            state.connections_open.fetch_add(1, Ordering::Relaxed);
            let mut conn = std::pin::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            state.connections_open.fetch_sub(1, Ordering::Relaxed);
            if let Err(e) = r {
                tracing::debug!(%peer, "API connection ended: {e}");
            }
        });
        while conns.try_join_next().is_some() {}
    }
    // Requests in progress (an ingest being sealed) finish; idle connections are closed.
    while conns.join_next().await.is_some() {}
    Ok(())
}

fn router(state: App) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/recordings", post(ingest))
        .route("/v1/groups/{group}/members/{user}/{action}", post(membership))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized(message: &str, challenge: &'static str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// The first ten refusals are logged, then the 16th, 32nd, 64th…: a flood of bad requests
/// cannot flood the log (the counters in `/metrics` count every one).
fn worth_logging(n: u64) -> bool {
    n <= 10 || n.is_power_of_two()
}

/// Every request: the bearer token (except `/v1/health`, and `/metrics` on a loopback
/// listener), then the body within `body_timeout` and [`MAX_BODY`].
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = path == "/v1/health" || (path == "/metrics" && app.settings.loopback_only);
    if !open {
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string()).unwrap_or_default();
        match bearer(req.headers()) {
            None => {
                let n = app.unauthorized_missing.fetch_add(1, Ordering::Relaxed) + 1;
                if worth_logging(n) {
                    tracing::warn!(%peer, path, refused_so_far = n, "API request without a bearer token refused");
                }
                return unauthorized("a bearer token is required: Authorization: Bearer <token>", "Bearer realm=\"callrec\"");
            }
            // The token is never logged.
            Some(t) if !app.settings.tokens.verify(t) => {
                let n = app.unauthorized_wrong.fetch_add(1, Ordering::Relaxed) + 1;
                if worth_logging(n) {
                    tracing::warn!(%peer, path, refused_so_far = n, "API request with a wrong bearer token refused");
                }
                return unauthorized(
                    "the bearer token is not valid",
                    "Bearer realm=\"callrec\", error=\"invalid_token\"",
                );
            }
            Some(_) => {}
        }
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(app.settings.body_timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => {
            let mut r = error(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive within [pbx.api] body_timeout");
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Ok(Err(_)) => {
            let mut r = error(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {MAX_BODY} bytes or was cut off"));
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Ok(Ok(b)) => b,
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Runs `f` on the recorder on a thread that may block (journal writes sync the disk;
/// the spool and the health probe touch files): never on the async workers.
async fn blocking<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&Recorder) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let recorder = app.recorder.clone();
    tokio::task::spawn_blocking(move || f(&recorder))
        .await
        .map_err(|e| anyhow::anyhow!("task failed: {e}"))?
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

/// `POST /v1/decide`: call facts and, optionally, the PBX's call id (written into the
/// decision log with a call not recorded).
#[derive(Deserialize)]
struct DecideRequest {
    #[serde(flatten)]
    facts: CallFacts,
    #[serde(default)]
    call_id: Option<String>,
}

async fn decide(State(app): State<App>, body: Bytes) -> Response {
    let req: DecideRequest = match parse(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(id) = &req.call_id
        && (id.is_empty() || id.len() > MAX_CALL_ID || id.chars().any(char::is_control))
    {
        return unprocessable("call_id", format!("must be 1 to {MAX_CALL_ID} characters without control characters"));
    }
    let decision = app.recorder.policy().decide(&req.facts);
    if !decision.record {
        // Written before the answer: a call not recorded is as provable as a recording.
        let d = decision.clone();
        let _ = blocking(&app, move |r| {
            r.log_api_decision(req.call_id.as_deref(), &req.facts, &d, Utc::now());
            Ok(())
        })
        .await;
    }
    axum::Json(decision).into_response()
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

/// 422 naming the request field.
fn unprocessable(field: &str, message: impl std::fmt::Display) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"error": format!("{field}: {message}"), "field": field})),
    )
        .into_response()
}

/// The longest a `call_id` may be.
const MAX_CALL_ID: usize = 256;

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
    let rec = &app.recorder;
    // Which legs the decision needs, checked before anything is claimed or journaled.
    let probe = rec.policy().decide(&req.facts);
    if !probe.record {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": "not recorded", "reason": probe.reason.to_string(), "decision": probe})),
        )
            .into_response();
    }
    // A call id is recorded once: a second set for it would be a second, different record
    // of the same call.
    if let Some(id) = &req.call_id {
        if id.is_empty() || id.len() > MAX_CALL_ID || id.chars().any(char::is_control) {
            return unprocessable("call_id", format!("must be 1 to {MAX_CALL_ID} characters without control characters"));
        }
        let sealed = blocking(&app, {
            let id = id.clone();
            move |r| r.sealed_set_of(&id)
        })
        .await;
        match sealed {
            Ok(None) => {}
            Ok(Some(set)) => {
                app.refused_duplicate.fetch_add(1, Ordering::Relaxed);
                return (
                    StatusCode::CONFLICT,
                    axum::Json(json!({"error": format!("call_id {id:?} is recorded already (set {set})"), "field": "call_id", "set": set})),
                )
                    .into_response();
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("journal: {e:#}")),
        }
    }
    let need_caller = !matches!(probe.channels, Some(Channels::Callee));
    let need_callee = !matches!(probe.channels, Some(Channels::Caller));
    let open = |leg: &Option<PathBuf>, name: &str, needed: bool| -> Result<Option<OpenedLeg>, Response> {
        let field = format!("legs.{name}");
        match leg {
            // A leg the mode does not need is not opened (nor checked: no oracle either).
            _ if !needed => Ok(None),
            None => Err(unprocessable(
                &field,
                format!("is required for channel mode {:?}", probe.channels.unwrap_or_default().to_string()),
            )),
            Some(p) => match open_leg(p, &app.settings) {
                Ok(l) => Ok(Some(l)),
                Err(e) => {
                    app.refused_leg.fetch_add(1, Ordering::Relaxed);
                    match e.detail() {
                        Some(d) => tracing::warn!(leg = name, "ingest refused: {field}: {d}"),
                        None => tracing::warn!(leg = name, "ingest refused: {field}: {e}"),
                    }
                    Err(unprocessable(&field, e))
                }
            },
        }
    };
    let caller = match open(&req.legs.caller, "caller", need_caller) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let callee = match open(&req.legs.callee, "callee", need_callee) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let audio = [&caller, &callee].iter().filter_map(|l| l.as_ref()).map(|l| l.reader.info().duration()).max().unwrap_or_default();
    let limits = TimeLimits { max_age: app.settings.max_age, clock_skew: app.settings.clock_skew };
    let ended_at = req.ended_at;
    match check_times(req.started_at, ended_at, audio, Utc::now(), limits) {
        Ok(_) => {}
        Err(e) => {
            app.refused_time.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("ingest refused: {e}");
            return unprocessable(e.field, e.reason);
        }
    }
    let call_id = req.call_id.clone().unwrap_or_else(|| format!("api-{}", crate::core::new_set_id(req.started_at)));
    let begun = blocking(&app, {
        let (call_id, facts, started_at) = (call_id.clone(), req.facts.clone(), req.started_at);
        move |r| r.begin_call(&call_id, &facts, started_at, cr_call::SOURCE_API)
    })
    .await;
    let (decision, record) = match begun {
        Ok(x) => x,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let Some(record) = record else {
        // Decided differently meanwhile (e.g. the call id is being recorded right now).
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({
                "error": format!("call_id {call_id:?} not recorded: {}", decision.reason),
                "field": "call_id",
                "reason": decision.reason.to_string(),
                "decision": decision,
            })),
        )
            .into_response();
    };
    let app2 = app.clone();
    let (caller_path, callee_path) = (
        caller.as_ref().map(|l| l.path.clone()).unwrap_or_default(),
        callee.as_ref().map(|l| l.path.clone()).unwrap_or_default(),
    );
    let sealed = tokio::task::spawn_blocking(move || {
        let r = app2.recorder.seal_opened(
            SealJob {
                call: &record,
                caller_leg: caller_path,
                callee_leg: callee_path,
                metadata_xml: None,
                flags: Vec::new(),
                streams: Vec::new(),
                quality: Vec::new(),
                ended_at,
            },
            caller.map(|l| l.reader),
            callee.map(|l| l.reader),
        );
        if r.is_err() {
            // Nothing left behind: no active call in the journal, no staging directory.
            app2.recorder.discard_failed(&record);
        }
        r
    })
    .await;
    match sealed {
        Ok(Ok(id)) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "configuration": decision.configuration, "targets": decision.targets})),
        )
            .into_response(),
        // The leg files are the PBX's: never deleted, whatever happened. The cause is in
        // the log (it names files and may quote them), not in the answer.
        Ok(Err(e)) => {
            // Legs that passed every check but cannot be combined (e.g. started hours
            // apart) are the request's problem; anything else is the recorder's.
            let legs = e.chain().any(|c| {
                c.downcast_ref::<cr_audio::AudioError>().is_some_and(|a| !matches!(a, cr_audio::AudioError::Io { .. }))
            });
            if legs {
                unprocessable("legs", "cannot be combined into one recording (the reason is in the recorder's log)")
            } else {
                error(StatusCode::INTERNAL_SERVER_ERROR, "the set could not be sealed (the reason is in the recorder's log)")
            }
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("sealing task failed: {e}")),
    }
}

async fn membership(State(app): State<App>, Path((group, user, action)): Path<(String, String, String)>) -> Response {
    let active = match action.as_str() {
        "login" => true,
        "logout" => false,
        other => return error(StatusCode::NOT_FOUND, format!("unknown action {other:?}: use login or logout")),
    };
    let changed = blocking(&app, {
        let (group, user) = (group.clone(), user.clone());
        move |r| r.set_membership(&group, &user, active, "api")
    })
    .await;
    match changed {
        Ok(before) => axum::Json(json!({"group": group, "user": user, "active": active, "was_active": before})).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, format!("{e:#}")),
    }
}

async fn health(State(app): State<App>) -> Response {
    match blocking(&app, |r| Ok(r.health())).await {
        Ok(h) if h.can_record => axum::Json(h).into_response(),
        Ok(h) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(h)).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable", "can_record": false, "error": format!("{e:#}")})),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let mut text = match blocking(&app, |r| Ok(r.metrics_text())).await {
        Ok(t) => t,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    text.push_str(&format!(
        "# HELP callrec_api_unauthorized_total API requests refused for a missing or wrong bearer token.\n\
         # TYPE callrec_api_unauthorized_total counter\n\
         callrec_api_unauthorized_total{{reason=\"missing\"}} {}\n\
         callrec_api_unauthorized_total{{reason=\"wrong\"}} {}\n\
         # HELP callrec_api_connections API connections being served now.\n\
         # TYPE callrec_api_connections gauge\n\
         callrec_api_connections {}\n\
         # HELP callrec_api_ingest_refused_total Ingest requests refused for a leg, a time or a call id recorded already.\n\
         # TYPE callrec_api_ingest_refused_total counter\n\
         callrec_api_ingest_refused_total{{reason=\"leg\"}} {}\n\
         callrec_api_ingest_refused_total{{reason=\"time\"}} {}\n\
         callrec_api_ingest_refused_total{{reason=\"duplicate\"}} {}\n",
        app.unauthorized_missing.load(Ordering::Relaxed),
        app.unauthorized_wrong.load(Ordering::Relaxed),
        app.connections_open.load(Ordering::Relaxed),
        app.refused_leg.load(Ordering::Relaxed),
        app.refused_time.load(Ordering::Relaxed),
        app.refused_duplicate.load(Ordering::Relaxed),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards against: a flood of requests with wrong tokens flooding the log.
    #[test]
    fn refusals_are_logged_ever_more_sparsely() {
        let logged = (1..=100_000u64).filter(|&n| worth_logging(n)).count();
        assert_eq!(logged, 10 + 13, "1..=10, then 16, 32, … 65536");
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
