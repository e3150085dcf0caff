//! Opening, migrating, re-opening; refusals; the file seen by the stock `sqlite3` tool;
//! memberships, uploads and audit events.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{lifecycle, seal, sha, t};
use cr_journal::{Journal, JournalError, OpenOptions};

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
        assert_eq!(j.schema_version().unwrap(), 10);
        seal(&j, "set-1", "+4930999888", "300", 0, 60, &["nas"]);
        j.set_membership("trading", "bob", false, "test", t(5))
            .unwrap();
    }
    assert!(path.is_file());
    let j = Journal::open_sqlite(&path, &OpenOptions::new().create(false)).unwrap();
    assert_eq!(j.schema_version().unwrap(), 10);
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
        assert_eq!(sqlite3(&path, "PRAGMA user_version;").unwrap(), "10");
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
        let conn = rusqlite_free_bump(&path, 70);
        assert!(conn, "could not bump the version");
    }
    let e = Journal::open_sqlite(&path, &OpenOptions::new()).unwrap_err();
    assert!(
        matches!(
            e,
            JournalError::SchemaTooNew {
                found: 70,
                known: 10,
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
    lifecycle::membership_changes_are_kept_and_audited(&Journal::open_in_memory().unwrap());
}

#[test]
fn uploads_move_from_pending_to_done_and_failed() {
    lifecycle::uploads_move_from_pending_to_done_and_failed(&Journal::open_in_memory().unwrap());
}

#[test]
fn calls_not_recorded_are_kept_with_their_reason() {
    lifecycle::calls_not_recorded_are_kept_with_their_reason(&Journal::open_in_memory().unwrap());
}

#[test]
fn bad_values_are_refused_before_anything_is_written() {
    lifecycle::bad_values_are_refused_before_anything_is_written(&Journal::open_in_memory().unwrap());
}

#[test]
fn regression_same_thread_use_during_a_reservation_errors_instead_of_deadlocking() {
    lifecycle::regression_same_thread_use_during_a_reservation_errors_instead_of_deadlocking(&Journal::open_in_memory().unwrap());
}

#[test]
fn seal_with_commits_on_success_and_nothing_on_error() {
    lifecycle::seal_with_commits_on_success_and_nothing_on_error(&Journal::open_in_memory().unwrap());
}

/// The schema as SQLite keeps it, one entry per table and index, whitespace collapsed.
fn sqlite_schema(path: &std::path::Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (name, sql) = r.unwrap();
            (name, sql.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[test]
fn a_journal_written_by_the_previous_code_opens_reads_and_extends() {
    use common::schema_v1::{ROWS, SQLITE_V1, check_and_extend};
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        let _: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        c.execute_batch(SQLITE_V1).unwrap();
        c.execute_batch(&ROWS.replace("{TRUE}", "1")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    // Migrated, the previous code's journal has the schema the current code creates.
    let j = Journal::open_sqlite(&old, &OpenOptions::new().create(false)).unwrap();
    let new = dir.path().join("new.sqlite");
    drop(Journal::open_sqlite(&new, &OpenOptions::new()).unwrap());
    assert_eq!(sqlite_schema(&new), sqlite_schema(&old));
    check_and_extend(&j);
}

#[test]
fn deletions_are_kept_per_target_until_a_receipt_marks_the_set_deleted() {
    lifecycle::deletions_are_kept_per_target_until_a_receipt_marks_the_set_deleted(&Journal::open_in_memory().unwrap());
}

#[test]
fn decision_log_entries_are_sealed_exactly_once() {
    common::decision_log::entries_are_sealed_exactly_once(&Journal::open_in_memory().unwrap());
}

#[test]
fn two_nodes_never_seal_one_decision_log_entry_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    common::decision_log::two_sealers_never_seal_one_entry_twice(&|| Journal::open_sqlite(&path, &OpenOptions::new()).unwrap());
}
