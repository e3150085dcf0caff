//! Sign-in (double-submit CSRF cookie, lock-out after repeated failures) and sign-out.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use cr_journal::{AuditKind, JournalError, Role};
use serde::Deserialize;

use super::*;
use crate::html::esc;
use crate::session::{random_token, same_token};

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

pub(super) async fn signin_form(State(app): State<App>, headers: HeaderMap) -> Response {
    if session(&app, &headers).is_some() {
        return Redirect::to("/search").into_response();
    }
    signin_page(&app, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    name: String,
    password: String,
    csrf: String,
}

/// Whether `name` is locked out at `now` (too many `login_failed` within the lock-out
/// time); if so, `login_locked` is written.
pub(super) fn locked_out(c: &Console, journal: &cr_journal::Journal, name: &str, now: chrono::DateTime<Utc>) -> Result<bool, JournalError> {
    let window = chrono::Duration::from_std(c.settings.lockout_time).unwrap_or_else(|_| chrono::Duration::minutes(15));
    let n = journal.login_failures_since(name, now - window)?;
    if n < u64::from(c.settings.lockout_failures) {
        return Ok(false);
    }
    let shown: String = name.chars().take(64).collect();
    let _ = journal.audit(&AuditKind::LoginLocked, now, Some(&shown), None, &serde_json::json!({"via": "console", "failures": n}));
    Ok(true)
}

/// The sign-in form saying the name is locked out (429).
pub(super) fn locked_page(app: &Console) -> Response {
    signin_page(
        app,
        StatusCode::TOO_MANY_REQUESTS,
        Some("Too many failed sign-ins (wrong passwords or codes) for this name: sign-in is locked for a while. Ask an administrator if this was not you."),
    )
}

enum SignInOutcome {
    In(String),
    /// The right password of an operator with a second factor: the pending sign-in's token.
    Code(String),
    NoRandomness,
    Wrong,
    Locked,
    Failed(JournalError),
}

pub(super) async fn signin(State(app): State<App>, headers: HeaderMap, Form(f): Form<SignIn>) -> Response {
    // The form's token must be the one this browser was given (double-submit cookie).
    if !cookie(&headers, LOGIN_CSRF_COOKIE).is_some_and(|c| same_token(&c, &f.csrf)) {
        return fail(StatusCode::FORBIDDEN, "the form's security token is missing or wrong: reload the sign-in page");
    }
    let name = f.name.clone();
    let outcome = blocking(&app, move |c| {
        let now = Utc::now();
        let journal = c.journal();
        match locked_out(c, &journal, &f.name, now) {
            Ok(true) => return SignInOutcome::Locked,
            Ok(false) => {}
            Err(e) => return SignInOutcome::Failed(e),
        }
        match journal.authenticate(&f.name, &f.password, now) {
            Ok(op) => {
                // With a second factor the password leads only to the code form.
                match journal.has_totp(&op.name) {
                    Ok(true) => {
                        drop(journal);
                        return c.pending().start(&op.name, op.role, now).map_or(SignInOutcome::NoRandomness, SignInOutcome::Code);
                    }
                    Ok(false) => {}
                    Err(e) => return SignInOutcome::Failed(e),
                }
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
        Ok(SignInOutcome::Code(token)) => super::totp::ask_for_code(&app, &token),
        Ok(SignInOutcome::Locked) => locked_page(&app),
        Ok(SignInOutcome::Failed(e)) => journal_fail(&e),
        Ok(SignInOutcome::NoRandomness) => no_randomness(),
    }
}

pub(super) async fn signout(State(app): State<App>, headers: HeaderMap, Form(f): Form<Csrf>) -> Response {
    let s = match require_post(&app, &headers, Role::Auditor, &f.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        app.sessions().remove(&token);
    }
    let who = s.operator.clone();
    let _ = blocking(&app, move |c| c.journal().audit(&AuditKind::SignedOut, Utc::now(), Some(&who), None, &serde_json::json!({"via": "console"})))
        .await;
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", Some(0)));
    r
}
