//! Legal holds and four-eyes requests on SQLite (the same checks run on PostgreSQL in
//! `postgres.rs`; see `common/holds.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::holds;
use cr_journal::Journal;

fn fresh() -> Journal {
    Journal::open_in_memory().unwrap()
}

#[test]
fn four_eyes_on_deletion_and_release() {
    holds::four_eyes_on_deletion_and_release(&fresh());
}

#[test]
fn party_hold_covers_later_sets_in_its_range() {
    holds::party_hold_covers_later_sets_in_its_range(&fresh());
}

#[test]
fn refusals_and_bad_input_change_nothing() {
    holds::refusals_and_bad_input_change_nothing(&fresh());
}

#[test]
fn deletion_request_done_needs_an_approved_request_and_a_sealed_receipt() {
    holds::deletion_request_done_needs_an_approved_request_and_a_sealed_receipt(&fresh());
}

/// Regression guard: two handles on one file see one hold (the state is in the journal,
/// not in a process), and a file reopened keeps holds and requests.
#[test]
fn holds_and_requests_survive_reopening_and_are_seen_by_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let opts = cr_journal::OpenOptions::new();
    let a = Journal::open_sqlite(&path, &opts).unwrap();
    let b = Journal::open_sqlite(&path, &opts).unwrap();
    common::seal(&a, "s1", "+4930999888", "300", 0, 60, &["nas"]);
    a.place_hold(&cr_journal::NewHold {
        case: "c".into(),
        reason: "r".into(),
        scope: cr_journal::HoldScope::sets(["s1"]),
        placed_by: "alice".into(),
        placed_at: common::t(1),
    })
    .unwrap();
    let rel = b.request_release("c", None, "bob", common::t(2)).unwrap();
    drop((a, b));
    let j = Journal::open_sqlite(&path, &opts).unwrap();
    assert_eq!(j.hold_of("s1").unwrap().as_deref(), Some("c"));
    assert_eq!(j.request(rel.id).unwrap().unwrap().requested_by, "bob");
}
