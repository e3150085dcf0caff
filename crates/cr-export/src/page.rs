//! The human side of a package: `index.html`, `README.txt` and `verify.sh`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::manifest::PackageManifest;

/// The name of the verification script in a package.
pub(crate) const VERIFY_SCRIPT: &str = "verify.sh";
/// The verification script: bash, shasum (or sha256sum), base64 and openssl only.
pub(crate) const VERIFY_SH: &str = include_str!("verify.sh");

const HOW_TO_VERIFY: &str = "Every file of this package is listed with its SHA-256 in SHA256SUMS, \
which is signed with the recording installation's key (SHA256SUMS.SHA256withRSA.sig); each call's \
own files are also signed as they were sealed when the call ended. Compare the SHA-256 fingerprint \
of cert.pem with the one the installation publishes, then run `bash verify.sh` in this directory \
(it needs bash, shasum or sha256sum, base64 and openssl) or `cr-verify --cert cert.pem .`.";

/// `s` with `& < > " '` escaped, for HTML text and attribute values alike (the package's
/// `index.html` and cr-console's pages).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A relative URL of a package path: every byte but unreserved characters and `/`
/// percent-encoded.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn show(t: DateTime<Utc>, zone: Option<chrono_tz::Tz>) -> String {
    match zone {
        Some(z) => t.with_timezone(&z).format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn range(m: &PackageManifest, zone: Option<chrono_tz::Tz>) -> String {
    match (m.request.from, m.request.to) {
        (None, None) => "all times".to_owned(),
        (Some(f), None) => format!("from {}", show(f, zone)),
        (None, Some(t)) => format!("before {}", show(t, zone)),
        (Some(f), Some(t)) => format!("from {} to before {}", show(f, zone), show(t, zone)),
    }
}

/// `index.html`: one static page, no script, no external asset.
pub(crate) fn index_html(m: &PackageManifest, zone: Option<chrono_tz::Tz>) -> String {
    let mut h = String::new();
    let title = format!("Call recordings for request {}", m.request.reference);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}}</style>\n\
         </head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<p>Party {}, {}; {} call(s); made {}{}.</p>",
        escape(&m.request.party),
        escape(&range(m, zone)),
        m.sets.len(),
        escape(&show(m.request.created_at, zone)),
        m.request.operator.as_deref().map(|o| format!(" by {}", escape(o))).unwrap_or_default()
    );
    h.push_str("<table>\n<tr><th>Time</th><th>Caller</th><th>Callee</th><th>Duration</th><th>Configuration</th><th>Audio</th></tr>\n");
    for s in &m.sets {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            escape(&show(s.call.started_at, zone)),
            escape(&s.call.caller),
            escape(&s.call.callee),
            duration(s.call.duration_ms),
            escape(&s.call.configuration)
        );
        for f in s.files.iter().filter(|f| f.path.to_ascii_lowercase().ends_with(".wav")) {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            let _ = write!(
                h,
                "<div>{}<br><audio controls preload=\"none\" src=\"{}\"></audio></div>",
                escape(name),
                escape(&url_path(&f.path))
            );
        }
        let _ = writeln!(h, "<div><a href=\"{}/\">files of set {}</a></div></td></tr>", escape(&url_path(&s.directory)), escape(&s.call.id));
    }
    h.push_str("</table>\n");
    if !m.not_exported.is_empty() {
        h.push_str("<h2>Not in this package</h2>\n<p>These calls matched the request, but their recording did not verify or could not be read, so it is not included:</p>\n<ul>\n");
        for n in &m.not_exported {
            let _ = writeln!(
                h,
                "<li>{} {} &rarr; {} (set {}): {}</li>",
                escape(&show(n.call.started_at, zone)),
                escape(&n.call.caller),
                escape(&n.call.callee),
                escape(&n.call.id),
                escape(&n.problems.join("; "))
            );
        }
        h.push_str("</ul>\n");
    }
    let _ = write!(
        h,
        "<h2>How to verify</h2>\n<p>{}</p>\n<p>Certificate: {}, SHA-256 fingerprint <code>{}</code>.</p>\n</body>\n</html>\n",
        escape(HOW_TO_VERIFY),
        escape(&m.certificate_subject),
        escape(&m.certificate_sha256)
    );
    h
}

/// `README.txt`: what the package is and how to verify it with stock tools.
pub(crate) fn readme(m: &PackageManifest) -> String {
    format!(
        "Call recordings for request {reference}
=====================================

This directory is a disclosure package made by callrec: the recordings of the calls of
party {party} ({range}), {n} call(s), made {created} (UTC).

  index.html       the calls (time, parties, duration, configuration) with an audio player each
  manifest.json    the request and every call, with the SHA-256 of each set's checksum file
  sets/<id>/       each call's recording set, unchanged: audio (.wav), metadata (.json),
                   its checksum file (<id>.sha256) and signature (<id>.sha256.SHA256withRSA.sig)
  cert.pem         the recording installation's certificate ({subject})
  SHA256SUMS       the SHA-256 of every other file of this package
  SHA256SUMS.SHA256withRSA.sig   signature of SHA256SUMS by the installation's key
  verify.sh        checks all of the above

How to verify
-------------
1. Compare the certificate's fingerprint with the one the installation publishes:
     openssl x509 -in cert.pem -noout -fingerprint -sha256
   (this package's manifest names SHA-256 {fingerprint})
2. Run, in this directory:
     bash verify.sh
   It needs bash, shasum (or sha256sum), base64 and openssl, and exits non-zero naming the
   file on any problem. By hand, the same checks are:
     openssl x509 -in cert.pem -pubkey -noout > pub.pem
     base64 -d SHA256SUMS.SHA256withRSA.sig > sig.bin
     openssl dgst -sha256 -verify pub.pem -signature sig.bin SHA256SUMS
     shasum -a 256 -c SHA256SUMS          (or: sha256sum -c SHA256SUMS)
   and, in each sets/<id>/ directory, the same two checks on <id>.sha256 and its signature.
3. Or, with callrec's verifier: cr-verify --cert cert.pem .

A file added to the package is not listed in SHA256SUMS: verify.sh and cr-verify report it.
",
        reference = m.request.reference,
        party = m.request.party,
        range = range(m, None),
        n = m.sets.len(),
        created = m.request.created_at.format("%Y-%m-%d %H:%M:%S"),
        subject = m.certificate_subject,
        fingerprint = m.certificate_sha256,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_urls_are_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(url_path("sets/a b/c#1.wav"), "sets/a%20b/c%231.wav");
        assert_eq!(duration(3_725_000), "1:02:05");
        assert_eq!(duration(-5), "0:00:00");
    }
}
