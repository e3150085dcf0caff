//! The status page (auditor and up): the figures of `crctl status`, read from the journal by
//! the same function ([`cr_journal::Journal::status`]) — active calls, backlog and oldest set
//! per target, last errors of undelivered uploads, pending deletions, the chain head — with
//! the spool's gauges by the function behind the recorder's `callrec_spool_sets`,
//! `callrec_spool_oldest_seconds` and `callrec_spool_free_percent`
//! ([`cr_storage::spool_gauges`]) and the fingerprints of the signing and TLS certificates.

use std::path::PathBuf;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cr_journal::{Deletion, Role, Status};

use super::*;
use crate::html::esc;

/// Errors of undelivered uploads shown, as `crctl status` shows.
const ERROR_LIMIT: u32 = 10;

/// What the status page reads besides the journal, fixed at start.
#[derive(Debug, Default)]
pub struct Sources {
    /// The spool directory (`data_dir/spool`), only measured, never opened as a spool.
    pub spool: Option<PathBuf>,
    /// The configured targets' names, shown even without a backlog.
    pub targets: Vec<String>,
    /// SHA-256 fingerprint of the console's own TLS certificate, if it serves TLS.
    pub tls_fingerprint: Option<String>,
}

pub(super) async fn status(State(app): State<App>, headers: HeaderMap) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = Utc::now();
    let read = blocking(&app, move |app| {
        let st = app.journal().status(now, ERROR_LIMIT);
        let spool = app.status.spool.as_deref().map(|dir| cr_storage::spool_gauges(dir, now));
        (st, spool)
    })
    .await;
    let (st, spool) = match read {
        Ok((Ok(st), spool)) => (st, spool),
        Ok((Err(e), _)) => return journal_fail(&e),
        Err(r) => return r,
    };
    let spool = match spool {
        Some(Ok(g)) => format!(
            "<table id=\"spool\"><tr><th>Sets waiting</th><td id=\"spool-sets\">{}</td></tr>\
             <tr><th>Oldest waiting for</th><td id=\"spool-oldest\">{}</td></tr>\
             <tr><th>Free space</th><td><span id=\"free\">{:.1}</span> %</td></tr></table>",
            g.sets,
            duration_text(g.oldest_secs.saturating_mul(1000)),
            g.free_percent
        ),
        Some(Err(e)) => {
            tracing::warn!("spool: {e}");
            "<p class=\"err\">The spool could not be read (the reason is in the console's log).</p>".to_owned()
        }
        None => "<p>No spool on this machine.</p>".to_owned(),
    };
    let body = render(&app, &st, &spool, now);
    html(StatusCode::OK, "Status", Some(&s), &body)
}

fn render(app: &Console, st: &Status, spool: &str, now: DateTime<Utc>) -> String {
    let mut b = format!("<h1>Status</h1><p>As of {}.</p>", esc(&time_text(now)));

    b.push_str(&format!("<h2>Active calls</h2><p id=\"active-calls\">{}</p>", st.active_calls.len()));
    if !st.active_calls.is_empty() {
        b.push_str("<table id=\"calls\"><tr><th>PBX call id</th><th>Caller</th><th>Callee</th><th>Direction</th><th>Configuration</th><th>Since</th><th>Age</th></tr>");
        for c in &st.active_calls {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.pbx_call_id),
                esc(&c.caller),
                esc(&c.callee),
                esc(c.direction.as_str()),
                esc(c.configuration.as_deref().unwrap_or("-")),
                esc(&time_text(c.started_at)),
                duration_text(c.age_secs.saturating_mul(1000))
            ));
        }
        b.push_str("</table>");
    }

    b.push_str("<h2>Backlog per target</h2><table id=\"backlog\"><tr><th>Target</th><th>Pending</th><th>Failed</th><th>Oldest queued</th><th>Age</th></tr>");
    let mut names: Vec<&str> = app.status.targets.iter().map(String::as_str).collect();
    for t in &st.backlog {
        if !names.contains(&t.target.as_str()) {
            names.push(&t.target);
        }
    }
    for name in names {
        let row = st.backlog.iter().find(|t| t.target == name);
        let (pending, failed) = row.map_or((0, 0), |t| (t.pending, t.failed));
        let oldest = row.and_then(|t| t.oldest_queued_at).filter(|_| pending + failed > 0);
        let age = row.and_then(|t| t.oldest_age_secs).filter(|_| oldest.is_some());
        let unknown = if app.status.targets.iter().any(|t| t == name) { "" } else { " (not in the configuration)" };
        b.push_str(&format!(
            "<tr data-target=\"{}\"><td>{}{unknown}</td><td class=\"pending\">{pending}</td><td class=\"failed\">{failed}</td><td>{}</td><td class=\"age\">{}</td></tr>",
            esc(name),
            esc(name),
            oldest.map_or_else(|| "-".to_owned(), |t| esc(&time_text(t))),
            age.map_or_else(|| "-".to_owned(), |a| duration_text(a.saturating_mul(1000)))
        ));
    }
    b.push_str("</table>");

    b.push_str(&format!("<h2>Last errors</h2><p id=\"last-errors\">{}</p>", st.last_errors.len()));
    if !st.last_errors.is_empty() {
        b.push_str("<table id=\"errors\"><tr><th>When</th><th>Set</th><th>Target</th><th>State</th><th>Attempts</th><th>Error</th></tr>");
        for e in &st.last_errors {
            b.push_str(&format!(
                "<tr><td>{}</td><td><a href=\"/recordings/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"attempts\">{}</td><td class=\"error\">{}</td></tr>",
                e.at.map_or_else(|| "-".to_owned(), |t| esc(&time_text(t))),
                esc(&e.set_id),
                esc(&e.set_id),
                esc(&e.target),
                esc(&e.state.to_string()),
                e.attempts,
                esc(&e.error)
            ));
        }
        b.push_str("</table>");
    }

    b.push_str(&format!("<h2>Deletions pending</h2><p id=\"deletions-pending\">{}</p>", st.pending_deletions.len()));
    if !st.pending_deletions.is_empty() {
        b.push_str("<table><tr><th>Set</th><th>Where</th><th>Attempts</th><th>Last error</th></tr>");
        for d in &st.pending_deletions {
            let place = if d.target == Deletion::LOCAL { "local" } else { d.target.as_str() };
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.set_id),
                esc(place),
                d.attempts,
                esc(d.last_error.as_deref().unwrap_or("-"))
            ));
        }
        b.push_str("</table>");
    }

    b.push_str("<h2>Spool</h2>");
    b.push_str(spool);
    b.push_str(&format!("<h2>Recordings</h2><p>Sets sealed: <span id=\"recordings\">{}</span>; ", st.recordings));
    match &st.chain_head {
        Some(h) => b.push_str(&format!("chain head #{} {} (<code>{}</code>)</p>", h.seq, esc(&h.set_id), esc(&h.sha256))),
        None => b.push_str("chain empty</p>"),
    }
    b.push_str(&format!(
        "<h2>Certificates</h2><table><tr><th>Signing (SHA-256)</th><td><code id=\"signing-fingerprint\">{}</code></td></tr>\
         <tr><th>Console TLS (SHA-256)</th><td><code id=\"tls-fingerprint\">{}</code></td></tr></table>",
        esc(&app.cert.fingerprint_sha256()),
        esc(app.status.tls_fingerprint.as_deref().unwrap_or("- (plain HTTP on loopback)"))
    ));
    b
}
