//! The status page over HTTPS on an installation with known state (a set pending at `nas`
//! after a failed attempt, one given up at `archive`, a call being recorded): its figures
//! against what was set up, against `crctl status` of the same installation, the spool's
//! gauges against the set enqueued, free space against `df`, the fingerprints against `openssl x509`, and no page without signing in.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{Console, SET, STEREO_SET, have};

/// The text between `start` and the next `end` after it.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let at = body.find(start).unwrap_or_else(|| panic!("{start:?} not in {body}")) + start.len();
    let rest = &body[at..];
    &rest[..rest.find(end).unwrap()]
}

/// The table row of `target` in the backlog.
fn backlog_row<'a>(body: &'a str, target: &str) -> &'a str {
    between(body, &format!("<tr data-target=\"{target}\">"), "</tr>")
}

/// `(pending, failed)` of `target` in `crctl status`'s "backlog per target" lines.
fn crctl_backlog(out: &str, target: &str) -> (u64, u64) {
    let line = out.lines().find(|l| l.trim_start().starts_with(&format!("{target}: "))).unwrap_or_else(|| panic!("{target} not in {out}"));
    let rest = line.trim_start().trim_start_matches(&format!("{target}: "));
    let mut n = rest.split(", ").map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap());
    (n.next().unwrap(), n.next().unwrap())
}

/// The count after `label` in `crctl status` ("active calls: 1").
fn crctl_count(out: &str, label: &str) -> usize {
    let line = out.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label} not in {out}"));
    line[label.len()..].trim().parse().unwrap()
}

/// Free space of the file system holding `dir` in percent, by `df` (available over size).
fn df_free_percent(dir: &std::path::Path) -> f64 {
    let out = Command::new("df").args(["--output=avail,size", "-B1"]).arg(dir).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut n = text.lines().nth(1).unwrap().split_whitespace().map(|v| v.parse::<f64>().unwrap());
    let (avail, size) = (n.next().unwrap(), n.next().unwrap());
    avail * 100.0 / size
}

/// The SHA-256 fingerprint of a PEM certificate, by `openssl x509`.
fn openssl_fingerprint(pem: &std::path::Path) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(pem).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().rsplit('=').next().unwrap().to_owned()
}

#[test]
fn the_status_page_shows_the_installations_backlog_errors_calls_space_and_fingerprints() {
    if !(have("openssl") && have("sox") && have("df")) {
        return;
    }
    let c = Console::start(5);
    let st = c.add_status_state();
    let session = c.session("aud");
    let r = c.get("/status", Some(&session));
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().unwrap();

    // What was set up: one call being recorded, nas 1 pending, archive 1 given up.
    assert_eq!(between(&body, "<p id=\"active-calls\">", "<"), "1", "{body}");
    let calls = between(&body, "<table id=\"calls\">", "</table>");
    assert!(calls.contains("pbx-live") && calls.contains("+4930555111") && calls.contains("+4940777666"), "{calls}");
    // Started 10 minutes ago: its age reads 0:10:ss.
    assert!(calls.contains("<td>0:10:"), "{calls}");
    let nas = backlog_row(&body, "nas");
    assert!(nas.contains("class=\"pending\">1<") && nas.contains("class=\"failed\">0<"), "{nas}");
    let archive = backlog_row(&body, "archive");
    assert!(archive.contains("class=\"pending\">0<") && archive.contains("class=\"failed\">1<"), "{archive}");
    // Queued 3 hours ago (the test takes well under a minute): the oldest set's age is 3:00:ss,
    // and its queue time is shown.
    assert!(nas.contains("class=\"age\">3:00:"), "{nas}");
    assert!(nas.contains(&st.queued_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()), "{nas}");
    // Neither target is configured (the test's configuration has none): said so.
    assert!(nas.contains("(not in the configuration)"), "{nas}");

    // Last errors: both, newest first, with the attempts and the error escaped.
    assert_eq!(between(&body, "<p id=\"last-errors\">", "<"), "2");
    let errors = between(&body, "<table id=\"errors\">", "</table>");
    let (archive_at, nas_at) = (errors.find(STEREO_SET).unwrap(), errors.find(SET).unwrap());
    assert!(archive_at < nas_at, "newest first: {errors}");
    assert!(errors.contains("nas.example refused the connection &lt;port 445&gt;"), "{errors}");
    assert!(!errors.contains("<port 445>"), "{errors}");
    assert!(errors.contains(st.archive_error) && errors.contains(">failed<") && errors.contains(">pending<"), "{errors}");
    assert_eq!(errors.matches("class=\"attempts\">1<").count(), 2, "{errors}");
    assert_eq!(between(&body, "<p id=\"deletions-pending\">", "<"), "0");
    assert_eq!(between(&body, "<span id=\"recordings\">", "<"), "2");

    // The same figures as `crctl status` of the installation.
    let out = c.crctl(&["status"]);
    assert_eq!(crctl_count(&out, "active calls:"), 1, "{out}");
    assert_eq!(crctl_backlog(&out, "nas"), (1, 0), "{out}");
    assert_eq!(crctl_backlog(&out, "archive"), (0, 1), "{out}");
    assert_eq!(crctl_count(&out, "last errors:"), 2, "{out}");
    assert_eq!(crctl_count(&out, "deletions pending:"), 0, "{out}");
    assert!(out.contains(st.nas_error) && out.contains(st.archive_error), "{out}");

    // The spool's gauges: the one set enqueued 3 hours ago (STEREO_SET is not in the spool).
    assert_eq!(between(&body, "<td id=\"spool-sets\">", "<"), "1");
    assert!(between(&body, "<td id=\"spool-oldest\">", "<").starts_with("3:00:"), "{body}");

    // Free space of the spool's file system, as `df` reads it (other processes write to this
    // disk meanwhile: within one percentage point).
    let shown: f64 = between(&body, "<span id=\"free\">", "<").parse().unwrap();
    let df = df_free_percent(&c.dir.path().join("data/spool"));
    assert!((shown - df).abs() < 1.0, "page {shown} %, df {df} %");

    // Fingerprints of the signing certificate and of the console's TLS certificate.
    let signing = openssl_fingerprint(&c.dir.path().join("data/cert.pem"));
    assert_eq!(between(&body, "<code id=\"signing-fingerprint\">", "<"), signing);
    let tls = openssl_fingerprint(&c.tls_cert);
    assert_eq!(between(&body, "<code id=\"tls-fingerprint\">", "<"), tls);
    assert_ne!(signing, tls);
}

#[test]
fn the_status_page_needs_a_signed_in_operator() {
    if !have("openssl") || !have("sox") {
        return;
    }
    let c = Console::start(5);
    c.add_status_state();
    for cookie in [None, Some("0000000000000000000000000000000000000000000000000000000000000000")] {
        let r = c.get("/status", cookie);
        assert_eq!(r.status().as_u16(), 303, "{cookie:?}");
        assert_eq!(r.headers()["location"], "/signin");
        let body = r.text().unwrap();
        assert!(!body.contains("pbx-live") && !body.contains("nas.example"), "{body}");
    }
}
