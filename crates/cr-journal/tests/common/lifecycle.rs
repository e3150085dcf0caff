//! The lifecycle checks that run against every backend (SQLite in `lifecycle.rs`,
//! PostgreSQL in `postgres.rs`): each takes a fresh, empty journal.
#![allow(dead_code, clippy::unwrap_used)]

use super::{seal, sha, t};
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
        j.upload_done("s1", "nas", "rec/2026/11/26", t(25)).unwrap(),
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
    assert_eq!(j.upload_done("s1", "offsite", "rec/s1", t(60)).unwrap(), 0);
    // A second "done" is an error: the delivery is already recorded.
    assert!(matches!(
        j.upload_done("s1", "offsite", "x", t(61)),
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
    let kinds: Vec<String> = j
        .audit_events(0, 100)
        .unwrap()
        .iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(
        kinds,
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
