//! A recording's page, with its verification computed when it is opened.

use std::path::PathBuf;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cr_journal::{JournalError, Role};

use super::*;
use crate::html::esc;

/// Where a readable copy of the set lies: its spool directory, else the directory a folder
/// target recorded at delivery (as `crctl export` finds it).
pub(super) fn local_copy(app: &Console, info: &cr_journal::RecordingInfo) -> Option<PathBuf> {
    let sums = cr_sign::checksum_file_name(&info.set_id);
    let delivered = info
        .uploads
        .iter()
        .filter(|u| u.state == cr_journal::UploadState::Done && app.folders.contains(&u.target))
        .filter_map(|u| u.remote_path.as_deref());
    info.location.as_deref().into_iter().chain(delivered).map(|d| PathBuf::from(d).join(&sums)).find(|p| p.is_file())
}

/// The verification badge: the set's files against its checksum file, the signature, the
/// checksum file against the one sealed into the chain, and its links to the sets before
/// and after it ([`super::chain_links`]).
fn badge(app: &Console, info: &cr_journal::RecordingInfo, near: &super::chain_links::Neighbours) -> String {
    let Some(sums) = local_copy(app, info) else {
        return "<p id=\"badge\" class=\"bad\">Not verified here: no copy on this machine (it lies only at remote targets, or was deleted).</p>".to_owned();
    };
    let report = cr_sign::verify_set(&sums, &app.cert);
    let mut problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    if report.problems.is_empty() && report.checksum_sha256 != info.chain.sha256 {
        problems.push(format!("its checksum file is not the one sealed as #{} of the chain", info.chain.seq));
    }
    let links = if report.checksum_sha256.is_empty() {
        Err(Vec::new())
    } else {
        super::chain_links::check(app, info, &sums, &report.checksum_sha256, near)
    };
    match links {
        Ok(held) if problems.is_empty() => format!(
            "<p id=\"badge\" class=\"ok\">Verified: {} file(s) match the checksum file, its signature is the installation's, and it is #{} of the chain: {}.</p>",
            report.verified_files.len(),
            info.chain.seq,
            esc(&held)
        ),
        Ok(_) => format!("<p id=\"badge\" class=\"bad\">FAILED: {}</p>", esc(&problems.join("; "))),
        Err(broken) => {
            problems.extend(broken);
            format!("<p id=\"badge\" class=\"bad\">FAILED: {}</p>", esc(&problems.join("; ")))
        }
    }
}

pub(super) async fn recording(State(app): State<App>, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    render(&app, s, id, None).await
}

/// The page of set `id` for `s`; with `grant`, with a player a file (see [`super::play`]).
pub(super) async fn render(app: &App, s: Session, id: String, grant: Option<String>) -> Response {
    let s2 = s.clone();
    let found = blocking(app, move |c| {
        let journal = c.journal();
        let Some(info) = journal.recording(&id)? else { return Ok(None) };
        let call = journal.call(info.call)?;
        let hold = journal.hold_of(&info.set_id)?;
        let near = super::chain_links::neighbours(&journal, info.chain.seq)?;
        drop(journal);
        let badge = badge(c, &info, &near);
        let audio = super::play::section(c, &info, &s2, grant.as_deref());
        Ok::<_, JournalError>(Some((info, call, hold, badge, audio)))
    })
    .await;
    let (info, call, hold, badge, audio) = match found {
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
        "<h1>{}</h1>{badge}<table id=\"facts\">{rows}</table>{audio}<h2>Delivery</h2><table id=\"deliveries\"><tr><th>Target</th><th>State</th><th>Where</th></tr>{deliveries}</table>",
        esc(&info.set_id)
    );
    html(StatusCode::OK, &info.set_id, Some(&s), &body)
}
