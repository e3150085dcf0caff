//! Retention in the journal: extended, audited, never shortened (SQLite; the same checks
//! run on PostgreSQL in `postgres.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use cr_journal::Journal;

#[test]
fn extend_lengthens_audits_and_never_shortens() {
    common::retention::extend_lengthens_audits_and_never_shortens(&Journal::open_in_memory().unwrap());
}
