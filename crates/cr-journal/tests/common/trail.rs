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

/// The audit view's query: filters by actor, kind and time, newest first, keyset pages with
/// exact "more" flags at both ends.
pub fn audit_pages_filter_and_page(j: &Journal) {
    use cr_journal::{AuditFilter, PageStart};
    // 25 events: alice the even ones, bob the odd; every third a search, at 10 s steps.
    let mut made = Vec::new();
    for i in 0..25i64 {
        let actor = if i % 2 == 0 { "alice" } else { "bob" };
        let kind = if i % 3 == 0 { AuditKind::Searched } else { AuditKind::SignedIn };
        j.audit(&kind, t(i * 10), Some(actor), None, &serde_json::json!({"i": i})).unwrap();
        made.push((i, actor, kind));
    }
    let is = |e: &cr_journal::AuditEvent| e.details["i"].as_i64().unwrap();
    let all = |f: &AuditFilter| {
        let mut out = Vec::new();
        let mut f = f.clone();
        loop {
            let p = j.audit_page(&f).unwrap();
            assert!(p.events.len() <= f.page_size as usize);
            out.extend(p.events.iter().map(is));
            if !p.more_older {
                break;
            }
            f.from_id = Some(PageStart::Before(p.events.last().unwrap().id));
        }
        out
    };
    let newest_first = |keep: &dyn Fn(i64, &str, &AuditKind) -> bool| -> Vec<i64> {
        made.iter().rev().filter(|(i, a, k)| keep(*i, a, k)).map(|(i, _, _)| *i).collect()
    };
    // Everything, pages of 10: 10 + 10 + 5, newest first.
    let f = AuditFilter { page_size: 10, ..AuditFilter::default() };
    let first = j.audit_page(&f).unwrap();
    assert_eq!(first.events.iter().map(is).collect::<Vec<_>>(), (15..25).rev().collect::<Vec<_>>());
    assert!(first.more_older && !first.more_newer);
    assert_eq!(all(&f), newest_first(&|_, _, _| true));
    // The last page holds exactly the remainder and knows there is nothing older.
    let second = j.audit_page(&AuditFilter { from_id: Some(PageStart::Before(first.events.last().unwrap().id)), ..f.clone() }).unwrap();
    let third = j.audit_page(&AuditFilter { from_id: Some(PageStart::Before(second.events.last().unwrap().id)), ..f.clone() }).unwrap();
    assert_eq!(third.events.iter().map(is).collect::<Vec<_>>(), vec![4, 3, 2, 1, 0]);
    assert!(!third.more_older && third.more_newer);
    // Back from the third page: the second again, with more on both sides.
    let back = j.audit_page(&AuditFilter { from_id: Some(PageStart::After(third.events[0].id)), ..f.clone() }).unwrap();
    assert_eq!(back.events, second.events);
    assert!(back.more_older && back.more_newer);
    // Back to the first: nothing newer.
    let top = j.audit_page(&AuditFilter { from_id: Some(PageStart::After(second.events[0].id)), ..f.clone() }).unwrap();
    assert_eq!(top.events, first.events);
    assert!(!top.more_newer && top.more_older);
    // A page size of exactly the count: one page, nothing beyond.
    let exact = j.audit_page(&AuditFilter { page_size: 25, ..AuditFilter::default() }).unwrap();
    assert_eq!(exact.events.len(), 25);
    assert!(!exact.more_older && !exact.more_newer);
    // Filters, alone and together, paged by 4.
    let by = |actor: Option<&str>, kind: Option<AuditKind>, from: Option<i64>, to: Option<i64>| AuditFilter {
        actor: actor.map(str::to_owned),
        kind,
        from: from.map(t),
        to: to.map(t),
        page_size: 4,
        from_id: None,
    };
    assert_eq!(all(&by(Some("bob"), None, None, None)), newest_first(&|_, a, _| a == "bob"));
    assert_eq!(all(&by(None, Some(AuditKind::Searched), None, None)), newest_first(&|_, _, k| *k == AuditKind::Searched));
    // Time range [50 s, 120 s): events 5..=11.
    assert_eq!(all(&by(None, None, Some(50), Some(120))), (5..12).rev().collect::<Vec<_>>());
    assert_eq!(
        all(&by(Some("alice"), Some(AuditKind::Searched), Some(0), Some(200))),
        newest_first(&|i, a, k| a == "alice" && *k == AuditKind::Searched && i < 20)
    );
    assert_eq!(all(&by(Some("nobody"), None, None, None)), Vec::<i64>::new());
    // A name that looks like SQL is a value, not SQL.
    assert_eq!(all(&by(Some("alice' OR '1'='1"), None, None, None)), Vec::<i64>::new());
}
