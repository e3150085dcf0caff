//! The audit view (auditor and up): the audit trail newest first, filtered by operator,
//! kind and time range, paged by the journal ([`cr_journal::Journal::audit_page`]), with
//! whether the chain verifies ([`cr_journal::Journal::verify_audit`], as `crctl audit verify`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cr_journal::{AuditCheck, AuditFilter, AuditKind, AuditPage, JournalError, PageStart, Role};
use serde::Deserialize;

use super::search::parse_time;
use super::*;
use crate::html::esc;

/// Events a page unless the form says otherwise.
const DEFAULT_PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(super) struct AuditForm {
    #[serde(default)]
    operator: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
    after: Option<i64>,
    size: Option<u32>,
}

impl AuditForm {
    /// The query string of this filter with another page start (`key=id`).
    fn link(&self, key: &str, id: i64, size: u32) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect::<String>()
        };
        format!(
            "/audit?operator={}&kind={}&from={}&to={}&size={size}&{key}={id}",
            enc(&self.operator),
            enc(&self.kind),
            enc(&self.from),
            enc(&self.to)
        )
    }

    fn filter(&self) -> Result<AuditFilter, String> {
        let kind = match self.kind.trim() {
            "" => None,
            k => Some(AuditKind::KNOWN.iter().find(|known| known.as_str() == k).cloned().ok_or_else(|| format!("{k:?} is not an audit event kind"))?),
        };
        let from_id = match (self.before, self.after) {
            (Some(b), None) => Some(PageStart::Before(b)),
            (None, Some(a)) => Some(PageStart::After(a)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err("a page starts either before or after an event, not both".to_owned()),
        };
        Ok(AuditFilter {
            actor: Some(self.operator.trim().to_owned()).filter(|o| !o.is_empty()),
            kind,
            from: parse_time(&self.from, false)?,
            to: parse_time(&self.to, true)?,
            from_id,
            page_size: self.size.unwrap_or(DEFAULT_PAGE),
        })
    }
}

fn form_html(q: &AuditForm, size: u32) -> String {
    let mut kinds = String::from("<option value=\"\">any</option>");
    for k in AuditKind::KNOWN {
        let sel = if q.kind == k.as_str() { " selected" } else { "" };
        kinds.push_str(&format!("<option value=\"{k}\"{sel}>{k}</option>", k = esc(k.as_str())));
    }
    format!(
        "<h1>Audit trail</h1><form method=\"get\" action=\"/audit\" id=\"audit-filter\">\
         <label>Operator <input name=\"operator\" id=\"operator\" value=\"{}\"></label>\
         <label>Action <select name=\"kind\" id=\"kind\">{kinds}</select></label>\
         <label>From <input name=\"from\" id=\"from\" placeholder=\"2026-11-01\" value=\"{}\"></label>\
         <label>To (inclusive) <input name=\"to\" id=\"to\" placeholder=\"2026-11-30\" value=\"{}\"></label>\
         <label>Per page <input name=\"size\" id=\"size\" value=\"{size}\"></label>\
         <button type=\"submit\" id=\"filter\">Show</button></form>",
        esc(&q.operator),
        esc(&q.from),
        esc(&q.to)
    )
}

fn chain_html(check: &AuditCheck) -> String {
    if check.problems.is_empty() {
        format!("<p id=\"chain\" class=\"ok\">Audit chain verified: {} event(s), every hash and link matches.</p>", check.events)
    } else {
        let items: String = check.problems.iter().map(|p| format!("<li>event {}: {}</li>", p.id, esc(&p.what))).collect();
        format!(
            "<div id=\"chain\" class=\"bad\"><p>Audit chain does NOT verify: {} problem(s) in {} event(s).</p><ul>{items}</ul></div>",
            check.problems.len(),
            check.events
        )
    }
}

fn page_html(q: &AuditForm, p: &AuditPage, size: u32) -> String {
    let mut rows = String::new();
    for e in &p.events {
        rows.push_str(&format!(
            "<tr class=\"event\"><td>{}</td><td>{}</td><td class=\"kind\">{}</td><td class=\"actor\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.id,
            esc(&time_text(e.at)),
            esc(e.kind.as_str()),
            esc(e.actor.as_deref().unwrap_or("")),
            e.set_id.as_deref().map_or_else(String::new, |s| format!("<a href=\"/recordings/{id}\">{id}</a>", id = esc(s))),
            esc(&e.details.to_string())
        ));
    }
    let mut nav = String::new();
    if let (true, Some(first)) = (p.more_newer, p.events.first()) {
        nav.push_str(&format!("<a id=\"newer\" href=\"{}\">← Newer</a> ", esc(&q.link("after", first.id, size))));
    }
    if let (true, Some(last)) = (p.more_older, p.events.last()) {
        nav.push_str(&format!("<a id=\"older\" href=\"{}\">Older →</a>", esc(&q.link("before", last.id, size))));
    }
    if p.events.is_empty() {
        return format!("<p id=\"count\">No event matches.</p><p>{nav}</p>");
    }
    format!(
        "<p id=\"count\">{} event(s) on this page.</p><table id=\"events\"><tr><th>#</th><th>Time</th><th>Action</th><th>Operator</th><th>Set</th><th>Details</th></tr>{rows}</table><p>{nav}</p>",
        p.events.len()
    )
}

pub(super) async fn audit(State(app): State<App>, headers: HeaderMap, Query(q): Query<AuditForm>) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let size = q.size.unwrap_or(DEFAULT_PAGE).clamp(1, cr_journal::AUDIT_PAGE_MAX);
    let form = form_html(&q, size);
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return html(StatusCode::BAD_REQUEST, "Audit trail", Some(&s), &format!("{form}<p class=\"err\">{}</p>", esc(&e))),
    };
    let got = blocking(&app, move |c| {
        let journal = c.journal();
        let check = journal.verify_audit(|_| {})?;
        let page = journal.audit_page(&filter)?;
        Ok::<_, JournalError>((check, page))
    })
    .await;
    match got {
        Err(r) => r,
        Ok(Err(e)) => journal_fail(&e),
        Ok(Ok((check, page))) => html(StatusCode::OK, "Audit trail", Some(&s), &format!("{}{form}{}", chain_html(&check), page_html(&q, &page, size))),
    }
}
