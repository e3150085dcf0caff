//! Opening, migrating, re-opening; refusals; the file seen by the stock `sqlite3` tool;
//! memberships, uploads and audit events.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{seal, sha, t};
use cr_journal::{AuditKind, Journal, JournalError, OpenOptions, UploadState};

/// Runs the stock sqlite3 shell on `db`; `None` (after a loud message) when it is missing.
fn sqlite3(db: &std::path::Path, sql: &str) -> Option<String> {
    match Command::new("sqlite3").arg(db).arg(sql).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "sqlite3 failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Err(e) => {
            assert!(
                std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
                "sqlite3 is needed (CALLREC_TEST_STRICT=1): {e}"
            );
            eprintln!(
                "SKIPPING the sqlite3 cross-check: cannot run sqlite3 ({e}); install package sqlite3"
            );
            None
        }
    }
}

#[test]
fn migrates_an_empty_file_and_reopens_with_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    {
        let j =
            Journal::open_url("sqlite:journal.sqlite", dir.path(), &OpenOptions::new()).unwrap();
        assert_eq!(j.schema_version().unwrap(), 1);
        seal(&j, "set-1", "+4930999888", "300", 0, 60, &["nas"]);
        j.set_membership("trading", "bob", false, "test", t(5))
            .unwrap();
    }
    assert!(path.is_file());
    let j = Journal::open_sqlite(&path, &OpenOptions::new().create(false)).unwrap();
    assert_eq!(j.schema_version().unwrap(), 1);
    let rec = j.recording("set-1").unwrap().expect("set survives re-open");
    assert_eq!(rec.chain.seq, 1);
    assert_eq!(rec.files.len(), 2);
    assert_eq!(j.memberships().unwrap().len(), 1);
    // The next link continues from the stored head.
    let res = j.reserve_link("set-2", t(100)).unwrap();
    assert_eq!(res.link().seq, 2);
    assert_eq!(res.link().prev_sha256, sha(1001));

    // The stock sqlite3 tool sees the same file: WAL mode, schema version, intact.
    drop(res);
    drop(j);
    if let Some(mode) = sqlite3(&path, "PRAGMA journal_mode;") {
        assert_eq!(mode, "wal");
        assert_eq!(sqlite3(&path, "PRAGMA user_version;").unwrap(), "1");
        assert_eq!(sqlite3(&path, "PRAGMA integrity_check;").unwrap(), "ok");
        assert_eq!(
            sqlite3(&path, "SELECT seq, set_id, sha256 FROM chain;").unwrap(),
            format!("1|set-1|{}", sha(1001))
        );
        assert_eq!(
            sqlite3(
                &path,
                "SELECT caller, caller_digits, record, configuration FROM calls;"
            )
            .unwrap(),
            "+4930999888|4930999888|1|desk"
        );
        assert_eq!(sqlite3(&path, "PRAGMA foreign_key_check;").unwrap(), "");
    }
}

#[test]
fn refuses_a_newer_schema_a_missing_file_and_a_non_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    drop(Journal::open_sqlite(&path, &OpenOptions::new()).unwrap());
    {
        // A newer program has been here.
        let conn = rusqlite_free_bump(&path, 7);
        assert!(conn, "could not bump the version");
    }
    let e = Journal::open_sqlite(&path, &OpenOptions::new()).unwrap_err();
    assert!(
        matches!(
            e,
            JournalError::SchemaTooNew {
                found: 7,
                known: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade callrec"), "{e}");

    let missing = dir.path().join("nope.sqlite");
    let e = Journal::open_sqlite(&missing, &OpenOptions::new().create(false)).unwrap_err();
    assert!(matches!(e, JournalError::NotFound { .. }), "{e}");
    assert!(!missing.exists(), "create(false) must not create the file");

    let e =
        Journal::open_sqlite(&dir.path().join("no-dir/j.sqlite"), &OpenOptions::new()).unwrap_err();
    assert!(matches!(e, JournalError::Open { .. }), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");

    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = Journal::open_sqlite(&junk, &OpenOptions::new()).unwrap_err();
    assert!(matches!(e, JournalError::Open { .. }), "{e}");

    #[cfg(not(feature = "postgres"))]
    {
        let e = Journal::open_url(
            "postgres://db.example/callrec",
            dir.path(),
            &OpenOptions::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("PostgreSQL is not supported yet"),
            "{e}"
        );
    }
}

/// Sets `PRAGMA user_version` with the sqlite3 shell, or through our own handle's file when
/// the shell is missing (the bump itself is the fixture, not the thing under test).
fn rusqlite_free_bump(path: &std::path::Path, v: i64) -> bool {
    if sqlite3(path, &format!("PRAGMA user_version = {v};")).is_some() {
        return sqlite3(path, "PRAGMA user_version;").as_deref() == Some(&v.to_string());
    }
    // Fallback: the user_version is the big-endian u32 at offset 60 of the header.
    let mut bytes = std::fs::read(path).unwrap();
    if bytes.len() < 100 {
        return false;
    }
    bytes[60..64].copy_from_slice(&u32::try_from(v).unwrap().to_be_bytes());
    std::fs::write(path, bytes).is_ok()
}

#[test]
fn membership_changes_are_kept_and_audited() {
    let j = Journal::open_in_memory().unwrap();
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

#[test]
fn uploads_move_from_pending_to_done_and_failed() {
    let j = Journal::open_in_memory().unwrap();
    seal(&j, "s1", "201", "+4930111", 0, 10, &["nas", "offsite"]);
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

#[test]
fn calls_not_recorded_are_kept_with_their_reason() {
    let j = Journal::open_in_memory().unwrap();
    let mut c = common::call("+4930999888", "555", t(0), false);
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
    let mut bad = common::call("1", "2", t(0), true);
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

#[test]
fn bad_values_are_refused_before_anything_is_written() {
    let j = Journal::open_in_memory().unwrap();
    for bad in ["", "../etc", "a/b", ".hidden", "spaß"] {
        assert!(
            matches!(j.reserve_link(bad, t(0)), Err(JournalError::Invalid { .. })),
            "{bad:?}"
        );
    }
    let c = j.record_call(&common::call("1", "2", t(0), true)).unwrap();
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit("not-a-hash", &common::recording("ok-1", c, t(0), t(1), &[]))
        .unwrap_err();
    assert!(matches!(e, JournalError::Invalid { .. }), "{e}");
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit(&sha(1), &common::recording("other", c, t(0), t(1), &[]))
        .unwrap_err();
    assert!(matches!(e, JournalError::Invalid { .. }), "{e}");
    let res = j.reserve_link("ok-1", t(1)).unwrap();
    let e = res
        .commit(
            &sha(1),
            &common::recording("ok-1", cr_journal::CallId(77), t(0), t(1), &[]),
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
            &common::recording("ok-1", c, t(0), t(1), &[]),
        )
        .unwrap();
    assert_eq!(e.sha256, "ab".repeat(32));
    // A sealed set cannot be sealed twice.
    assert!(matches!(
        j.reserve_link("ok-1", t(2)),
        Err(JournalError::Invalid { .. })
    ));
}

#[test]
fn regression_same_thread_use_during_a_reservation_errors_instead_of_deadlocking() {
    let j = Journal::open_in_memory().unwrap();
    let res = j.reserve_link("s", t(0)).unwrap();
    let e = j.status(t(0), 5).unwrap_err();
    assert!(matches!(e, JournalError::ReservationOpen { .. }), "{e}");
    drop(res);
    assert!(j.status(t(0), 5).is_ok());
}

#[test]
fn seal_with_commits_on_success_and_nothing_on_error() {
    let j = Journal::open_in_memory().unwrap();
    let c = j.record_call(&common::call("1", "2", t(0), true)).unwrap();
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
            Ok::<_, JournalError>((sha(5), common::recording("a", c, t(0), t(1), &["nas"])))
        })
        .unwrap();
    assert_eq!((e.seq, e.sha256.as_str()), (1, sha(5).as_str()));
    assert_eq!(j.pending_uploads(None).unwrap().len(), 1);
}
