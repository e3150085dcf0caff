//! The second step of sign-in for an operator with a TOTP second factor (`crctl operator
//! totp enroll`): after the right password the browser holds no session yet, only a
//! random token (cookie `callrec_totp`, 5 minutes at most) for a pending sign-in in this
//! process's memory; the code form carries that pending sign-in's own CSRF token. A wrong
//! or replayed code is a `login_failed` and counts towards the lock-out; the right one
//! ends the pending state and starts the session (`signed_in` with `second_factor`).

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use cr_journal::{AuditKind, JournalError, Role, TOTP_DIGITS, TotpRefusal};
use serde::Deserialize;

use super::*;
use crate::session::{random_token, same_token};

/// The cookie of a pending sign-in.
pub(super) const PENDING_COOKIE: &str = "callrec_totp";

/// How long a pending sign-in waits for its code.
const PENDING_SECS: i64 = 300;

/// An operator who gave the right password and owes a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Waiting {
    pub(super) operator: String,
    pub(super) role: Role,
    pub(super) csrf: String,
    since: DateTime<Utc>,
}

/// The pending sign-ins of one console process, without I/O (time passed in).
#[derive(Debug, Default)]
pub(super) struct Pending {
    by_token: HashMap<String, Waiting>,
}

impl Pending {
    /// A pending sign-in for `operator` from `now`; its token (`None`: no randomness).
    pub(super) fn start(&mut self, operator: &str, role: Role, now: DateTime<Utc>) -> Option<String> {
        self.by_token.retain(|_, w| now - w.since <= Duration::seconds(PENDING_SECS));
        let token = random_token()?;
        let w = Waiting { operator: operator.to_owned(), role, csrf: random_token()?, since: now };
        self.by_token.insert(token.clone(), w);
        Some(token)
    }

    /// The pending sign-in of `token` at `now`; `None` when unknown or older than 5 minutes
    /// (then it is gone).
    pub(super) fn get(&mut self, token: &str, now: DateTime<Utc>) -> Option<Waiting> {
        let w = self.by_token.get(token)?;
        if now - w.since > Duration::seconds(PENDING_SECS) {
            self.by_token.remove(token);
            return None;
        }
        Some(w.clone())
    }

    /// Ends the pending sign-in of `token`.
    pub(super) fn end(&mut self, token: &str) {
        self.by_token.remove(token);
    }
}

fn pending_of(app: &Console, headers: &HeaderMap) -> Option<(String, Waiting)> {
    let token = cookie(headers, PENDING_COOKIE)?;
    let w = app.pending().get(&token, Utc::now())?;
    Some((token, w))
}

fn code_page(code: StatusCode, w: &Waiting, message: Option<&str>) -> Response {
    let msg = message.map_or_else(String::new, |m| format!("<p class=\"err\" id=\"message\">{}</p>", esc(m)));
    let body = format!(
        "<h1>Second factor</h1>{msg}<p>Operator {}: enter the {TOTP_DIGITS}-digit code your authenticator app shows for callrec.</p>\
         <form method=\"post\" action=\"/signin/totp\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Code <input name=\"code\" id=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{{TOTP_DIGITS}}}\" maxlength=\"{TOTP_DIGITS}\" required autofocus></label>\
         <button type=\"submit\" id=\"verify\">Sign in</button></form>",
        esc(&w.operator),
        esc(&w.csrf)
    );
    html(code, "Second factor", None, &body)
}

/// The answer to a password accepted for an operator with a second factor: the code form.
pub(super) fn ask_for_code(app: &Console, token: &str) -> Response {
    let mut r = Redirect::to("/signin/totp").into_response();
    let age = u64::try_from(PENDING_SECS).unwrap_or(300);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(app, PENDING_COOKIE, token, Some(age)));
    r.headers_mut().append(header::SET_COOKIE, set_cookie(app, LOGIN_CSRF_COOKIE, "", Some(0)));
    r
}

pub(super) async fn form(State(app): State<App>, headers: HeaderMap) -> Response {
    match pending_of(&app, &headers) {
        Some((_, w)) => code_page(StatusCode::OK, &w, None),
        None => Redirect::to("/signin").into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct Code {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

enum Outcome {
    In(String),
    Refused(TotpRefusal),
    Locked,
    NoRandomness,
    Failed(JournalError),
}

pub(super) async fn submit(State(app): State<App>, headers: HeaderMap, Form(f): Form<Code>) -> Response {
    // No pending sign-in (none, expired, or ended): back to the password.
    let Some((token, w)) = pending_of(&app, &headers) else { return Redirect::to("/signin").into_response() };
    if !same_token(&w.csrf, &f.csrf) {
        return fail(StatusCode::FORBIDDEN, "the form's security token is missing or wrong: sign in again");
    }
    let waiting = w.clone();
    let outcome = blocking(&app, move |c| {
        let now = Utc::now();
        let journal = c.journal();
        match signin::locked_out(c, &journal, &waiting.operator, now) {
            Ok(true) => return Outcome::Locked,
            Ok(false) => {}
            Err(e) => return Outcome::Failed(e),
        }
        match journal.verify_totp(&waiting.operator, f.code.trim(), now) {
            Ok(Ok(())) => {
                let details = serde_json::json!({"via": "console", "second_factor": "totp"});
                if let Err(e) = journal.audit(&AuditKind::SignedIn, now, Some(&waiting.operator), None, &details) {
                    return Outcome::Failed(e);
                }
                drop(journal);
                c.sessions().create(&waiting.operator, waiting.role, now).map_or(Outcome::NoRandomness, Outcome::In)
            }
            Ok(Err(refusal)) => {
                let details = serde_json::json!({
                    "operator": waiting.operator, "via": "console", "second_factor": "totp", "refusal": refusal.as_str()
                });
                match journal.audit(&AuditKind::LoginFailed, now, Some(&waiting.operator), None, &details) {
                    Ok(_) => Outcome::Refused(refusal),
                    Err(e) => Outcome::Failed(e),
                }
            }
            Err(e) => Outcome::Failed(e),
        }
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(Outcome::In(session)) => {
            app.pending().end(&token);
            tracing::info!(operator = %w.operator, "signed in with a second factor");
            let mut r = Redirect::to("/search").into_response();
            r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, &session, None));
            r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, PENDING_COOKIE, "", Some(0)));
            r
        }
        Ok(Outcome::Refused(TotpRefusal::Replayed)) => code_page(
            StatusCode::UNAUTHORIZED,
            &w,
            Some("That code was used already: wait for the next one your app shows."),
        ),
        Ok(Outcome::Refused(_)) => code_page(StatusCode::UNAUTHORIZED, &w, Some("Wrong code.")),
        Ok(Outcome::Locked) => {
            app.pending().end(&token);
            let mut r = signin::locked_page(&app);
            r.headers_mut().append(header::SET_COOKIE, set_cookie(&app, PENDING_COOKIE, "", Some(0)));
            r
        }
        Ok(Outcome::Failed(e)) => journal_fail(&e),
        Ok(Outcome::NoRandomness) => no_randomness(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_pending_sign_in_lasts_five_minutes_and_ends_once() {
        let mut p = Pending::default();
        let a = p.start("anna", Role::Auditor, t(0)).unwrap_or_default();
        let b = p.start("anna", Role::Auditor, t(0)).unwrap_or_default();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let (wa, wb) = (p.get(&a, t(1)), p.get(&b, t(1)));
        assert_ne!(wa.as_ref().map(|w| &w.csrf), wb.as_ref().map(|w| &w.csrf), "each has its own CSRF token");
        assert_eq!(wa.map(|w| w.operator).as_deref(), Some("anna"));
        assert!(p.get(&a, t(300)).is_some(), "5 minutes is still in time");
        assert!(p.get(&a, t(301)).is_none(), "a second later it is gone");
        assert!(p.get(&a, t(1)).is_none(), "and stays gone");
        p.end(&b);
        assert!(p.get(&b, t(2)).is_none());
        assert!(p.get("", t(2)).is_none());
    }
}
