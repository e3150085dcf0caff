//! cr-console's actions over HTTPS: the export ZIP checked with unzip, sha256sum and
//! cr-verify; holds and the four-eyes rule; CSRF and role refusals leave nothing changed.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{Console, SET, SUPERVISORS, cr_verify_bin, have};

fn sh(dir: &std::path::Path, cmd: &str) -> (bool, String) {
    let out = Command::new("bash").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn count(c: &Console, kind: &str) -> usize {
    c.audit_kinds().iter().filter(|(k, _)| k == kind).count()
}

/// A console with both supervisors signed in: (session, CSRF token) each.
fn two_supervisors() -> Option<(Console, [(String, String); 2])> {
    if !(have("openssl") && have("sox")) {
        return None;
    }
    let c = Console::start(5);
    c.add_supervisors();
    let signed_in = SUPERVISORS.map(|name| {
        let s = c.session(name);
        let t = c.csrf(&s);
        (s, t)
    });
    Some((c, signed_in))
}

#[test]
fn an_export_downloads_a_zip_that_unzip_sha256sum_and_cr_verify_accept() {
    if !(have("openssl") && have("sox") && have("unzip") && have("sha256sum")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let csrf = c.csrf(&s);
    let form = [("csrf", csrf.as_str()), ("party", "030 999888"), ("from", "2026-11-26"), ("to", "2026-11-26"), ("request", "REQ 42/7"), ("reason", "customer letter")];
    let r = c.post("/export", &s, &form);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"export-REQ_42_7.zip\"");
    let bytes = r.bytes().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("got.zip"), &bytes).unwrap();
    let (ok, text) = sh(tmp.path(), "unzip -q got.zip");
    assert!(ok, "{text}");
    let pkg = tmp.path().join("export-REQ_42_7");
    let (ok, text) = sh(&pkg, "sha256sum -c SHA256SUMS");
    assert!(ok && text.contains(&format!("sets/{SET}/{SET}.wav: OK")), "{text}");
    let (ok, text) = sh(&pkg, "bash verify.sh");
    assert!(ok, "{text}");
    let out = Command::new(cr_verify_bin()).arg("--cert").arg(c.installation_cert()).arg(&pkg).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The WAV in the ZIP is the recorded one, byte for byte.
    assert_eq!(std::fs::read(pkg.join(format!("sets/{SET}/{SET}.wav"))).unwrap(), std::fs::read(c.set_dir.join(format!("{SET}.wav"))).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["request"]["operator"], "aud");
    let e = c.journal().audit_events(0, 10_000).unwrap().into_iter().find(|e| e.kind.as_str() == "exported").expect("an exported event");
    assert_eq!(e.actor.as_deref(), Some("aud"));
    assert_eq!(e.details["request"], "REQ 42/7");
    assert_eq!(e.details["reason"], "customer letter");
    assert_eq!(e.details["via"], "console");
    assert_eq!(e.details["exported"], serde_json::json!([SET]));
    // The temporary package directory is gone once the ZIP is handed over.
    assert!(e.details["out"].as_str().is_some_and(|p| !std::path::Path::new(p).exists()), "{}", e.details);
}

#[test]
fn an_export_without_a_reference_is_400_and_exports_nothing() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let csrf = c.csrf(&s);
    let r = c.post("/export", &s, &[("csrf", &csrf), ("party", "030999888"), ("request", "  ")]);
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("A request reference is required"));
    // An unknown party: nothing matches, nothing exported.
    let r = c.post("/export", &s, &[("csrf", &csrf), ("party", "+1 555 0100"), ("request", "R-1")]);
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(count(&c, "exported"), 0);
}

#[test]
fn a_hold_release_needs_a_second_supervisor_the_first_is_refused() {
    let Some((c, [(s1, t1), (s2, t2)])) = two_supervisors() else { return };
    let r = c.post("/holds", &s1, &[("csrf", &t1), ("case", "CASE-9"), ("reason", "litigation"), ("sets", SET)]);
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().unwrap());
    assert_eq!(c.journal().hold_of(SET).unwrap().as_deref(), Some("CASE-9"));
    assert!(c.get("/holds", Some(&s1)).text().unwrap().contains("CASE-9"));
    let r = c.post("/holds/release", &s1, &[("csrf", &t1), ("case", "CASE-9"), ("reason", "settled")]);
    assert_eq!(r.status().as_u16(), 303);
    let req = c.journal().requests(false).unwrap();
    assert_eq!(req.len(), 1);
    let id = req[0].id;
    assert!(c.get("/requests", Some(&s2)).text().unwrap().contains(&format!("id=\"approve-{id}\"")));
    // The requester approving their own request: refused, with the rule's words.
    let r = c.post(&format!("/requests/{id}/approve"), &s1, &[("csrf", &t1)]);
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().unwrap().contains("a different supervisor must approve it"));
    assert_eq!(c.journal().hold_of(SET).unwrap().as_deref(), Some("CASE-9"), "still held");
    // The second supervisor: accepted, the hold is released.
    let r = c.post(&format!("/requests/{id}/approve"), &s2, &[("csrf", &t2)]);
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().contains("hold CASE-9 is released"));
    assert_eq!(c.journal().hold_of(SET).unwrap(), None);
    let j = c.journal();
    assert_eq!(j.request(id).unwrap().unwrap().approved_by.as_deref(), Some(SUPERVISORS[1]));
    let events = j.audit_events(0, 10_000).unwrap();
    let actor = |k: &str| events.iter().find(|e| e.kind.as_str() == k).and_then(|e| e.actor.clone());
    assert_eq!(actor("hold_placed").as_deref(), Some(SUPERVISORS[0]));
    assert_eq!(actor("hold_released").as_deref(), Some(SUPERVISORS[1]));
}

#[test]
fn a_deletion_request_is_approved_by_a_second_supervisor_only() {
    let Some((c, [(s1, t1), (s2, t2)])) = two_supervisors() else { return };
    let r = c.post("/requests/delete", &s1, &[("csrf", &t1), ("set", SET), ("reason", "recorded in error")]);
    assert_eq!(r.status().as_u16(), 303);
    let id = c.journal().requests(false).unwrap()[0].id;
    assert_eq!(c.post(&format!("/requests/{id}/approve"), &s1, &[("csrf", &t1)]).status().as_u16(), 403);
    assert_eq!(c.journal().request(id).unwrap().unwrap().approved_by, None);
    assert_eq!(c.post(&format!("/requests/{id}/approve"), &s2, &[("csrf", &t2)]).status().as_u16(), 200);
    assert_eq!(c.journal().approved_deletions().unwrap().len(), 1);
    // Approved once: a second approval is refused as not pending.
    assert_eq!(c.post(&format!("/requests/{id}/approve"), &s1, &[("csrf", &t1)]).status().as_u16(), 409);
}

#[test]
fn a_form_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    c.add_supervisors();
    let s = c.session(SUPERVISORS[0]);
    for token in ["", "0123456789abcdef"] {
        let r = c.post("/holds", &s, &[("csrf", token), ("case", "CASE-1"), ("reason", "x"), ("sets", SET)]);
        assert_eq!(r.status().as_u16(), 403);
        let r = c.post("/export", &s, &[("csrf", token), ("party", "030999888"), ("request", "R-1")]);
        assert_eq!(r.status().as_u16(), 403);
    }
    assert!(c.journal().holds(false).unwrap().is_empty());
    assert_eq!(count(&c, "exported"), 0);
    // A forged token is not a role problem: no access_denied for it.
    assert_eq!(count(&c, "access_denied"), 0);
}

#[test]
fn an_auditor_posting_a_supervisors_form_gets_403_and_an_access_denied_event() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let t = c.csrf(&s);
    let r = c.post("/holds", &s, &[("csrf", &t), ("case", "CASE-1"), ("reason", "x"), ("sets", SET)]);
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().unwrap().contains("this page needs supervisor"));
    let r = c.post("/requests/delete", &s, &[("csrf", &t), ("set", SET), ("reason", "x")]);
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(c.get("/holds", Some(&s)).status().as_u16(), 403);
    assert!(c.journal().holds(false).unwrap().is_empty());
    assert!(c.journal().requests(true).unwrap().is_empty());
    let j = c.journal();
    let denied: Vec<_> = j.audit_events(0, 10_000).unwrap().into_iter().filter(|e| e.kind.as_str() == "access_denied").collect();
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0].actor.as_deref(), Some("aud"));
    assert_eq!(denied[0].details["action"], "hold place");
    assert_eq!(denied[0].details["needed"], "supervisor");
    assert_eq!(denied[1].details["action"], "delete");
}
