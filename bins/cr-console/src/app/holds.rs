//! Legal holds and the four-eyes requests (a hold's release, a set's deletion), for
//! supervisors: the rules and their audit events are the journal's (`Journal::place_hold`,
//! `request_release`, `request_deletion`, `approve`, which refuses the requester), as for
//! `crctl hold`, `crctl delete` and `crctl approve`.

use axum::extract::{Form, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use cr_journal::{HoldScope, JournalError, NewHold, RequestKind, Role};
use serde::Deserialize;

use super::search::parse_time;
use super::*;
use crate::html::esc;

fn hidden_csrf(s: &Session) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&s.csrf))
}

fn scope_text(scope: &HoldScope) -> String {
    match scope {
        HoldScope::Sets { set_ids } => format!("sets {}", set_ids.join(", ")),
        HoldScope::Party { number, exact, from, to } => format!(
            "party {number}{} from {} to {}",
            if *exact { " (exact)" } else { "" },
            from.map_or_else(|| "any".to_owned(), time_text),
            to.map_or_else(|| "any".to_owned(), time_text),
        ),
        _ => "?".to_owned(),
    }
}

/// The answer to a refused or failed journal change: the rule's message on the page.
fn refused(s: &Session, title: &str, e: &JournalError) -> Response {
    let code = match e {
        JournalError::Rule(r) if r.is_rule() => StatusCode::FORBIDDEN,
        JournalError::Rule(_) => StatusCode::CONFLICT,
        JournalError::Invalid { .. } | JournalError::Refused { .. } => StatusCode::BAD_REQUEST,
        other => return journal_fail(other),
    };
    let back = if title == "Holds" { "/holds" } else { "/requests" };
    html(code, title, Some(s), &format!("<p class=\"err\" id=\"message\">Refused: {}</p><p><a href=\"{back}\">Back</a></p>", esc(&e.to_string())))
}

/// A supervisor's page: the session and what `read` reads from the journal, or the answer.
async fn supervisor_page<T: Send + 'static>(
    app: &App,
    headers: &HeaderMap,
    read: impl FnOnce(&cr_journal::Journal) -> Result<T, JournalError> + Send + 'static,
) -> Result<(Session, T), Response> {
    let s = require(app, headers, Role::Supervisor)?;
    match blocking(app, move |c| read(&c.journal())).await? {
        Ok(t) => Ok((s, t)),
        Err(e) => Err(journal_fail(&e)),
    }
}

pub(super) async fn holds_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let (s, holds) = match supervisor_page(&app, &headers, |j| j.holds(true)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = hidden_csrf(&s);
    let rows: String = holds
        .iter()
        .map(|h| {
            let state = match (&h.release_requested_by, h.release_request) {
                (Some(by), Some(req)) => format!("release pending: request {req} by {}", esc(by)),
                _ => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/holds/release\">{csrf}<input type=\"hidden\" name=\"case\" value=\"{c}\">\
                     <input name=\"reason\" placeholder=\"reason\" aria-label=\"reason\"> <button type=\"submit\" class=\"release\" data-case=\"{c}\">Request release</button></form>",
                    c = esc(&h.case)
                ),
            };
            format!(
                "<tr class=\"hold\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
                esc(&h.case),
                h.covered,
                esc(&scope_text(&h.scope)),
                esc(&h.reason),
                esc(&time_text(h.placed_at)),
                esc(&h.placed_by)
            )
        })
        .collect();
    let table = if holds.is_empty() {
        "<p id=\"count\">No standing hold.</p>".to_owned()
    } else {
        format!("<table id=\"holds\"><tr><th>Case</th><th>Sets</th><th>Scope</th><th>Reason</th><th>Placed</th><th>By</th><th>State</th></tr>{rows}</table>")
    };
    let body = format!(
        "<h1>Legal holds</h1>{table}<h2>Place a hold</h2><form method=\"post\" action=\"/holds\" id=\"place\">{csrf}\
         <label>Case <input name=\"case\" id=\"case\" required></label>\
         <label>Reason <input name=\"reason\" id=\"hold-reason\" required></label>\
         <label>Sets (ids, separated by spaces or commas) <input name=\"sets\" id=\"sets\"></label>\
         <p>or</p><label>Party number <input name=\"party\" id=\"party\"></label>\
         <label>From <input name=\"from\" id=\"from\" placeholder=\"2026-11-01\"></label>\
         <label>To (inclusive) <input name=\"to\" id=\"to\" placeholder=\"2026-11-30\"></label>\
         <button type=\"submit\" id=\"do-place\">Place hold</button></form>"
    );
    html(StatusCode::OK, "Holds", Some(&s), &body)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PlaceForm {
    csrf: String,
    case: String,
    reason: String,
    sets: String,
    party: String,
    from: String,
    to: String,
}

pub(super) async fn place(State(app): State<App>, headers: HeaderMap, Form(f): Form<PlaceForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Supervisor, Some(&f.csrf), "hold place").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bad = |m: &str| html(StatusCode::BAD_REQUEST, "Holds", Some(&s), &format!("<p class=\"err\" id=\"message\">{}</p><p><a href=\"/holds\">Back</a></p>", esc(m)));
    let sets: Vec<String> = f.sets.split([' ', ',', '\n', '\t']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect();
    let party = f.party.trim();
    let scope = match (sets.is_empty(), party.is_empty()) {
        (false, true) => {
            if !f.from.trim().is_empty() || !f.to.trim().is_empty() {
                return bad("From and To go with a party number, not with sets.");
            }
            HoldScope::sets(sets)
        }
        (true, false) => match (parse_time(&f.from, false), parse_time(&f.to, true)) {
            (Ok(from), Ok(to)) => HoldScope::party(party, false, from, to),
            (Err(e), _) | (_, Err(e)) => return bad(&e),
        },
        _ => return bad("Name either sets or a party number."),
    };
    let hold = NewHold { case: f.case.trim().to_owned(), reason: f.reason.trim().to_owned(), scope, placed_by: s.operator.clone(), placed_at: Utc::now() };
    match blocking(&app, move |c| c.journal().place_hold(&hold)).await {
        Err(r) => r,
        Ok(Err(e)) => refused(&s, "Holds", &e),
        Ok(Ok(_)) => Redirect::to("/holds").into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ReleaseForm {
    csrf: String,
    case: String,
    reason: String,
}

pub(super) async fn release(State(app): State<App>, headers: HeaderMap, Form(f): Form<ReleaseForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Supervisor, Some(&f.csrf), "hold release").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.operator.clone();
    let reason = Some(f.reason.trim().to_owned()).filter(|r| !r.is_empty());
    match blocking(&app, move |c| c.journal().request_release(&f.case, reason.as_deref(), &who, Utc::now())).await {
        Err(r) => r,
        Ok(Err(e)) => refused(&s, "Holds", &e),
        Ok(Ok(_)) => Redirect::to("/requests").into_response(),
    }
}

pub(super) async fn requests_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let (s, requests) = match supervisor_page(&app, &headers, |j| j.requests(false)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = hidden_csrf(&s);
    let rows: String = requests
        .iter()
        .map(|r| {
            let what = match r.kind {
                RequestKind::Delete => format!("delete set {}", r.set_id.as_deref().unwrap_or("?")),
                RequestKind::Release => format!("release hold {}", r.case.as_deref().unwrap_or("?")),
            };
            let state = match &r.approved_by {
                None => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/requests/{id}/approve\">{csrf}<button type=\"submit\" class=\"approve\" id=\"approve-{id}\">Approve</button></form>",
                    id = r.id
                ),
                Some(by) => format!("approved by {}; waits for the deletion pass", esc(by)),
            };
            format!(
                "<tr class=\"request\" id=\"request-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
                r.id,
                r.id,
                esc(&what),
                esc(&r.requested_by),
                esc(&time_text(r.requested_at)),
                esc(r.reason.as_deref().unwrap_or("-"))
            )
        })
        .collect();
    let table = if requests.is_empty() {
        "<p id=\"count\">No open request.</p>".to_owned()
    } else {
        format!("<table id=\"requests\"><tr><th>Request</th><th>What</th><th>By</th><th>At</th><th>Reason</th><th>State</th></tr>{rows}</table>")
    };
    let body = format!(
        "<h1>Open requests</h1><p>A request is carried out when a supervisor other than the one who made it approves it.</p>{table}\
         <h2>Request a deletion</h2><p>Of a set recorded in error.</p><form method=\"post\" action=\"/requests/delete\" id=\"delete\">{csrf}\
         <label>Set <input name=\"set\" id=\"set\" required></label>\
         <label>Reason <input name=\"reason\" id=\"delete-reason\" required></label>\
         <button type=\"submit\" id=\"do-delete\">Request deletion</button></form>"
    );
    html(StatusCode::OK, "Requests", Some(&s), &body)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DeleteForm {
    csrf: String,
    set: String,
    reason: String,
}

pub(super) async fn delete(State(app): State<App>, headers: HeaderMap, Form(f): Form<DeleteForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Supervisor, Some(&f.csrf), "delete").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.operator.clone();
    match blocking(&app, move |c| c.journal().request_deletion(f.set.trim(), f.reason.trim(), &who, Utc::now())).await {
        Err(r) => r,
        Ok(Err(e)) => refused(&s, "Requests", &e),
        Ok(Ok(_)) => Redirect::to("/requests").into_response(),
    }
}

pub(super) async fn approve(State(app): State<App>, headers: HeaderMap, UrlPath(id): UrlPath<i64>, Form(f): Form<Csrf>) -> Response {
    let s = match require_action(&app, &headers, Role::Supervisor, Some(&f.csrf), "approve").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.operator.clone();
    match blocking(&app, move |c| c.journal().approve(id, &who, Utc::now())).await {
        Err(r) => r,
        Ok(Err(e)) => refused(&s, "Requests", &e),
        Ok(Ok(r)) => {
            let what = match r.kind {
                RequestKind::Delete => format!("the deletion of set {} is approved: the deletion pass deletes it", r.set_id.as_deref().unwrap_or("?")),
                RequestKind::Release => format!("hold {} is released", r.case.as_deref().unwrap_or("?")),
            };
            html(StatusCode::OK, "Requests", Some(&s), &format!("<p class=\"ok\" id=\"message\">Request {}: {}.</p><p><a href=\"/requests\">Open requests</a></p>", r.id, esc(&what)))
        }
    }
}
