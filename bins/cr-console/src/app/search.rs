//! Search by party number and time range.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use cr_journal::{AuditKind, JournalError, Role, SearchQuery};
use serde::Deserialize;

use super::*;
use crate::html::esc;

#[derive(Deserialize, Default)]
pub(super) struct SearchForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A date `YYYY-MM-DD` (UTC midnight; `end`: the next midnight, so the day is included) or
/// an RFC 3339 time; empty: none.
pub(super) fn parse_time(s: &str, end: bool) -> Result<Option<DateTime<Utc>>, String> {
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

pub(super) async fn search(State(app): State<App>, headers: HeaderMap, Query(q): Query<SearchForm>) -> Response {
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
        let hits = journal.search(&SearchQuery { number: number.clone(), exact: false, from, to, limit: Some(500), ..Default::default() })?;
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
