//! Hearing a recording: its waveforms (SVG drawn on the server), a form that asks for the
//! reason, and the audio itself, streamed from the verified local copy with HTTP range
//! requests to the session that gave the reason.
//!
//! - `GET /recordings/{id}/waveform/{file}`: the file's waveform (auditor).
//! - `POST /recordings/{id}/play` (`reason`, `csrf`): audits `played` with the reason, grants
//!   this session the set's audio and shows the page with a player a file.
//! - `GET /recordings/{id}/audio/{file}?grant=…`: the WAV; 403 without this session's grant
//!   for this set, 404 for a name the set's journal entry does not list.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cr_journal::{AuditKind, Role};
use serde::Deserialize;

use super::*;
use crate::html::esc;
use crate::session::{random_token, same_token};

/// How long a grant lives at most (it also ends with its session).
const GRANT_LIFE: chrono::Duration = chrono::Duration::hours(12);

/// The audio grants of one console process: token → the session and set it was given to.
#[derive(Debug, Default)]
pub struct Grants {
    by_token: HashMap<String, Grant>,
}

#[derive(Debug)]
struct Grant {
    session: String,
    set_id: String,
    at: DateTime<Utc>,
}

impl Grants {
    /// A new grant of `set_id` to the session `session` at `now` (`None`: no randomness).
    pub fn issue(&mut self, session: &str, set_id: &str, now: DateTime<Utc>) -> Option<String> {
        self.by_token.retain(|_, g| now - g.at <= GRANT_LIFE);
        let token = random_token()?;
        self.by_token.insert(token.clone(), Grant { session: session.to_owned(), set_id: set_id.to_owned(), at: now });
        Some(token)
    }

    /// Whether `token` was given to `session` for `set_id` and is still alive at `now`.
    pub fn allows(&self, token: &str, session: &str, set_id: &str, now: DateTime<Utc>) -> bool {
        self.by_token.get(token).is_some_and(|g| same_token(&g.session, session) && g.set_id == set_id && now - g.at <= GRANT_LIFE)
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file (no header, one we do not read, or several ranges: RFC 9110 lets a
    /// server ignore `Range`, and one answer is simpler than a multipart one).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file (416).
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
pub fn ranged(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Ranged::Whole };
    let num = |s: &str| if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) { None } else { s.parse::<u64>().ok() };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len.saturating_sub(n), len - 1),
        },
        (a, "") => match num(a) {
            None => Ranged::Whole,
            Some(a) if a >= len => Ranged::Unsatisfiable,
            Some(a) => Ranged::Part(a, len - 1),
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= len {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part(a, b.min(len - 1))
                }
            }
            _ => Ranged::Whole,
        },
    }
}

/// The audio files of a set (by the journal's list, never by a name from a request).
fn audio_files(info: &cr_journal::RecordingInfo) -> impl Iterator<Item = &str> {
    info.files.iter().map(|f| f.name.as_str()).filter(|n| n.ends_with(".wav"))
}

/// The path of the set's audio file `file` in its verified local copy: only a name the
/// journal lists for the set, joined to the directory of the copy the badge verifies.
fn audio_path(app: &Console, id: &str, file: &str) -> Result<PathBuf, Response> {
    let info = match app.journal().recording(id) {
        Ok(Some(info)) => info,
        Ok(None) => return Err(fail(StatusCode::NOT_FOUND, "no such recording")),
        Err(e) => return Err(journal_fail(&e)),
    };
    let Some(name) = audio_files(&info).find(|n| *n == file) else {
        return Err(fail(StatusCode::NOT_FOUND, "the set has no audio file of that name"));
    };
    // The journal wrote the name; still, never a name that could leave the directory.
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(fail(StatusCode::NOT_FOUND, "the set has no audio file of that name"));
    }
    let Some(dir) = recording::local_copy(app, &info).and_then(|sums| sums.parent().map(|d| d.to_owned())) else {
        return Err(fail(StatusCode::NOT_FOUND, "no copy of the set on this machine"));
    };
    Ok(dir.join(name))
}

/// The page's section on hearing the set: a waveform a file (or why it cannot be drawn),
/// then either the form that asks for the reason or, with `grant`, a player a file.
pub(super) fn section(app: &Console, info: &cr_journal::RecordingInfo, s: &Session, grant: Option<&str>) -> String {
    let dir = recording::local_copy(app, info).and_then(|sums| sums.parent().map(|d| d.to_owned()));
    let id = esc(&info.set_id);
    let mut out = String::from("<h2>Audio</h2>");
    for name in audio_files(info) {
        let n = esc(name);
        match dir.as_ref().map(|d| cr_audio::read_info(&d.join(name))) {
            None => {}
            Some(Ok(w)) => out.push_str(&format!(
                "<figure><img class=\"wave\" src=\"/recordings/{id}/waveform/{n}\" alt=\"waveform of {n}\" width=\"{}\" height=\"{}\"><figcaption>{n}: {} channel(s), {} Hz, {:.2} s</figcaption></figure>",
                crate::wave::WIDTH,
                crate::wave::LANE * usize::from(w.channels),
                w.channels,
                w.sample_rate,
                w.duration().as_secs_f64()
            )),
            Some(Err(e)) => out.push_str(&format!("<p class=\"err wave-error\">{n} cannot be read as audio: {}</p>", esc(&e.to_string()))),
        }
        if let Some(g) = grant {
            out.push_str(&format!("<audio controls preload=\"metadata\" src=\"/recordings/{id}/audio/{n}?grant={}\"></audio>", esc(g)));
        }
    }
    if grant.is_none() && dir.is_some() {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/recordings/{id}/play\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label>Reason for listening (goes into the audit trail) <input id=\"reason\" name=\"reason\" required maxlength=\"500\" size=\"60\"></label>\
             <button type=\"submit\" id=\"play\">Play</button></form>",
            esc(&s.csrf)
        ));
    }
    out
}

#[derive(Deserialize)]
pub(super) struct PlayForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn play(State(app): State<App>, headers: HeaderMap, UrlPath(id): UrlPath<String>, Form(form): Form<PlayForm>) -> Response {
    let s = match require_post(&app, &headers, Role::Auditor, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let reason = form.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return html(StatusCode::BAD_REQUEST, "Reason needed", Some(&s), "<p class=\"err\">Give a reason for listening (at most 500 characters): it goes into the audit trail.</p>");
    }
    let Some((token, _)) = session(&app, &headers) else { return fail(StatusCode::FORBIDDEN, "not signed in") };
    let operator = s.operator.clone();
    let set = id.clone();
    let audited = blocking(&app, move |c| {
        let journal = c.journal();
        let Some(info) = journal.recording(&set)? else { return Ok(false) };
        let files: Vec<&str> = audio_files(&info).collect();
        let details = serde_json::json!({"via": "console", "files": files, "reason": reason});
        journal.audit(&AuditKind::Played, Utc::now(), Some(&operator), Some(&set), &details)?;
        Ok::<_, cr_journal::JournalError>(true)
    })
    .await;
    match audited {
        Err(r) => return r,
        Ok(Err(e)) => return journal_fail(&e),
        Ok(Ok(false)) => return html(StatusCode::NOT_FOUND, "Not found", Some(&s), "<p class=\"err\">No such recording.</p>"),
        Ok(Ok(true)) => {}
    }
    let Some(grant) = app.grants().issue(&token, &id, Utc::now()) else { return no_randomness() };
    recording::render(&app, s, id, Some(grant)).await
}

#[derive(Deserialize)]
pub(super) struct GrantQuery {
    #[serde(default)]
    grant: String,
}

pub(super) async fn audio(
    State(app): State<App>,
    headers: HeaderMap,
    UrlPath((id, file)): UrlPath<(String, String)>,
    Query(q): Query<GrantQuery>,
) -> Response {
    let Some((token, _)) = session(&app, &headers) else { return fail(StatusCode::FORBIDDEN, "not signed in") };
    if !app.grants().allows(&q.grant, &token, &id, Utc::now()) {
        return fail(StatusCode::FORBIDDEN, "playing needs a reason first: use the Play form on the recording's page");
    }
    let path = match blocking(&app, move |c| audio_path(c, &id, &file)).await {
        Ok(Ok(p)) => p,
        Ok(Err(r)) | Err(r) => return r,
    };
    let file = match std::fs::File::open(&path).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return fail(StatusCode::NOT_FOUND, "the audio file cannot be opened (the reason is in the console's log)");
        }
    };
    let (len, file) = file;
    let range = ranged(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
    let (status, start, count) = match range {
        Ranged::Whole => (StatusCode::OK, 0, len),
        Ranged::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Ranged::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::from_std(file);
    if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, "the audio file cannot be read");
    }
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f.take(count), 64 * 1024));
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

pub(super) async fn waveform(State(app): State<App>, headers: HeaderMap, UrlPath((id, file)): UrlPath<(String, String)>) -> Response {
    if let Err(r) = require(&app, &headers, Role::Auditor) {
        return r;
    }
    let drawn = blocking(&app, move |c| {
        let path = audio_path(c, &id, &file)?;
        crate::wave::render(&path).map_err(|e| fail(StatusCode::UNPROCESSABLE_ENTITY, &format!("{file} cannot be read as audio: {e}")))
    })
    .await;
    match drawn {
        Ok(Ok(svg)) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Ok(Err(r)) | Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_rfc_9110_says() {
        let r = |h: &str| ranged(Some(h), 1000);
        assert_eq!(ranged(None, 1000), Ranged::Whole);
        assert_eq!(r("bytes=0-99"), Ranged::Part(0, 99));
        assert_eq!(r("bytes=0-0"), Ranged::Part(0, 0));
        assert_eq!(r("bytes=900-"), Ranged::Part(900, 999));
        assert_eq!(r("bytes=-100"), Ranged::Part(900, 999));
        assert_eq!(r("bytes=-5000"), Ranged::Part(0, 999), "a suffix longer than the file is all of it");
        assert_eq!(r("bytes=990-5000"), Ranged::Part(990, 999), "an end past the file is cut at its end");
        assert_eq!(r("bytes=1000-"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=1000-1001"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(ranged(Some("bytes=0-"), 0), Ranged::Unsatisfiable, "nothing of an empty file");
        // Several ranges: the whole file, not a multipart answer.
        assert_eq!(r("bytes=0-1,5-6"), Ranged::Whole);
        // What is not a byte range is ignored (RFC 9110: a server may ignore Range).
        for bad in ["items=0-1", "bytes=5-1", "bytes=a-b", "bytes=", "bytes=--1", "bytes=+1-2", "bytes=99999999999999999999999-", "bytes=1"] {
            assert_eq!(r(bad), Ranged::Whole, "{bad}");
        }
    }

    #[test]
    fn a_grant_is_for_one_session_and_one_set() {
        let now = Utc::now();
        let mut g = Grants::default();
        let t = g.issue("session-a", "set-1", now).unwrap_or_default();
        assert!(g.allows(&t, "session-a", "set-1", now));
        assert!(!g.allows(&t, "session-b", "set-1", now), "another session");
        assert!(!g.allows(&t, "session-a", "set-2", now), "another set");
        assert!(!g.allows("", "session-a", "set-1", now));
        assert!(!g.allows(&t, "session-a", "set-1", now + GRANT_LIFE + chrono::Duration::seconds(1)), "too old");
    }
}
