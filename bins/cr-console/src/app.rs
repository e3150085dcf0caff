//! The console's pages and forms: sign-in with the operator accounts (lock-out after
//! repeated wrong passwords), sessions in `HttpOnly`, `SameSite=Strict` cookies (`Secure`
//! over TLS), a CSRF token on every form, search, and a recording's page with its
//! verification computed when it is opened. Every sign-in, failure, lock-out, sign-out and
//! search is an audit event.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use cr_journal::{AuditKind, Journal, JournalError, Role, SearchQuery};
use serde::Deserialize;

use crate::html::{Viewer, esc, page};
use crate::session::{Session, Sessions, random_token, same_token};
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
}

type App = Arc<Console>;

impl Console {
    /// The console over `journal`, verifying with `cert`; `folders` are the folder targets'
    /// names.
    pub fn new(journal: Journal, settings: ConsoleSettings, cert: cr_sign::Certificate, folders: Vec<String>) -> Self {
        let sessions = Mutex::new(Sessions::new(settings.idle_timeout));
        Self { journal: Mutex::new(journal), sessions, settings, cert, folders }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn secure(&self) -> bool {
        self.settings.tls.is_some()
    }
}

/// The router.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/search") }))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", axum::routing::post(signout))
        .route("/search", get(search))
        .route("/recordings/{id}", get(recording))
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

fn signin_page(app: &Console, code: StatusCode, message: Option<&str>) -> Response {
    let Some(token) = random_token() else { return no_randomness() };
    let msg = message.map_or_else(String::new, |m| format!("<p class=\"err\" id=\"message\">{}</p>", esc(m)));
    let body = format!(
        "<h1>Sign in</h1>{msg}<form method=\"post\" action=\"/signin\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <label>Operator <input name=\"name\" id=\"name\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"signin\">Sign in</button></form>"
    );
    let mut r = html(code, "Sign in", None, &body);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(app, LOGIN_CSRF_COOKIE, &token, Some(3600)));
    r
}

async fn signin_form(State(app): State<App>, headers: HeaderMap) -> Response {
    if session(&app, &headers).is_some() {
        return Redirect::to("/search").into_response();
    }
    signin_page(&app, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
    password: String,
    csrf: String,
}

enum SignInOutcome {
    In(String),
    NoRandomness,
    Wrong,
    Locked,
    Failed(JournalError),
}

async fn signin(State(app): State<App>, headers: HeaderMap, Form(f): Form<SignIn>) -> Response {
    // The form's token must be the one this browser was given (double-submit cookie).
    if !cookie(&headers, LOGIN_CSRF_COOKIE).is_some_and(|c| same_token(&c, &f.csrf)) {
        return fail(StatusCode::FORBIDDEN, "the form's security token is missing or wrong: reload the sign-in page");
    }
    let name = f.name.clone();
    let outcome = blocking(&app, move |c| {
        let now = Utc::now();
        let window = chrono::Duration::from_std(c.settings.lockout_time).unwrap_or_else(|_| chrono::Duration::minutes(15));
        let journal = c.journal();
        match journal.login_failures_since(&f.name, now - window) {
            Ok(n) if n >= u64::from(c.settings.lockout_failures) => {
                let shown: String = f.name.chars().take(64).collect();
                let _ = journal.audit(&AuditKind::LoginLocked, now, Some(&shown), None, &serde_json::json!({"via": "console", "failures": n}));
                return SignInOutcome::Locked;
            }
            Ok(_) => {}
            Err(e) => return SignInOutcome::Failed(e),
        }
        match journal.authenticate(&f.name, &f.password, now) {
            Ok(op) => {
                if let Err(e) = journal.audit(&AuditKind::SignedIn, now, Some(&op.name), None, &serde_json::json!({"via": "console"})) {
                    return SignInOutcome::Failed(e);
                }
                drop(journal);
                c.sessions().create(&op.name, op.role, now).map_or(SignInOutcome::NoRandomness, SignInOutcome::In)
            }
            Err(JournalError::Refused { .. }) => SignInOutcome::Wrong,
            Err(e) => SignInOutcome::Failed(e),
        }
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(SignInOutcome::In(token)) => {
            tracing::info!(operator = %name, "signed in");
            let mut r = Redirect::to("/search").into_response();
            r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, &token, None));
            r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, LOGIN_CSRF_COOKIE, "", Some(0)));
            r
        }
        Ok(SignInOutcome::Wrong) => signin_page(&app, StatusCode::UNAUTHORIZED, Some("Wrong operator name or password.")),
        Ok(SignInOutcome::Locked) => signin_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many wrong passwords for this name: sign-in is locked for a while. Ask an administrator if this was not you."),
        ),
        Ok(SignInOutcome::Failed(e)) => journal_fail(&e),
        Ok(SignInOutcome::NoRandomness) => no_randomness(),
    }
}

#[derive(Deserialize)]
struct Csrf {
    csrf: String,
}

async fn signout(State(app): State<App>, headers: HeaderMap, Form(f): Form<Csrf>) -> Response {
    let Some((token, s)) = session(&app, &headers) else { return Redirect::to("/signin").into_response() };
    if !same_token(&s.csrf, &f.csrf) {
        return fail(StatusCode::FORBIDDEN, "the form's security token is missing or wrong");
    }
    app.sessions().remove(&token);
    let who = s.operator.clone();
    let _ = blocking(&app, move |c| c.journal().audit(&AuditKind::SignedOut, Utc::now(), Some(&who), None, &serde_json::json!({"via": "console"})))
        .await;
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", Some(0)));
    r
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

#[derive(Deserialize, Default)]
struct SearchForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A date `YYYY-MM-DD` (UTC midnight; `end`: the next midnight, so the day is included) or
/// an RFC 3339 time; empty: none.
fn parse_time(s: &str, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| format!("{s:?} is not a date (2026-11-26) or an RFC 3339 time"))
}

fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

async fn search(State(app): State<App>, headers: HeaderMap, Query(q): Query<SearchForm>) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = format!(
        "<h1>Search</h1><form method=\"get\" action=\"/search\" id=\"search\">\
         <label>Party number (any part) <input name=\"number\" id=\"number\" value=\"{}\"></label>\
         <label>From <input name=\"from\" id=\"from\" placeholder=\"2026-11-01\" value=\"{}\"></label>\
         <label>To (inclusive) <input name=\"to\" id=\"to\" placeholder=\"2026-11-30\" value=\"{}\"></label>\
         <button type=\"submit\" id=\"find\">Search</button></form>",
        esc(&q.number),
        esc(&q.from),
        esc(&q.to)
    );
    if q.number.trim().is_empty() && q.from.trim().is_empty() && q.to.trim().is_empty() {
        return html(StatusCode::OK, "Search", Some(&s), &form);
    }
    let (from, to) = match (parse_time(&q.from, false), parse_time(&q.to, true)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            return html(StatusCode::BAD_REQUEST, "Search", Some(&s), &format!("{form}<p class=\"err\">{}</p>", esc(&e)));
        }
    };
    let number = Some(q.number.trim().to_owned()).filter(|n| !n.is_empty());
    let who = s.operator.clone();
    let hits = blocking(&app, move |c| {
        let journal = c.journal();
        let hits = journal.search(&SearchQuery { number: number.clone(), exact: false, from, to, limit: Some(500) })?;
        journal.audit(
            &AuditKind::Searched,
            Utc::now(),
            Some(&who),
            None,
            &serde_json::json!({"number": number, "from": from, "to": to, "found": hits.len(), "via": "console"}),
        )?;
        Ok::<_, JournalError>(hits)
    })
    .await;
    let hits = match hits {
        Err(r) => return r,
        // The query itself is wrong (e.g. a number without digits): say so on the form.
        Ok(Err(e @ JournalError::Invalid { .. })) => {
            return html(StatusCode::BAD_REQUEST, "Search", Some(&s), &format!("{form}<p class=\"err\">{}</p>", esc(&e.to_string())));
        }
        Ok(Err(e)) => return journal_fail(&e),
        Ok(Ok(h)) => h,
    };
    let mut rows = String::new();
    for h in &hits {
        let delivery: Vec<String> = h.deliveries.iter().map(|d| format!("{}: {}", d.target, d.state.as_str())).collect();
        rows.push_str(&format!(
            "<tr class=\"hit\"><td><a href=\"/recordings/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>#{}</td><td>{}</td></tr>",
            esc(&time_text(h.started_at)),
            duration_text(h.duration_ms),
            esc(&h.configuration),
            esc(&h.caller),
            esc(&h.callee),
            h.chain_seq,
            esc(&delivery.join(", ")),
            id = esc(&h.set_id),
        ));
    }
    let table = if hits.is_empty() {
        "<p id=\"count\">No recording matches.</p>".to_owned()
    } else {
        format!(
            "<p id=\"count\">{} recording(s).</p><table id=\"results\"><tr><th>Set</th><th>Start</th><th>Duration</th><th>Configuration</th><th>Parties</th><th>Chain</th><th>Delivery</th></tr>{rows}</table>",
            hits.len()
        )
    };
    html(StatusCode::OK, "Search", Some(&s), &format!("{form}{table}"))
}

/// Where a readable copy of the set lies: its spool directory, else the directory a folder
/// target recorded at delivery (as `crctl export` finds it).
fn local_copy(app: &Console, info: &cr_journal::RecordingInfo) -> Option<PathBuf> {
    let sums = cr_sign::checksum_file_name(&info.set_id);
    let delivered = info
        .uploads
        .iter()
        .filter(|u| u.state == cr_journal::UploadState::Done && app.folders.contains(&u.target))
        .filter_map(|u| u.remote_path.as_deref());
    info.location.as_deref().into_iter().chain(delivered).map(|d| PathBuf::from(d).join(&sums)).find(|p| p.is_file())
}

fn badge(app: &Console, info: &cr_journal::RecordingInfo) -> String {
    let Some(sums) = local_copy(app, info) else {
        return "<p id=\"badge\" class=\"bad\">Not verified here: no copy on this machine (it lies only at remote targets, or was deleted).</p>".to_owned();
    };
    let report = cr_sign::verify_set(&sums, &app.cert);
    if report.problems.is_empty() && report.checksum_sha256 == info.chain.sha256 {
        return format!(
            "<p id=\"badge\" class=\"ok\">Verified: {} file(s) match the checksum file, its signature is the installation's, and it is #{} of the chain.</p>",
            report.verified_files.len(),
            info.chain.seq
        );
    }
    let mut problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    if report.problems.is_empty() {
        problems.push(format!("its checksum file is not the one sealed as #{} of the chain", info.chain.seq));
    }
    format!("<p id=\"badge\" class=\"bad\">FAILED: {}</p>", esc(&problems.join("; ")))
}

async fn recording(State(app): State<App>, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = blocking(&app, move |c| {
        let journal = c.journal();
        let Some(info) = journal.recording(&id)? else { return Ok(None) };
        let call = journal.call(info.call)?;
        let hold = journal.hold_of(&info.set_id)?;
        drop(journal);
        let badge = badge(c, &info);
        Ok::<_, JournalError>(Some((info, call, hold, badge)))
    })
    .await;
    let (info, call, hold, badge) = match found {
        Err(r) => return r,
        Ok(Err(e)) => return journal_fail(&e),
        Ok(Ok(None)) => return html(StatusCode::NOT_FOUND, "Not found", Some(&s), "<p class=\"err\">No such recording.</p>"),
        Ok(Ok(Some(x))) => x,
    };
    let mut facts = vec![
        ("Start", time_text(info.started_at)),
        ("End", time_text(info.ended_at)),
        ("Duration", duration_text((info.ended_at - info.started_at).num_milliseconds())),
        ("Configuration", info.configuration.clone()),
        ("Channels", info.channels.clone()),
        ("Chain", format!("#{} (previous {})", info.chain.seq, info.chain.prev_sha256)),
        ("Retention until", info.expires_at.map_or_else(|| "never expires".to_owned(), time_text)),
        ("Legal hold", hold.map_or_else(|| "none".to_owned(), |c| format!("case {c}"))),
        ("Flags", if info.flags.is_empty() { "none".to_owned() } else { info.flags.join(", ") }),
    ];
    if let Some(c) = &call {
        facts.insert(0, ("Parties", format!("{} → {} ({})", c.caller, c.callee, c.direction.as_str())));
        facts.push(("Decided", c.reason.clone()));
    }
    let rows: String = facts.iter().map(|(k, v)| format!("<tr><th>{k}</th><td>{}</td></tr>", esc(v))).collect();
    let deliveries: String = info
        .uploads
        .iter()
        .map(|u| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&u.target),
                esc(u.state.as_str()),
                esc(u.remote_path.as_deref().unwrap_or("-"))
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1>{badge}<table id=\"facts\">{rows}</table><h2>Delivery</h2><table id=\"deliveries\"><tr><th>Target</th><th>State</th><th>Where</th></tr>{deliveries}</table>",
        esc(&info.set_id)
    );
    html(StatusCode::OK, &info.set_id, Some(&s), &body)
}

/// The names of the folder targets of the configuration, for reading sets back.
pub fn folder_targets(cfg: &cr_config::Config) -> Vec<String> {
    cr_storage::target_kinds(cfg).into_iter().filter(|(_, kind)| kind == "folder").map(|(name, _)| name).collect()
}
