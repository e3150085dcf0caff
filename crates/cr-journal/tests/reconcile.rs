//! What reconciliation reads from a SQLite journal (the same body runs on PostgreSQL in
//! tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

#[test]
fn recorded_calls_and_membership_history() {
    let j = cr_journal::Journal::open_in_memory().unwrap();
    common::reconcile::recorded_calls_page_by_page_and_membership_history(&j);
}
