//! The console's pages and forms: sign-in with the operator accounts (lock-out after
//! repeated wrong passwords), sessions in `HttpOnly`, `SameSite=Strict` cookies (`Secure`
//! over TLS), a CSRF token on every form, search, and a recording's page with its
//! verification computed when it is opened, its waveforms and, after a reason, its audio.
//! Every sign-in, failure, lock-out, sign-out, search and playback is an audit event.

//!
//! One module a page (or a group of forms); this one holds what they share: the state, the
//! router, sessions and roles, CSRF checks and the answers for failures.

mod audit;
mod chain_links;
mod export;
mod holds;
mod operators;
mod play;
mod recording;
mod search;
mod signin;
mod totp;
mod status;

pub use status::Sources as StatusSources;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use cr_journal::{Journal, JournalError, Role};
use serde::Deserialize;

use crate::html::{Viewer, esc, page};
use crate::session::{Session, Sessions, same_token};
use cr_setup::ConsoleSettings;

const SESSION_COOKIE: &str = "callrec_session";
const LOGIN_CSRF_COOKIE: &str = "callrec_login_csrf";

/// What every request shares.
pub struct Console {
    journal: Mutex<Journal>,
    sessions: Mutex<Sessions>,
    settings: ConsoleSettings,
    cert: cr_sign::Certificate,
    /// The names of the folder targets: where a delivered set can be read back to verify it
    /// (at the directory its delivery recorded).
    folders: Vec<String>,
    /// Audio grants: which session gave a reason to play which set.
    grants: Mutex<play::Grants>,
    /// Sign-ins waiting for a second factor's code.
    pending: Mutex<totp::Pending>,
    /// The configuration's users, groups and recording configurations, for search.
    policy: cr_policy::PolicyConfig,
    /// What exports need; none when the keystore could not be opened (export refused).
    export: Option<export::Exporter>,
    /// What the status page reads besides the journal.
    status: status::Sources,
}

pub use export::Exporter;

type App = Arc<Console>;

impl Console {
    /// The console over `journal`, verifying with `cert`; `folders` are the folder targets'
    /// names.
    pub fn new(journal: Journal, settings: ConsoleSettings, cert: cr_sign::Certificate, folders: Vec<String>) -> Self {
        let sessions = Mutex::new(Sessions::new(settings.idle_timeout));
        Self {
            journal: Mutex::new(journal),
            sessions,
            settings,
            cert,
            folders,
            grants: Mutex::default(),
            policy: cr_policy::PolicyConfig::default(),
            export: None,
            pending: Mutex::default(),
            status: status::Sources::default(),
        }
    }

    /// Searches by the users, groups and recording configurations of `policy`.
    pub fn with_policy(mut self, policy: cr_policy::PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Lets operators export packages (signed with `exporter`'s key).
    pub fn with_export(mut self, exporter: Exporter) -> Self {
        self.export = Some(exporter);
        self
    }

    /// The console with what its status page measures (default: nothing besides the journal).
    pub fn with_status(mut self, sources: status::Sources) -> Self {
        self.status = sources;
        self
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, play::Grants> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, totp::Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn secure(&self) -> bool {
        self.settings.tls.is_some()
    }
}

/// The router.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/search") }))
        .route("/signin", get(signin::signin_form).post(signin::signin))
        .route("/signin/totp", get(totp::form).post(totp::submit))
        .route("/signout", post(signin::signout))
        .route("/search", get(search::search))
        .route("/recordings/{id}", get(recording::recording))
        .route("/audit", get(audit::audit))
        .route("/status", get(status::status))
        .route("/operators", get(operators::operators))
        .route("/operators/add", post(operators::add))
        .route("/operators/disable", post(operators::disable))
        .route("/recordings/{id}/play", post(play::play))
        .route("/recordings/{id}/audio/{file}", get(play::audio))
        .route("/recordings/{id}/waveform/{file}", get(play::waveform))
        .route("/export", get(export::export_form).post(export::export))
        .route("/holds", get(holds::holds_page).post(holds::place))
        .route("/holds/release", post(holds::release))
        .route("/requests", get(holds::requests_page))
        .route("/requests/delete", post(holds::delete))
        .route("/requests/{id}/approve", post(holds::approve))
        .layer(axum::middleware::map_response(harden))
        .with_state(app)
}

/// Headers on every answer: nothing from elsewhere, no script, no framing, no caching.
async fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; media-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Runs journal work (argon2, SQLite fsync) off the async threads.
async fn blocking<T: Send + 'static>(app: &App, f: impl FnOnce(&Console) -> T + Send + 'static) -> Result<T, Response> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app)).await.map_err(|_| fail(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))
}

fn fail(code: StatusCode, what: &str) -> Response {
    (code, axum::response::Html(page("Error", None, &format!("<p class=\"err\">{}</p>", esc(what))))).into_response()
}

fn no_randomness() -> Response {
    tracing::error!("the operating system gives no randomness: no session or form token can be made");
    fail(StatusCode::SERVICE_UNAVAILABLE, "the console cannot make a secure token now (the reason is in its log)")
}

fn journal_fail(e: &JournalError) -> Response {
    tracing::error!("journal: {e}");
    fail(StatusCode::INTERNAL_SERVER_ERROR, "the journal could not be read (the reason is in the console's log)")
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(app: &Console, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if app.secure() { "; Secure" } else { "" };
    let age = max_age.map_or_else(String::new, |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The signed-in session of the request, if any (touched).
fn session(app: &Console, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let s = app.sessions().get(&token, Utc::now())?;
    Some((token, s))
}

fn viewer(s: &Session) -> Viewer<'_> {
    Viewer { name: &s.operator, role: s.role.as_str(), csrf: &s.csrf }
}

fn html(code: StatusCode, title: &str, s: Option<&Session>, body: &str) -> Response {
    let v = s.map(viewer);
    (code, axum::response::Html(page(title, v.as_ref(), body))).into_response()
}

/// The signed-in session with at least `role`, or the answer to give instead.
fn require(app: &Console, headers: &HeaderMap, role: Role) -> Result<Session, Response> {
    let Some((_, s)) = session(app, headers) else { return Err(Redirect::to("/signin").into_response()) };
    if !s.role.allows(role) {
        let msg = format!("Operator {} has role {}; this page needs {}.", s.operator, s.role.as_str(), role.as_str());
        return Err(html(StatusCode::FORBIDDEN, "Not allowed", Some(&s), &format!("<p class=\"err\">{}</p>", esc(&msg))));
    }
    Ok(s)
}

/// A form's CSRF field: every form posted by a signed-in operator carries the session's token.
#[derive(Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

/// The signed-in session with at least `role` for a form post whose CSRF token is `csrf`, or
/// the answer to give instead (403 for a missing or wrong token, before the role is looked at).
fn require_post(app: &Console, headers: &HeaderMap, role: Role, csrf: &str) -> Result<Session, Response> {
    let Some((_, s)) = session(app, headers) else { return Err(Redirect::to("/signin").into_response()) };
    if !same_token(&s.csrf, csrf) {
        return Err(fail(StatusCode::FORBIDDEN, "the form's security token is missing or wrong: reload the page and try again"));
    }
    require(app, headers, role)
}

/// [`require_post`] for a form that acts (`csrf` its token), or [`require`] for a page
/// (`csrf` none): an operator whose role is too low is refused with 403 and an
/// `access_denied` audit event naming `what` (details as `Journal::audit_denied` writes them,
/// with `via: "console"`).
async fn require_action(app: &App, headers: &HeaderMap, role: Role, csrf: Option<&str>, what: &'static str) -> Result<Session, Response> {
    let refused = match csrf {
        Some(t) => require_post(app, headers, role, t),
        None => require(app, headers, role),
    };
    let refused = match refused {
        Ok(s) => return Ok(s),
        Err(r) => r,
    };
    if let Some((_, s)) = session(app, headers).filter(|(_, s)| csrf.is_none_or(|t| same_token(&s.csrf, t)) && !s.role.allows(role)) {
        let details = serde_json::json!({"role": s.role.as_str(), "needed": role.as_str(), "action": what, "via": "console"});
        match blocking(app, move |c| c.journal().audit(&cr_journal::AuditKind::AccessDenied, Utc::now(), Some(&s.operator), None, &details)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(journal_fail(&e)),
            Err(r) => return Err(r),
        }
    }
    Err(refused)
}

fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The names of the folder targets of the configuration, for reading sets back.
pub fn folder_targets(cfg: &cr_config::Config) -> Vec<String> {
    cr_storage::target_kinds(cfg).into_iter().filter(|(_, kind)| kind == "folder").map(|(name, _)| name).collect()
}
