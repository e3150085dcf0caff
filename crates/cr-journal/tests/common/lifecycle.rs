//! The lifecycle checks that run against every backend (SQLite in `lifecycle.rs`,
//! PostgreSQL in `postgres.rs`): each takes a fresh, empty journal.
#![allow(dead_code, clippy::unwrap_used)]

use super::{audit_kinds, seal, sha, t};
use cr_journal::{AuditKind, Journal, JournalError, UploadState};

pub fn membership_changes_are_kept_and_audited(j: &Journal) {
    assert_eq!(j.membership_stamp().unwrap(), 0);
    assert_eq!(
        j.set_membership("trading", "bob", false, "crctl:root", t(10))
            .unwrap(),
        None
    );
    let s1 = j.membership_stamp().unwrap();
    assert!(s1 > 0);
    assert_eq!(
        j.set_membership("trading", "bob", true, "phone", t(20))
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        j.set_membership("sales", "alice", false, "api", t(30))
            .unwrap(),
        None
    );
    assert!(j.membership_stamp().unwrap() > s1);
    let m = j.memberships().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].group.as_str(), m[0].user.as_str(), m[0].active),
        ("sales", "alice", false)
    );
    assert_eq!(
        (m[1].group.as_str(), m[1].user.as_str(), m[1].active),
        ("trading", "bob", true)
    );
    assert_eq!(m[1].changed_at, t(20));
    assert_eq!(m[1].changed_by, "phone");
    let ev = j.audit_events(0, 100).unwrap();
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.kind == AuditKind::MembershipChanged));
    assert_eq!(ev[1].details["previous"], serde_json::json!(false));
    assert_eq!(ev[1].details["active"], serde_json::json!(true));
    assert_eq!(ev[1].actor.as_deref(), Some("phone"));
}

pub fn uploads_move_from_pending_to_done_and_failed(j: &Journal) {
    seal(j, "s1", "201", "+4930111", 0, 10, &["nas", "offsite"]);
    let p = j.pending_uploads(None).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(j.pending_uploads(Some("nas")).unwrap().len(), 1);

    j.upload_failed("s1", "offsite", "connection refused", t(20))
        .unwrap();
    j.upload_failed("s1", "offsite", "host key mismatch", t(30))
        .unwrap();
    assert_eq!(
        j.upload_done("s1", "nas", "rec/2026/11/26", &["2026".into(), "11".into(), "26".into()], t(25)).unwrap(),
        1
    );
    let rec = j.recording("s1").unwrap().unwrap();
    let off = rec.uploads.iter().find(|u| u.target == "offsite").unwrap();
    assert_eq!((off.state, off.attempts), (UploadState::Pending, 2));
    assert_eq!(off.last_error.as_deref(), Some("host key mismatch"));
    assert_eq!(off.last_attempt_at, Some(t(30)));

    j.upload_given_up("s1", "offsite", "target removed", t(40))
        .unwrap();
    assert!(j.pending_uploads(None).unwrap().is_empty());
    // An operator queues it again; a done upload is not re-queued.
    j.queue_upload("s1", "offsite", t(50)).unwrap();
    j.queue_upload("s1", "nas", t(50)).unwrap();
    let p = j.pending_uploads(None).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].target, "offsite");
    assert_eq!(j.upload_done("s1", "offsite", "rec/s1", &[], t(60)).unwrap(), 0);
    // A second "done" is an error: the delivery is already recorded.
    assert!(matches!(
        j.upload_done("s1", "offsite", "x", &[], t(61)),
        Err(JournalError::Missing { .. })
    ));
    assert!(matches!(
        j.queue_upload("nope", "nas", t(61)),
        Err(JournalError::Missing { .. })
    ));

    j.set_deleted("s1", t(70), "uploader", "delivered to every target")
        .unwrap();
    let rec = j.recording("s1").unwrap().unwrap();
    assert_eq!(rec.location, None);
    assert_eq!(rec.deleted_at, Some(t(70)));
    assert_eq!(
        audit_kinds(j),
        [
            "set_sealed",
            "set_delivered",
            "set_delivered",
            "set_deleted"
        ]
    );
}

pub fn calls_not_recorded_are_kept_with_their_reason(j: &Journal) {
    let mut c = super::call("+4930999888", "555", t(0), false);
    c.diversions = vec!["301".into(), "302".into()];
    let id = j.record_call(&c).unwrap();
    let back = j.call(id).unwrap().unwrap();
    assert!(!back.record);
    assert_eq!(back.configuration, None);
    assert_eq!(back.reason, "no configuration applies");
    assert_eq!(back.diversions, ["301", "302"]);
    // Not recorded calls are not "active".
    assert!(j.open_calls().unwrap().is_empty());
    // A recorded call without a configuration is refused.
    let mut bad = super::call("1", "2", t(0), true);
    bad.configuration = None;
    assert!(matches!(
        j.record_call(&bad),
        Err(JournalError::Invalid { .. })
    ));
    assert!(matches!(
        j.end_call(cr_journal::CallId(999), t(1)),
        Err(JournalError::Missing { .. })
    ));
}

pub fn bad_values_are_refused_before_anything_is_written(j: &Journal) {
    for bad in ["", "../etc", "a/b", ".hidden", "spaß"] {
        assert!(
            matches!(j.reserve_link(bad, t(0)), Err(JournalError::Invalid { .. })),
            "{bad:?}"
        );
    }
    let c = j.record_call(&super::call("1", "2", t(0), true)).unwrap();
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit("not-a-hash", &super::recording("ok-1", c, t(0), t(1), &[]))
        .unwrap_err();
    assert!(matches!(e, JournalError::Invalid { .. }), "{e}");
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit(&sha(1), &super::recording("other", c, t(0), t(1), &[]))
        .unwrap_err();
    assert!(matches!(e, JournalError::Invalid { .. }), "{e}");
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit(
            &sha(1),
            &super::recording("ok-1", cr_journal::CallId(77), t(0), t(1), &[]),
        )
        .unwrap_err();
    assert!(matches!(e, JournalError::Missing { .. }), "{e}");
    assert_eq!(
        j.chain_head().unwrap(),
        None,
        "failed commits leave no link"
    );
    assert!(j.audit_events(0, 10).unwrap().is_empty());
    // Upper-case hex is stored in lower case.
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit(
            &"AB".repeat(32),
            &super::recording("ok-1", c, t(0), t(1), &[]),
        )
        .unwrap();
    assert_eq!(e.sha256, "ab".repeat(32));
    // A sealed set cannot be sealed twice.
    assert!(matches!(
        j.reserve_link("ok-1", t(2)),
        Err(JournalError::Invalid { .. })
    ));
}

pub fn regression_same_thread_use_during_a_reservation_errors_instead_of_deadlocking(j: &Journal) {
    let res = j.reserve_link("s", t(0)).unwrap();
    let e = j.status(t(0), 5).unwrap_err();
    assert!(matches!(e, JournalError::ReservationOpen { .. }), "{e}");
    drop(res);
    assert!(j.status(t(0), 5).is_ok());
}

pub fn seal_with_commits_on_success_and_nothing_on_error(j: &Journal) {
    let c = j.record_call(&super::call("1", "2", t(0), true)).unwrap();
    #[derive(Debug)]
    enum SealError {
        Journal(#[allow(dead_code)] JournalError),
        Sign(&'static str),
    }
    impl From<JournalError> for SealError {
        fn from(e: JournalError) -> Self {
            SealError::Journal(e)
        }
    }
    let r: Result<_, SealError> = j.seal_with("a", t(1), |link| {
        assert_eq!(link.seq, 1);
        Err(SealError::Sign("signing failed"))
    });
    assert!(matches!(r, Err(SealError::Sign("signing failed"))), "{r:?}");
    assert_eq!(j.chain_head().unwrap(), None);
    let e = j
        .seal_with("a", t(1), |link| {
            assert_eq!(link.seq, 1, "the abandoned number is handed out again");
            Ok::<_, JournalError>((sha(5), super::recording("a", c, t(0), t(1), &["nas"])))
        })
        .unwrap();
    assert_eq!((e.seq, e.sha256.as_str()), (1, sha(5).as_str()));
    assert_eq!(j.pending_uploads(None).unwrap().len(), 1);
}

/// Seals `set_id` with retention ending at `expires`.
fn seal_expiring(j: &Journal, set_id: &str, start: i64, expires: Option<i64>, targets: &[&str]) {
    let c = j.record_call(&super::call("201", "300", t(start), true)).unwrap();
    let res = j.reserve_link(set_id, t(start + 10)).unwrap();
    let seq = res.link().seq;
    let mut rec = super::recording(set_id, c, t(start), t(start + 10), targets);
    rec.expires_at = expires.map(t);
    res.commit(&sha(1000 + seq), &rec).unwrap();
}

fn chain_set(id: &str, kind: cr_journal::SetKind, deleted: Option<&str>, targets: &[&str]) -> cr_journal::NewChainSet {
    cr_journal::NewChainSet {
        set_id: id.to_owned(),
        kind,
        configuration: "desk".to_owned(),
        started_at: t(500),
        files: vec![cr_journal::FileEntry { name: format!("{id}.json"), size: 300, sha256: sha(7) }],
        cert_fingerprint: sha(3),
        location: format!("/spool/{id}"),
        targets: targets.iter().map(|s| (*s).to_owned()).collect(),
        deleted: deleted.map(|d| cr_journal::DeletedBy { set_id: d.to_owned(), actor: "crctl:ann".into(), reason: "retention expired".into() }),
    }
}

pub fn deletions_are_kept_per_target_until_a_receipt_marks_the_set_deleted(j: &Journal) {
    use cr_journal::{CallId, Deletion, DeletionConfirmed, DeletionState, SetKind};
    seal_expiring(j, "s1", 0, Some(100), &["nas"]);
    seal_expiring(j, "s2", 10, None, &["nas"]);
    seal_expiring(j, "s3", 20, Some(1000), &["nas"]);
    assert!(j.expired_sets(t(99)).unwrap().is_empty());
    assert_eq!(j.expired_sets(t(100)).unwrap(), ["s1"], "expiry is inclusive; no expiry never expires");
    assert_eq!(j.expired_sets(t(5000)).unwrap(), ["s1", "s3"]);

    j.deletion_failed("s1", "nas", "connection refused", t(101)).unwrap();
    j.deletion_failed("s1", "nas", "connection refused again", t(102)).unwrap();
    let d = j.deletions("s1").unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].state, d[0].attempts), (DeletionState::Pending, 2));
    assert_eq!(d[0].last_error.as_deref(), Some("connection refused again"));
    let status = j.status(t(103), 10).unwrap();
    assert_eq!(status.pending_deletions.len(), 1);
    assert_eq!(status.pending_deletions[0].target, "nas");
    let pending_events = j
        .audit_events(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::DeletionPending)
        .count();
    assert_eq!(pending_events, 1, "only the first failure is audited");

    let done = DeletionConfirmed { location: "nas:/rec".into(), removed: 4, already_absent: 0 };
    j.deletion_confirmed("s1", "nas", &done, t(110)).unwrap();
    let local = DeletionConfirmed { location: "/spool/s1".into(), removed: 0, already_absent: 0 };
    j.deletion_confirmed("s1", Deletion::LOCAL, &local, t(110)).unwrap();
    let d = j.deletions("s1").unwrap();
    assert_eq!(d.iter().map(|d| (d.target.as_str(), d.state)).collect::<Vec<_>>(), [
        ("", DeletionState::Confirmed),
        ("nas", DeletionState::Confirmed)
    ]);
    assert_eq!((d[1].removed, d[1].attempts, d[1].confirmed_at), (Some(4), 3, Some(t(110))));
    assert!(j.status(t(111), 10).unwrap().pending_deletions.is_empty());

    // The receipt takes the next number and marks the set deleted, in one transaction.
    let res = j.reserve_link("r1", t(120)).unwrap();
    assert_eq!(res.link().seq, 4);
    res.commit_chain_set(&sha(9), &chain_set("r1", SetKind::DeletionReceipt, Some("s1"), &["nas"])).unwrap();
    let s1 = j.recording("s1").unwrap().unwrap();
    assert_eq!((s1.deletion_receipt.as_deref(), s1.location.as_deref(), s1.deleted_at), (Some("r1"), None, Some(t(120))));
    let r1 = j.recording("r1").unwrap().unwrap();
    assert_eq!((r1.kind, r1.call, r1.chain.seq), (SetKind::DeletionReceipt, CallId(0), 4));
    assert_eq!(r1.uploads.len(), 1, "the receipt is queued for the set's target");
    assert_eq!(j.expired_sets(t(5000)).unwrap(), ["s3"], "a deleted set is not due again");
    let events = j.audit_events(0, 1000).unwrap();
    let deleted = events.iter().find(|e| e.kind == AuditKind::SetDeleted).unwrap();
    assert_eq!((deleted.set_id.as_deref(), deleted.details["receipt"].as_str()), (Some("s1"), Some("r1")));
    assert!(events.iter().any(|e| e.kind == AuditKind::ReceiptSealed && e.set_id.as_deref() == Some("r1")));

    // A second receipt for the same set is refused, and its number stays free.
    let res = j.reserve_link("r2", t(130)).unwrap();
    let e = res.commit_chain_set(&sha(10), &chain_set("r2", SetKind::DeletionReceipt, Some("s1"), &["nas"])).unwrap_err();
    assert!(e.to_string().contains("by receipt r1"), "{e}");
    assert_eq!(j.chain_head().unwrap().unwrap().set_id, "r1");
    // A receipt is never deleted; a checkpoint names no set; a receipt must name one.
    for (set, deleted) in [("r3", Some("r1")), ("r4", None)] {
        let res = j.reserve_link(set, t(130)).unwrap();
        assert!(res.commit_chain_set(&sha(11), &chain_set(set, SetKind::DeletionReceipt, deleted, &[])).is_err());
    }
    let res = j.reserve_link("c1", t(130)).unwrap();
    assert!(res.commit_chain_set(&sha(11), &chain_set("c1", SetKind::AuditCheckpoint, Some("s3"), &[])).is_err());
    let res = j.reserve_link("c1", t(130)).unwrap();
    let entry = res.commit_chain_set(&sha(11), &chain_set("c1", SetKind::AuditCheckpoint, None, &[])).unwrap();
    assert_eq!(entry.seq, 5);
    assert!(j.audit_events(0, 1000).unwrap().iter().any(|e| e.kind == AuditKind::AuditCheckpoint));
    // Receipts and checkpoints are no calls' recordings: search does not list them.
    let hits = j.search(&cr_journal::SearchQuery::default()).unwrap();
    assert_eq!(hits.iter().map(|h| h.set_id.as_str()).collect::<Vec<_>>(), ["s1", "s2", "s3"]);
}
