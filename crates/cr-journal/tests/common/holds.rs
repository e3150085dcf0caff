//! Legal holds and four-eyes requests, checked against every backend (SQLite in
//! `holds.rs`, PostgreSQL in `postgres.rs`): each check takes a fresh, empty journal.
//! Expected values are worked out by hand from the rules in docs/journal.md.
#![allow(dead_code, clippy::unwrap_used)]

use super::{audit_kinds, call, recording, seal, sha, t};
use chrono::{DateTime, Utc};
use cr_journal::{
    AuditKind, HoldScope, Journal, JournalError, NewHold, Refusal, RequestKind,
};

fn hold(case: &str, scope: HoldScope, by: &str, at: DateTime<Utc>) -> NewHold {
    NewHold {
        case: case.to_owned(),
        reason: "SEC inquiry 2026-17".to_owned(),
        scope,
        placed_by: by.to_owned(),
        placed_at: at,
    }
}

/// Seals a set whose call has `diversions`, started at `t(start)`.
fn seal_diverted(j: &Journal, set_id: &str, caller: &str, callee: &str, diversions: &[&str], start: i64) {
    let mut c = call(caller, callee, t(start), true);
    c.pbx_call_id = format!("pbx-{set_id}");
    c.diversions = diversions.iter().map(|d| (*d).to_owned()).collect();
    let id = j.record_call(&c).unwrap();
    j.end_call(id, t(start + 30)).unwrap();
    let res = j.reserve_link(set_id, t(start + 30)).unwrap();
    let seq = res.link().seq;
    res.commit(&sha(1000 + seq), &recording(set_id, id, t(start), t(start + 30), &["nas"]))
        .unwrap();
}


fn refusal(e: JournalError) -> Refusal {
    match e {
        JournalError::Rule(r) => r,
        other => panic!("expected a refusal, got: {other}"),
    }
}

/// A set hold blocks a deletion request; the same operator cannot approve their own
/// deletion or release; a second one can; then the set is free and the deletion waits for
/// the pass.
pub fn four_eyes_on_deletion_and_release(j: &Journal) {
    seal(j, "s1", "+4930999888", "300", 0, 60, &["nas"]);
    seal(j, "s2", "+4930111222", "300", 100, 60, &["nas"]);
    let h = j.place_hold(&hold("case-1", HoldScope::sets(["s1", "s1"]), "alice", t(1000))).unwrap();
    assert_eq!((h.case.as_str(), h.covered, h.stands()), ("case-1", 1, true));
    assert_eq!(h.scope, HoldScope::sets(["s1"]), "listed once");
    assert_eq!(j.hold_of("s1").unwrap().as_deref(), Some("case-1"));
    assert_eq!(j.hold_of("s2").unwrap(), None);

    let r = refusal(j.request_deletion("s1", "private call", "alice", t(1001)).unwrap_err());
    assert_eq!(r, Refusal::Held { set_id: "s1".into(), case: "case-1".into() });
    assert!(r.is_rule());
    assert!(r.to_string().contains("case-1"), "{r}");

    let del = j.request_deletion("s2", "private call", "alice", t(1002)).unwrap();
    assert_eq!((del.kind, del.set_id.as_deref(), del.requested_by.as_str()), (RequestKind::Delete, Some("s2"), "alice"));
    let before = audit_kinds(j);
    let r = refusal(j.approve(del.id, "alice", t(1003)).unwrap_err());
    assert_eq!(r, Refusal::OwnRequest { request: del.id, operator: "alice".into() });
    assert_eq!(audit_kinds(j), before, "a refused approval writes nothing");
    assert_eq!(j.request(del.id).unwrap().unwrap().approved_by, None, "still pending");
    assert!(j.approved_deletions().unwrap().is_empty());

    let ok = j.approve(del.id, "bob", t(1004)).unwrap();
    assert_eq!((ok.approved_by.as_deref(), ok.approved_at, ok.done_at), (Some("bob"), Some(t(1004)), None));
    let ad = j.approved_deletions().unwrap();
    assert_eq!(ad.len(), 1);
    assert_eq!(
        (ad[0].request, ad[0].set_id.as_str(), ad[0].reason.as_str(), ad[0].requested_by.as_str(), ad[0].approved_by.as_str(), ad[0].approved_at),
        (del.id, "s2", "private call", "alice", "bob", t(1004))
    );
    let r = refusal(j.approve(del.id, "carol", t(1005)).unwrap_err());
    assert_eq!(r, Refusal::NotPending { request: del.id, approved_by: "bob".into() });
    assert!(!r.is_rule());

    // Release: asked by bob, refused to bob, approved by alice.
    let rel = j.request_release("case-1", Some("inquiry closed"), "bob", t(1010)).unwrap();
    assert_eq!((rel.kind, rel.case.as_deref()), (RequestKind::Release, Some("case-1")));
    let standing = j.holds(true).unwrap();
    assert_eq!(standing.len(), 1);
    assert_eq!(
        (standing[0].release_request, standing[0].release_requested_by.as_deref(), standing[0].release_requested_at),
        (Some(rel.id), Some("bob"), Some(t(1010)))
    );
    assert!(matches!(
        refusal(j.request_release("case-1", None, "carol", t(1011)).unwrap_err()),
        Refusal::AlreadyRequested { request, .. } if request == rel.id
    ));
    let before = audit_kinds(j);
    assert!(matches!(refusal(j.approve(rel.id, "bob", t(1012)).unwrap_err()), Refusal::OwnRequest { .. }));
    assert_eq!(audit_kinds(j), before);
    assert_eq!(j.hold_of("s1").unwrap().as_deref(), Some("case-1"), "the hold stands until approved");

    let done = j.approve(rel.id, "alice", t(1013)).unwrap();
    assert_eq!((done.approved_by.as_deref(), done.done_at), (Some("alice"), Some(t(1013))));
    assert_eq!(j.hold_of("s1").unwrap(), None);
    assert!(j.holds(true).unwrap().is_empty());
    let all = j.holds(false).unwrap();
    assert_eq!((all[0].released_by.as_deref(), all[0].released_at, all[0].stands()), (Some("alice"), Some(t(1013)), false));
    // The case name is free again.
    j.place_hold(&hold("case-1", HoldScope::sets(["s2"]), "carol", t(1020))).unwrap();

    assert_eq!(
        audit_kinds(j),
        [
            "set_sealed",
            "set_sealed",
            "hold_placed",
            "deletion_requested",
            "request_approved",
            "hold_release_requested",
            "request_approved",
            "hold_released",
            "hold_placed"
        ]
    );
    let ev = j.audit_events(0, 1000).unwrap();
    let requested = ev.iter().find(|e| e.kind == AuditKind::DeletionRequested).unwrap();
    assert_eq!((requested.actor.as_deref(), requested.set_id.as_deref()), (Some("alice"), Some("s2")));
    assert_eq!(requested.details["reason"], "private call");
    let released = ev.iter().find(|e| e.kind == AuditKind::HoldReleased).unwrap();
    assert_eq!(released.details["requested_by"], "bob");
    assert_eq!(released.details["approved_by"], "alice");
}

/// A party hold covers, at query time, every set whose call has the number as caller,
/// callee or a diversion and started in `[from, to)` — sets sealed after it was placed too.
pub fn party_hold_covers_later_sets_in_its_range(j: &Journal) {
    // 09:00:00 .. 10:00:00 UTC on 2026-11-26.
    let h = j
        .place_hold(&hold("party", HoldScope::party("+49 30 999888", false, Some(t(0)), Some(t(3600))), "alice", t(0)))
        .unwrap();
    assert_eq!(h.covered, 0, "nothing sealed yet");
    seal_diverted(j, "caller-national", "030 999888", "300", &[], 10); // 30999888 is a suffix of 4930999888
    seal_diverted(j, "callee-intl", "201", "0049 30 999888", &[], 20);
    seal_diverted(j, "diverted", "201", "300", &["+4930999888"], 30);
    seal_diverted(j, "other", "201", "+4930999889", &["301"], 40);
    seal_diverted(j, "too-late", "+4930999888", "300", &[], 3600); // `to` is exclusive
    seal_diverted(j, "before", "+4930999888", "300", &[], -1);
    seal_diverted(j, "short-suffix", "999888", "300", &[], 50); // 6 digits: no suffix match
    for (set, held) in [
        ("caller-national", true),
        ("callee-intl", true),
        ("diverted", true),
        ("other", false),
        ("too-late", false),
        ("before", false),
        ("short-suffix", false),
    ] {
        assert_eq!(j.hold_of(set).unwrap().as_deref(), held.then_some("party"), "{set}");
    }
    assert_eq!(j.holds(true).unwrap()[0].covered, 3);

    // Exact: only the same digits (4930999888), not the national form.
    let e = j.place_hold(&hold("exact", HoldScope::party("4930999888", true, None, None), "alice", t(0))).unwrap();
    assert_eq!(e.covered, 4, "callee-intl, diverted, too-late, before");
    j.request_release("party", None, "alice", t(5000)).unwrap();
    let rid = j.holds(true).unwrap()[0].release_request.unwrap();
    j.approve(rid, "bob", t(5001)).unwrap();
    assert_eq!(j.hold_of("caller-national").unwrap(), None);
    assert_eq!(j.hold_of("diverted").unwrap().as_deref(), Some("exact"));
    assert!(matches!(j.hold_of("nope"), Err(JournalError::Missing { .. })));
}

/// Bad input and refused changes leave the journal as it was.
pub fn refusals_and_bad_input_change_nothing(j: &Journal) {
    seal(j, "s1", "+4930999888", "300", 0, 60, &["nas"]);
    let count = |j: &Journal| (j.holds(false).unwrap().len(), j.audit_events(0, 1000).unwrap().len());
    let start = count(j);

    let e = j.place_hold(&hold("c", HoldScope::sets(["s1", "ghost"]), "alice", t(1))).unwrap_err();
    assert!(matches!(&e, JournalError::Missing { what, .. } if what.contains("ghost")), "{e}");
    let long = "x".repeat(101);
    for bad in ["", "  ", " lead", "trail ", "bell\u{7}", "new\nline", "rtl\u{202E}txt", "zero\u{200B}width", long.as_str()] {
        let e = j.place_hold(&hold(bad, HoldScope::sets(["s1"]), "alice", t(1))).unwrap_err();
        assert!(matches!(e, JournalError::Invalid { what: "case name", .. }), "{bad:?}: {e}");
    }
    for (scope, what) in [
        (HoldScope::sets(Vec::<String>::new()), "hold"),
        (HoldScope::sets(["../etc"]), "set id"),
        (HoldScope::party("anonymous", false, None, None), "party number"),
        (HoldScope::party("+4930999888", false, Some(t(10)), Some(t(10))), "time range"),
    ] {
        let e = j.place_hold(&hold("c", scope, "alice", t(1))).unwrap_err();
        assert!(matches!(e, JournalError::Invalid { what: w, .. } if w == what), "{what}: {e}");
    }
    let mut no_reason = hold("c", HoldScope::sets(["s1"]), "alice", t(1));
    no_reason.reason = " ".into();
    assert!(matches!(j.place_hold(&no_reason), Err(JournalError::Invalid { what: "reason", .. })));
    assert!(matches!(j.request_release("no-such-case", None, "alice", t(1)), Err(JournalError::Missing { .. })));
    assert!(matches!(j.approve(4711, "bob", t(1)), Err(JournalError::Missing { .. })));
    assert!(matches!(j.request_deletion("ghost", "x", "alice", t(1)), Err(JournalError::Missing { .. })));
    assert!(matches!(j.request_deletion("s1", "", "alice", t(1)), Err(JournalError::Invalid { .. })));
    assert!(matches!(j.deletion_request_done(4711, "s1", t(1)), Err(JournalError::Missing { .. })));
    assert_eq!(count(j), start, "nothing written");

    // 100 characters, non-ASCII but printable: accepted.
    let name = format!("Müller ./. Bank {}", "§".repeat(84));
    assert_eq!(name.chars().count(), 100);
    j.place_hold(&hold(&name, HoldScope::sets(["s1"]), "alice", t(2))).unwrap();
    let after = count(j);
    let r = refusal(j.place_hold(&hold(&name, HoldScope::party("201", false, None, None), "bob", t(3))).unwrap_err());
    assert_eq!(r, Refusal::CaseStanding { case: name.clone(), placed_by: "alice".into() });
    assert_eq!(count(j), after);

    // A hold placed after a deletion was requested stops its approval.
    seal(j, "s2", "+4930111222", "300", 100, 60, &["nas"]);
    let del = j.request_deletion("s2", "recorded in error", "alice", t(4)).unwrap();
    assert!(matches!(
        refusal(j.request_deletion("s2", "again", "bob", t(5)).unwrap_err()),
        Refusal::AlreadyRequested { request, .. } if request == del.id
    ));
    j.place_hold(&hold("late", HoldScope::party("4930111222", true, None, None), "carol", t(6))).unwrap();
    let before = count(j);
    let r = refusal(j.approve(del.id, "bob", t(7)).unwrap_err());
    assert_eq!(r, Refusal::Held { set_id: "s2".into(), case: "late".into() });
    assert_eq!(count(j), before);
    assert_eq!(j.request(del.id).unwrap().unwrap().approved_at, None);
}

/// The deletion pass's side: an approved deletion is done once its receipt is in the chain.
pub fn deletion_request_done_needs_an_approved_request_and_a_sealed_receipt(j: &Journal) {
    seal(j, "s1", "+4930999888", "300", 0, 60, &["nas"]);
    seal(j, "s2", "+4930999777", "300", 100, 60, &["nas"]);
    j.place_hold(&hold("c", HoldScope::sets(["s2"]), "alice", t(1))).unwrap();
    let rel = j.request_release("c", None, "alice", t(2)).unwrap();
    let del = j.request_deletion("s1", "private call", "alice", t(3)).unwrap();
    let invalid = |r: Result<(), JournalError>| matches!(r, Err(JournalError::Invalid { .. }));
    assert!(invalid(j.deletion_request_done(del.id, "s2", t(4))), "not approved");
    assert!(invalid(j.deletion_request_done(rel.id, "s2", t(4))), "a release request");
    j.approve(del.id, "bob", t(5)).unwrap();
    assert!(matches!(j.deletion_request_done(del.id, "receipt-1", t(6)), Err(JournalError::Missing { .. })), "receipt not sealed");
    assert_eq!(j.approved_deletions().unwrap().len(), 1);
    j.reserve_link("receipt-1", t(7)).unwrap().commit_link(&sha(77)).unwrap();
    j.deletion_request_done(del.id, "receipt-1", t(8)).unwrap();
    assert!(j.approved_deletions().unwrap().is_empty());
    let r = j.request(del.id).unwrap().unwrap();
    assert_eq!((r.done_at, r.receipt_set_id.as_deref()), (Some(t(8)), Some("receipt-1")));
    j.deletion_request_done(del.id, "receipt-1", t(9)).unwrap();
    assert_eq!(j.request(del.id).unwrap().unwrap().done_at, Some(t(8)), "repeating changes nothing");
    assert!(invalid(j.deletion_request_done(del.id, "s2", t(9))), "another receipt");
    // Deleted, the set cannot be asked for again.
    assert!(matches!(
        refusal(j.request_deletion("s1", "again", "bob", t(10)).unwrap_err()),
        Refusal::AlreadyRequested { request, .. } if request == del.id
    ));
}
