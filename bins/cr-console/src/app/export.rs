//! Export a customer's recordings: the disclosure package `crctl export` writes (cr-export),
//! downloaded as a ZIP. The package is written into a temporary directory, zipped beside it
//! and streamed from the open file after the directory is removed.

use std::io::Write;
use std::path::Path;

use axum::body::Body;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use cr_journal::{AuditKind, Role, SearchQuery};
use serde::Deserialize;

use super::search::parse_time;
use super::*;
use crate::html::esc;

/// What the console needs to write packages: the configuration (to find each set's copy)
/// and the installation's key (to sign `SHA256SUMS`).
pub struct Exporter {
    /// The installation's configuration.
    pub cfg: cr_config::Config,
    /// The installation's key pair.
    pub identity: cr_sign::Identity,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ExportForm {
    csrf: String,
    party: String,
    from: String,
    to: String,
    request: String,
    reason: String,
}

fn form(s: &Session, f: &ExportForm, message: Option<&str>) -> String {
    let msg = message.map_or_else(String::new, |m| format!("<p class=\"err\" id=\"message\">{}</p>", esc(m)));
    format!(
        "<h1>Export</h1><p>The disclosure package of a party's recordings (as <code>crctl export</code> writes it), \
         downloaded as a ZIP. Each set is verified before it goes in.</p>{msg}\
         <form method=\"post\" action=\"/export\" id=\"export\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Party number <input name=\"party\" id=\"party\" value=\"{}\" required></label>\
         <label>From <input name=\"from\" id=\"from\" placeholder=\"2026-11-01\" value=\"{}\"></label>\
         <label>To (inclusive) <input name=\"to\" id=\"to\" placeholder=\"2026-11-30\" value=\"{}\"></label>\
         <label>Request reference <input name=\"request\" id=\"request\" value=\"{}\" required></label>\
         <label>Reason <input name=\"reason\" id=\"reason\" value=\"{}\"></label>\
         <button type=\"submit\" id=\"do-export\">Export</button></form>",
        esc(&s.csrf),
        esc(&f.party),
        esc(&f.from),
        esc(&f.to),
        esc(&f.request),
        esc(&f.reason)
    )
}

pub(super) async fn export_form(State(app): State<App>, headers: HeaderMap) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    html(StatusCode::OK, "Export", Some(&s), &form(&s, &ExportForm::default(), None))
}

/// A file name from a request reference: letters, digits, `.`, `-`, `_` kept, the rest `_`.
fn file_stem(reference: &str) -> String {
    let s: String = reference.chars().take(80).map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' }).collect();
    format!("export-{s}")
}

enum Done {
    /// The ZIP, open, its directory removed; its file name.
    Zip(std::fs::File, String),
    /// Nothing to hand over: the status and why.
    Refused(StatusCode, String),
}

pub(super) async fn export(State(app): State<App>, headers: HeaderMap, Form(f): Form<ExportForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Auditor, Some(&f.csrf), "export").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bad = |m: &str| html(StatusCode::BAD_REQUEST, "Export", Some(&s), &form(&s, &f, Some(m)));
    if f.request.trim().is_empty() {
        return bad("A request reference is required (the customer's letter or ticket).");
    }
    if f.party.trim().is_empty() {
        return bad("A party number is required.");
    }
    let (from, to) = match (parse_time(&f.from, false), parse_time(&f.to, true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(&e),
    };
    let (party, reference, reason, who) = (f.party.trim().to_owned(), f.request.trim().to_owned(), f.reason.trim().to_owned(), s.operator.clone());
    let done = blocking(&app, move |c| -> anyhow::Result<Done> {
        let Some(ex) = &c.export else {
            return Ok(Done::Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Export is not available: the console could not open the installation's keystore (the reason is in its log).".into(),
            ));
        };
        let hits = c.journal().search(&SearchQuery { number: Some(party.clone()), from, to, ..SearchQuery::default() })?;
        if hits.is_empty() {
            return Ok(Done::Refused(StatusCode::NOT_FOUND, format!("No recordings of party {party} match: nothing exported.")));
        }
        let tmp = tempfile::tempdir()?;
        let stem = file_stem(&reference);
        let out = tmp.path().join(&stem);
        let now = Utc::now();
        let mut request = cr_export::Request::new(&reference, &party, now);
        request.from = from;
        request.to = to;
        request.operator = Some(who.clone());
        let mut writer = cr_export::PackageWriter::new(&out, request, &ex.identity)?;
        for hit in &hits {
            cr_export::locate(&ex.cfg, hit).add_to(&mut writer, hit)?;
        }
        if writer.exported().is_empty() {
            let problems: Vec<String> = writer.not_exported().iter().map(|n| format!("{}: {}", n.call.id, n.problems.join("; "))).collect();
            return Ok(Done::Refused(StatusCode::UNPROCESSABLE_ENTITY, format!("No set of party {party} verified: nothing exported. {}", problems.join(" "))));
        }
        let summary = writer.finish()?;
        let zip_path = tmp.path().join(format!("{stem}.zip"));
        zip_dir(&summary.dir, &stem, &zip_path)?;
        let record = cr_export::ExportRecord::written(&summary).via("console").reason(&reason);
        c.journal().audit(&AuditKind::Exported, now, Some(&who), None, &serde_json::to_value(&record)?)?;
        let file = std::fs::File::open(&zip_path)?;
        // The open file stays readable after its directory is gone.
        tmp.close()?;
        Ok(Done::Zip(file, format!("{stem}.zip")))
    })
    .await;
    match done {
        Err(r) => r,
        Ok(Err(e)) => {
            tracing::error!("export: {e:#}");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "the export failed (the reason is in the console's log)")
        }
        Ok(Ok(Done::Refused(code, why))) => html(code, "Export", Some(&s), &form(&s, &f, Some(&why))),
        Ok(Ok(Done::Zip(file, name))) => {
            let len = file.metadata().map(|m| m.len()).ok();
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)));
            let mut r = (StatusCode::OK, body).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            if let Some(v) = len.and_then(|l| HeaderValue::from_str(&l.to_string()).ok()) {
                h.insert(header::CONTENT_LENGTH, v);
            }
            r
        }
    }
}

/// Zips the package directory `dir` into `zip` under the top directory `top`, entries
/// stored (recordings do not compress), modes kept (`verify.sh` stays executable).
fn zip_dir(dir: &Path, top: &str, zip: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut w = zip::ZipWriter::new(std::fs::File::create_new(zip)?);
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    for path in files {
        let rel = path.strip_prefix(dir)?.to_str().ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", path.display()))?;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(mode)
            .large_file(true);
        w.start_file(format!("{top}/{rel}"), opts)?;
        std::io::copy(&mut std::fs::File::open(&path)?, &mut w)?;
    }
    w.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards against: a reference with a quote or a path breaking the header or the name.
    #[test]
    fn a_reference_becomes_a_plain_file_name() {
        assert_eq!(file_stem("REQ-42/\"x\"; y"), "export-REQ-42__x___y");
    }
}
