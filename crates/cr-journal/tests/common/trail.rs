//! Operators and the audit chain, on every backend (SQLite in `trail.rs`, PostgreSQL in
//! `postgres.rs`). `sql` runs a statement on the journal's database behind its back, as
//! someone with write access to the database file or server would.
#![allow(dead_code, clippy::unwrap_used)]

use super::t;
use cr_journal::{AuditKind, AuditQuery, Journal, JournalError, Role};

const PW: &str = "correct horse battery";

/// `sha256sum` of `text` (the independent tool, not the code under test).
pub fn sha256sum(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

pub fn operators_have_roles_and_only_admins_add_them(j: &Journal) {
    // The first operator must be an admin and needs nobody to add them.
    let e = j.add_operator("sup", Role::Supervisor, PW, None, t(0)).unwrap_err();
    assert!(matches!(e, JournalError::Refused { .. }), "{e}");
    assert!(j.operators().unwrap().is_empty(), "nothing stored");
    let root = j.add_operator("root", Role::Admin, PW, None, t(1)).unwrap();
    assert_eq!((root.created_by.as_str(), root.role), ("root", Role::Admin));
    // After that, nobody adds themselves, and only an enabled admin adds others.
    let e = j.add_operator("eve", Role::Admin, PW, None, t(2)).unwrap_err();
    assert!(matches!(e, JournalError::Refused { .. }), "{e}");
    j.add_operator("sup", Role::Supervisor, PW, Some("root"), t(3)).unwrap();
    let e = j.add_operator("aud", Role::Auditor, PW, Some("sup"), t(4)).unwrap_err();
    assert!(e.to_string().contains("not an enabled admin"), "{e}");
    // Bad names and short passwords are refused without echoing the password.
    for bad in ["", "../x", "a b", "-x", &"n".repeat(65)] {
        assert!(matches!(j.add_operator(bad, Role::Auditor, PW, Some("root"), t(5)), Err(JournalError::Invalid { .. })), "{bad:?}");
    }
    let e = j.add_operator("aud", Role::Auditor, "short-pw", Some("root"), t(5)).unwrap_err();
    assert!(!e.to_string().contains("short-pw"), "{e}");
    let e = j.add_operator("sup", Role::Auditor, PW, Some("root"), t(5)).unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
    let names: Vec<(String, Role)> = j.operators().unwrap().into_iter().map(|o| (o.name, o.role)).collect();
    assert_eq!(names, [("root".to_owned(), Role::Admin), ("sup".to_owned(), Role::Supervisor)]);

    // The stored hash is argon2id, never the password.
    let hashes = j.audit_trail(&AuditQuery::default()).unwrap();
    assert!(hashes.iter().all(|e| !e.event.details.to_string().contains(PW)));

    // Authentication: right password, wrong password, unknown name, disabled account.
    assert_eq!(j.authenticate("sup", PW, t(10)).unwrap().role, Role::Supervisor);
    for (name, pw) in [("sup", "wrong password!"), ("nobody", PW)] {
        let e = j.authenticate(name, pw, t(11)).unwrap_err();
        assert!(matches!(e, JournalError::Refused { .. }), "{e}");
        assert!(!e.to_string().contains(pw), "{e}");
    }
    let e = j.disable_operator("root", "root", t(12)).unwrap_err();
    assert!(e.to_string().contains("last enabled admin"), "{e}");
    j.disable_operator("sup", "root", t(13)).unwrap();
    assert!(matches!(j.authenticate("sup", PW, t(14)), Err(JournalError::Refused { .. })));
    let sup = j.operators().unwrap().into_iter().find(|o| o.name == "sup").unwrap();
    assert_eq!((sup.disabled_at, sup.disabled_by.as_deref()), (Some(t(13)), Some("root")));

    let kinds: Vec<(AuditKind, Option<String>)> =
        j.audit_trail(&AuditQuery::default()).unwrap().into_iter().map(|e| (e.event.kind, e.event.actor)).collect();
    assert_eq!(
        kinds,
        [
            (AuditKind::OperatorAdded, Some("root".into())),
            (AuditKind::OperatorAdded, Some("root".into())),
            (AuditKind::LoginFailed, Some("sup".into())),
            (AuditKind::LoginFailed, Some("nobody".into())),
            (AuditKind::OperatorDisabled, Some("root".into())),
            (AuditKind::LoginFailed, Some("sup".into())),
        ]
    );
}

/// Writes a few events and checks the chain, recomputing one hash with `sha256sum`.
pub fn audit_events_form_a_chain_that_catches_edits(j: &Journal, sql: &dyn Fn(&str)) {
    assert_eq!(j.audit_head().unwrap(), None);
    let a = j.audit(&AuditKind::KeyCreated, t(1), Some("root"), None, &serde_json::json!({"fingerprint": "ab"})).unwrap();
    j.set_membership("desk", "bob", false, "crctl:root", t(2)).unwrap();
    let c = j.audit(&AuditKind::Exported, t(3), Some("aud"), Some("set-1"), &serde_json::json!({"request": "ticket \"7\""})).unwrap();
    let trail = j.audit_trail(&AuditQuery::default()).unwrap();
    assert_eq!(trail.len(), 3);
    // The first event's hash, from the rule in docs/journal.md written out by hand.
    let zeros = "0".repeat(64);
    let first = format!(r#"[{a},{},"key_created","root",null,"{{\"fingerprint\":\"ab\"}}","{zeros}"]"#, t(1).timestamp_millis());
    assert_eq!(trail[0].prev_sha256.as_deref(), Some(zeros.as_str()));
    assert_eq!(trail[0].sha256.as_deref(), Some(sha256sum(&first).as_str()));
    assert_eq!(trail[1].prev_sha256, trail[0].sha256);
    assert_eq!(trail[2].prev_sha256, trail[1].sha256);
    let head = j.audit_head().unwrap().unwrap();
    assert_eq!((head.id, Some(head.sha256.clone()), head.at), (c, trail[2].sha256.clone(), t(3)));
    let ok = j.verify_audit(|_| {}).unwrap();
    assert_eq!((ok.events, ok.problems.len()), (3, 0), "{:?}", ok.problems);
    assert_eq!(ok.head.as_ref(), Some(&head));
    // Time range.
    let mid = j.audit_trail(&AuditQuery { from: Some(t(2)), to: Some(t(3)), ..Default::default() }).unwrap();
    assert_eq!(mid.len(), 1);
    assert_eq!(mid[0].event.kind, AuditKind::MembershipChanged);

    // One edited row: caught at that row.
    sql(&format!("UPDATE audit_events SET details = '{{\"fingerprint\":\"cd\"}}' WHERE id = {a}"));
    let bad = j.verify_audit(|_| {}).unwrap();
    assert_eq!(bad.problems.iter().map(|p| p.id).collect::<Vec<_>>(), [a], "{:?}", bad.problems);
    assert!(bad.problems[0].what.contains("changed"));
    sql(&format!("UPDATE audit_events SET details = '{{\"fingerprint\":\"ab\"}}' WHERE id = {a}"));
    assert!(j.verify_audit(|_| {}).unwrap().problems.is_empty(), "restored");
    // A row removed from the middle: the next one's link names it.
    let b = trail[1].event.id;
    sql(&format!("DELETE FROM audit_events WHERE id = {b}"));
    let bad = j.verify_audit(|_| {}).unwrap();
    assert_eq!(bad.problems.iter().map(|p| p.id).collect::<Vec<_>>(), [c], "{:?}", bad.problems);
    assert!(bad.problems[0].what.contains("link"));
    // The chain goes on from the head after a break (new events link to the newest).
    let d = j.audit(&AuditKind::KeyCreated, t(4), None, None, &serde_json::json!({})).unwrap();
    let last = j.audit_trail(&AuditQuery { after_id: c, ..Default::default() }).unwrap();
    assert_eq!((last[0].event.id, last[0].prev_sha256.as_deref()), (d, trail[2].sha256.as_deref()));
}

/// Events written by many threads at once still form one chain.
pub fn concurrent_events_link_in_order(open: &dyn Fn() -> Journal) {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let j = open();
            std::thread::spawn(move || {
                for k in 0..25 {
                    j.audit(&AuditKind::ConfigLoaded, t(i * 100 + k), Some("test"), None, &serde_json::json!({"i": i, "k": k}))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let check = open().verify_audit(|_| {}).unwrap();
    assert_eq!((check.events, check.problems.len()), (100, 0), "{:?}", check.problems);
}
