//! Several writers at once — threads with their own connections and separate processes —
//! and the chain under contention and after a crash between reserve and commit.
//!
//! The child processes are this test binary itself, started with `--exact child_role` and
//! an environment variable that tells `child_role` what to do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Barrier};

use common::chain::check_chain;
use common::{call, recording, sha, t};
use cr_journal::{Journal, OpenOptions};

/// A generous busy timeout: a slow, loaded CI machine must not turn waiting into failure.
fn opts() -> OpenOptions {
    OpenOptions::new().busy_timeout(std::time::Duration::from_secs(600))
}

const ROLE: &str = "CR_JOURNAL_TEST_ROLE";
const DB: &str = "CR_JOURNAL_TEST_DB";
const TAG: &str = "CR_JOURNAL_TEST_TAG";

/// Writes `n` calls, `n` audit events and `n` chain links tagged `tag`.
fn write_load(j: &Journal, tag: &str, n: u64) {
    for i in 0..n {
        let c = j
            .record_call(&call(
                &format!("+49301{i:05}"),
                "300",
                t(i64::try_from(i).unwrap()),
                true,
            ))
            .unwrap_or_else(|e| panic!("{tag}: record_call {i}: {e}"));
        j.audit(
            &cr_journal::AuditKind::ConfigLoaded,
            t(0),
            Some(tag),
            None,
            &serde_json::json!({"i": i}),
        )
        .unwrap_or_else(|e| panic!("{tag}: audit {i}: {e}"));
        let set = format!("{tag}-{i}");
        let res = j
            .reserve_link(&set, t(1))
            .unwrap_or_else(|e| panic!("{tag}: reserve {i}: {e}"));
        // The checksum hash is derived from the link, so a wrong prev would show.
        let h = sha(res.link().seq * 7919 + 13);
        res.commit(&h, &recording(&set, c, t(0), t(1), &["nas"]))
            .unwrap_or_else(|e| panic!("{tag}: commit {i}: {e}"));
        j.end_call(c, t(2))
            .unwrap_or_else(|e| panic!("{tag}: end_call {i}: {e}"));
    }
}

fn spawn_child(role: &str, db: &Path, tag: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DB, db)
        .env(TAG, tag)
        .spawn()
        .unwrap()
}

/// Not a test on its own: the body of the child processes (does nothing without `ROLE`).
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let db = std::env::var(DB).unwrap();
    let tag = std::env::var(TAG).unwrap();
    let j = Journal::open_sqlite(Path::new(&db), &opts()).unwrap();
    match role.as_str() {
        "write" => write_load(&j, &tag, 150),
        "crash-while-reserved" => {
            let res = j.reserve_link(&tag, t(0)).unwrap();
            println!("RESERVED {}", res.link().seq);
            // A crash between reserve and commit: no destructor runs.
            std::process::abort();
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_threads_with_their_own_connections_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    drop(Journal::open_sqlite(&db, &opts()).unwrap());
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|tag| {
            let db = db.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let j = Journal::open_sqlite(&db, &opts()).unwrap();
                barrier.wait();
                write_load(&j, tag, 200);
            })
        })
        .collect();
    for h in handles {
        h.join()
            .expect("a writer thread failed (see its panic message)");
    }
    let j = Journal::open_sqlite(&db, &opts()).unwrap();
    check_chain(&j, 400);
    assert_eq!(
        j.audit_events(0, 10_000).unwrap().len(),
        800,
        "200 config + 200 sealed per thread"
    );
    assert!(j.open_calls().unwrap().is_empty());
    assert_eq!(j.pending_uploads(Some("nas")).unwrap().len(), 400);
}

#[test]
fn two_processes_and_this_one_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    // The children create and migrate the file concurrently with this process.
    let kids = [
        spawn_child("write", &db, "p1"),
        spawn_child("write", &db, "p2"),
    ];
    let j = Journal::open_sqlite(&db, &opts()).unwrap();
    write_load(&j, "p0", 150);
    for mut k in kids {
        let st = k.wait().unwrap();
        assert!(st.success(), "a writer process failed: {st}");
    }
    let chain = check_chain(&j, 450);
    let mut per_tag: BTreeMap<String, usize> = BTreeMap::new();
    for e in &chain {
        *per_tag
            .entry(e.set_id.split('-').next().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        per_tag,
        BTreeMap::from([("p0".into(), 150), ("p1".into(), 150), ("p2".into(), 150)])
    );
    assert_eq!(j.status(t(10), 10).unwrap().recordings, 450);
}

#[test]
fn chain_under_eight_threads_has_no_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    let shared = Journal::open_sqlite(&db, &opts()).unwrap();
    // Six threads have their own connection; two share one handle.
    common::chain::eight_threads_seal_without_gap_or_duplicate(
        &shared,
        &|th| (th < 6).then(|| Journal::open_sqlite(&db, &opts()).unwrap()),
        40,
    );
}

#[test]
fn crash_between_reserve_and_commit_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    let j = Journal::open_sqlite(&db, &opts()).unwrap();
    common::seal(&j, "before", "201", "202", 0, 5, &[]);
    let out = spawn_child("crash-while-reserved", &db, "crashed")
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success(), "the child was meant to abort");
    // The crashed process had number 2; it was never committed, so the next set gets it.
    let c = j.record_call(&call("201", "203", t(6), true)).unwrap();
    let res = j.reserve_link("after", t(10)).unwrap();
    assert_eq!(res.link().seq, 2);
    assert_eq!(res.link().prev_sha256, sha(1001));
    res.commit(&sha(2002), &recording("after", c, t(6), t(10), &[]))
        .unwrap();
    check_chain(&j, 2);
    assert!(
        j.recording("crashed").unwrap().is_none(),
        "the crashed set was never sealed"
    );
}

#[test]
fn crash_child_really_held_number_two() {
    // Guards the test above against passing vacuously: the child must have reached the
    // reservation (and printed it) before aborting.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    let j = Journal::open_sqlite(&db, &opts()).unwrap();
    common::seal(&j, "before", "201", "202", 0, 5, &[]);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, "crash-while-reserved")
        .env(DB, &db)
        .env(TAG, "crashed")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("RESERVED 2"), "child output: {stdout}");
}
